//! Members for the front desk: find one by phone, card or member id (the
//! phone masked), and freeze, report lost or reactivate a card.

use super::{csrf_forms, need, page, Console, LangQuery, Me, Member, Page, Posted, Strings};
use crate::control::{ErrorKind, Reply, Request};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// The members' routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new().route("/console/members", get(members)).route("/console/cards/state", post(card_state))
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

async fn members(m: Member<need::Members>, State(console): State<Arc<Console>>, Query(q): Query<LangQuery>) -> Page {
    Ok(m.keep_lang(members_page(&console, &m, q.q.trim(), None).await?))
}

async fn members_page<N>(console: &Console, m: &Member<N>, q: &str, notice: Option<String>) -> Page {
    let t = m.t;
    let actions =
        vec![("frozen", t.card_frozen.clone()), ("lost", t.card_lost.clone()), ("active", t.card_active.clone())];
    let render = |member, notice, status| {
        let view = MembersPage {
            t,
            me: Some(m.me()),
            notice,
            csrf: m.signed.csrf.clone(),
            q: q.to_string(),
            member,
            actions: actions.clone(),
        };
        Ok(page(status, view.render()))
    };
    if q.is_empty() {
        return render(None, notice, StatusCode::OK);
    }
    match console.ask(m, Request::MembersShow { key: q.to_string(), full: false }).await {
        Reply::Member { member: v } => {
            let row = MemberRow {
                name: v.name.clone(),
                phone: v.phone.clone(),
                tier: v.tier.clone(),
                balance: format!("{:.2}", v.stored_value_cents as f64 / 100.0),
                points: v.points,
                visits: v.visits,
                cards: v.cards.iter().map(|c| (c.card_no.clone(), c.state.clone())).collect(),
            };
            render(Some(row), notice, StatusCode::OK)
        }
        Reply::Error { kind: ErrorKind::NotFound, .. } => {
            render(None, Some(t.member_not_found.clone()), StatusCode::NOT_FOUND)
        }
        other => Err(m.refused(other)),
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

csrf_forms!(CardStateForm);

async fn card_state(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Members, CardStateForm>,
) -> Page {
    let request = Request::CardsState { card: form.card.clone(), state: form.state.clone() };
    match console.ask(&m, request).await {
        Reply::Done => {
            let notice = Some(format!("{}{} {}", m.t.card_changed, form.card, form.state));
            members_page(&console, &m, form.q.trim(), notice).await
        }
        other => Err(m.refused(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

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
}
