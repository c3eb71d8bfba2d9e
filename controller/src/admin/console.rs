//! The staff web console on the admin listener (`/console/`): first-run
//! setup with the one-time code, staff login, and pages for what the CLI
//! does, each checked against the staff member's role. Server-rendered
//! (askama, `console-templates/`), zh-CN first and English, no JavaScript.
//!
//! Every action goes through the same control requests as the CLI and the
//! JSON API, and is written to the staff audit log. Every form carries the
//! session's CSRF token (setup and login: a token bound to a SameSite=Strict
//! cookie); every response has a strict Content-Security-Policy.

mod marketing;
mod radio;
mod settings;

use crate::control::{self, Handles, Reply, Request};
use crate::portal::i18n::Lang;
use crate::staff::{AuditEntry, Role, Signed, Staff, StaffError, User};
use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};

/// The session cookie.
const COOKIE: &str = "gw_console";
/// The cookie that binds the setup and login forms' token.
const PRE_COOKIE: &str = "gw_console_pre";
/// What every console page may load: itself, nothing inline, no frames.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                   frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every string a console page shows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Strings {
    pub lang: String,
    pub switch_to: String,
    pub switch_label: String,
    pub console: String,
    pub nav_dashboard: String,
    pub nav_guests: String,
    pub nav_vouchers: String,
    pub nav_users: String,
    pub nav_audit: String,
    pub logout: String,
    pub back: String,
    pub setup_title: String,
    pub setup_hint: String,
    pub setup_code: String,
    pub setup_button: String,
    pub setup_done: String,
    pub username: String,
    pub password: String,
    pub login_title: String,
    pub login_button: String,
    pub guests_online: String,
    pub aps_online: String,
    pub feed_waiting: String,
    pub recent_logins: String,
    pub when: String,
    pub method: String,
    pub identity: String,
    pub outcome: String,
    pub search: String,
    pub search_hint: String,
    pub minutes_left: String,
    pub kick: String,
    pub kicked: String,
    pub none: String,
    pub voucher_count: String,
    pub voucher_hours: String,
    pub voucher_valid_days: String,
    pub voucher_devices: String,
    pub voucher_note: String,
    pub voucher_create: String,
    pub voucher_created: String,
    pub voucher_batches: String,
    pub voucher_batch: String,
    pub voucher_cards: String,
    pub voucher_used: String,
    pub voucher_print: String,
    pub voucher_revoke: String,
    pub voucher_revoked: String,
    pub nav_forbidden: String,
    pub forbidden_body: String,
    pub csrf_title: String,
    pub csrf_body: String,
    pub wrong_credentials: String,
    pub locked_out: String,
    pub setup_wrong: String,
    pub error_title: String,
    pub error_body: String,
    pub bad_input: String,
    pub role: String,
    pub role_admin: String,
    pub role_marketer: String,
    pub role_frontdesk: String,
    pub user_create: String,
    pub user_created: String,
    pub disable: String,
    pub disabled: String,
    pub audit_filter: String,
    pub action: String,
    pub target: String,
    pub before: String,
    pub after: String,
    pub from: String,
    pub nav_members: String,
    pub member_search_hint: String,
    pub member_tier: String,
    pub member_balance: String,
    pub member_points: String,
    pub member_visits: String,
    pub member_card: String,
    pub member_state: String,
    pub card_active: String,
    pub card_frozen: String,
    pub card_lost: String,
    pub member_not_found: String,
    pub card_changed: String,
    pub nav_marketing: String,
    pub sent_twice: String,
    pub stats_per_ap: String,
    pub method_countdown: String,
    pub method_voucher: String,
    pub method_account: String,
    pub method_counter_qr: String,
    pub method_sms: String,
    pub method_wechat: String,
    pub method_weibo: String,
    pub method_card: String,
    pub nav_settings: String,
    pub settings_venue: String,
    pub settings_tagline: String,
    pub settings_info_url: String,
    pub settings_session: String,
    pub settings_methods: String,
    pub settings_garden: String,
    pub settings_garden_hint: String,
    pub settings_saved: String,
    pub settings_restarting: String,
    pub settings_pending: String,
    pub settings_pinned: String,
    pub settings_readonly: String,
    pub nav_ssids: String,
    pub nav_plan: String,
    pub nav_firmware: String,
    pub ssid_hint: String,
    pub ssid_name: String,
    pub ssid_security: String,
    pub ssid_open: String,
    pub ssid_key: String,
    pub ssid_bands: String,
    pub ssid_flags: String,
    pub ssid_hidden: String,
    pub ssid_isolation: String,
    pub ssid_portal: String,
    pub ssid_put: String,
    pub ssid_saved: String,
    pub plan_hint: String,
    pub plan_now: String,
    pub plan_applied: String,
    pub plan_radio: String,
    pub plan_channel: String,
    pub plan_power: String,
    pub plan_why: String,
    pub plan_heard: String,
    pub plan_shares: String,
    pub firmware_upload: String,
    pub firmware_version: String,
    pub firmware_image: String,
    pub firmware_signature: String,
    pub firmware_accepted: String,
    pub rollout_title: String,
    pub rollout_upgraded: String,
    pub rollout_remaining: String,
    pub rollout_halt: String,
    pub rollout_halted: String,
    pub rollout_start: String,
    pub rollout_started: String,
    pub rollout_downgrade: String,
    pub too_large: String,
    pub sunday: String,
    pub monday: String,
    pub tuesday: String,
    pub wednesday: String,
    pub thursday: String,
    pub friday: String,
    pub saturday: String,
    pub meal_breakfast: String,
    pub meal_lunch: String,
    pub meal_tea: String,
    pub meal_dinner: String,
    pub meal_late: String,
    pub landing_original: String,
    pub landing_promotions: String,
    pub landing_venue: String,
    pub added: String,
    pub saved: String,
    pub brand_title: String,
    pub brand_colour: String,
    pub brand_logo: String,
    pub brand_background: String,
    pub brand_story: String,
    pub member_day: String,
    pub clear_photo: String,
    pub save: String,
    pub promotions_title: String,
    pub promotion_title: String,
    pub promotion_body: String,
    pub promotion_add: String,
    pub products_title: String,
    pub product_category: String,
    pub product_tags: String,
    pub product_add: String,
    pub ad_title: String,
    pub ad_text: String,
    pub ad_opens: String,
    pub ad_hint: String,
    pub landing_title: String,
    pub schedule_title: String,
    pub schedule_from: String,
    pub schedule_until: String,
    pub schedule_meals: String,
    pub schedule_member_day: String,
    pub schedule_always: String,
    pub preview_title: String,
    pub unpublished: String,
    pub version_shows: String,
    pub dishes_draft: String,
    pub dish_name: String,
    pub dish_price: String,
    pub dish_photo: String,
    pub dish_add: String,
    pub remove: String,
    pub publish: String,
    pub published: String,
    pub versions: String,
    pub dishes_count: String,
    pub rollback: String,
    pub empty_page: String,
    pub upload_refused: String,
    pub nav_stats: String,
    pub stats_from: String,
    pub stats_to: String,
    pub stats_views: String,
    pub stats_logins: String,
    pub stats_conversion: String,
    pub stats_new: String,
    pub stats_returning: String,
    pub stats_dwell: String,
    pub stats_peak: String,
    pub stats_by_day: String,
    pub stats_by_hour: String,
    pub stats_by_method: String,
    pub stats_guests: String,
    pub stats_refusals: String,
    pub stats_top: String,
    pub stats_bad_range: String,
    pub nav_aps: String,
    pub ac_off: String,
    pub ap_device: String,
    pub ap_model: String,
    pub ap_firmware: String,
    pub ap_clients: String,
    pub ap_fingerprint: String,
    pub ap_fingerprint_hint: String,
    pub ap_adopt: String,
    pub ap_online: String,
    pub ap_adopted: String,
    pub nav_tokens: String,
    pub tokens_hint: String,
    pub token_once: String,
    pub token_name: String,
    pub token_used: String,
    pub token_create: String,
    pub nav_accounts: String,
    pub account_created: String,
    pub account_id_number: String,
    pub account_passport: String,
    pub account_name: String,
    pub account_id_last4: String,
    pub account_create: String,
}

static ZH: LazyLock<Strings> = LazyLock::new(|| {
    toml::from_str(include_str!("../../../console-templates/i18n/zh-CN.toml")).expect("zh-CN strings")
});
static EN: LazyLock<Strings> =
    LazyLock::new(|| toml::from_str(include_str!("../../../console-templates/i18n/en.toml")).expect("en strings"));

fn strings(lang: Lang) -> &'static Strings {
    match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    }
}

/// The console's state.
pub struct Console {
    staff: Arc<Staff>,
    handles: Handles,
    /// Cookies marked Secure (the console is served over HTTPS).
    secure: bool,
    marketing: Option<Arc<crate::marketing::Marketing>>,
    /// The portal, whose login page the editor's preview renders.
    portal: Option<Arc<crate::portal::Portal>>,
    /// The running configuration (the settings page starts from it).
    config: Option<Arc<crate::config::Config>>,
    /// Restarts the controller so saved settings apply.
    restart: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Form nonces already used (a double tap makes one batch, not two).
    used_once: std::sync::Mutex<HashMap<String, std::time::Instant>>,
    /// The site's time zone, hours ahead of UTC (statistics by local day).
    offset: i64,
}

impl Console {
    /// The console over `handles`, its staff in `staff`.
    pub fn new(staff: Arc<Staff>, handles: Handles, secure: bool) -> Self {
        Console {
            staff,
            handles,
            secure,
            marketing: None,
            portal: None,
            config: None,
            restart: None,
            used_once: Default::default(),
            offset: 8,
        }
    }

    /// Days and hours of the statistics in a zone `offset` hours ahead of UTC.
    pub fn with_zone(mut self, offset: i64) -> Self {
        self.offset = offset;
        self
    }

    /// The editor's preview renders `portal`'s login page.
    pub fn with_portal(mut self, portal: Arc<crate::portal::Portal>) -> Self {
        self.portal = Some(portal);
        self
    }

    /// A fresh nonce for a form that makes something (`once`).
    fn once() -> String {
        crate::kit::secrets::random_code(16)
    }

    /// Whether this is the first time a form with `nonce` arrives (an empty
    /// one always is); nonces are forgotten after an hour.
    fn first_use(&self, nonce: &str) -> bool {
        if nonce.is_empty() {
            return true;
        }
        let mut used = self.used_once.lock().unwrap();
        let now = std::time::Instant::now();
        used.retain(|_, at| now.duration_since(*at) < std::time::Duration::from_secs(3600));
        used.insert(nonce.to_string(), now).is_none()
    }

    /// The settings page edits `config`'s settings; `restart` applies them.
    pub fn with_settings(
        mut self,
        config: Arc<crate::config::Config>,
        restart: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Self {
        self.config = Some(config);
        self.restart = restart;
        self
    }

    /// The marketer's pages edit `marketing`.
    pub fn with_marketing(mut self, marketing: Arc<crate::marketing::Marketing>) -> Self {
        self.marketing = Some(marketing);
        self
    }
}

/// The signed-in member as the page header shows them.
struct Me {
    username: String,
    role: &'static str,
    csrf: String,
    admin: bool,
    front_desk: bool,
    marketer: bool,
}

fn me(signed: &Signed) -> Me {
    Me {
        username: signed.username.clone(),
        role: signed.role.as_str(),
        csrf: signed.csrf.clone(),
        admin: signed.role == Role::Admin,
        front_desk: matches!(signed.role, Role::Admin | Role::FrontDesk),
        marketer: matches!(signed.role, Role::Admin | Role::Marketer),
    }
}

#[derive(Template)]
#[template(path = "console/setup.html")]
struct SetupPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    title: String,
    body: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    guests: usize,
    aps: usize,
    waiting: i64,
    recent: Vec<(String, String, String, String, String)>,
}

struct GuestRow {
    mac: String,
    ip: String,
    method: String,
    identity: String,
    minutes_left: u64,
}

#[derive(Template)]
#[template(path = "console/guests.html")]
struct GuestsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    q: String,
    guests: Vec<GuestRow>,
}

struct BatchRow {
    batch: String,
    cards: usize,
    used: usize,
    note: String,
}

#[derive(Template)]
#[template(path = "console/vouchers.html")]
struct VouchersPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    once: String,
    batches: Vec<BatchRow>,
}

/// A member as the front desk sees them (phone masked).
struct MemberRow {
    name: String,
    phone: String,
    tier: String,
    balance: String,
    points: i64,
    visits: i64,
    /// Card number and state.
    cards: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    q: String,
    member: Option<MemberRow>,
    /// The states a card can be put in, with their buttons' words.
    actions: Vec<(&'static str, String)>,
}

/// A draft dish as the editor lists it.
#[derive(Template)]
#[template(path = "console/stats.html")]
struct StatsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    from: String,
    to: String,
    r: crate::stats::Report,
    conversion: String,
    dwell: String,
    peak: usize,
    chart_days: String,
    chart_hours: String,
    chart_methods: String,
    /// Guests per AP now, and its chart (None: no AP has guests).
    per_ap: Vec<(String, i64)>,
    chart_aps: Option<String>,
}

/// An AP as the admin sees it.
struct ApRow {
    device_id: String,
    model: String,
    mac: String,
    firmware: String,
    state: String,
    online: bool,
    clients: usize,
    /// Its key's fingerprint, the start of it.
    fingerprint: String,
}

#[derive(Template)]
#[template(path = "console/aps.html")]
struct ApsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    ac_on: bool,
    aps: Vec<ApRow>,
}

#[derive(Template)]
#[template(path = "console/tokens.html")]
struct TokensPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    new_token: Option<String>,
    /// Token, made, last used.
    tokens: Vec<(crate::staff::Token, String, String)>,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct AccountsPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    once: String,
    /// A new account's username and password, shown this once.
    created: Option<(String, String)>,
    accounts: Vec<crate::auth::account::Account>,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    users: Vec<User>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    q: String,
    entries: Vec<(String, AuditEntry)>,
}

/// The console's routes, under `/console/`.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(dashboard))
        .route("/console/setup", get(setup_page).post(setup))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/guests", get(guests))
        .route("/console/guests/kick", post(kick))
        .route("/console/vouchers", get(vouchers).post(create_vouchers))
        .route("/console/vouchers/revoke", post(revoke_vouchers))
        .route("/console/vouchers/sheet", get(voucher_sheet))
        .route("/console/members", get(members))
        .route("/console/cards/state", post(card_state))
        .route("/console/stats", get(stats))
        .route("/console/stats.csv", get(stats_csv))
        .route("/console/stats.xlsx", get(stats_xlsx))
        .route("/console/aps", get(aps))
        .route("/console/aps/adopt", post(adopt))
        .route("/console/tokens", get(tokens).post(create_token))
        .route("/console/tokens/revoke", post(revoke_token))
        .route("/console/accounts", get(accounts).post(create_account))
        .route("/console/accounts/revoke", post(revoke_account))
        .route("/console/users", get(users).post(create_user))
        .route("/console/users/disable", post(disable_user))
        .route("/console/audit", get(audit))
        .route("/console/audit.csv", get(audit_csv))
        .merge(marketing::routes())
        .merge(radio::routes())
        .merge(settings::routes())
        .route(
            "/console/static/console.css",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
                    include_str!("../../../console-templates/static/console.css"),
                )
            }),
        )
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console)
}

/// A strict CSP (unless the page set its own), no framing, no sniffing,
/// no caching, no referrer.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize, Default)]
struct LangQuery {
    lang: Option<String>,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    batch: String,
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

fn lang_of(headers: &HeaderMap, query: &LangQuery) -> Lang {
    Lang::choose(
        query.lang.as_deref(),
        cookie(headers, "console_lang"),
        headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()),
    )
}

fn page(status: StatusCode, rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "console template failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// With `?lang=`, the choice is kept in a cookie.
fn keep_lang(mut response: Response, query: &LangQuery, lang: Lang) -> Response {
    if query.lang.is_some() {
        let value = format!("console_lang={}; Path=/console; Max-Age=31536000; SameSite=Strict", lang.code());
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn message(t: &Strings, me: Option<Me>, status: StatusCode, title: &str, body: String) -> Response {
    page(status, MessagePage { t, me, notice: None, title: title.to_string(), body }.render())
}

/// The signed-in staff member, or the response that stands instead: the
/// login (or setup) page when there is none, 403 when the role may not.
async fn require(console: &Console, headers: &HeaderMap, t: &Strings, roles: &[Role]) -> Result<Signed, Response> {
    let signed = match cookie(headers, COOKIE) {
        Some(token) => console.staff.session(token).await.map_err(|e| failed(t, None, &e))?,
        None => None,
    };
    let Some(signed) = signed else {
        return Err(Redirect::to("/console/login").into_response());
    };
    if !roles.contains(&signed.role) {
        tracing::warn!(user = %signed.username, role = signed.role.as_str(), "console page refused to this role");
        return Err(message(t, Some(me(&signed)), StatusCode::FORBIDDEN, &t.nav_forbidden, t.forbidden_body.clone()));
    }
    Ok(signed)
}

/// A page request: its language, strings and the signed-in member whose
/// role may see it (else the login page or 403).
async fn viewed(
    console: &Console,
    headers: &HeaderMap,
    q: &LangQuery,
    roles: &[Role],
) -> Result<(Lang, &'static Strings, Signed), Response> {
    let lang = lang_of(headers, q);
    let t = strings(lang);
    Ok((lang, t, require(console, headers, t, roles).await?))
}

/// A form post: the signed-in member whose role may send it, with the
/// session's CSRF token (else the login page, 403, or the expired-form
/// page; nothing is changed).
async fn posted(
    console: &Console,
    headers: &HeaderMap,
    roles: &[Role],
    csrf: &str,
) -> Result<(&'static Strings, Signed), Response> {
    let t = strings(lang_of(headers, &LangQuery::default()));
    let signed = require(console, headers, t, roles).await?;
    if !csrf_ok(&signed, csrf) {
        return Err(csrf_refused(t, Some(&signed)));
    }
    Ok((t, signed))
}

/// A form's CSRF token against the session's (constant time).
fn csrf_ok(signed: &Signed, given: &str) -> bool {
    !given.is_empty() && crate::kit::secrets::same_secret(given, &signed.csrf)
}

fn csrf_refused(t: &Strings, signed: Option<&Signed>) -> Response {
    message(t, signed.map(me), StatusCode::FORBIDDEN, &t.csrf_title, t.csrf_body.clone())
}

fn failed(t: &Strings, signed: Option<&Signed>, err: &dyn std::error::Error) -> Response {
    tracing::error!(error = %crate::error_chain(err), "console request failed");
    message(t, signed.map(me), StatusCode::SERVICE_UNAVAILABLE, &t.error_title, t.error_body.clone())
}

/// A reply that is an error: its page with the API's status for its kind.
fn reply_failed(t: &Strings, signed: &Signed, reply: Reply) -> Response {
    match reply {
        Reply::Error { kind, message: text } => {
            let status = match kind {
                control::ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                control::ErrorKind::NotFound => StatusCode::NOT_FOUND,
                control::ErrorKind::Conflict => StatusCode::CONFLICT,
                control::ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            };
            message(t, Some(me(signed)), status, &t.error_title, format!("{}{text}", t.bad_input))
        }
        other => {
            tracing::error!(?other, "unexpected control reply");
            message(t, Some(me(signed)), StatusCode::INTERNAL_SERVER_ERROR, &t.error_title, t.error_body.clone())
        }
    }
}

/// A new form token bound to a SameSite=Strict cookie (setup and login).
fn pre_token() -> (String, HeaderValue) {
    let token = crate::staff::random_token();
    let cookie = format!("{PRE_COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict");
    (token, HeaderValue::from_str(&cookie).expect("ascii cookie"))
}

fn pre_ok(headers: &HeaderMap, given: &str) -> bool {
    cookie(headers, PRE_COOKIE).is_some_and(|c| !given.is_empty() && crate::kit::secrets::same_secret(given, c))
}

fn with_cookie(mut response: Response, value: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, value);
    response
}

async fn dashboard(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(&headers, &q);
    let t = strings(lang);
    if !console.staff.has_users().await.unwrap_or(true) {
        return Redirect::to("/console/setup").into_response();
    }
    let signed = match require(&console, &headers, t, &[Role::Admin, Role::Marketer, Role::FrontDesk]).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let h = &console.handles;
    let aps = match &h.ac {
        Some(ac) => ac.list().await.map(|aps| aps.iter().filter(|a| a.online).count()).unwrap_or(0),
        None => 0,
    };
    let waiting = h.staff.feed.status().await.map(|s| s.backlog.waiting).unwrap_or(0);
    let recent = h
        .staff
        .audit
        .recent(10)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| (ago(r.at), r.method, r.mac, r.identity, if r.reason.is_empty() { r.outcome } else { r.reason }))
        .collect();
    let rendered =
        DashboardPage { t, me: Some(me(&signed)), notice: None, guests: h.sessions.live_count(), aps, waiting, recent }
            .render();
    keep_lang(page(StatusCode::OK, rendered), &q, lang)
}

fn ago(at_ms: i64) -> String {
    let secs = (crate::kit::time::now_ms() - at_ms).max(0) / 1000;
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

#[derive(Deserialize)]
struct SetupForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn setup_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(&headers, &q);
    let t = strings(lang);
    if console.staff.has_users().await.unwrap_or(true) {
        return Redirect::to("/console/login").into_response();
    }
    let (csrf, cookie) = pre_token();
    let response = page(StatusCode::OK, SetupPage { t, me: None, notice: None, csrf }.render());
    keep_lang(with_cookie(response, cookie), &q, lang)
}

async fn setup(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Response {
    let t = strings(lang_of(&headers, &LangQuery::default()));
    if !pre_ok(&headers, &form.csrf) {
        return csrf_refused(t, None);
    }
    let username = form.username.trim().to_ascii_lowercase();
    match console.staff.setup(&form.code, &username, &form.password).await {
        Ok(()) => {
            let owner = Signed { user_id: 0, username: username.clone(), role: Role::Admin, csrf: String::new() };
            console.staff.audit(&owner, "setup", &username, "", "admin", peer.ip()).await;
            let (csrf, cookie) = pre_token();
            let notice = Some(t.setup_done.clone());
            with_cookie(page(StatusCode::OK, LoginPage { t, me: None, notice, csrf }.render()), cookie)
        }
        Err(err) => {
            let (status, notice) = match &err {
                StaffError::Setup => (StatusCode::FORBIDDEN, t.setup_wrong.clone()),
                StaffError::Invalid(why) => (StatusCode::BAD_REQUEST, format!("{}{why}", t.bad_input)),
                other => return failed(t, None, other),
            };
            tracing::warn!(from = %peer.ip(), "first-run setup refused");
            let (csrf, cookie) = pre_token();
            with_cookie(page(status, SetupPage { t, me: None, notice: Some(notice), csrf }.render()), cookie)
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

async fn login_page(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = lang_of(&headers, &q);
    let t = strings(lang);
    if !console.staff.has_users().await.unwrap_or(true) {
        return Redirect::to("/console/setup").into_response();
    }
    let (csrf, cookie) = pre_token();
    let response = page(StatusCode::OK, LoginPage { t, me: None, notice: None, csrf }.render());
    keep_lang(with_cookie(response, cookie), &q, lang)
}

async fn login(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = strings(lang_of(&headers, &LangQuery::default()));
    if !pre_ok(&headers, &form.csrf) {
        return csrf_refused(t, None);
    }
    match console.staff.login(&form.username, &form.password, peer.ip()).await {
        Ok((token, signed)) => {
            console.staff.audit(&signed, "login", &signed.username, "", "", peer.ip()).await;
            let secure = if console.secure { "; Secure" } else { "" };
            let value = format!("{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}");
            let cookie = HeaderValue::from_str(&value).expect("ascii cookie");
            with_cookie(Redirect::to("/console/").into_response(), cookie)
        }
        Err(err) => {
            let (status, notice, retry) = match &err {
                StaffError::WrongCredentials => (StatusCode::FORBIDDEN, t.wrong_credentials.clone(), None),
                StaffError::LockedOut { retry_after } => {
                    let secs = retry_after.as_secs().max(1);
                    let text = t.locked_out.replace("{minutes}", &secs.div_ceil(60).to_string());
                    (StatusCode::TOO_MANY_REQUESTS, text, Some(secs))
                }
                other => return failed(t, None, other),
            };
            tracing::warn!(from = %peer.ip(), reason = %err, "console login refused");
            let (csrf, cookie) = pre_token();
            let mut response =
                with_cookie(page(status, LoginPage { t, me: None, notice: Some(notice), csrf }.render()), cookie);
            if let Some(secs) = retry {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (t, signed) =
        match posted(&console, &headers, &[Role::Admin, Role::Marketer, Role::FrontDesk], &form.csrf).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if let Some(token) = cookie(&headers, COOKIE) {
        if let Err(err) = console.staff.logout(token).await {
            return failed(t, Some(&signed), &err);
        }
    }
    console.staff.audit(&signed, "logout", &signed.username, "", "", peer.ip()).await;
    let gone = HeaderValue::from_static("gw_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0");
    with_cookie(Redirect::to("/console/login").into_response(), gone)
}

async fn guests(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, &[Role::Admin, Role::FrontDesk]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sessions = match control::handle(Request::SessionsList, &console.handles).await {
        Reply::Sessions { sessions } => sessions,
        other => return reply_failed(t, &signed, other),
    };
    let needle = q.q.trim().to_ascii_lowercase();
    let guests = sessions
        .into_iter()
        .filter(|s| {
            needle.is_empty()
                || s.mac.to_string().contains(&needle)
                || s.ip.to_string().contains(&needle)
                || s.identity.to_ascii_lowercase().contains(&needle)
        })
        .map(|s| GuestRow {
            mac: s.mac.to_string(),
            ip: s.ip.to_string(),
            method: s.method.clone(),
            identity: s.identity.clone(),
            minutes_left: s.remaining().as_secs().div_ceil(60),
        })
        .collect();
    let rendered =
        GuestsPage { t, csrf: signed.csrf.clone(), me: Some(me(&signed)), notice: None, q: q.q.clone(), guests }
            .render();
    keep_lang(page(StatusCode::OK, rendered), &q, lang)
}

#[derive(Deserialize)]
struct KickForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mac: String,
}

async fn kick(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<KickForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin, Role::FrontDesk], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match control::handle(Request::SessionsKick { mac: form.mac.clone() }, &console.handles).await {
        Reply::Kicked { count } => {
            console
                .staff
                .audit(&signed, "guest.kick", &form.mac, "online", &format!("{count} sessions ended"), peer.ip())
                .await;
            Redirect::to("/console/guests").into_response()
        }
        other => reply_failed(t, &signed, other),
    }
}

async fn vouchers(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, &[Role::Admin, Role::FrontDesk]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keep_lang(vouchers_page(&console, t, &signed, None, StatusCode::OK).await, &q, lang)
}

async fn vouchers_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let vouchers = match control::handle(Request::VouchersList { batch: None }, &console.handles).await {
        Reply::Vouchers { vouchers } => vouchers,
        other => return reply_failed(t, signed, other),
    };
    // Batches, newest first.
    let mut by_batch: BTreeMap<String, (i64, BatchRow)> = BTreeMap::new();
    for v in vouchers {
        let entry = by_batch.entry(v.batch.clone()).or_insert_with(|| {
            (v.created_at, BatchRow { batch: v.batch.clone(), cards: 0, used: 0, note: v.note.clone() })
        });
        entry.1.cards += 1;
        entry.1.used += usize::from(v.first_used_at.is_some());
    }
    let mut batches: Vec<(i64, BatchRow)> = by_batch.into_values().collect();
    batches.sort_by_key(|b| std::cmp::Reverse(b.0));
    let batches = batches.into_iter().map(|(_, b)| b).collect();
    page(
        status,
        VouchersPage { t, me: Some(me(signed)), notice, csrf: signed.csrf.clone(), once: Console::once(), batches }
            .render(),
    )
}

#[derive(Deserialize)]
struct VoucherForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    once: String,
    #[serde(default)]
    count: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    valid_days: String,
    #[serde(default)]
    devices: String,
    #[serde(default)]
    note: String,
}

async fn create_vouchers(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<VoucherForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin, Role::FrontDesk], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !console.first_use(&form.once) {
        return vouchers_page(&console, t, &signed, Some(t.sent_twice.clone()), StatusCode::OK).await;
    }
    let number = |v: &str, what: &str| v.trim().parse::<u32>().map_err(|_| format!("{}{what}", t.bad_input));
    let parsed = (|| {
        Ok::<_, String>(crate::auth::voucher::NewBatch {
            count: number(&form.count, &t.voucher_count)?,
            duration_seconds: u64::from(number(&form.hours, &t.voucher_hours)?) * 3600,
            valid_days: number(&form.valid_days, &t.voucher_valid_days)?,
            devices: number(&form.devices, &t.voucher_devices)?,
            bandwidth: Default::default(),
            note: form.note.trim().chars().take(100).collect(),
        })
    })();
    let batch = match parsed {
        Ok(batch) => batch,
        Err(why) => return vouchers_page(&console, t, &signed, Some(why), StatusCode::BAD_REQUEST).await,
    };
    let summary = format!(
        "{} x {} h, {} days, {} devices",
        batch.count,
        batch.duration_seconds / 3600,
        batch.valid_days,
        batch.devices
    );
    match control::handle(Request::VouchersCreate { batch }, &console.handles).await {
        Reply::Vouchers { vouchers } => {
            let id = vouchers.first().map(|v| v.batch.clone()).unwrap_or_default();
            console.staff.audit(&signed, "voucher.create", &id, "", &summary, peer.ip()).await;
            let notice = Some(format!("{}{id}", t.voucher_created));
            vouchers_page(&console, t, &signed, notice, StatusCode::OK).await
        }
        Reply::Error { kind: control::ErrorKind::Invalid, message: why } => {
            vouchers_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), StatusCode::BAD_REQUEST).await
        }
        other => reply_failed(t, &signed, other),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code_or_batch: String,
}

async fn revoke_vouchers(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin, Role::FrontDesk], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match control::handle(Request::VouchersRevoke { code_or_batch: form.code_or_batch.clone() }, &console.handles).await
    {
        Reply::Revoked { count } => {
            console
                .staff
                .audit(&signed, "voucher.revoke", &form.code_or_batch, "valid", &format!("{count} revoked"), peer.ip())
                .await;
            vouchers_page(&console, t, &signed, Some(format!("{}{count}", t.voucher_revoked)), StatusCode::OK).await
        }
        other => reply_failed(t, &signed, other),
    }
}

async fn voucher_sheet(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Response {
    let t = strings(lang_of(&headers, &q));
    let signed = match require(&console, &headers, t, &[Role::Admin, Role::FrontDesk]).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match control::handle(Request::VouchersSheet { batch: q.batch.clone() }, &console.handles).await {
        Reply::Text { text } => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // The sheet is a document of its own: its print CSS is inline.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
                ),
            ],
            text,
        )
            .into_response(),
        other => reply_failed(t, &signed, other),
    }
}

async fn members(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, &[Role::Admin, Role::FrontDesk]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keep_lang(members_page(&console, t, &signed, q.q.trim(), None).await, &q, lang)
}

async fn members_page(console: &Console, t: &Strings, signed: &Signed, q: &str, notice: Option<String>) -> Response {
    let actions =
        vec![("frozen", t.card_frozen.clone()), ("lost", t.card_lost.clone()), ("active", t.card_active.clone())];
    let render = |member, notice, status| {
        page(
            status,
            MembersPage {
                t,
                me: Some(me(signed)),
                notice,
                csrf: signed.csrf.clone(),
                q: q.to_string(),
                member,
                actions: actions.clone(),
            }
            .render(),
        )
    };
    if q.is_empty() {
        return render(None, notice, StatusCode::OK);
    }
    match control::handle(Request::MembersShow { key: q.to_string(), full: false }, &console.handles).await {
        Reply::Member { member: m } => {
            let row = MemberRow {
                name: m.name.clone(),
                phone: m.phone.clone(),
                tier: m.tier.clone(),
                balance: format!("{:.2}", m.stored_value_cents as f64 / 100.0),
                points: m.points,
                visits: m.visits,
                cards: m.cards.iter().map(|c| (c.card_no.clone(), c.state.clone())).collect(),
            };
            render(Some(row), notice, StatusCode::OK)
        }
        Reply::Error { kind: control::ErrorKind::NotFound, .. } => {
            render(None, Some(t.member_not_found.clone()), StatusCode::NOT_FOUND)
        }
        other => reply_failed(t, signed, other),
    }
}

#[derive(Deserialize)]
struct CardStateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    card: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    q: String,
}

async fn card_state(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CardStateForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin, Role::FrontDesk], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let request = Request::CardsState { card: form.card.clone(), state: form.state.clone() };
    match control::handle(request, &console.handles).await {
        Reply::Done => {
            console.staff.audit(&signed, "card.state", &form.card, "", &form.state, peer.ip()).await;
            let notice = Some(format!("{}{} {}", t.card_changed, form.card, form.state));
            members_page(&console, t, &signed, form.q.trim(), notice).await
        }
        other => reply_failed(t, &signed, other),
    }
}

/// Who edits the portal's pages and reads the statistics.
const MARKETERS: &[Role] = &[Role::Admin, Role::Marketer];

/// The range a statistics request asks for (the last 7 days by default);
/// Err: the page that says it is not a range.
async fn stats_start(
    console: &Console,
    headers: &HeaderMap,
    q: &LangQuery,
) -> Result<(&'static Strings, Signed, crate::stats::Range, crate::stats::Report), Response> {
    let t = strings(lang_of(headers, q));
    let signed = require(console, headers, t, MARKETERS).await?;
    let range = if q.from.is_empty() && q.to.is_empty() {
        crate::stats::Range::last_days(7, console.offset)
    } else {
        match crate::stats::Range::parse(&q.from, &q.to, console.offset) {
            Some(r) => r,
            None => {
                return Err(message(
                    t,
                    Some(me(&signed)),
                    StatusCode::BAD_REQUEST,
                    &t.error_title,
                    t.stats_bad_range.clone(),
                ))
            }
        }
    };
    let mut report =
        crate::stats::report(&console.handles.staff.db, &range).await.map_err(|e| failed(t, Some(&signed), &e))?;
    // Slots by the names the marketer gave them (an id no version has any more stays an id).
    if let Some(m) = &console.marketing {
        let names = m.names().await;
        for (_, what, _) in &mut report.top {
            let id = what.strip_prefix("promotion:").unwrap_or(what);
            if let Some(name) = names.get(id) {
                *what = format!("{name} ({what})");
            }
        }
    }
    Ok((t, signed, range, report))
}

async fn stats(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (t, signed, range, r) = match stats_start(&console, &headers, &q).await {
        Ok(x) => x,
        Err(response) => return response,
    };
    let by_day: Vec<(String, i64)> = r.days.iter().map(|d| (d.date[5..].to_string(), d.logins)).collect();
    let by_hour: Vec<(String, i64)> = r.hours.iter().enumerate().map(|(h, n)| (h.to_string(), *n)).collect();
    // Load per AP: the guest devices associated with each now.
    let mut per_ap: Vec<(String, i64)> = Vec::new();
    if let Some(ac) = &console.handles.ac {
        for (_, ap, _, _) in ac.stations().await.unwrap_or_default() {
            match per_ap.iter_mut().find(|(a, _)| *a == ap) {
                Some((_, n)) => *n += 1,
                None => per_ap.push((ap, 1)),
            }
        }
        per_ap.sort();
    }
    let (from, to) = range.dates();
    let page_ = StatsPage {
        t,
        me: Some(me(&signed)),
        notice: None,
        from,
        to,
        conversion: format!("{:.1}", r.conversion()),
        dwell: format!("{:.0}", r.dwell_minutes),
        peak: r.peak_hour(),
        chart_days: crate::stats::bar_chart("logins / day", &by_day),
        chart_hours: crate::stats::bar_chart("logins / hour of day", &by_hour),
        chart_methods: crate::stats::bar_chart("logins / method", &r.methods),
        chart_aps: (!per_ap.is_empty()).then(|| crate::stats::bar_chart("guests / AP now", &per_ap)),
        per_ap,
        r,
    };
    let lang = lang_of(&headers, &q);
    keep_lang(page(StatusCode::OK, page_.render()), &q, lang)
}

async fn stats_csv(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    match stats_start(&console, &headers, &q).await {
        Ok((_, _, range, r)) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"guest-wifi-stats.csv\""),
            ],
            crate::stats::csv(&r, &range),
        )
            .into_response(),
        Err(response) => response,
    }
}

async fn stats_xlsx(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    match stats_start(&console, &headers, &q).await {
        Ok((t, signed, range, r)) => match crate::stats::xlsx(&r, &range) {
            Ok(bytes) => (
                [
                    (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"guest-wifi-stats.xlsx\""),
                ],
                bytes,
            )
                .into_response(),
            Err(err) => failed(t, Some(&signed), &err),
        },
        Err(response) => response,
    }
}

async fn aps(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, &[Role::Admin]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keep_lang(aps_page(&console, t, &signed, None, StatusCode::OK).await, &q, lang)
}

async fn aps_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    let Some(ac) = &console.handles.ac else {
        let page_ =
            ApsPage { t, me: Some(me(signed)), notice, csrf: signed.csrf.clone(), ac_on: false, aps: Vec::new() };
        return page(status, page_.render());
    };
    let (aps, stations) = match (ac.list().await, ac.stations().await) {
        (Ok(a), Ok(s)) => (a, s),
        (Err(e), _) => return failed(t, Some(signed), &e),
        (_, Err(e)) => return failed(t, Some(signed), &e),
    };
    let rows = aps
        .into_iter()
        .map(|a| ApRow {
            clients: stations.iter().filter(|s| s.1 == a.device_id).count(),
            fingerprint: a.fingerprint.chars().take(16).collect(),
            device_id: a.device_id,
            model: a.model,
            mac: a.mac,
            firmware: a.firmware,
            state: a.state,
            online: a.online,
        })
        .collect();
    page(
        status,
        ApsPage { t, me: Some(me(signed)), notice, csrf: signed.csrf.clone(), ac_on: true, aps: rows }.render(),
    )
}

#[derive(Deserialize)]
struct AdoptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    fingerprint: String,
}

/// Adopts a pending AP: only with the start of its key's fingerprint (the
/// admin reads it off the AP), never "any key" from the console.
async fn adopt(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AdoptForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let fingerprint = form.fingerprint.trim().to_ascii_lowercase();
    let request = Request::ApsAdopt { device_id: form.device_id.clone(), fingerprint: Some(fingerprint.clone()) };
    match control::handle(request, &console.handles).await {
        Reply::Done => {
            console
                .staff
                .audit(
                    &signed,
                    "ap.adopt",
                    &form.device_id,
                    "pending",
                    &format!("adopted, key {fingerprint}"),
                    peer.ip(),
                )
                .await;
            aps_page(&console, t, &signed, Some(format!("{}{}", t.ap_adopted, form.device_id)), StatusCode::OK).await
        }
        Reply::Error { kind, message: why } => {
            let status = match kind {
                control::ErrorKind::NotFound => StatusCode::NOT_FOUND,
                control::ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            tracing::warn!(user = %signed.username, ap = %form.device_id, "console adoption refused");
            aps_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), status).await
        }
        other => reply_failed(t, &signed, other),
    }
}

const DESK: &[Role] = &[Role::Admin, Role::FrontDesk];

async fn accounts(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, DESK).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keep_lang(accounts_page(&console, t, &signed, None, None, StatusCode::OK).await, &q, lang)
}

async fn accounts_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Response {
    match control::handle(Request::AccountsList { id_number: None }, &console.handles).await {
        Reply::Accounts { accounts } => {
            let page_ = AccountsPage {
                t,
                me: Some(me(signed)),
                notice,
                csrf: signed.csrf.clone(),
                once: Console::once(),
                created,
                accounts,
            };
            page(status, page_.render())
        }
        other => reply_failed(t, signed, other),
    }
}

#[derive(Deserialize)]
struct AccountForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    once: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    passport: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    hours: String,
    #[serde(default)]
    valid_days: String,
    #[serde(default)]
    devices: String,
    #[serde(default)]
    username: String,
}

/// Opens a front-desk account from a guest's ID; the password is shown once.
/// The ID number is never written to the audit log (its last four only).
async fn create_account(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, DESK, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !console.first_use(&form.once) {
        return accounts_page(&console, t, &signed, Some(t.sent_twice.clone()), None, StatusCode::OK).await;
    }
    let number = |v: &str| v.trim().parse::<u32>().ok();
    let (Some(hours), Some(valid_days), Some(devices)) =
        (number(&form.hours), number(&form.valid_days), number(&form.devices))
    else {
        return accounts_page(
            &console,
            t,
            &signed,
            Some(format!("{}{}", t.bad_input, t.voucher_hours)),
            None,
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    let account = crate::auth::account::NewAccount {
        username: String::new(),
        id_number: form.id_number.trim().to_string(),
        id_type: if form.passport.is_some() { "passport".into() } else { "id_card".into() },
        name: form.name.trim().chars().take(40).collect(),
        online_seconds: u64::from(hours) * 3600,
        valid_days,
        devices,
    };
    match control::handle(Request::AccountsCreate { account }, &console.handles).await {
        Reply::AccountCreated { account, .. } => {
            let after = format!("ID ****{}, {} h", account.id_last4, account.online_seconds / 3600);
            console.staff.audit(&signed, "account.create", &account.username, "", &after, peer.ip()).await;
            let created = Some((account.username.clone(), account.password.clone()));
            accounts_page(&console, t, &signed, None, created, StatusCode::OK).await
        }
        Reply::Error { kind: control::ErrorKind::Invalid, message: why } => {
            accounts_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), None, StatusCode::BAD_REQUEST)
                .await
        }
        other => reply_failed(t, &signed, other),
    }
}

async fn revoke_account(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, DESK, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match control::handle(Request::AccountsRevoke { username: form.username.clone() }, &console.handles).await {
        Reply::Done | Reply::Revoked { .. } => {
            console.staff.audit(&signed, "account.revoke", &form.username, "live", "revoked", peer.ip()).await;
            let notice = Some(format!("{} {}", t.voucher_revoke, form.username));
            accounts_page(&console, t, &signed, notice, None, StatusCode::OK).await
        }
        other => reply_failed(t, &signed, other),
    }
}

const EVERYONE: &[Role] = &[Role::Admin, Role::Marketer, Role::FrontDesk];

async fn tokens(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, EVERYONE).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keep_lang(tokens_page(&console, t, &signed, None, None, StatusCode::OK).await, &q, lang)
}

async fn tokens_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    new_token: Option<String>,
    status: StatusCode,
) -> Response {
    match console.staff.tokens(signed).await {
        Ok(list) => {
            let tokens = list
                .into_iter()
                .map(|k| {
                    let made = ago(k.created_at);
                    let used = k.last_used_at.map(ago).unwrap_or_default();
                    (k, made, used)
                })
                .collect();
            let page_ = TokensPage { t, me: Some(me(signed)), notice, csrf: signed.csrf.clone(), new_token, tokens };
            page(status, page_.render())
        }
        Err(err) => failed(t, Some(signed), &err),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id: String,
}

async fn create_token(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, EVERYONE, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match console.staff.create_token(&signed, &form.name).await {
        Ok(token) => {
            console.staff.audit(&signed, "token.create", form.name.trim(), "", "", peer.ip()).await;
            tokens_page(&console, t, &signed, None, Some(token), StatusCode::OK).await
        }
        Err(StaffError::Invalid(why)) => {
            tokens_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), None, StatusCode::BAD_REQUEST)
                .await
        }
        Err(err) => failed(t, Some(&signed), &err),
    }
}

async fn revoke_token(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, EVERYONE, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = form.id.trim().parse::<i64>().unwrap_or(-1);
    match console.staff.revoke_token(&signed, id).await {
        Ok(true) => {
            console.staff.audit(&signed, "token.revoke", &id.to_string(), "live", "revoked", peer.ip()).await;
            tokens_page(&console, t, &signed, Some(format!("{} {id}", t.voucher_revoke)), None, StatusCode::OK).await
        }
        Ok(false) => tokens_page(&console, t, &signed, Some(t.none.clone()), None, StatusCode::NOT_FOUND).await,
        Err(err) => failed(t, Some(&signed), &err),
    }
}

async fn users(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, &[Role::Admin]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    keep_lang(users_page(&console, t, &signed, None, StatusCode::OK).await, &q, lang)
}

async fn users_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    status: StatusCode,
) -> Response {
    match console.staff.users().await {
        Ok(users) => {
            page(status, UsersPage { t, me: Some(me(signed)), notice, csrf: signed.csrf.clone(), users }.render())
        }
        Err(err) => failed(t, Some(signed), &err),
    }
}

#[derive(Deserialize)]
struct UserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

async fn create_user(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<UserForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(role) = Role::parse(&form.role) else {
        return users_page(&console, t, &signed, Some(format!("{}{}", t.bad_input, t.role)), StatusCode::BAD_REQUEST)
            .await;
    };
    let username = form.username.trim().to_ascii_lowercase();
    match console.staff.create_user(&username, &form.password, role).await {
        Ok(user) => {
            console.staff.audit(&signed, "user.create", &user.username, "", role.as_str(), peer.ip()).await;
            users_page(&console, t, &signed, Some(format!("{}{}", t.user_created, user.username)), StatusCode::OK).await
        }
        Err(StaffError::Invalid(why)) => {
            users_page(&console, t, &signed, Some(format!("{}{why}", t.bad_input)), StatusCode::BAD_REQUEST).await
        }
        Err(StaffError::Taken(name)) => {
            users_page(&console, t, &signed, Some(format!("{}{name}", t.bad_input)), StatusCode::CONFLICT).await
        }
        Err(err) => failed(t, Some(&signed), &err),
    }
}

#[derive(Deserialize)]
struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

async fn disable_user(
    State(console): State<Arc<Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<DisableForm>,
) -> Response {
    let (t, signed) = match posted(&console, &headers, &[Role::Admin], &form.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match console.staff.disable(&form.username).await {
        Ok(true) => {
            console.staff.audit(&signed, "user.disable", &form.username, "active", "disabled", peer.ip()).await;
            users_page(&console, t, &signed, Some(format!("{}: {}", t.disabled, form.username)), StatusCode::OK).await
        }
        Ok(false) => users_page(&console, t, &signed, Some(t.none.clone()), StatusCode::NOT_FOUND).await,
        Err(err) => failed(t, Some(&signed), &err),
    }
}

async fn audit(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let (lang, t, signed) = match viewed(&console, &headers, &q, &[Role::Admin]).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let filter = Some(q.q.trim()).filter(|f| !f.is_empty());
    match console.staff.audit_log(filter, 500).await {
        Ok(entries) => {
            let entries = entries.into_iter().map(|e| (ago(e.at), e)).collect();
            let rendered = AuditPage { t, me: Some(me(&signed)), notice: None, q: q.q.clone(), entries }.render();
            keep_lang(page(StatusCode::OK, rendered), &q, lang)
        }
        Err(err) => failed(t, Some(&signed), &err),
    }
}

async fn audit_csv(State(console): State<Arc<Console>>, headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let t = strings(lang_of(&headers, &q));
    let signed = match require(&console, &headers, t, &[Role::Admin]).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let filter = Some(q.q.trim()).filter(|f| !f.is_empty());
    let entries = match console.staff.audit_log(filter, 100_000).await {
        Ok(entries) => entries,
        Err(err) => return failed(t, Some(&signed), &err),
    };
    let mut csv = String::from("at_utc_ms,username,role,action,target,before,after,from\n");
    for e in entries {
        let fields = [e.at.to_string(), e.username, e.role, e.action, e.target, e.before, e.after, e.from_addr];
        csv.push_str(&fields.iter().map(|f| crate::kit::csv::csv_field(f)).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"staff-audit.csv\""),
        ],
        csv,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use firewall::{Client, MemoryFilter};
    use tower::ServiceExt;

    const EXAMPLE: &str = include_str!("../../../image/controller.example.toml");

    struct Harness {
        app: Router,
        dir: tempfile::TempDir,
        handles: Handles,
        filter: Arc<MemoryFilter>,
        marketing: Arc<crate::marketing::Marketing>,
        /// Restarts the settings page asked for.
        restarts: Arc<std::sync::atomic::AtomicUsize>,
        /// The configuration file the settings page saves over.
        config_path: std::path::PathBuf,
    }

    struct Reply {
        status: StatusCode,
        headers: HeaderMap,
        body: String,
    }

    impl Reply {
        fn field(&self, name: &str) -> String {
            let marker = format!("name=\"{name}\" value=\"");
            let start = self.body.find(&marker).unwrap_or_else(|| panic!("no {name} in\n{}", self.body)) + marker.len();
            self.body[start..].split('"').next().unwrap().to_string()
        }

        /// `name=value` of the cookie it sets.
        fn cookie(&self, name: &str) -> String {
            self.headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with(&format!("{name}=")))
                .map(|v| v.split(';').next().unwrap().to_string())
                .unwrap_or_else(|| panic!("no cookie {name}"))
        }
    }

    async fn harness() -> Harness {
        let config = Arc::new(crate::config::Config::parse(EXAMPLE, "example", Vec::new()).unwrap());
        let db = crate::store::memory().await.unwrap();
        let filter = Arc::new(MemoryFilter::default());
        let sessions = crate::sessions::Sessions::new(db.clone(), filter.clone(), None);
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::auth::Keys::load_or_create(dir.path()).unwrap();
        let members = crate::members::Store::connect(&config.members, dir.path()).unwrap();
        let gateway: Arc<dyn crate::auth::sms::gateway::Gateway> =
            Arc::new(crate::auth::sms::gateway::LogGateway { path: dir.path().join("sms.log") });
        let methods = crate::auth::Methods::new(&config, db.clone(), keys, gateway, None, Vec::new(), members.clone());
        let feed = crate::members::feed::Feed::new(members.clone(), db.clone(), 10, Default::default());
        let registry = crate::ac::registry::Registry::new(db.clone()).await.unwrap();
        let ca = crate::ac::ca::Ca::load_or_create(dir.path()).unwrap();
        let ac = crate::ac::Ac::new(registry, ca, std::time::Duration::from_secs(10)).await.unwrap();
        let handles = Handles {
            sessions: sessions.clone(),
            metrics: Arc::default(),
            ac: Some(ac),
            staff: control::Staff {
                vouchers: methods.vouchers.clone(),
                accounts: methods.accounts.clone(),
                audit: methods.audit.clone(),
                counter_url: String::new(),
                portal_url: "http://portal.test".into(),
                sms: methods.sms.clone(),
                members,
                feed,
                db: db.clone(),
                cards: methods.cards.clone(),
                printer: std::sync::Arc::new(crate::admin::print::Sheets),
            },
            firmware_batch: 1,
            firmware_wait: std::time::Duration::from_secs(60),
        };
        let marketing = Arc::new(crate::marketing::Marketing::load(db.clone()).await.unwrap());
        let staff = Arc::new(Staff::new(db, dir.path()));
        staff.prepare_setup().await.unwrap();
        let portal = crate::portal::Portal::new(
            config,
            sessions,
            methods,
            crate::kit::signer::Signer::with_key([1; 32]),
            Arc::default(),
            Arc::new(crate::portal::FixedNeighbours::default()),
        )
        .with_marketing(marketing.clone());
        let config_path = dir.path().join("controller.toml");
        std::fs::write(&config_path, EXAMPLE.replace("/var/lib/guestwifi", &dir.path().display().to_string())).unwrap();
        let running = Arc::new(crate::config::Config::load(&config_path, Vec::new()).unwrap());
        let restarts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = restarts.clone();
        let restart: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let console = Arc::new(
            Console::new(staff.clone(), handles.clone(), false)
                .with_marketing(marketing.clone())
                .with_portal(Arc::new(portal))
                .with_settings(running, Some(restart)),
        );
        let app = super::super::api::router(handles.clone(), "appliance-token".into(), staff).merge(router(console));
        Harness { app, dir, handles, filter, marketing, restarts, config_path }
    }

    impl Harness {
        async fn send(&self, method: &str, path: &str, form: &[(&str, &str)], cookies: &[&str]) -> Reply {
            let body = form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
            let mut request = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header(
                    header::AUTHORIZATION,
                    cookies
                        .iter()
                        .find_map(|c| c.strip_prefix("bearer="))
                        .map(|t| format!("Bearer {t}"))
                        .unwrap_or_default(),
                )
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::ACCEPT_LANGUAGE, "zh-CN")
                .header(header::COOKIE, cookies.join("; "))
                .body(Body::from(body))
                .unwrap();
            request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 40000))));
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
        }

        /// A multipart form post (a file field `photo` with `file` bytes).
        async fn upload(
            &self,
            path: &str,
            fields: &[(&str, &str)],
            file: Option<(&str, &[u8])>,
            cookie: &str,
        ) -> Reply {
            self.upload_as(path, fields, "photo", file, cookie).await
        }

        /// A multipart post with its file in the field `field`.
        async fn upload_as(
            &self,
            path: &str,
            fields: &[(&str, &str)],
            field: &str,
            file: Option<(&str, &[u8])>,
            cookie: &str,
        ) -> Reply {
            let boundary = "----guestwifi-test-boundary";
            let mut body: Vec<u8> = Vec::new();
            for (k, v) in fields {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes(),
                );
            }
            if let Some((name, bytes)) = file {
                body.extend_from_slice(
                    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").as_bytes(),
                );
                body.extend_from_slice(bytes);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            let mut request = axum::http::Request::builder()
                .method("POST")
                .uri(path)
                .header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
                .header(header::ACCEPT_LANGUAGE, "zh-CN")
                .header(header::COOKIE, cookie)
                .body(Body::from(body))
                .unwrap();
            request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 40000))));
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
            Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
        }

        /// First-run setup with the code from the data dir, as the owner does it.
        async fn setup(&self) {
            let form = self.send("GET", "/console/setup", &[], &[]).await;
            let pre = form.cookie(PRE_COOKIE);
            let code = std::fs::read_to_string(self.dir.path().join(crate::staff::SETUP_CODE_FILE)).unwrap();
            let fields = [
                ("csrf", form.field("csrf")),
                ("code", code),
                ("username", "owner".into()),
                ("password", "owner password 1".into()),
            ];
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let done = self.send("POST", "/console/setup", &fields, &[&pre]).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        }

        /// Logs in; the session cookie.
        async fn login(&self, username: &str, password: &str) -> String {
            let form = self.send("GET", "/console/login", &[], &[]).await;
            let pre = form.cookie(PRE_COOKIE);
            let csrf = form.field("csrf");
            let done = self
                .send(
                    "POST",
                    "/console/login",
                    &[("csrf", &csrf), ("username", username), ("password", password)],
                    &[&pre],
                )
                .await;
            assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
            done.cookie(COOKIE)
        }

        async fn csrf(&self, cookie: &str, path: &str) -> String {
            self.send("GET", path, &[], &[cookie]).await.field("csrf")
        }
    }

    fn urlencode(v: &str) -> String {
        url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
    }

    #[tokio::test]
    async fn the_owner_sets_up_with_the_code_and_nobody_can_do_it_again() {
        let h = harness().await;
        let first = h.send("GET", "/console/", &[], &[]).await;
        assert_eq!(first.headers[header::LOCATION], "/console/setup");
        let form = h.send("GET", "/console/setup", &[], &[]).await;
        assert!(form.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("default-src 'none'"));
        let pre = form.cookie(PRE_COOKIE);
        let csrf = form.field("csrf");
        let fields = |code: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("code", code.into()),
                ("username", "owner".to_string()),
                ("password", "owner password 1".to_string()),
            ]
        };
        let send = |f: Vec<(&'static str, String)>, cookies: Vec<String>| {
            let h = &h;
            async move {
                let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let c: Vec<&str> = cookies.iter().map(String::as_str).collect();
                h.send("POST", "/console/setup", &f, &c).await
            }
        };
        let no_cookie = send(fields("X"), vec![]).await;
        assert_eq!(no_cookie.status, StatusCode::FORBIDDEN, "a form from elsewhere");
        let wrong = send(fields("WRONGCODE234"), vec![pre.clone()]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert!(wrong.body.contains("设置码错误"));
        h.setup().await;
        let again = h.send("GET", "/console/setup", &[], &[]).await;
        assert_eq!(again.headers[header::LOCATION], "/console/login", "setup is closed");
        let cookie = h.login("owner", "owner password 1").await;
        let page = h.send("GET", "/console/", &[], &[&cookie]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("owner (admin)") && page.body.contains("在线访客"));
    }

    #[tokio::test]
    async fn roles_see_their_pages_only_and_a_form_without_its_token_changes_nothing() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        for (name, role) in [("mkt", "marketer"), ("desk", "frontdesk")] {
            let csrf = h.csrf(&admin, "/console/users").await;
            let made = h
                .send(
                    "POST",
                    "/console/users",
                    &[("csrf", &csrf), ("username", name), ("password", "a long password"), ("role", role)],
                    &[&admin],
                )
                .await;
            assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        }
        let marketer = h.login("mkt", "a long password").await;
        for path in ["/console/vouchers", "/console/guests", "/console/users", "/console/audit"] {
            let page = h.send("GET", path, &[], &[&marketer]).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "marketer on {path}");
            assert!(page.body.contains("无权访问"));
        }
        let desk = h.login("desk", "a long password").await;
        assert_eq!(h.send("GET", "/console/users", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);

        // The front desk makes vouchers; a forged post (no token) makes none.
        let forged = h
            .send(
                "POST",
                "/console/vouchers",
                &[("count", "5"), ("hours", "2"), ("valid_days", "30"), ("devices", "1")],
                &[&desk],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(forged.body.contains("没有做任何更改") || forged.body.contains("未做任何更改"));
        let csrf = h.csrf(&desk, "/console/vouchers").await;
        let bad = h
            .send(
                "POST",
                "/console/vouchers",
                &[("csrf", &csrf), ("count", "lots"), ("hours", "2"), ("valid_days", "30"), ("devices", "1")],
                &[&desk],
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let listed = h.handles.staff.vouchers.list(None).await.unwrap();
        assert!(listed.is_empty(), "nothing made by the forged or bad forms");
        let made = h
            .send(
                "POST",
                "/console/vouchers",
                &[
                    ("csrf", &csrf),
                    ("count", "5"),
                    ("hours", "2"),
                    ("valid_days", "30"),
                    ("devices", "1"),
                    ("note", "午市"),
                ],
                &[&desk],
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let vouchers = h.handles.staff.vouchers.list(None).await.unwrap();
        assert_eq!(vouchers.len(), 5);
        let batch = &vouchers[0].batch;
        assert!(made.body.contains(batch.as_str()));
        let sheet = h.send("GET", &format!("/console/vouchers/sheet?batch={batch}"), &[], &[&desk]).await;
        assert_eq!(sheet.status, StatusCode::OK);
        assert!(sheet.body.contains(&vouchers[0].display_code()), "the printable sheet");

        // The audit log says who did it, from where; the CSV too.
        let log = h.send("GET", "/console/audit?q=voucher", &[], &[&admin]).await;
        assert!(
            log.body.contains("voucher.create") && log.body.contains("desk") && log.body.contains("198.51.100.7"),
            "{}",
            log.body
        );
        let csv = h.send("GET", "/console/audit.csv", &[], &[&admin]).await;
        assert!(csv.body.lines().any(|l| l.contains("\"voucher.create\"") && l.contains("\"desk\"")), "{}", csv.body);
    }

    #[tokio::test]
    async fn a_double_tap_makes_one_voucher_batch_one_dish_and_one_version() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let page = h.send("GET", "/console/vouchers", &[], &[&admin]).await;
        let (csrf, once) = (page.field("csrf"), page.field("once"));
        let form = [
            ("csrf", csrf.as_str()),
            ("once", once.as_str()),
            ("count", "5"),
            ("hours", "2"),
            ("valid_days", "30"),
            ("devices", "1"),
            ("note", "午市"),
        ];
        let first = h.send("POST", "/console/vouchers", &form, &[&admin]).await;
        let second = h.send("POST", "/console/vouchers", &form, &[&admin]).await;
        assert_eq!((first.status, second.status), (StatusCode::OK, StatusCode::OK));
        assert!(second.body.contains("已经提交过"), "{}", second.body);
        let batches = control::handle(Request::VouchersList { batch: None }, &h.handles).await;
        let control::Reply::Vouchers { vouchers } = batches else { panic!("{batches:?}") };
        assert_eq!(vouchers.len(), 5, "one batch of five, not two");
        // A fresh page, a fresh nonce: a second batch on purpose is made.
        let again = h.send("GET", "/console/vouchers", &[], &[&admin]).await.field("once");
        assert_ne!(again, once);

        let editor = h.send("GET", "/console/marketing", &[], &[&admin]).await;
        let once = editor.field("once");
        let dish = [("csrf", csrf.as_str()), ("once", once.as_str()), ("name_zh", "红烧肉"), ("price", "58")];
        for _ in 0..2 {
            assert_eq!(h.upload("/console/marketing/dishes", &dish, None, &admin).await.status, StatusCode::OK);
        }
        assert_eq!(h.marketing.draft().await.unwrap().dishes.len(), 1, "one dish");
        let once = h.send("GET", "/console/marketing", &[], &[&admin]).await.field("once");
        for _ in 0..2 {
            h.send("POST", "/console/marketing/publish", &[("csrf", &csrf), ("once", &once)], &[&admin]).await;
        }
        assert_eq!(h.marketing.versions().await.unwrap().len(), 1, "one version");
    }

    #[tokio::test]
    async fn the_front_desk_kicks_a_guest_and_a_logged_out_cookie_opens_nothing() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let csrf = h.csrf(&admin, "/console/users").await;
        h.send(
            "POST",
            "/console/users",
            &[("csrf", &csrf), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")],
            &[&admin],
        )
        .await;
        let guest = Client { mac: "02:00:00:00:09:01".parse().unwrap(), ip: "192.0.2.150".parse().unwrap() };
        let grant = crate::auth::Grant {
            method: crate::auth::Method::Countdown,
            identity: crate::auth::Identity::Device(guest.mac.to_string()),
            duration: std::time::Duration::from_secs(600),
            bandwidth: Default::default(),
        };
        h.handles.sessions.login(guest, grant).await.unwrap();
        let desk = h.login("desk", "a long password").await;
        let page = h.send("GET", "/console/guests?q=09:01", &[], &[&desk]).await;
        assert!(page.body.contains("02:00:00:00:09:01"), "{}", page.body);
        let csrf = page.field("csrf");
        let kicked =
            h.send("POST", "/console/guests/kick", &[("csrf", &csrf), ("mac", "02:00:00:00:09:01")], &[&desk]).await;
        assert_eq!(kicked.status, StatusCode::SEE_OTHER);
        assert!(!h.filter.is_authorized(guest), "the guest is off");
        let logout = h.send("POST", "/console/logout", &[("csrf", &csrf)], &[&desk]).await;
        assert_eq!(logout.headers[header::LOCATION], "/console/login");
        let after = h.send("GET", "/console/guests", &[], &[&desk]).await;
        assert_eq!(after.headers[header::LOCATION], "/console/login", "the session is gone server-side");
        let log = h.send("GET", "/console/audit", &[], &[&admin]).await;
        assert!(log.body.contains("guest.kick"));
    }

    #[tokio::test]
    async fn the_front_desk_finds_a_member_and_reports_the_card_lost() {
        let h = harness().await;
        h.setup().await;
        let store = &h.handles.staff.members;
        store.prepare("", "test", "").await.unwrap();
        store.import("13800138000,王芳,8800123,gold,2468\n").await.unwrap();
        let admin = h.login("owner", "owner password 1").await;
        let page = h.send("GET", "/console/members?q=13800138000", &[], &[&admin]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body.contains("王芳") && page.body.contains("138****8000") && !page.body.contains("13800138000\u{3c}")
        );
        let csrf = page.field("csrf");
        let done = h
            .send(
                "POST",
                "/console/cards/state",
                &[("csrf", &csrf), ("card", "8800123"), ("state", "lost"), ("q", "13800138000")],
                &[&admin],
            )
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.body.contains("id=\"state-8800123\">lost"), "{}", done.body);
        assert_eq!(store.card("8800123").await.unwrap().unwrap().state, "lost");
        let missing = h.send("GET", "/console/members?q=13900000000", &[], &[&admin]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("没有找到此会员"));
    }

    #[tokio::test]
    async fn a_marketer_adds_a_dish_with_a_photo_publishes_and_rolls_back_and_a_forged_upload_is_refused() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let csrf = h.csrf(&admin, "/console/users").await;
        h.send(
            "POST",
            "/console/users",
            &[("csrf", &csrf), ("username", "mkt"), ("password", "a long password"), ("role", "marketer")],
            &[&admin],
        )
        .await;
        let mkt = h.login("mkt", "a long password").await;
        let editor = h.send("GET", "/console/marketing", &[], &[&mkt]).await;
        assert_eq!(editor.status, StatusCode::OK, "{}", editor.body);
        let csrf = editor.field("csrf");
        let dish = [("csrf", csrf.as_str()), ("name_zh", "红烧肉"), ("name_en", "Braised pork"), ("price", "58")];

        // HTML named .jpg, and a post without the form's token: refused, nothing stored.
        let html = h
            .upload("/console/marketing/dishes", &dish, Some(("dish.jpg", b"<html><script>alert(1)</script>")), &mkt)
            .await;
        assert_eq!(html.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", html.body);
        assert!(html.body.contains("照片无法使用"));
        let photo = crate::marketing::samples::png(1280, 853);
        let forged = h.upload("/console/marketing/dishes", &dish[1..], Some(("dish.png", &photo)), &mkt).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(h.marketing.draft().await.unwrap().dishes.is_empty(), "nothing added");

        let added = h.upload("/console/marketing/dishes", &dish, Some(("../../etc/passwd.png", &photo)), &mkt).await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
        let draft = h.marketing.draft().await.unwrap();
        let image = draft.dishes[0].image.clone().expect("a photo id, not its name");
        assert!(image.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(h.marketing.published().dishes.is_empty(), "not published yet");
        let thumb = h.send("GET", &format!("/console/media/{image}/320.jpg"), &[], &[&mkt]).await;
        assert_eq!(thumb.headers[header::CONTENT_TYPE], "image/jpeg");

        let published = h.send("POST", "/console/marketing/publish", &[("csrf", &csrf)], &[&mkt]).await;
        assert_eq!(published.status, StatusCode::OK);
        assert_eq!(h.marketing.published().dishes[0].name_zh, "红烧肉");
        let back = h.send("POST", "/console/marketing/rollback", &[("csrf", &csrf), ("version", "0")], &[&mkt]).await;
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
        assert!(h.marketing.published().dishes.is_empty(), "rolled back to the empty page");

        // The front desk may not edit the portal.
        let csrf = h.csrf(&admin, "/console/users").await;
        h.send(
            "POST",
            "/console/users",
            &[("csrf", &csrf), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")],
            &[&admin],
        )
        .await;
        let desk = h.login("desk", "a long password").await;
        assert_eq!(h.send("GET", "/console/marketing", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
        let log = h.send("GET", "/console/audit?q=marketing", &[], &[&admin]).await;
        assert!(log.body.contains("marketing.publish") && log.body.contains("marketing.rollback"));
    }

    #[tokio::test]
    async fn a_marketer_brands_the_portal_schedules_a_promotion_and_previews_it_as_a_phone() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let editor = h.send("GET", "/console/marketing", &[], &[&admin]).await;
        let csrf = editor.field("csrf");
        assert!(editor.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-src 'self'"));

        // A logo, a colour, a story; a forged background changes nothing.
        let brand = [("csrf", csrf.as_str()), ("colour", "#0A7D3B"), ("story_zh", "始于1998。"), ("member_day", "3")];
        let forged = h
            .upload_as(
                "/console/marketing/brand",
                &brand,
                "background",
                Some(("bg.jpg", b"<svg onload=alert(1)>")),
                &admin,
            )
            .await;
        assert_eq!(forged.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(h.marketing.draft().await.unwrap().brand, Default::default(), "nothing saved");
        let logo = crate::marketing::samples::png(600, 300);
        let saved = h.upload_as("/console/marketing/brand", &brand, "logo", Some(("logo.png", &logo)), &admin).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let bad =
            h.upload_as("/console/marketing/brand", &[("csrf", &csrf), ("colour", "red")], "logo", None, &admin).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let draft = h.marketing.draft().await.unwrap();
        assert_eq!((draft.brand.colour.as_str(), draft.brand.member_day), ("#0a7d3b", Some(3)));
        assert!(draft.brand.logo.is_some());

        // A promotion at lunch and dinner on the member day, until a date.
        let promotion = [
            ("csrf", csrf.as_str()),
            ("title_zh", "会员日午晚餐 8 折"),
            ("body_zh", "全场八折"),
            ("until", "2099-12-31"),
            ("meals", "lunch"),
            ("meals", "dinner"),
            ("member_day", "1"),
        ];
        let added = h.upload("/console/marketing/promotions", &promotion, None, &admin).await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
        let p = &h.marketing.draft().await.unwrap().promotions[0];
        assert_eq!(p.schedule.meals, [crate::marketing::Meal::Lunch, crate::marketing::Meal::Dinner]);
        assert!(p.schedule.member_day && p.schedule.until.as_deref() == Some("2099-12-31"));
        let page = h.send("GET", "/console/marketing", &[], &[&admin]).await;
        assert!(page.body.contains("lunch, dinner · member day") && page.body.contains("id=\"unpublished\""));

        // The phone preview shows the draft, framed by the editor only, no script.
        let preview = h.send("GET", "/console/marketing/preview", &[], &[&admin]).await;
        assert_eq!(preview.status, StatusCode::OK);
        let csp = preview.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'self'") && !csp.contains("script-src"));
        assert_eq!(preview.headers[header::X_FRAME_OPTIONS], "SAMEORIGIN");
        assert!(preview.body.contains("/console/marketing/preview/static/portal.css"));
        assert!(preview.body.contains("/console/marketing/preview/m/") && preview.body.contains("始于1998"));
        assert!(!preview.body.contains("src=\"/static/portal.js\""));
        let css = h.send("GET", "/console/marketing/preview/brand.css", &[], &[&admin]).await;
        assert!(css.body.contains("--brand:#0a7d3b"));
        assert_eq!(h.send("GET", "/console/marketing/preview", &[], &[]).await.status, StatusCode::SEE_OTHER);
        assert!(h.marketing.published().promotions.is_empty(), "a preview publishes nothing");

        let log = h.send("GET", "/console/audit?q=marketing", &[], &[&admin]).await;
        assert!(log.body.contains("marketing.brand") && log.body.contains("marketing.promotion.add"));
        assert!(log.body.contains("#0a7d3b"), "the audit log has the after");
    }

    #[tokio::test]
    async fn an_admin_sets_an_ssid_on_every_ap_sees_the_channel_plan_and_cannot_halt_what_is_not_running() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let ac = h.handles.ac.clone().unwrap();
        let csrf = h.csrf(&admin, "/console/ssids").await;
        let wpa2 = |key: &'static str| {
            [
                ("csrf", csrf.clone()),
                ("name", "川味小馆-Guest".to_string()),
                ("security", "wpa2_psk".into()),
                ("key", key.into()),
                ("band_24", "1".into()),
                ("band_5", "1".into()),
                ("portal", "1".into()),
                ("isolation", "1".into()),
            ]
        };
        let (h, admin) = (&h, &admin);
        let send = |form: [(&'static str, String); 8]| async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.send("POST", "/console/ssids", &form, &[admin]).await
        };
        let short = send(wpa2("short")).await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST, "{}", short.body);
        assert!(ac.ssids().await.unwrap().is_empty(), "nothing stored");
        let saved = send(wpa2("dumplings-2026")).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert!(
            saved.body.contains("川味小馆-Guest") && !saved.body.contains("dumplings-2026"),
            "the key is never shown"
        );
        // Changed with an empty key: the key stays.
        let mut hidden = wpa2("");
        hidden[7] = ("hidden", "1".into());
        assert_eq!(send(hidden).await.status, StatusCode::OK);
        let ssid = ac.ssids().await.unwrap().remove(0);
        assert!(ssid.hidden && !ssid.client_isolation && ssid.key == "dumplings-2026");
        let log = h.send("GET", "/console/audit?q=ssid", &[], &[admin]).await;
        assert!(log.body.contains("key changed") && !log.body.contains("dumplings-2026"), "audited without the key");

        // Two APs that hear each other loudly on overlapping channels: red in the picture.
        let registry = ac.registry();
        for (n, bssid) in [(1, "02:00:00:00:01:00"), (2, "02:00:00:00:02:00")] {
            let hello = ap_protocol::Hello {
                min_version: 1,
                max_version: 1,
                device_id: format!("ap-{n}"),
                model: "test-ap".into(),
                mac: bssid.into(),
                firmware: "1.0".into(),
                radios: vec![ap_protocol::RadioInfo {
                    interface: "wlan0".into(),
                    band: ap_protocol::Band::G2_4,
                    bssid: Some(bssid.into()),
                }],
                public_key_pem: String::new(),
                config_version: 0,
                controller_pinned: true,
            };
            registry.pending_hello(&hello).await.unwrap();
            registry.adopt(&format!("ap-{n}"), None).await.unwrap();
            ac.set_ap(&format!("ap-{n}"), None, Some(("wlan0", Some(if n == 1 { 1 } else { 3 }), None))).await.unwrap();
        }
        let heard = |bssid: &str| vec![ap_protocol::Neighbour { bssid: bssid.into(), channel: 1, rssi: -45 }];
        registry.scan("ap-1", "wlan0", &heard("02:00:00:00:02:00")).await.unwrap();
        registry.scan("ap-2", "wlan0", &heard("02:00:00:00:01:00")).await.unwrap();
        let plan = h.send("GET", "/console/plan", &[], &[admin]).await;
        assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
        assert!(plan.body.contains("<svg") && plan.body.contains("ap-1/wlan0 · ch 1 (fixed)"), "{}", plan.body);
        assert!(plan.body.contains("class=\"clash\""), "channels 1 and 3 overlap");
        let csrf = h.csrf(admin, "/console/plan").await;
        let replanned = h.send("POST", "/console/plan", &[("csrf", &csrf)], &[admin]).await;
        assert_eq!(replanned.status, StatusCode::OK);

        // Firmware: halting nothing, and an image without a valid signature.
        let halt = h.send("POST", "/console/firmware/halt", &[("csrf", &csrf)], &[admin]).await;
        assert_eq!(halt.status, StatusCode::CONFLICT);
        let bad = h
            .upload_as(
                "/console/firmware",
                &[("csrf", &csrf), ("version", "2.0"), ("model", "test-ap")],
                "image",
                Some(("fw.bin", b"firmware")),
                admin,
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
        let rollout =
            h.send("POST", "/console/firmware/rollout", &[("csrf", &csrf), ("version", "2.0")], &[admin]).await;
        assert_eq!(rollout.status, StatusCode::CONFLICT, "no such image");

        // A marketer opens none of it.
        let csrf = h.csrf(admin, "/console/users").await;
        h.send(
            "POST",
            "/console/users",
            &[("csrf", &csrf), ("username", "mkt"), ("password", "a long password"), ("role", "marketer")],
            &[admin],
        )
        .await;
        let mkt = h.login("mkt", "a long password").await;
        for page in ["/console/ssids", "/console/plan", "/console/firmware"] {
            assert_eq!(h.send("GET", page, &[], &[&mkt]).await.status, StatusCode::FORBIDDEN, "{page}");
        }
    }

    #[tokio::test]
    async fn an_admin_changes_the_settings_they_are_checked_saved_audited_and_applied_by_a_restart() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let page = h.send("GET", "/console/settings", &[], &[&admin]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let csrf = page.field("csrf");
        let form = |minutes: &'static str, garden: &'static str| {
            vec![
                ("csrf", csrf.clone()),
                ("venue_name", "川味小馆".to_string()),
                ("tagline_zh", "正宗川菜".into()),
                ("session_minutes", minutes.into()),
                ("method_countdown", "1".into()),
                ("method_voucher", "1".into()),
                ("garden", garden.into()),
            ]
        };
        let post = |f: Vec<(&'static str, String)>| {
            let h = &h;
            let admin = &admin;
            async move {
                let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
                h.send("POST", "/console/settings", &f, &[admin]).await
            }
        };
        let file = h.dir.path().join(crate::config::SETTINGS_FILE);
        for bad in [form("0", ""), form("90", "pay.example.cn; rm -rf /")] {
            let refused = post(bad).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
            assert!(!file.exists(), "nothing saved");
        }
        assert_eq!(h.restarts.load(std::sync::atomic::Ordering::SeqCst), 0);
        let saved = post(form("90", "pay.example.cn\nmap.example.cn")).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert_eq!(h.restarts.load(std::sync::atomic::Ordering::SeqCst), 1, "a restart applies them");
        let next = crate::config::Config::load(&h.config_path, Vec::new()).unwrap();
        assert_eq!(next.venue.name, "川味小馆");
        assert_eq!(next.session.length_seconds, 5400);
        assert!(next.auth.voucher.enabled && !next.auth.sms.enabled);
        assert_eq!(next.walled_garden.names, ["pay.example.cn", "map.example.cn"]);
        let again = h.send("GET", "/console/settings", &[], &[&admin]).await;
        assert!(again.body.contains("id=\"pending\"") && again.body.contains("川味小馆"), "waits for the restart");
        let log = h.send("GET", "/console/audit?q=settings", &[], &[&admin]).await;
        assert!(log.body.contains("settings.save") && log.body.contains("session_minutes=90"), "{}", log.body);
        let desk = {
            let csrf = h.csrf(&admin, "/console/users").await;
            h.send(
                "POST",
                "/console/users",
                &[("csrf", &csrf), ("username", "desk"), ("password", "a long password"), ("role", "frontdesk")],
                &[&admin],
            )
            .await;
            h.login("desk", "a long password").await
        };
        assert_eq!(h.send("GET", "/console/settings", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_marketer_reads_the_statistics_with_charts_and_exports_them() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        for n in 1..=3u8 {
            let guest = Client {
                mac: format!("02:00:00:00:09:0{n}").parse().unwrap(),
                ip: format!("192.0.2.15{n}").parse().unwrap(),
            };
            let grant = crate::auth::Grant {
                method: if n == 1 { crate::auth::Method::Sms } else { crate::auth::Method::Countdown },
                identity: crate::auth::Identity::Device(guest.mac.to_string()),
                duration: std::time::Duration::from_secs(600),
                bandwidth: Default::default(),
            };
            h.handles.sessions.login(guest, grant).await.unwrap();
        }
        // Two views showed two dishes, one showed one: named as the marketer named them.
        let a = h.marketing.add_dish("红烧肉", "", "58", None).await.unwrap();
        let b = h.marketing.add_dish("清蒸鱼", "", "88", None).await.unwrap();
        let (a, b) = (a.split(' ').next().unwrap(), b.split(' ').next().unwrap());
        let guest = Client { mac: "02:00:00:00:09:01".parse().unwrap(), ip: "192.0.2.151".parse().unwrap() };
        let audit = &h.handles.staff.audit;
        for shown in [format!("{a},{b}"), format!("{a},{b}"), a.to_string()] {
            audit.events(guest, &[("dish_impression", &shown)]).await;
        }
        let page = h.send("GET", "/console/stats", &[], &[&admin]).await;
        assert!(page.body.contains(&format!("红烧肉 ({a})</td><td>3")), "{}", page.body);
        assert!(page.body.contains(&format!("清蒸鱼 ({b})</td><td>2")));
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("id=\"logins\">3<"), "three logins today");
        assert!(page.body.matches("<svg").count() == 3, "three charts drawn on the server");
        assert!(page.body.contains("countdown") && page.body.contains("sms"));
        let csv = h.send("GET", "/console/stats.csv", &[], &[&admin]).await;
        assert!(csv.body.contains("\"countdown\",2"), "{}", csv.body);
        let xlsx = h.send("GET", "/console/stats.xlsx", &[], &[&admin]).await;
        assert_eq!(
            xlsx.headers[header::CONTENT_TYPE],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        );
        let bad = h.send("GET", "/console/stats?from=2026-13-01&to=2026-12-01", &[], &[&admin]).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn api_tokens_act_with_their_owners_role_until_revoked() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        for (name, role) in [("mkt", "marketer"), ("desk", "frontdesk")] {
            let csrf = h.csrf(&admin, "/console/users").await;
            h.send(
                "POST",
                "/console/users",
                &[("csrf", &csrf), ("username", name), ("password", "a long password"), ("role", role)],
                &[&admin],
            )
            .await;
        }
        let token_of = |who: String| {
            let h = &h;
            async move {
                let csrf = h.csrf(&who, "/console/tokens").await;
                let made =
                    h.send("POST", "/console/tokens", &[("csrf", &csrf), ("name", "till script")], &[&who]).await;
                assert_eq!(made.status, StatusCode::OK, "{}", made.body);
                let start = made.body.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
                made.body[start..].split('<').next().unwrap().to_string()
            }
        };
        let desk = h.login("desk", "a long password").await;
        let desk_token = token_of(desk.clone()).await;
        let mkt_token = token_of(h.login("mkt", "a long password").await).await;
        let api = |token: &str, method: &'static str, path: &'static str| {
            let h = &h;
            let bearer = format!("bearer={token}");
            async move { h.send(method, path, &[], &[&bearer]).await.status }
        };
        assert_eq!(api(&desk_token, "GET", "/api/vouchers").await, StatusCode::OK);
        assert_eq!(
            api(&mkt_token, "GET", "/api/vouchers").await,
            StatusCode::FORBIDDEN,
            "a marketer makes no vouchers"
        );
        assert_eq!(api(&mkt_token, "GET", "/api/auth/log").await, StatusCode::OK);
        assert_eq!(
            api(&desk_token, "POST", "/api/members/import").await,
            StatusCode::FORBIDDEN,
            "import is an admin's"
        );
        assert_eq!(api(&desk_token, "POST", "/api/firewall/reload").await, StatusCode::FORBIDDEN);
        assert_eq!(api("appliance-token", "GET", "/api/vouchers").await, StatusCode::OK, "the appliance's own token");
        assert_eq!(api("gwt_forged", "GET", "/api/vouchers").await, StatusCode::UNAUTHORIZED);
        // Revoked: refused; a disabled account's tokens die with it.
        let page = h.send("GET", "/console/tokens", &[], &[&desk]).await;
        let id = page.body.split("revoke-token-").nth(1).unwrap().split('"').next().unwrap().to_string();
        h.send("POST", "/console/tokens/revoke", &[("csrf", &page.field("csrf")), ("id", &id)], &[&desk]).await;
        assert_eq!(api(&desk_token, "GET", "/api/vouchers").await, StatusCode::UNAUTHORIZED);
        let csrf = h.csrf(&admin, "/console/users").await;
        h.send("POST", "/console/users/disable", &[("csrf", &csrf), ("username", "mkt")], &[&admin]).await;
        assert_eq!(api(&mkt_token, "GET", "/api/auth/log").await, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn the_front_desk_opens_an_account_from_an_id_card_and_revokes_it() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let csrf = h.csrf(&admin, "/console/accounts").await;
        let bad = h
            .send(
                "POST",
                "/console/accounts",
                &[
                    ("csrf", &csrf),
                    ("id_number", "110105194912310021"),
                    ("hours", "4"),
                    ("valid_days", "1"),
                    ("devices", "1"),
                ],
                &[&admin],
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "a wrong check digit");
        let made = h
            .send(
                "POST",
                "/console/accounts",
                &[
                    ("csrf", &csrf),
                    ("id_number", "11010519491231002X"),
                    ("name", "张三"),
                    ("hours", "4"),
                    ("valid_days", "1"),
                    ("devices", "2"),
                ],
                &[&admin],
            )
            .await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let start = made.body.find("id=\"new-username\">").unwrap() + "id=\"new-username\">".len();
        let username = made.body[start..].split('<').next().unwrap().to_string();
        assert!(made.body.contains("new-password") && made.body.contains("****002X"));
        let log = h.send("GET", "/console/audit?q=account", &[], &[&admin]).await;
        assert!(
            log.body.contains("account.create") && !log.body.contains("11010519491231002X"),
            "no ID number in the audit log"
        );
        let revoked =
            h.send("POST", "/console/accounts/revoke", &[("csrf", &csrf), ("username", &username)], &[&admin]).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        assert!(h.handles.staff.accounts.list(None).await.unwrap()[0].revoked_at.is_some());
    }
}
