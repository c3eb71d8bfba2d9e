//! The front desk's pages: the home page, guests online (search, kick),
//! voucher cards (create, revoke, the printable sheet) and front-desk
//! accounts opened from a guest's ID.

use super::{csrf_forms, need, page, Console, ConsoleError, LangQuery, Me, Member, Page, Posted, Strings};
use crate::control::{ErrorKind, Reply, Request};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The front desk's routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/", get(dashboard))
        .route("/console/guests", get(guests))
        .route("/console/guests/kick", post(kick))
        .route("/console/vouchers", get(vouchers).post(create_vouchers))
        .route("/console/vouchers/revoke", post(revoke_vouchers))
        .route("/console/vouchers/sheet", get(voucher_sheet))
        .route("/console/accounts", get(accounts).post(create_account))
        .route("/console/accounts/revoke", post(revoke_account))
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    guests: usize,
    /// Adopted APs online, of all.
    aps: (usize, usize),
    waiting: i64,
    recent: Vec<(String, String, String, String, String)>,
    glance: crate::stats::Glance,
    /// Today's logins by method: (method in words, logins, share of the day's, percent).
    methods: Vec<(String, i64, i64)>,
    /// What needs the staff's eye: (its id, what, where to see it, the role may open it).
    attention: Vec<(String, String, &'static str, bool)>,
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
    /// Headquarters' chain batches good here (read only).
    chain: Vec<ChainRow>,
}

/// A chain batch as the vouchers page shows it.
struct ChainRow {
    batch: String,
    scope: String,
    cards: i64,
    used: i64,
    offline_hours: i64,
    valid_until: String,
    revoked: bool,
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

/// The home page: the first start goes to setup, a visitor to the login.
async fn dashboard(
    State(console): State<Arc<Console>>,
    m: Result<Member<need::Everyone>, axum::response::Response>,
) -> Page {
    if !console.people().has_users().await.unwrap_or(true) {
        return Ok(Redirect::to("/console/setup").into_response());
    }
    let m = m.map_err(ConsoleError::from)?;
    let Reply::Dashboard { guests, aps_online, waiting, recent, glance, aps, hq, lag_ms, sms_hour } =
        console.ask(&m, Request::Dashboard).await
    else {
        return Err(m.refused(Reply::Error { kind: ErrorKind::Unavailable, message: String::new() }));
    };
    let t = m.t;
    let recent = recent
        .into_iter()
        .map(|r| {
            let outcome = if r.reason.is_empty() { t.outcome_name(&r.outcome).to_string() } else { r.reason };
            (t.ago(r.at), t.method_name(&r.method).to_string(), r.mac, r.identity, outcome)
        })
        .collect();
    let most = glance.methods.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let methods = glance.methods.iter().map(|(k, n)| (t.method_name(k).to_string(), *n, n * 100 / most)).collect();
    let admin = m.signed.role == crate::staff::Role::Admin;
    let mut attention = Vec::new();
    if let Some(link) = &hq {
        if let Some(since) = link.unreachable_since {
            let since = super::hq::local(t, since, console.handles.zone_offset);
            attention.push((
                "hq-unreachable".into(),
                t.attention_hq_unreachable.replace("{since}", &since),
                "/console/hq",
                admin,
            ));
        }
        if let Some((_, why)) = &link.refused {
            attention.push((
                "bundle-refused".into(),
                t.attention_bundle_refused.replace("{why}", why),
                "/console/hq",
                admin,
            ));
        }
    }
    for id in &aps.1 {
        attention.push((format!("ap-offline-{id}"), t.attention_ap_offline.replace("{id}", id), "/console/aps", admin));
    }
    // The hour's SMS budget spent: guests asking for a code are refused.
    if sms_hour.1 > 0 && sms_hour.0 >= sms_hour.1 {
        let text = t.attention_sms_budget.replace("{n}", &sms_hour.1.to_string());
        attention.push(("sms-budget".into(), text, "/console/stats", admin));
    }
    // Facts waiting longer than half an hour: the member store is not taking them.
    if waiting > 0 && lag_ms > 30 * 60_000 {
        let age = t.duration(lag_ms);
        let text = t.attention_feed_lag.replace("{n}", &waiting.to_string()).replace("{age}", &age);
        attention.push(("feed-lag".into(), text, "/console/hq", admin));
    }
    let rendered = DashboardPage {
        t,
        me: Some(m.me()),
        notice: None,
        guests,
        aps: (aps_online, aps.0),
        waiting,
        recent,
        glance,
        methods,
        attention,
    }
    .render();
    Ok(m.keep_lang(page(StatusCode::OK, rendered)))
}

async fn guests(m: Member<need::Guests>, State(console): State<Arc<Console>>, Query(q): Query<LangQuery>) -> Page {
    let sessions = match console.ask(&m, Request::SessionsList).await {
        Reply::Sessions { sessions } => sessions,
        other => return Err(m.refused(other)),
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
        GuestsPage { t: m.t, csrf: m.signed.csrf.clone(), me: Some(m.me()), notice: None, q: q.q.clone(), guests }
            .render();
    Ok(m.keep_lang(page(StatusCode::OK, rendered)))
}

#[derive(Deserialize)]
struct KickForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    mac: String,
}

async fn kick(State(console): State<Arc<Console>>, Posted { member: m, form }: Posted<need::Guests, KickForm>) -> Page {
    match console.ask(&m, Request::SessionsKick { mac: form.mac }).await {
        Reply::Kicked { .. } => Ok(Redirect::to("/console/guests").into_response()),
        other => Err(m.refused(other)),
    }
}

async fn vouchers(m: Member<need::Desk>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(vouchers_page(&console, &m, None, StatusCode::OK).await?))
}

async fn vouchers_page<N>(console: &Console, m: &Member<N>, notice: Option<String>, status: StatusCode) -> Page {
    let vouchers = match console.ask(m, Request::VouchersList { batch: None }).await {
        Reply::Vouchers { vouchers } => vouchers,
        other => return Err(m.refused(other)),
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
    let chain = match console.ask(m, Request::ChainVouchers).await {
        Reply::ChainVouchers { batches } => batches,
        other => return Err(m.refused(other)),
    };
    let chain = chain
        .into_iter()
        .map(|b| ChainRow {
            scope: match crate::hq::protocol::Scope::parse(&b.scope) {
                Some(crate::hq::protocol::Scope::Brand) | None => m.t.voucher_chain_brand.clone(),
                Some(crate::hq::protocol::Scope::Region(r)) => m.t.voucher_chain_region.replace("{id}", &r),
                Some(crate::hq::protocol::Scope::Site(_)) => m.t.voucher_chain_site.clone(),
            },
            valid_until: crate::kit::time::civil_date(b.valid_until / 1000, console.handles.zone_offset),
            batch: b.batch,
            cards: b.count,
            used: b.used,
            offline_hours: b.offline_hours,
            revoked: b.revoked,
        })
        .collect();
    let view = VouchersPage {
        t: m.t,
        me: Some(m.me()),
        notice,
        csrf: m.signed.csrf.clone(),
        once: Console::once(),
        batches,
        chain,
    };
    Ok(page(status, view.render()))
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
    data_mb: String,
    #[serde(default)]
    note: String,
}

async fn create_vouchers(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Desk, VoucherForm>,
) -> Page {
    let t = m.t;
    if !console.first_use(&form.once) {
        return vouchers_page(&console, &m, Some(t.sent_twice.clone()), StatusCode::OK).await;
    }
    let number = |v: &str, what: &str| v.trim().parse::<u32>().map_err(|_| format!("{}{what}", t.bad_input));
    let parsed = (|| {
        Ok::<_, String>(crate::auth::voucher::NewBatch {
            count: number(&form.count, &t.voucher_count)?,
            duration_seconds: u64::from(number(&form.hours, &t.voucher_hours)?) * 3600,
            valid_days: number(&form.valid_days, &t.voucher_valid_days)?,
            devices: number(&form.devices, &t.voucher_devices)?,
            bandwidth: crate::auth::Bandwidth {
                data_mb: if form.data_mb.trim().is_empty() { 0 } else { number(&form.data_mb, &t.voucher_data_mb)? },
                ..Default::default()
            },
            note: form.note.trim().chars().take(100).collect(),
        })
    })();
    let batch = match parsed {
        Ok(batch) => batch,
        Err(why) => return vouchers_page(&console, &m, Some(why), StatusCode::BAD_REQUEST).await,
    };
    match console.ask(&m, Request::VouchersCreate { batch }).await {
        Reply::Vouchers { vouchers } => {
            let id = vouchers.first().map(|v| v.batch.clone()).unwrap_or_default();
            vouchers_page(&console, &m, Some(format!("{}{id}", t.voucher_created)), StatusCode::OK).await
        }
        Reply::Error { kind: ErrorKind::Invalid, message: why } => {
            vouchers_page(&console, &m, Some(format!("{}{why}", t.bad_input)), StatusCode::BAD_REQUEST).await
        }
        other => Err(m.refused(other)),
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
    Posted { member: m, form }: Posted<need::Desk, RevokeForm>,
) -> Page {
    match console.ask(&m, Request::VouchersRevoke { code_or_batch: form.code_or_batch }).await {
        Reply::Revoked { count } => {
            vouchers_page(&console, &m, Some(format!("{}{count}", m.t.voucher_revoked)), StatusCode::OK).await
        }
        other => Err(m.refused(other)),
    }
}

async fn voucher_sheet(m: Member<need::Desk>, State(console): State<Arc<Console>>, Query(q): Query<LangQuery>) -> Page {
    match console.ask(&m, Request::VouchersSheet { batch: q.batch }).await {
        Reply::Text { text } => Ok((
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
            .into_response()),
        other => Err(m.refused(other)),
    }
}

async fn accounts(m: Member<need::Desk>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(accounts_page(&console, &m, None, None, StatusCode::OK).await?))
}

async fn accounts_page<N>(
    console: &Console,
    m: &Member<N>,
    notice: Option<String>,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Page {
    match console.ask(m, Request::AccountsList { id_number: None }).await {
        Reply::Accounts { accounts } => {
            let view = AccountsPage {
                t: m.t,
                me: Some(m.me()),
                notice,
                csrf: m.signed.csrf.clone(),
                once: Console::once(),
                created,
                accounts,
            };
            Ok(page(status, view.render()))
        }
        other => Err(m.refused(other)),
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

csrf_forms!(KickForm, VoucherForm, RevokeForm, AccountForm);

/// Opens a front-desk account from a guest's ID; the password is shown once.
/// The ID number is never written to the audit log (its last four only).
async fn create_account(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Desk, AccountForm>,
) -> Page {
    let t = m.t;
    if !console.first_use(&form.once) {
        return accounts_page(&console, &m, Some(t.sent_twice.clone()), None, StatusCode::OK).await;
    }
    let number = |v: &str| v.trim().parse::<u32>().ok();
    let (Some(hours), Some(valid_days), Some(devices)) =
        (number(&form.hours), number(&form.valid_days), number(&form.devices))
    else {
        let notice = Some(format!("{}{}", t.bad_input, t.voucher_hours));
        return accounts_page(&console, &m, notice, None, StatusCode::BAD_REQUEST).await;
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
    match console.ask(&m, Request::AccountsCreate { account }).await {
        Reply::AccountCreated { account, .. } => {
            let created = Some((account.username.clone(), account.password.clone()));
            accounts_page(&console, &m, None, created, StatusCode::OK).await
        }
        Reply::Error { kind: ErrorKind::Invalid, message: why } => {
            accounts_page(&console, &m, Some(format!("{}{why}", t.bad_input)), None, StatusCode::BAD_REQUEST).await
        }
        other => Err(m.refused(other)),
    }
}

async fn revoke_account(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Desk, AccountForm>,
) -> Page {
    match console.ask(&m, Request::AccountsRevoke { username: form.username.clone() }).await {
        Reply::Done | Reply::Revoked { .. } => {
            let notice = Some(format!("{} {}", m.t.voucher_revoke, form.username));
            accounts_page(&console, &m, notice, None, StatusCode::OK).await
        }
        other => Err(m.refused(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn the_home_page_is_today_at_a_glance_in_words() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        use crate::auth::Method::{Countdown, Sms};
        h.guests_log_in(16, &[Sms, Countdown, Countdown]).await;
        let home = h.send("GET", "/console/", &[], &[&admin]).await.body;
        assert!(home.contains("id=\"logins-today\">3<") && home.contains("id=\"guests-today\">3<"), "{home}");
        assert!(home.contains("上周同日此时 0"), "against the same time last week");
        let methods = home.split("id=\"methods-today\"").nth(1).expect("logins by method");
        let (countdown, sms) = (methods.find("倒计时一键上网").unwrap(), methods.find("短信验证码").unwrap());
        assert!(countdown < sms, "most first, in words");
        assert!(home.contains("id=\"attention-none\""), "nothing needs attention: {home}");
    }

    #[tokio::test]
    async fn the_front_desk_kicks_a_guest_and_a_logged_out_cookie_opens_nothing() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        h.open_user(&admin, "desk", "frontdesk").await;
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
