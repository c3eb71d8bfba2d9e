//! The WeChat official account's callback listener (on the uplink side):
//! WeChat's servers call it; `auth::wechat` checks and answers.

use crate::auth::wechat::{CallbackQuery, WeChat};

/// The callback's routes: `GET /wechat` (URL check) and `POST /wechat`
/// (messages). A refused call gets 403 and changes nothing.
pub fn router(wechat: std::sync::Arc<WeChat>) -> axum::Router {
    use axum::extract::{Query, State};
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    type Answer = axum::response::Response;
    fn reply((code, text): (u16, String), content_type: &'static str) -> Answer {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN);
        (code, [(header::CONTENT_TYPE, content_type)], text).into_response()
    }
    async fn verify(State(w): State<std::sync::Arc<WeChat>>, Query(q): Query<CallbackQuery>) -> Answer {
        reply(w.answer(&q, None), "text/plain; charset=utf-8")
    }
    async fn message(State(w): State<std::sync::Arc<WeChat>>, Query(q): Query<CallbackQuery>, body: String) -> Answer {
        reply(w.answer(&q, Some(&body)), "application/xml; charset=utf-8")
    }
    axum::Router::new()
        .route("/wechat", axum::routing::get(verify).post(message))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(wechat)
}
