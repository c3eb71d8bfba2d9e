//! The chain's members (owners and admins): find one by phone, card,
//! WeChat openid or id; see their cards, consent by version and visits at
//! every site; freeze a card, report it lost or reactivate it; erase the
//! member once for every site. Every change goes through the one door.

use super::{need, Console, Csrf, Me, Posted, Staffer};
use crate::staff::{Action, StaffError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use guestwifi_core::members::MemberView;
use serde::Deserialize;
use std::sync::Arc;

use super::strings::Strings;

/// The members page and its actions.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/members", get(members))
        .route("/members/card", post(card))
        .route("/members/erase", post(erase))
}

#[derive(Deserialize, Default)]
struct Find {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "hq/members.html")]
struct MembersPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    q: String,
    member: Option<MemberView>,
    /// (state, the button that sets it).
    card_actions: Vec<(&'static str, &'a str)>,
}

async fn members(
    State(console): State<Arc<Console>>,
    Query(find): Query<Find>,
    me: Staffer<need::Members>,
) -> Result<Response, Response> {
    render(&console, &me, &find.q, StatusCode::OK, None).await
}

async fn render(
    console: &Console,
    me: &Staffer<need::Members>,
    q: &str,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, Response> {
    let t = me.t;
    let q: String = q.trim().chars().take(80).collect();
    let store = console.staff.members(&me.person().brand);
    let member = match q.is_empty() {
        true => None,
        false => match store.find(&q).await {
            Ok(Some(id)) => Some(store.show(&id, false).await.map_err(|e| me.failed(&e))?),
            Ok(None) => None,
            Err(e) => return Err(me.failed(&e)),
        },
    };
    let card_actions =
        vec![("frozen", t.freeze.as_str()), ("lost", t.report_lost.as_str()), ("active", t.reactivate.as_str())];
    let body = MembersPage { t, me: Some(me.me()), notice, csrf: me.signed.csrf.clone(), q, member, card_actions };
    Ok(super::page(status, body.render()))
}

#[derive(Deserialize)]
struct CardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    card_no: String,
    #[serde(default)]
    state: String,
}

impl Csrf for CardForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Deserialize)]
struct EraseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    member_id: String,
    #[serde(default)]
    confirm: String,
}

impl Csrf for EraseForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The page again: what was done, or why not.
async fn after(
    console: &Console,
    me: &Staffer<need::Members>,
    q: &str,
    result: Result<String, StaffError>,
) -> Result<Response, Response> {
    let (status, notice) = me.notice(result)?;
    render(console, me, q, status, Some(notice)).await
}

async fn card(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Members, CardForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let action = Action::CardState { card_no: form.card_no.trim().to_string(), state: form.state.clone() };
    let result = console.staff.act(&me.actor(), action).await.map(|_| me.t.done.clone());
    after(&console, &me, &form.q, result).await
}

async fn erase(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Members, EraseForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let result = match form.confirm.as_str() {
        "1" => {
            let store = console.staff.members(&me.person().brand);
            // What goes, counted for the notice, before it goes.
            let shown = store.show(&form.member_id, false).await.ok();
            let action = Action::Erase { member_id: form.member_id.clone() };
            console.staff.act(&me.actor(), action).await.map(|_| {
                let what =
                    shown.map_or_else(String::new, |m| format!("{} · {}", m.member_id, m.identities.join(" · ")));
                me.t.erased.replace("{what}", &what)
            })
        }
        _ => Err(StaffError::Invalid(me.t.erase_confirm.clone())),
    };
    after(&console, &me, "", result).await
}
