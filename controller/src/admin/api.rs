//! The admin JSON API over HTTP, plus Prometheus text at `/metrics`. Every
//! `/api` call needs `Authorization: Bearer <token>`: a staff member's own
//! token (made in the console, `gwt_…`), which acts with their role and is
//! checked against the route; or the appliance's token in
//! `data/admin.token` (mode 0600, made at first start), which acts as an
//! admin (for scripts on the appliance itself). Each route is one control
//! request given to the one door with the token's actor: the role table
//! there decides (403 otherwise), and a change leaves its audit row.

use crate::auth::account::NewAccount;
use crate::auth::voucher::NewBatch;
use crate::control::{self, ErrorKind, Handles, Reply, Request};
use crate::staff::{Actor, Role};
use ap_protocol::Ssid;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use rand::RngCore;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// File name of the API token in the data dir.
pub const TOKEN_FILE: &str = "admin.token";

struct Api {
    handles: Handles,
    token: String,
}

/// Reads the token, making it at first start.
pub fn load_or_create_token(dir: &std::path::Path) -> std::io::Result<String> {
    let path = dir.join(TOKEN_FILE);
    if let Ok(token) = std::fs::read_to_string(&path) {
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        return Ok(token.trim().to_string());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = ap_protocol::hex::encode(&bytes);
    crate::kit::secrets::write_secret(&path, token.as_bytes()).map_err(std::io::Error::other)?;
    Ok(token)
}

/// `POST /api/aps/{id}/adopt?fingerprint=…` (or `?any_key=true`).
#[derive(serde::Deserialize)]
struct AdoptQuery {
    fingerprint: Option<String>,
    #[serde(default)]
    any_key: bool,
}

/// `POST /api/firmware/{version}/rollout?allow_downgrade=true`.
#[derive(serde::Deserialize)]
struct RolloutQuery {
    #[serde(default)]
    allow_downgrade: bool,
}

/// The admin router.
pub fn router(handles: Handles, token: String) -> Router {
    let api = Arc::new(Api { handles, token });
    Router::new()
        .route("/api/sessions", get(|s, a| run(s, a, Request::SessionsList)))
        .route("/api/sessions/{mac}", delete(|s, a, Path(mac): Path<String>| run(s, a, Request::SessionsKick { mac })))
        .route("/api/firewall/reload", post(|s, a| run(s, a, Request::FirewallReload)))
        .route("/api/aps", get(|s, a| run(s, a, Request::ApsList)))
        .route(
            "/api/aps/{id}",
            get(|s, a, Path(device_id): Path<String>| run(s, a, Request::ApsShow { device_id }))
                .delete(|s, a, Path(device_id): Path<String>| run(s, a, Request::ApsForget { device_id }))
                .patch(|s, a, Path(device_id): Path<String>, Json(b): Json<ApSettings>| {
                    run(
                        s,
                        a,
                        Request::ApsSet {
                            device_id,
                            floor: b.floor,
                            zone: b.zone,
                            radio: b.radio,
                            channel: b.channel,
                            tx_power_dbm: b.tx_power_dbm,
                        },
                    )
                }),
        )
        .route(
            "/api/aps/{id}/adopt",
            post(|s, a, Path(device_id): Path<String>, Query(q): Query<AdoptQuery>| {
                // Without a fingerprint or an explicit any_key, the reply names the one to check.
                let fingerprint = if q.any_key { None } else { Some(q.fingerprint.unwrap_or_default()) };
                run(s, a, Request::ApsAdopt { device_id, fingerprint })
            }),
        )
        .route("/api/plan", post(|s, a| run(s, a, Request::ApsPlan)))
        .route("/api/stations", get(|s, a| run(s, a, Request::StationsList)))
        .route(
            "/api/ssids",
            get(|s, a| run(s, a, Request::SsidsList))
                .put(|s, a, Json(ssid): Json<Ssid>| run(s, a, Request::SsidsPut { ssid })),
        )
        .route("/api/ssids/{name}", delete(|s, a, Path(name): Path<String>| run(s, a, Request::SsidsRemove { name })))
        .route("/api/firmware", get(|s, a| run(s, a, Request::FirmwareStatus)))
        .route(
            "/api/firmware/{version}/rollout",
            post(|s, a, Path(version): Path<String>, Query(q): Query<RolloutQuery>| {
                run(s, a, Request::FirmwareRollout { version, allow_downgrade: q.allow_downgrade })
            }),
        )
        .route(
            "/api/vouchers",
            get(|s, a, Query(q): Query<BatchQuery>| run(s, a, Request::VouchersList { batch: q.batch }))
                .post(|s, a, Json(batch): Json<NewBatch>| run(s, a, Request::VouchersCreate { batch })),
        )
        .route(
            "/api/vouchers/{code_or_batch}",
            delete(|s, a, Path(code_or_batch): Path<String>| run(s, a, Request::VouchersRevoke { code_or_batch })),
        )
        .route(
            "/api/vouchers/batches/{batch}/sheet",
            get(|s, a, Path(batch): Path<String>| {
                document(s, a, Request::VouchersSheet { batch }, "text/html; charset=utf-8")
            }),
        )
        .route(
            "/api/vouchers.csv",
            get(|s, a, Query(q): Query<BatchQuery>| {
                document(s, a, Request::VouchersCsv { batch: q.batch }, "text/csv; charset=utf-8")
            }),
        )
        .route(
            "/api/accounts",
            get(|s, a, Query(q): Query<IdQuery>| run(s, a, Request::AccountsList { id_number: q.id_number }))
                .post(|s, a, Json(account): Json<NewAccount>| run(s, a, Request::AccountsCreate { account })),
        )
        .route(
            "/api/accounts/{username}",
            delete(|s, a, Path(username): Path<String>| run(s, a, Request::AccountsRevoke { username })),
        )
        .route("/api/auth/log", get(|s, a, Query(q): Query<LogQuery>| run(s, a, Request::AuthLog { limit: q.limit })))
        .route(
            "/api/access-log",
            get(|s, a, Query(query): Query<crate::trail::Query>| run(s, a, Request::AccessLogSearch { query })),
        )
        .route("/api/access-log/verify", get(|s, a| run(s, a, Request::AccessLogVerify)))
        .route(
            "/api/access-log/{session}/domains",
            get(|s, a, Path(session): Path<i64>| run(s, a, Request::AccessLogDomains { session })),
        )
        .route("/api/counter-url", get(|s, a| run(s, a, Request::CounterUrl)))
        .route("/api/members/import", post(|s, a, csv: String| run(s, a, Request::MembersImport { csv })))
        .route("/api/members/feed", get(|s, a| run(s, a, Request::FeedStatus)))
        .route(
            "/api/members/{key}",
            get(|s, a, Path(key): Path<String>, Query(q): Query<FullQuery>| {
                run(s, a, Request::MembersShow { key, full: q.full })
            })
            .delete(|s, a, Path(key): Path<String>| run(s, a, Request::MembersErase { key })),
        )
        .route(
            "/api/tiers/{tier}",
            put(|s, a, Path(tier): Path<String>, Json(t): Json<TierBody>| {
                let request = Request::MembersTier {
                    tier,
                    minutes: t.minutes,
                    down_kbps: t.down_kbps,
                    up_kbps: t.up_kbps,
                    data_mb: t.data_mb,
                };
                run(s, a, request)
            }),
        )
        .route(
            "/api/cards/{card}/state",
            put(|s, a, Path(card): Path<String>, Json(b): Json<CardState>| {
                run(s, a, Request::CardsState { card, state: b.state })
            }),
        )
        .route(
            "/api/sms/forget/{phone}",
            post(|s, a, Path(phone): Path<String>| run(s, a, Request::SmsForget { phone })),
        )
        .route_layer(axum::middleware::from_fn_with_state(api.clone(), authorise))
        .route("/metrics", get(metrics))
        .with_state(api)
}

/// `?full=true`: a member's phone unmasked.
#[derive(Deserialize)]
struct FullQuery {
    #[serde(default)]
    full: bool,
}

/// `PUT /api/tiers/{tier}` body.
#[derive(Deserialize)]
struct TierBody {
    #[serde(default)]
    minutes: i64,
    #[serde(default)]
    down_kbps: i64,
    #[serde(default)]
    up_kbps: i64,
    /// MB a day (0: no allowance).
    #[serde(default)]
    data_mb: i64,
}

/// `PUT /api/cards/{card}/state` body: `active`, `frozen` or `lost`.
#[derive(Deserialize)]
struct CardState {
    state: String,
}

/// `?batch=`
#[derive(Deserialize)]
struct BatchQuery {
    batch: Option<String>,
}

/// `?id_number=` (sent in the query only over the local admin listener).
#[derive(Deserialize)]
struct IdQuery {
    id_number: Option<String>,
}

/// `?limit=`
#[derive(Deserialize)]
struct LogQuery {
    #[serde(default = "fifty")]
    limit: u32,
}

fn fifty() -> u32 {
    50
}

/// A request whose answer is a document (a printable sheet, a CSV file).
async fn document(
    api: State<Arc<Api>>,
    Extension(actor): Extension<Actor>,
    request: Request,
    content_type: &'static str,
) -> Response {
    match control::handle(&actor, request, &api.handles).await {
        Reply::Text { text } => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        other => reply(other),
    }
}

/// `PATCH /api/aps/{id}` body.
#[derive(Deserialize)]
struct ApSettings {
    floor: Option<i64>,
    /// The zone of the restaurant it serves (empty: none).
    zone: Option<String>,
    radio: Option<String>,
    channel: Option<u16>,
    tx_power_dbm: Option<u8>,
}

/// The token's actor, put in the request for the route; 401 without a
/// valid token. What the actor may do is the role table's to say.
async fn authorise(
    State(api): State<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // The appliance's own token is compared in constant time; a staff
    // token is looked up by its hash.
    let actor = match given {
        Some(g) if crate::kit::secrets::same_secret(g, &api.token) => {
            Some(Actor::api(TOKEN_FILE, Role::Admin, peer.ip()))
        }
        Some(g) if g.starts_with("gwt_") => match api.handles.people.token_user(g).await {
            Ok(user) => user.map(|u| Actor::api(&u.username, u.role, peer.ip())),
            Err(err) => {
                tracing::error!(error = %crate::error_chain(&err), "API token not checked");
                return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": "try again"})))
                    .into_response();
            }
        },
        _ => None,
    };
    let Some(actor) = actor else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({"error": "a valid API token is needed"})),
        )
            .into_response();
    };
    request.extensions_mut().insert(actor);
    next.run(request).await
}

async fn run(State(api): State<Arc<Api>>, Extension(actor): Extension<Actor>, request: Request) -> Response {
    reply(control::handle(&actor, request, &api.handles).await)
}

fn reply(reply: Reply) -> Response {
    match reply {
        Reply::Error { kind, message } => (status(kind), Json(serde_json::json!({ "error": message }))).into_response(),
        reply => Json(reply).into_response(),
    }
}

/// An error kind's HTTP status, from the one map (`ErrorKind::http_status`).
pub fn status(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let metrics = &api.handles.metrics;
    if let Some(ac) = &api.handles.ac {
        if let Ok(aps) = ac.list().await {
            let count =
                |f: &dyn Fn(&crate::ac::registry::AccessPoint) -> bool| aps.iter().filter(|a| f(a)).count() as i64;
            for (state, n) in [
                ("pending", count(&|a| a.state == "pending")),
                ("adopted", count(&|a| a.state == "adopted")),
                ("online", count(&|a| a.online)),
                ("outdated", count(&|a| a.wants_version.is_some())),
            ] {
                metrics.aps.get_or_create(&crate::metrics::ApStateLabel { state: state.into() }).set(n);
            }
        }
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.encode())
        .into_response()
}
