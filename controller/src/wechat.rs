//! The WeChat official account's callback listener (on the uplink side):
//! WeChat's servers call it; `auth::wechat` checks and answers.

use crate::auth::wechat::{CallbackQuery, WeChat};

/// The callback's routes: `GET /wechat` (URL check) and `POST /wechat`
/// (messages). A refused call gets 403 and changes nothing.
pub fn router(wechat: std::sync::Arc<WeChat>) -> axum::Router {
    use axum::extract::{Query, State};
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    async fn verify(
        State(w): State<std::sync::Arc<WeChat>>,
        Query(q): Query<CallbackQuery>,
    ) -> axum::response::Response {
        match w.verify_url(&q) {
            Ok(echo) => echo.into_response(),
            Err(err) => {
                tracing::warn!(%err, "WeChat URL check refused");
                StatusCode::FORBIDDEN.into_response()
            }
        }
    }
    async fn message(
        State(w): State<std::sync::Arc<WeChat>>,
        Query(q): Query<CallbackQuery>,
        body: String,
    ) -> axum::response::Response {
        match w.message(&q, &body) {
            Ok(reply) => ([(header::CONTENT_TYPE, "application/xml; charset=utf-8")], reply).into_response(),
            Err(err) => {
                tracing::warn!(%err, "WeChat callback refused");
                StatusCode::FORBIDDEN.into_response()
            }
        }
    }
    axum::Router::new()
        .route("/wechat", axum::routing::get(verify).post(message))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(wechat)
}
