//! Chain voucher batches (owners, admins, marketers, site managers, within
//! their scope): make a batch for the brand, a region or a site; see each
//! card's first use and the sites it was used at; print the cards; revoke
//! a card or the batch. The batch page states the window in which one card
//! can serve beyond its limit at two sites. Every change goes through the one door.

use super::strings::Strings;
use super::{need, scopes_within, when, Console, Csrf, Me, Posted, Staffer};
use crate::staff::{Action, Done, StaffError};
use crate::vouchers::{BatchRow, CardRow, NewBatch, DEFAULT_OFFLINE_HOURS};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use guestwifi_core::hq::protocol::Scope;
use guestwifi_core::kit::csv::csv_field;
use guestwifi_core::kit::time::now_ms;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

/// The vouchers pages and their actions.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/vouchers", get(list).post(create))
        .route("/vouchers/{id}", get(batch))
        .route("/vouchers/{id}/print", get(print))
        .route("/vouchers/{id}/cards.csv", get(cards_csv))
        .route("/vouchers/{id}/revoke", post(revoke))
}

/// A batch as the pages show it.
struct BatchView {
    id: String,
    scope: String,
    count: i64,
    duration: String,
    devices: i64,
    valid_until: String,
    note: String,
    created: String,
    created_by: String,
    revoked: bool,
    used: i64,
    cards_revoked: i64,
    over: i64,
}

impl BatchView {
    fn of(t: &Strings, row: &BatchRow, zone: i64) -> BatchView {
        BatchView {
            id: row.batch_id.clone(),
            scope: t.scope_name(&row.scope()),
            count: row.count,
            duration: minutes_in_words(t, row.duration_seconds / 60),
            devices: row.devices,
            valid_until: when(row.valid_until, zone),
            note: row.note.clone(),
            created: when(row.created_at, zone),
            created_by: row.created_by.clone(),
            revoked: row.revoked_at.is_some(),
            used: row.used,
            cards_revoked: row.cards_revoked,
            over: row.over,
        }
    }
}

/// `90` -> "1 h 30 min".
fn minutes_in_words(t: &Strings, minutes: i64) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    match (h, m) {
        (0, m) => t.vouchers_min.replace("{n}", &m.to_string()),
        (h, 0) => t.vouchers_hours.replace("{n}", &h.to_string()),
        (h, m) => format!(
            "{} {}",
            t.vouchers_hours.replace("{n}", &h.to_string()),
            t.vouchers_min.replace("{n}", &m.to_string())
        ),
    }
}

/// A card as the batch page shows it.
struct CardView {
    serial: i64,
    code: String,
    state: String,
    first_used: String,
    sites: String,
    devices_used: i64,
    over: bool,
    revoked: bool,
}

fn card_view(t: &Strings, row: &BatchRow, card: &CardRow, zone: i64, names: &HashMap<String, String>) -> CardView {
    let now = now_ms();
    let state = if row.revoked_at.is_some() || card.revoked_at.is_some() {
        &t.vouchers_state_revoked
    } else if let Some(first) = card.first_used_at {
        match first + row.duration_seconds * 1000 > now {
            true => &t.vouchers_state_active,
            false => &t.vouchers_state_used_up,
        }
    } else if row.valid_until <= now {
        &t.vouchers_state_expired
    } else {
        &t.vouchers_state_unused
    };
    CardView {
        serial: card.serial,
        code: card.display_code(),
        state: state.clone(),
        first_used: card.first_used_at.map(|at| when(at, zone)).unwrap_or_default(),
        sites: card
            .sites
            .split_whitespace()
            .map(|site| names.get(site).cloned().unwrap_or_else(|| site.to_string()))
            .collect::<Vec<_>>()
            .join(" · "),
        devices_used: card.devices_used,
        over: card.devices_used > row.devices,
        revoked: row.revoked_at.is_some() || card.revoked_at.is_some(),
    }
}

#[derive(Template)]
#[template(path = "hq/vouchers.html")]
struct ListPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    scopes: Vec<(String, String)>,
    batches: Vec<BatchView>,
    form: Made,
}

/// The new batch form as typed (kept when it is sent back).
#[derive(Deserialize, Clone)]
struct Made {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default = "ten")]
    count: String,
    #[serde(default = "two")]
    hours: String,
    #[serde(default = "thirty")]
    valid_days: String,
    #[serde(default = "one")]
    devices: String,
    #[serde(default = "offline")]
    offline_hours: String,
    #[serde(default)]
    note: String,
    /// The form's one-time token.
    #[serde(default)]
    once: String,
}

fn ten() -> String {
    "10".into()
}
fn two() -> String {
    "2".into()
}
fn thirty() -> String {
    "30".into()
}
fn one() -> String {
    "1".into()
}
fn offline() -> String {
    DEFAULT_OFFLINE_HOURS.to_string()
}

impl Default for Made {
    fn default() -> Made {
        Made {
            csrf: String::new(),
            scope: String::new(),
            count: ten(),
            hours: two(),
            valid_days: thirty(),
            devices: one(),
            offline_hours: offline(),
            note: String::new(),
            once: guestwifi_core::kit::secrets::random_code(16),
        }
    }
}

impl Csrf for Made {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn list(State(console): State<Arc<Console>>, me: Staffer<need::Vouchers>) -> Result<Response, Response> {
    render_list(&console, &me, Made::default(), StatusCode::OK, None).await
}

async fn render_list(
    console: &Console,
    me: &Staffer<need::Vouchers>,
    form: Made,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, Response> {
    let t = me.t;
    let person = me.person();
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let region_of = |site: &str| sites.iter().find(|s| s.site == site).map(|s| s.region.clone());
    let rows = crate::vouchers::batches(console.db.pool(), &person.brand).await.map_err(|e| me.failed(&e))?;
    let batches = rows
        .iter()
        .filter(|row| person.covers_scope(&row.scope(), region_of))
        .map(|row| BatchView::of(t, row, console.zone))
        .collect();
    let body = ListPage {
        t,
        me: Some(me.me()),
        notice,
        csrf: me.signed.csrf.clone(),
        scopes: scopes_within(t, person, &sites),
        batches,
        form,
    };
    Ok(super::page(status, body.render()))
}

/// The form's numbers, or the words that say which is wrong.
fn parse(t: &Strings, form: &Made) -> Result<NewBatch, String> {
    let number = |text: &str, name: &str| -> Result<u32, String> {
        text.trim().parse::<u32>().map_err(|_| t.vouchers_not_a_number.replace("{field}", name))
    };
    let scope = Scope::parse(&form.scope).ok_or_else(|| t.vouchers_pick_scope.clone())?;
    let hours = number(&form.hours, &t.vouchers_hours_label)?;
    Ok(NewBatch {
        scope,
        count: number(&form.count, &t.vouchers_count)?,
        duration_seconds: i64::from(hours) * 3600,
        valid_days: number(&form.valid_days, &t.vouchers_valid_days)?,
        devices: number(&form.devices, &t.vouchers_devices)?,
        down_kbps: 0,
        up_kbps: 0,
        offline_hours: number(&form.offline_hours, &t.vouchers_offline_hours)?,
        note: form.note.trim().to_string(),
        once: form.once.chars().take(32).collect(),
    })
}

async fn create(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Vouchers, Made>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let t = me.t;
    let result = match parse(t, &form) {
        Ok(batch) => console.staff.act(&me.actor(), Action::VoucherBatch { batch }).await,
        Err(why) => Err(StaffError::Invalid(why)),
    };
    if let Ok(Done::Batch { id }) = &result {
        return Ok(Redirect::to(&format!("/vouchers/{id}")).into_response());
    }
    let (status, notice) = me.notice(result.map(|_| t.done.clone()))?;
    let form = Made { once: Made::default().once, ..form };
    render_list(&console, &me, form, status, Some(notice)).await
}

/// The batch `id` if it is within `me`'s scope (a 404 page otherwise: one
/// outside is not said to exist).
async fn visible(console: &Console, me: &Staffer<need::Vouchers>, id: &str) -> Result<BatchRow, Response> {
    let t = me.t;
    let person = me.person();
    let row = crate::vouchers::batch(console.db.pool(), &person.brand, id).await.map_err(|e| me.failed(&e))?;
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let region_of = |site: &str| sites.iter().find(|s| s.site == site).map(|s| s.region.clone());
    match row.filter(|row| person.covers_scope(&row.scope(), region_of)) {
        Some(row) => Ok(row),
        None => Err(super::message(t, Some(me.me()), StatusCode::NOT_FOUND, &t.vouchers_title, t.not_found.clone())),
    }
}

/// The batch `id` (if `me` may see it) and its cards.
async fn with_cards(
    console: &Console,
    me: &Staffer<need::Vouchers>,
    id: &str,
) -> Result<(BatchRow, Vec<CardRow>), Response> {
    let row = visible(console, me, id).await?;
    let cards = crate::vouchers::cards(console.db.pool(), &me.person().brand, id).await.map_err(|e| me.failed(&e))?;
    Ok((row, cards))
}

/// The brand's sites' names by id.
async fn site_names(console: &Console, me: &Staffer<need::Vouchers>) -> Result<HashMap<String, String>, Response> {
    let sites = console.db.sites(Some(&me.person().brand)).await.map_err(|e| me.failed(&e))?;
    Ok(sites.into_iter().map(|s| (s.site, s.name)).collect())
}

#[derive(Template)]
#[template(path = "hq/voucher_batch.html")]
struct BatchPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    b: BatchView,
    window: String,
    cards: Vec<CardView>,
}

async fn batch(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    me: Staffer<need::Vouchers>,
) -> Result<Response, Response> {
    render_batch(&console, &me, &id, StatusCode::OK, None).await
}

async fn render_batch(
    console: &Console,
    me: &Staffer<need::Vouchers>,
    id: &str,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, Response> {
    let t = me.t;
    let (row, cards) = with_cards(console, me, id).await?;
    let names = site_names(console, me).await?;
    let b = BatchView::of(t, &row, console.zone);
    let window = t.vouchers_window.replace("{scope}", &b.scope).replace("{hours}", &row.offline_hours.to_string());
    let body = BatchPage {
        t,
        me: Some(me.me()),
        notice,
        csrf: me.signed.csrf.clone(),
        window,
        cards: cards.iter().map(|c| card_view(t, &row, c, console.zone, &names)).collect(),
        b,
    };
    Ok(super::page(status, body.render()))
}

#[derive(Template)]
#[template(path = "hq/voucher_print.html")]
struct PrintPage<'a> {
    t: &'a Strings,
    b: BatchView,
    cards: Vec<CardView>,
}

async fn print(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    me: Staffer<need::Vouchers>,
) -> Result<Response, Response> {
    let t = me.t;
    let (row, cards) = with_cards(&console, &me, &id).await?;
    let cards =
        cards.iter().map(|c| card_view(t, &row, c, console.zone, &HashMap::new())).filter(|c| !c.revoked).collect();
    let body = PrintPage { t, b: BatchView::of(t, &row, console.zone), cards };
    Ok(super::page(StatusCode::OK, body.render()))
}

async fn cards_csv(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    me: Staffer<need::Vouchers>,
) -> Result<Response, Response> {
    let (row, cards) = with_cards(&console, &me, &id).await?;
    let mut out = String::from("serial,code,state,first_used_at,devices_used,devices,sites,valid_until,scope,note\n");
    for c in &cards {
        let v = card_view(me.t, &row, c, console.zone, &HashMap::new());
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            c.serial,
            v.code,
            csv_field(&v.state),
            c.first_used_at.map(|t| t.to_string()).unwrap_or_default(),
            c.devices_used,
            row.devices,
            csv_field(&c.sites),
            row.valid_until,
            row.scope(),
            csv_field(&row.note)
        ));
    }
    let file = format!("chain-vouchers-{}.csv", row.batch_id);
    Ok(super::stats::download("text/csv; charset=utf-8", &file, out.into_bytes()))
}

#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

impl Csrf for RevokeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn revoke(
    State(console): State<Arc<Console>>,
    Path(id): Path<String>,
    posted: Posted<need::Vouchers, RevokeForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    visible(&console, &me, &id).await?;
    let code = Some(form.code.trim().to_string()).filter(|c| !c.is_empty());
    let action = Action::RevokeVouchers { batch: id.clone(), code };
    let done = console.staff.act(&me.actor(), action).await;
    let (status, notice) = me.notice(done.map(|_| me.t.vouchers_revoked.clone()))?;
    render_batch(&console, &me, &id, status, Some(notice)).await
}
