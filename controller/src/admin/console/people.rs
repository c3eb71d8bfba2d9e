//! People: staff accounts (admins open and disable them), each member's own
//! API tokens (shown once, kept as hashes), and the staff audit log with
//! its CSV.

use super::{csrf_forms, need, page, Console, LangQuery, Me, Member, Page, Posted, Strings};
use crate::control::{ErrorKind, Reply, Request};
use crate::staff::{AuditEntry, Role, StaffError, User};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// The people routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/tokens", get(tokens).post(create_token))
        .route("/console/tokens/revoke", post(revoke_token))
        .route("/console/users", get(users).post(create_user))
        .route("/console/users/disable", post(disable_user))
        .route("/console/audit", get(audit))
        .route("/console/audit.csv", get(audit_csv))
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

async fn tokens(m: Member<need::Everyone>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(tokens_page(&console, &m, None, None, StatusCode::OK).await?))
}

/// One's own tokens: they act as oneself, so they are one's own to make.
async fn tokens_page(
    console: &Console,
    m: &Member<need::Everyone>,
    notice: Option<String>,
    new_token: Option<String>,
    status: StatusCode,
) -> Page {
    let list = console.people().tokens(&m.signed).await.map_err(|e| m.failed(&e))?;
    let tokens = list
        .into_iter()
        .map(|k| {
            let made = m.t.ago(k.created_at);
            let used = k.last_used_at.map(|at| m.t.ago(at)).unwrap_or_default();
            (k, made, used)
        })
        .collect();
    let view = TokensPage { t: m.t, me: Some(m.me()), notice, csrf: m.signed.csrf.clone(), new_token, tokens };
    Ok(page(status, view.render()))
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
    Posted { member: m, form }: Posted<need::Everyone, TokenForm>,
) -> Page {
    match console.people().create_token(&m.signed, &form.name).await {
        Ok(token) => {
            console.people().audit(&m.actor(), "token.create", form.name.trim(), "", "").await;
            tokens_page(&console, &m, None, Some(token), StatusCode::OK).await
        }
        Err(StaffError::Invalid(why)) => {
            tokens_page(&console, &m, Some(format!("{}{why}", m.t.bad_input)), None, StatusCode::BAD_REQUEST).await
        }
        Err(err) => Err(m.failed(&err)),
    }
}

async fn revoke_token(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::Everyone, TokenForm>,
) -> Page {
    let id = form.id.trim().parse::<i64>().unwrap_or(-1);
    match console.people().revoke_token(&m.signed, id).await {
        Ok(true) => {
            console.people().audit(&m.actor(), "token.revoke", &id.to_string(), "live", "revoked").await;
            tokens_page(&console, &m, Some(format!("{} {id}", m.t.voucher_revoke)), None, StatusCode::OK).await
        }
        Ok(false) => tokens_page(&console, &m, Some(m.t.none.clone()), None, StatusCode::NOT_FOUND).await,
        Err(err) => Err(m.failed(&err)),
    }
}

async fn users(m: Member<need::People>, State(console): State<Arc<Console>>) -> Page {
    Ok(m.keep_lang(users_page(&console, &m, None, StatusCode::OK).await?))
}

async fn users_page(console: &Console, m: &Member<need::People>, notice: Option<String>, status: StatusCode) -> Page {
    match console.ask(m, Request::UsersList).await {
        Reply::Users { users } => Ok(page(
            status,
            UsersPage { t: m.t, me: Some(m.me()), notice, csrf: m.signed.csrf.clone(), users }.render(),
        )),
        other => Err(m.refused(other)),
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

#[derive(Deserialize)]
struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
}

csrf_forms!(TokenForm, UserForm, DisableForm);

async fn create_user(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::People, UserForm>,
) -> Page {
    let t = m.t;
    let Some(role) = Role::parse(&form.role) else {
        return users_page(&console, &m, Some(format!("{}{}", t.bad_input, t.role)), StatusCode::BAD_REQUEST).await;
    };
    let request = Request::UsersCreate { username: form.username, password: form.password, role };
    match console.ask(&m, request).await {
        Reply::UserCreated { user } => {
            users_page(&console, &m, Some(format!("{}{}", t.user_created, user.username)), StatusCode::OK).await
        }
        Reply::Error { kind: ErrorKind::Invalid, message: why } => {
            users_page(&console, &m, Some(format!("{}{why}", t.bad_input)), StatusCode::BAD_REQUEST).await
        }
        Reply::Error { kind: ErrorKind::Conflict, message: why } => {
            users_page(&console, &m, Some(format!("{}{why}", t.bad_input)), StatusCode::CONFLICT).await
        }
        other => Err(m.refused(other)),
    }
}

async fn disable_user(
    State(console): State<Arc<Console>>,
    Posted { member: m, form }: Posted<need::People, DisableForm>,
) -> Page {
    match console.ask(&m, Request::UsersDisable { username: form.username.clone() }).await {
        Reply::Done => {
            let notice = Some(format!("{}: {}", m.t.disabled, form.username));
            users_page(&console, &m, notice, StatusCode::OK).await
        }
        Reply::Error { kind: ErrorKind::NotFound, .. } => {
            users_page(&console, &m, Some(m.t.none.clone()), StatusCode::NOT_FOUND).await
        }
        other => Err(m.refused(other)),
    }
}

/// The audit log's rows matching the query, through the one door.
async fn log(
    console: &Console,
    m: &Member<need::People>,
    q: &LangQuery,
    limit: u32,
) -> Result<Vec<AuditEntry>, super::ConsoleError> {
    match console.ask(m, Request::StaffLog { filter: q.q.clone(), limit }).await {
        Reply::StaffLog { entries } => Ok(entries),
        other => Err(m.refused(other)),
    }
}

async fn audit(m: Member<need::People>, State(console): State<Arc<Console>>, Query(q): Query<LangQuery>) -> Page {
    let entries = log(&console, &m, &q, 500).await?.into_iter().map(|e| (m.t.ago(e.at), e)).collect();
    let rendered = AuditPage { t: m.t, me: Some(m.me()), notice: None, q: q.q.clone(), entries }.render();
    Ok(m.keep_lang(page(StatusCode::OK, rendered)))
}

async fn audit_csv(m: Member<need::People>, State(console): State<Arc<Console>>, Query(q): Query<LangQuery>) -> Page {
    let entries = log(&console, &m, &q, 100_000).await?;
    let mut csv = String::from("at_utc_ms,username,role,action,target,before,after,from,door\n");
    for e in entries {
        let fields = [e.at.to_string(), e.username, e.role, e.action, e.target, e.before, e.after, e.from_addr, e.door];
        csv.push_str(&fields.iter().map(|f| crate::kit::csv::csv_field(f)).collect::<Vec<_>>().join(","));
        csv.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"staff-audit.csv\""),
        ],
        csv,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn api_tokens_act_with_their_owners_role_until_revoked() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        for (name, role) in [("mkt", "marketer"), ("desk", "frontdesk")] {
            h.open_user(&admin, name, role).await;
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
}
