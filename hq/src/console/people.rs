//! HQ's people (owners and admins): the accounts within their scope, a new
//! one (its first password shown once; it enrols its second factor at its
//! first sign-in), disabling one, resetting one's second factor; and the
//! audit log. Every change goes through the one door (`Staff::act`).

use super::{need, roles_for, scopes_within, when, Console, Csrf, Me, Posted, Staffer};
use crate::staff::{Action, Done, Role, StaffError};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use guestwifi_core::hq::protocol::Scope;
use serde::Deserialize;
use std::sync::Arc;

use super::strings::Strings;

/// People and the audit log.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/people", get(people).post(add))
        .route("/people/disable", post(disable))
        .route("/people/reset", post(reset))
        .route("/audit", get(audit))
}

struct PersonView {
    username: String,
    role: String,
    scope: String,
    second_factor: String,
    state: String,
    created: String,
    manageable: bool,
}

#[derive(Template)]
#[template(path = "hq/people.html")]
struct PeoplePage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    people: Vec<PersonView>,
    roles: Vec<(String, String)>,
    scopes: Vec<(String, String)>,
}

async fn people(State(console): State<Arc<Console>>, me: Staffer<need::People>) -> Result<Response, Response> {
    render(&console, &me, StatusCode::OK, None).await
}

async fn render(
    console: &Console,
    me: &Staffer<need::People>,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, Response> {
    let t = me.t;
    let person = me.person();
    let rows = console.staff.people(person).await.map_err(|e| me.failed(&e))?;
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let people = rows
        .into_iter()
        .map(|r| {
            let role = Role::parse(&r.role).unwrap_or(Role::Analyst);
            PersonView {
                manageable: !r.disabled
                    && r.username != person.username
                    && (person.role == Role::Owner || !matches!(role, Role::Owner | Role::Admin)),
                role: t.role_name(role).to_string(),
                scope: Scope::parse(&r.scope).map_or(r.scope.clone(), |s| t.scope_name(&s)),
                second_factor: if r.enrolled { t.enrolled.clone() } else { t.not_enrolled.clone() },
                state: if r.disabled {
                    t.disabled.clone()
                } else if let Some(until) = r.locked_until {
                    format!("{} ({})", t.locked, when(until, console.zone))
                } else {
                    t.active.clone()
                },
                created: format!("{} · {}", when(r.created_at, console.zone), r.created_by),
                username: r.username,
            }
        })
        .collect();
    let body = PeoplePage {
        t,
        me: Some(me.me()),
        notice,
        csrf: me.signed.csrf.clone(),
        people,
        roles: roles_for(t, person),
        scopes: scopes_within(t, person, &sites),
    };
    Ok(super::page(status, body.render()))
}

#[derive(Deserialize)]
struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    scope: String,
}

#[derive(Deserialize)]
struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

impl Csrf for AddForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
impl Csrf for PersonForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The page again after an action: its notice, or the refusal's words and status.
async fn after(
    console: &Console,
    me: &Staffer<need::People>,
    result: Result<Done, StaffError>,
) -> Result<Response, Response> {
    let t = me.t;
    let (status, notice) = me.notice(result.map(|done| match done {
        Done::Added { password } => t.done.clone() + " " + &password,
        _ => t.done.clone(),
    }))?;
    render(console, me, status, Some(notice)).await
}

async fn add(State(console): State<Arc<Console>>, posted: Posted<need::People, AddForm>) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let t = me.t;
    let (Some(role), Some(scope)) = (Role::parse(&form.role), Scope::parse(&form.scope)) else {
        return after(&console, &me, Err(StaffError::Invalid(format!("{} / {}", t.role, t.scope)))).await;
    };
    let username = form.username.trim().to_ascii_lowercase();
    let result = console.staff.act(&me.actor(), Action::AddPerson { username: username.clone(), role, scope }).await;
    match result {
        Ok(Done::Added { password }) => {
            let notice = t.added.replace("{username}", &username).replace("{password}", &password);
            render(&console, &me, StatusCode::OK, Some(notice)).await
        }
        other => after(&console, &me, other).await,
    }
}

async fn disable(
    State(console): State<Arc<Console>>,
    posted: Posted<need::People, PersonForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let result = console.staff.act(&me.actor(), Action::DisablePerson { username: form.username }).await;
    after(&console, &me, result).await
}

async fn reset(
    State(console): State<Arc<Console>>,
    posted: Posted<need::People, PersonForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let result = console.staff.act(&me.actor(), Action::ResetSecondFactor { username: form.username }).await;
    after(&console, &me, result).await
}

struct AuditView {
    at: String,
    actor: String,
    role: String,
    scope: String,
    action: String,
    target: String,
    before: String,
    after: String,
    address: String,
}

#[derive(Template)]
#[template(path = "hq/audit.html")]
struct AuditPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    rows: Vec<AuditView>,
}

async fn audit(State(console): State<Arc<Console>>, me: Staffer<need::Audit>) -> Result<Response, Response> {
    let t = me.t;
    let rows = console.staff.audit_log(me.person(), 500).await.map_err(|e| me.failed(&e))?;
    let rows = rows
        .into_iter()
        .map(|a| AuditView {
            at: when(a.at, console.zone),
            actor: format!("{} ({})", a.actor, a.door),
            role: Role::parse(&a.role).map_or(a.role.clone(), |r| t.role_name(r).to_string()),
            scope: Scope::parse(&a.scope).map_or(a.scope.clone(), |s| t.scope_name(&s)),
            action: t.action_name(&a.action).to_string(),
            target: a.target,
            before: a.before,
            after: a.after,
            address: a.address,
        })
        .collect();
    Ok(super::page(StatusCode::OK, AuditPage { t, me: Some(me.me()), notice: None, rows }.render()))
}
