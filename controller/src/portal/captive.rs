//! RFC 8908: the captive-portal API a phone asks (its URL comes in DHCP
//! option 114) to learn whether it is captive and where to log in.

use super::{Peer, Portal};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use std::sync::Arc;

/// The API's JSON body.
#[derive(Serialize)]
struct CaptiveStatus {
    captive: bool,
    #[serde(rename = "user-portal-url")]
    user_portal_url: String,
    #[serde(rename = "venue-info-url", skip_serializing_if = "Option::is_none")]
    venue_info_url: Option<String>,
    #[serde(rename = "seconds-remaining", skip_serializing_if = "Option::is_none")]
    seconds_remaining: Option<u64>,
    #[serde(rename = "can-extend-session", skip_serializing_if = "Option::is_none")]
    can_extend_session: Option<bool>,
}

/// `GET /api/captive`
pub async fn status(State(portal): State<Arc<Portal>>, Extension(peer): Extension<Peer>) -> Response {
    let session = match portal.neighbours.client(peer.0.ip()) {
        None => None,
        Some(client) => match portal.sessions.current(client).await {
            Ok(session) => session,
            Err(err) => {
                tracing::error!(error = %crate::error_chain(&err), "captive API failed");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        },
    };
    let info = &portal.config.venue.info_url;
    let body = CaptiveStatus {
        captive: session.is_none(),
        user_portal_url: portal.home.clone(),
        venue_info_url: (!info.is_empty()).then(|| info.clone()),
        seconds_remaining: session.as_ref().map(|s| s.remaining().as_secs()),
        can_extend_session: session.as_ref().map(|_| false),
    };
    (
        [(header::CONTENT_TYPE, "application/captive+json"), (header::CACHE_CONTROL, "private")],
        serde_json::to_string(&body).expect("serialisable"),
    )
        .into_response()
}
