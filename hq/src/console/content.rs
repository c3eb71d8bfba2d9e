//! The portal's content for a scope (owners, admins, marketers; a site
//! manager for their site): each block as this scope holds it, where a
//! site's blocks come from, its versions with a way back to any of them,
//! publishing at once or staged by way of a canary site, and the rollouts
//! under way. Every change goes through the one door (`Staff::act`).

use super::{need, scopes_within, when, Console, Csrf, Me, Posted, Staffer};
use crate::db::SiteRef;
use crate::staff::{Action, Done, StaffError};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use guestwifi_core::hq::protocol::{Scope, BLOCKS};
use serde::Deserialize;
use std::sync::Arc;

use super::strings::Strings;

/// The content page and its actions.
pub(super) fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/content", get(content))
        .route("/content/publish", post(publish))
        .route("/content/withdraw", post(withdraw))
        .route("/content/revert", post(revert))
        .route("/content/settings", post(settings))
        .route("/content/own", post(allow_own))
}

/// The settings template's form, from the scope's settings block.
struct SettingsForm<'a> {
    /// (method, its name, `on`/`off`/`` (the site decides)).
    methods: Vec<(&'static str, &'a str, &'static str)>,
    session_minutes: String,
    garden: String,
    consent_version: String,
}

impl<'a> SettingsForm<'a> {
    fn of(t: &'a Strings, value: Option<&serde_json::Value>) -> SettingsForm<'a> {
        let get = |k: &str| value.and_then(|v| v.get(k));
        SettingsForm {
            methods: guestwifi_core::settings::METHODS
                .iter()
                .map(|m| {
                    let now = match get(&format!("auth.{m}.enabled")).and_then(|v| v.as_bool()) {
                        Some(true) => "on",
                        Some(false) => "off",
                        None => "",
                    };
                    (*m, t.method_name(m), now)
                })
                .collect(),
            session_minutes: get("session.length_seconds")
                .and_then(|v| v.as_i64())
                .map(|s| (s / 60).to_string())
                .unwrap_or_default(),
            garden: get("walled_garden.names")
                .and_then(|v| v.as_array())
                .map(|names| names.iter().filter_map(|n| n.as_str()).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default(),
            consent_version: get("members.consent_version").and_then(|v| v.as_str()).unwrap_or_default().to_string(),
        }
    }
}

/// The scope and block a content page shows.
#[derive(Deserialize, Default)]
pub(super) struct Shown {
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub block: String,
}

struct VersionView {
    version: i64,
    when: String,
    by: String,
    summary: String,
    newest: bool,
}

struct RolloutView {
    block: String,
    target: String,
    canary: String,
    stage: &'static str,
    stage_text: String,
    when: String,
}

#[derive(Template)]
#[template(path = "hq/content.html")]
struct ContentPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    scopes: Vec<(String, String)>,
    scope: String,
    blocks: Vec<(String, String)>,
    block: String,
    block_name: String,
    /// (block, its name, where it comes from, version).
    sources: Vec<(&'static str, String, String, String)>,
    /// This scope lets its sites show their own of the block (None: the settings, never).
    sites_may_own: Option<bool>,
    current: Option<serde_json::Value>,
    editing: String,
    canaries: Vec<(String, String)>,
    history: Vec<VersionView>,
    rollouts: Vec<RolloutView>,
    /// The settings template's form (the settings block shown).
    settings: Option<SettingsForm<'a>>,
    /// The editor of the marketing block shown (the one a site's console has).
    editor: Option<String>,
    /// The scope has a draft of the block that is not published.
    unpublished: bool,
    /// The phone preview's address.
    preview: String,
    /// The page's one-time token.
    once: String,
}

async fn content(
    State(console): State<Arc<Console>>,
    Query(q): Query<Shown>,
    me: Staffer<need::Content>,
) -> Result<Response, Response> {
    render(&console, &me, q, StatusCode::OK, None).await
}

/// The scope and block asked for, if the person may see them.
fn chosen(me: &Staffer<need::Content>, q: &Shown, scopes: &[(String, String)]) -> Option<(Scope, String)> {
    let scope = if q.scope.is_empty() { me.person().scope.to_string() } else { q.scope.clone() };
    let block = if q.block.is_empty() { "promotions".to_string() } else { q.block.clone() };
    let known = BLOCKS.contains(&block.as_str()) || block == guestwifi_core::hq::settings::BLOCK;
    (known && scopes.iter().any(|(s, _)| *s == scope))
        .then(|| (Scope::parse(&scope), block))
        .and_then(|(s, b)| Some((s?, b)))
}

pub(super) async fn render(
    console: &Console,
    me: &Staffer<need::Content>,
    q: Shown,
    status: StatusCode,
    notice: Option<String>,
) -> Result<Response, Response> {
    let t = me.t;
    let person = me.person();
    let brand = &person.brand;
    let sites = console.db.sites(Some(brand)).await.map_err(|e| me.failed(&e))?;
    let scopes = scopes_within(t, person, &sites);
    let Some((scope, block)) = chosen(me, &q, &scopes) else {
        return Err(super::message(
            t,
            Some(me.me()),
            StatusCode::FORBIDDEN,
            &t.forbidden_title,
            t.forbidden_body.clone(),
        ));
    };
    let history = console.db.block_history(brand, &scope, &block).await.map_err(|e| me.failed(&e))?;
    let parse = |v: &Option<String>| v.as_ref().and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok());
    let current = history.first().and_then(|h| parse(&h.1));
    // What this scope shows now without a version of its own: the scope above's.
    let mut inherited = None;
    let mut sources = Vec::new();
    match &scope {
        Scope::Site(id) => {
            if let Some(s) = sites.iter().find(|s| &s.site == id) {
                let site = SiteRef { brand: brand.clone(), site: s.site.clone(), region: s.region.clone() };
                let bundle = console.db.bundle(&site, None).await.map_err(|e| me.failed(&e))?;
                let own = crate::blocks::own_at(console.db.pool(), brand, id).await.map_err(|e| me.failed(&e))?;
                for name in BLOCKS {
                    let (from, version) = match bundle.blocks.get(name) {
                        Some(b) if b.overridable && own.iter().any(|o| o == name) => {
                            (t.source_site_instead.replace("{scope}", &t.scope_name(&b.scope)), "—".into())
                        }
                        Some(b) => (t.scope_name(&b.scope), b.version.to_string()),
                        None => (t.source_own.clone(), "—".into()),
                    };
                    sources.push((name, t.block_name(name).to_string(), from, version));
                }
                inherited = bundle.blocks.get(&block).map(|b| b.value.clone());
            }
        }
        Scope::Region(_) => {
            let above = console.db.block_history(brand, &Scope::Brand, &block).await.map_err(|e| me.failed(&e))?;
            inherited = above.first().and_then(|h| parse(&h.1));
        }
        Scope::Brand => {}
    }
    let shown = current.clone().or(inherited);
    let canaries = match &scope {
        Scope::Site(_) => Vec::new(),
        _ => sites
            .iter()
            .filter(|s| s.state == "enrolled" && person.covers(&s.region, &s.site))
            .filter(|s| match &scope {
                Scope::Region(r) => &s.region == r,
                _ => true,
            })
            .map(|s| (s.site.clone(), format!("{} ({})", s.name, s.site)))
            .collect(),
    };
    let history = history
        .iter()
        .enumerate()
        .map(|(i, (version, value, at, by))| VersionView {
            version: *version,
            when: when(*at, console.zone),
            by: by.clone(),
            summary: match parse(value) {
                None => t.withdrawn.clone(),
                Some(v) if block == "promotions" => promotion_titles(&v).join(" · "),
                Some(v) => v.to_string().chars().take(80).collect(),
            },
            newest: i == 0,
        })
        .collect();
    let rollouts = crate::rollouts::list(&console.db, Some(brand), false, 20)
        .await
        .map_err(|e| me.failed(&e))?
        .into_iter()
        .filter(|r| me.person().covers_scope(&r.target, |_| Some(r.canary.1.clone())))
        .map(|r| RolloutView {
            block: t.block_name(&r.block).to_string(),
            target: t.scope_name(&r.target),
            canary: r.canary.0.clone(),
            stage: r.stage.as_str(),
            stage_text: if r.why.is_empty() {
                t.stage_name(r.stage).to_string()
            } else {
                format!("{}: {}", t.stage_name(r.stage), r.why)
            },
            when: format!("{} · {}", when(r.created_at, console.zone), r.created_by),
        })
        .collect();
    let blocks = BLOCKS
        .iter()
        .copied()
        .chain([guestwifi_core::hq::settings::BLOCK])
        .map(|b| (b.to_string(), t.block_name(b).to_string()))
        .collect();
    let sites_may_own = match block == guestwifi_core::hq::settings::BLOCK {
        true => None,
        false => {
            let policy = crate::blocks::overridable(console.db.pool(), brand).await.map_err(|e| me.failed(&e))?;
            let (kind, id) = scope.parts();
            Some(policy.contains(&(kind.to_string(), id.to_string(), block.clone())))
        }
    };
    let page_once = super::Console::once();
    let marketing = BLOCKS.contains(&block.as_str());
    let (editor, unpublished) = match marketing {
        true => {
            let (draft, drafted) =
                crate::drafts::content(&console.db, brand, &scope).await.map_err(|e| me.failed(&e))?;
            let target = guestwifi_views::editor::Target {
                action: "/content/edit",
                hidden: vec![("csrf", me.signed.csrf.clone()), ("scope", scope.to_string())],
                once: &page_once,
                media: "/content/photo",
            };
            let html = guestwifi_views::editor::Editor::new(&t.lang, &block, &draft, target).html();
            (Some(html), drafted.contains(&block))
        }
        false => (None, false),
    };
    let body = ContentPage {
        once: page_once.clone(),
        t,
        editor,
        unpublished,
        preview: format!("/content/preview/{scope}"),
        me: Some(me.me()),
        notice,
        csrf: me.signed.csrf.clone(),
        sites_may_own,
        scopes,
        scope: scope.to_string(),
        block_name: t.block_name(&block).to_string(),
        settings: (block == guestwifi_core::hq::settings::BLOCK).then(|| SettingsForm::of(t, current.as_ref())),
        block,
        blocks,
        sources,
        editing: shown.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default()).unwrap_or_default(),
        current,
        canaries,
        history,
        rollouts,
    };
    Ok(super::page(status, body.render()))
}

/// A promotions block's titles (zh-CN).
fn promotion_titles(value: &serde_json::Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("title_zh").and_then(|t| t.as_str()).map(str::to_string))
        .collect()
}

/// The page again after an action: what it did, or why not.
async fn after(
    console: &Console,
    me: &Staffer<need::Content>,
    scope: &str,
    block: &str,
    result: Result<Done, StaffError>,
) -> Result<Response, Response> {
    let t = me.t;
    let (status, notice) = me.notice(result.map(|done| match done {
        Done::Published { version } => t.published_now.replace("{version}", &version.to_string()),
        Done::Staged { .. } => t.staged_now.clone(),
        _ => t.done.clone(),
    }))?;
    let shown = Shown { scope: scope.into(), block: block.into() };
    render(console, me, shown, status, Some(notice)).await
}

#[derive(Deserialize)]
struct PublishForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    block: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    canary: String,
    #[serde(default)]
    version: i64,
    /// The page's one-time token (a double tap on publish publishes once).
    #[serde(default)]
    once: String,
}

impl Csrf for PublishForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The form's scope, or the refusal to show.
fn scope_of(form_scope: &str) -> Result<Scope, StaffError> {
    Scope::parse(form_scope).ok_or_else(|| StaffError::Invalid(format!("{form_scope:?}: brand, region:ID or site:ID")))
}

/// The form's action through the one door (`make` builds it for the form's
/// scope), then the page again.
async fn act(
    console: &Console,
    posted: Posted<need::Content, PublishForm>,
    make: impl FnOnce(Scope, &PublishForm) -> Result<Action, StaffError>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let result = match scope_of(&form.scope).and_then(|scope| make(scope, &form)) {
        Ok(action) => console.staff.act(&me.actor(), action).await,
        Err(err) => Err(err),
    };
    after(console, &me, &form.scope, &form.block, result).await
}

async fn publish(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Content, PublishForm>,
) -> Result<Response, Response> {
    if !console.first_use(&posted.form.once) {
        let (me, form) = (&posted.staffer, &posted.form);
        let shown = Shown { scope: form.scope.clone(), block: form.block.clone() };
        return render(&console, me, shown, StatusCode::OK, Some(me.t.sent_twice.clone())).await;
    }
    // The JSON, when it was edited as such; else the scope's draft (or what it shows).
    let value = match posted.form.value.trim() {
        "" => match scope_of(&posted.form.scope) {
            Ok(scope) => {
                let (me, brand) = (&posted.staffer, &posted.staffer.person().brand);
                let (draft, _) = crate::drafts::content(&console.db, brand, &scope).await.map_err(|e| me.failed(&e))?;
                draft
                    .block(&posted.form.block)
                    .ok_or_else(|| format!("{:?} is not a marketing block", posted.form.block))
            }
            Err(_) => Err(String::new()),
        },
        text => serde_json::from_str(text).map_err(|e| format!("JSON: {e}")),
    };
    act(&console, posted, |scope, form| {
        let value = value.map_err(StaffError::Invalid)?;
        let canary = Some(form.canary.clone()).filter(|c| !c.is_empty());
        Ok(Action::Publish { scope, block: form.block.clone(), value: Some(value), canary })
    })
    .await
}

async fn withdraw(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Content, PublishForm>,
) -> Result<Response, Response> {
    act(&console, posted, |scope, form| {
        Ok(Action::Publish { scope, block: form.block.clone(), value: None, canary: None })
    })
    .await
}

async fn revert(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Content, PublishForm>,
) -> Result<Response, Response> {
    act(&console, posted, |scope, form| Ok(Action::Revert { scope, block: form.block.clone(), version: form.version }))
        .await
}

/// The settings template's form: every field as the browser sent it.
type TemplateForm = std::collections::HashMap<String, String>;

impl Csrf for TemplateForm {
    fn csrf(&self) -> &str {
        self.get("csrf").map_or("", String::as_str)
    }
}

/// The settings template as a settings block: only what is filled in is
/// managed (a method left to the site, a blank field, stay each site's).
async fn settings(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Content, TemplateForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let field = |k: &str| form.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let scope_text = field("scope");
    let result = template_value(&field).and_then(|value| Ok((scope_of(&scope_text)?, value)));
    let result = match result {
        Ok((scope, value)) => {
            let canary = Some(field("canary")).filter(|c| !c.is_empty());
            let action = Action::Publish { scope, block: guestwifi_core::hq::settings::BLOCK.into(), value, canary };
            console.staff.act(&me.actor(), action).await
        }
        Err(err) => Err(err),
    };
    after(&console, &me, &scope_text, guestwifi_core::hq::settings::BLOCK, result).await
}

/// The settings block a template's fields make (None: nothing managed, a withdrawal).
fn template_value(field: &dyn Fn(&str) -> String) -> Result<Option<serde_json::Value>, StaffError> {
    let mut keys = serde_json::Map::new();
    for m in guestwifi_core::settings::METHODS {
        match field(&format!("method_{m}")).as_str() {
            "on" => keys.insert(format!("auth.{m}.enabled"), true.into()),
            "off" => keys.insert(format!("auth.{m}.enabled"), false.into()),
            _ => None,
        };
    }
    let minutes = field("session_minutes");
    if !minutes.is_empty() {
        let minutes: i64 = minutes
            .parse()
            .ok()
            .filter(|m| (1..=7 * 24 * 60).contains(m))
            .ok_or_else(|| StaffError::Invalid("a login lasts 1 minute to 7 days".into()))?;
        keys.insert("session.length_seconds".into(), (minutes * 60).into());
    }
    let garden: Vec<serde_json::Value> = field("garden")
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|n| !n.is_empty())
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase().into())
        .collect();
    if !garden.is_empty() {
        keys.insert("walled_garden.names".into(), garden.into());
    }
    let consent = field("consent_version");
    if !consent.is_empty() {
        keys.insert("members.consent_version".into(), consent.into());
    }
    Ok((!keys.is_empty()).then_some(serde_json::Value::Object(keys)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_template_manages_only_what_is_filled_in() {
        let form: std::collections::HashMap<&str, &str> = [
            ("method_sms", "on"),
            ("method_countdown", "off"),
            ("method_card", ""),
            ("session_minutes", "90"),
            ("garden", "Menu.Example.com.\npay.example.cn"),
        ]
        .into();
        let field = |k: &str| form.get(k).map(|v| v.to_string()).unwrap_or_default();
        let value = template_value(&field).unwrap().unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "auth.sms.enabled": true,
                "auth.countdown.enabled": false,
                "session.length_seconds": 5400,
                "walled_garden.names": ["menu.example.com", "pay.example.cn"],
            })
        );
        let t = super::super::strings::strings("zh-CN");
        let shown = SettingsForm::of(t, Some(&value));
        assert!(shown.methods.iter().any(|(m, _, now)| *m == "sms" && *now == "on"));
        assert!(shown.methods.iter().any(|(m, _, now)| *m == "card" && now.is_empty()));
        assert_eq!((shown.session_minutes.as_str(), shown.garden.as_str()), ("90", "menu.example.com\npay.example.cn"));
        let empty = |_: &str| String::new();
        assert_eq!(template_value(&empty).unwrap(), None, "nothing filled in manages nothing");
        let bad = |k: &str| if k == "session_minutes" { "0".to_string() } else { String::new() };
        assert!(matches!(template_value(&bad), Err(StaffError::Invalid(_))));
    }
}

#[derive(Deserialize)]
struct OwnForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    block: String,
    /// `1`: sites may show their own.
    #[serde(default)]
    allowed: String,
}

impl Csrf for OwnForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Lets the scope's sites show their own block instead of HQ's, or not.
async fn allow_own(
    State(console): State<Arc<Console>>,
    posted: Posted<need::Content, OwnForm>,
) -> Result<Response, Response> {
    let Posted { staffer: me, form } = posted;
    let result = match Scope::parse(&form.scope) {
        Some(scope) => {
            let action = Action::AllowOwn { scope, block: form.block.clone(), allowed: form.allowed == "1" };
            console.staff.act(&me.actor(), action).await
        }
        None => Err(StaffError::Invalid(format!("{:?} is no scope", form.scope))),
    };
    after(&console, &me, &form.scope, &form.block, result).await
}
