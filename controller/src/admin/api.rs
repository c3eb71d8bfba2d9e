//! The admin JSON API over HTTP, plus Prometheus text at `/metrics`. Every
//! `/api` call needs `Authorization: Bearer <token>`: a staff member's own
//! token (made in the console, `gwt_…`), which acts with their role and is
//! checked against the route; or the appliance's token in
//! `data/admin.token` (mode 0600, made at first start), which acts as an
//! admin (for scripts on the appliance itself). Each route is one control
//! request, so the CLI and the API cannot drift apart.

use crate::auth::account::NewAccount;
use crate::auth::voucher::NewBatch;
use crate::control::{self, ErrorKind, Handles, Reply, Request};
use ap_protocol::Ssid;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use rand::RngCore;
use serde::Deserialize;
use std::sync::Arc;

/// File name of the API token in the data dir.
pub const TOKEN_FILE: &str = "admin.token";

struct Api {
    handles: Handles,
    token: String,
    staff: Arc<crate::staff::Staff>,
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
pub fn router(handles: Handles, token: String, staff: Arc<crate::staff::Staff>) -> Router {
    let api = Arc::new(Api { handles, token, staff });
    Router::new()
        .route("/api/sessions", get(|s| run(s, Request::SessionsList)))
        .route("/api/sessions/{mac}", delete(|s, Path(mac): Path<String>| run(s, Request::SessionsKick { mac })))
        .route("/api/firewall/reload", post(|s| run(s, Request::FirewallReload)))
        .route("/api/aps", get(|s| run(s, Request::ApsList)))
        .route(
            "/api/aps/{id}",
            get(|s, Path(device_id): Path<String>| run(s, Request::ApsShow { device_id }))
                .delete(|s, Path(device_id): Path<String>| run(s, Request::ApsForget { device_id }))
                .patch(|s, Path(device_id): Path<String>, Json(b): Json<ApSettings>| {
                    run(
                        s,
                        Request::ApsSet {
                            device_id,
                            floor: b.floor,
                            radio: b.radio,
                            channel: b.channel,
                            tx_power_dbm: b.tx_power_dbm,
                        },
                    )
                }),
        )
        .route(
            "/api/aps/{id}/adopt",
            post(|s, Path(device_id): Path<String>, Query(q): Query<AdoptQuery>| {
                // Without a fingerprint or an explicit any_key, the reply names the one to check.
                let fingerprint = if q.any_key { None } else { Some(q.fingerprint.unwrap_or_default()) };
                run(s, Request::ApsAdopt { device_id, fingerprint })
            }),
        )
        .route("/api/plan", post(|s| run(s, Request::ApsPlan)))
        .route("/api/stations", get(|s| run(s, Request::StationsList)))
        .route(
            "/api/ssids",
            get(|s| run(s, Request::SsidsList)).put(|s, Json(ssid): Json<Ssid>| run(s, Request::SsidsPut { ssid })),
        )
        .route("/api/ssids/{name}", delete(|s, Path(name): Path<String>| run(s, Request::SsidsRemove { name })))
        .route("/api/firmware", get(|s| run(s, Request::FirmwareStatus)))
        .route(
            "/api/firmware/{version}/rollout",
            post(|s, Path(version): Path<String>, Query(q): Query<RolloutQuery>| {
                run(s, Request::FirmwareRollout { version, allow_downgrade: q.allow_downgrade })
            }),
        )
        .route(
            "/api/vouchers",
            get(|s, Query(q): Query<BatchQuery>| run(s, Request::VouchersList { batch: q.batch }))
                .post(|s, Json(batch): Json<NewBatch>| run(s, Request::VouchersCreate { batch })),
        )
        .route(
            "/api/vouchers/{code_or_batch}",
            delete(|s, Path(code_or_batch): Path<String>| run(s, Request::VouchersRevoke { code_or_batch })),
        )
        .route(
            "/api/vouchers/batches/{batch}/sheet",
            get(|s, Path(batch): Path<String>| {
                document(s, Request::VouchersSheet { batch }, "text/html; charset=utf-8")
            }),
        )
        .route(
            "/api/vouchers.csv",
            get(|s, Query(q): Query<BatchQuery>| {
                document(s, Request::VouchersCsv { batch: q.batch }, "text/csv; charset=utf-8")
            }),
        )
        .route(
            "/api/accounts",
            get(|s, Query(q): Query<IdQuery>| run(s, Request::AccountsList { id_number: q.id_number }))
                .post(|s, Json(account): Json<NewAccount>| run(s, Request::AccountsCreate { account })),
        )
        .route(
            "/api/accounts/{username}",
            delete(|s, Path(username): Path<String>| run(s, Request::AccountsRevoke { username })),
        )
        .route("/api/auth/log", get(|s, Query(q): Query<LogQuery>| run(s, Request::AuthLog { limit: q.limit })))
        .route("/api/counter-url", get(|s| run(s, Request::CounterUrl)))
        .route("/api/members/import", post(|s, csv: String| run(s, Request::MembersImport { csv })))
        .route("/api/members/feed", get(|s| run(s, Request::FeedStatus)))
        .route(
            "/api/members/{key}",
            get(|s, Path(key): Path<String>, Query(q): Query<FullQuery>| {
                run(s, Request::MembersShow { key, full: q.full })
            })
            .delete(|s, Path(key): Path<String>| run(s, Request::MembersErase { key })),
        )
        .route(
            "/api/tiers/{tier}",
            put(|s, Path(tier): Path<String>, Json(t): Json<TierBody>| {
                run(s, Request::MembersTier { tier, minutes: t.minutes, down_kbps: t.down_kbps, up_kbps: t.up_kbps })
            }),
        )
        .route(
            "/api/cards/{card}/state",
            put(|s, Path(card): Path<String>, Json(b): Json<CardState>| {
                run(s, Request::CardsState { card, state: b.state })
            }),
        )
        .route("/api/sms/forget/{phone}", post(|s, Path(phone): Path<String>| run(s, Request::SmsForget { phone })))
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
async fn document(api: State<Arc<Api>>, request: Request, content_type: &'static str) -> Response {
    match control::handle(request, &api.handles).await {
        Reply::Text { text } => ([(header::CONTENT_TYPE, content_type)], text).into_response(),
        other => reply(other),
    }
}

/// `PATCH /api/aps/{id}` body.
#[derive(Deserialize)]
struct ApSettings {
    floor: Option<i64>,
    radio: Option<String>,
    channel: Option<u16>,
    tx_power_dbm: Option<u8>,
}

async fn authorise(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::staff::Role;
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    // The appliance's own token is compared in constant time; a staff
    // token is looked up by its hash.
    let role = match given {
        Some(g) if crate::kit::secrets::same_secret(g, &api.token) => Some(Role::Admin),
        Some(g) if g.starts_with("gwt_") => match api.staff.token_user(g).await {
            Ok(user) => user.map(|u| u.role),
            Err(err) => {
                tracing::error!(error = %crate::error_chain(&err), "API token not checked");
                return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": "try again"})))
                    .into_response();
            }
        },
        _ => None,
    };
    let Some(role) = role else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({"error": "a valid API token is needed"})),
        )
            .into_response();
    };
    if !allowed(role, request.method(), request.uri().path()) {
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({"error": format!("the {} role may not do this", role.as_str())})),
        )
            .into_response();
    }
    next.run(request).await
}

/// Which roles may call a route: the front desk what it does at the desk
/// (guests, vouchers, accounts, members' cards), marketers read the audit
/// trail, admins everything.
fn allowed(role: crate::staff::Role, method: &axum::http::Method, path: &str) -> bool {
    use crate::staff::Role;
    if role == Role::Admin {
        return true;
    }
    let desk = [
        "/api/sessions",
        "/api/vouchers",
        "/api/accounts",
        "/api/counter-url",
        "/api/sms/forget",
        "/api/cards/",
        "/api/members/",
    ];
    let staff_only_admin =
        path == "/api/members/import" || (path.starts_with("/api/members/") && method == axum::http::Method::DELETE);
    match role {
        Role::FrontDesk => desk.iter().any(|p| path.starts_with(p)) && !staff_only_admin,
        Role::Marketer => path == "/api/auth/log" || path == "/api/members/feed",
        Role::Admin => true,
    }
}

async fn run(State(api): State<Arc<Api>>, request: Request) -> Response {
    reply(control::handle(request, &api.handles).await)
}

fn reply(reply: Reply) -> Response {
    match reply {
        Reply::Error { kind, message } => {
            let status = match kind {
                ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            (status, Json(serde_json::json!({ "error": message }))).into_response()
        }
        reply => Json(reply).into_response(),
    }
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
