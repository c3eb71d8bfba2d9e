//! The marketer's editor at headquarters: the same block forms as a site's
//! console (`guestwifi_views::editor`), changing the scope's draft through
//! the one door (`Action::Edit`), and the same phone preview
//! (`guestwifi_views::login::preview`) of what the scope's sites would show
//! with the drafts in place. Photos are checked as a site checks them
//! (decoded under its limits) and kept by the id of their bytes.

use super::content::{render, Shown};
use super::{need, Console, Csrf, Posted, Staffer};
use crate::staff::{Action, StaffError};
use axum::extract::{Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use guestwifi_core::hq::protocol::Scope;
use guestwifi_core::marketing::{Edit, Fields, Kind, MAX_UPLOAD};
use serde::Deserialize;
use std::sync::Arc;

/// The editor's routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    let upload = || axum::extract::DefaultBodyLimit::max(MAX_UPLOAD * 2 + 64 * 1024);
    Router::new()
        .route("/content/edit/brand", post(brand).layer(upload()))
        .route("/content/edit/ad", post(ad).layer(upload()))
        .route("/content/edit/landing", post(landing))
        .route("/content/edit/{kind}", post(add).layer(upload()))
        .route("/content/edit/{kind}/remove", post(remove))
        .route("/content/edit/{kind}/up", post(up))
        .route("/content/draft/discard", post(discard))
        .route("/content/preview/{scope}", get(preview))
        .route("/content/preview/{scope}/static/portal.css", get(preview_css))
        .route("/content/preview/{scope}/brand.css", get(preview_brand))
        .route("/content/preview/{scope}/m/{id}/{file}", get(photo_in_preview))
        .route("/content/photo/{id}/{file}", get(photo))
}

/// The editor's action through the one door, then the content page with
/// the block it changed open.
async fn act(
    console: &Console,
    me: &Staffer<need::Content>,
    scope: &str,
    block: &str,
    action: Result<Action, StaffError>,
) -> Response {
    let words = match &action {
        Ok(Action::DiscardDraft { .. }) => &me.t.done,
        _ => &me.t.saved,
    };
    let result = match action {
        Ok(action) => console.staff.act(&me.actor(), action).await,
        Err(err) => Err(err),
    };
    let result = result.map(|_| words.clone());
    let (status, notice) = match me.notice(result) {
        Ok(x) => x,
        Err(page) => return page,
    };
    let shown = Shown { scope: scope.into(), block: block.into() };
    render(console, me, shown, status, Some(notice)).await.unwrap_or_else(|page| page)
}

fn scope_of(text: &str) -> Result<Scope, StaffError> {
    Scope::parse(text).ok_or_else(|| StaffError::Invalid(format!("{text:?}: brand, region:ID or site:ID")))
}

/// A multipart form's text fields (a repeated one's values joined by
/// commas) and its photos by field name (an empty file is none; the
/// upload's file name is never used).
async fn read_multipart(mut multipart: Multipart) -> Option<(Fields, Vec<(String, Vec<u8>)>)> {
    let (mut fields, mut files) = (Fields::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name().unwrap_or("").to_string();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.ok()?;
            if !bytes.is_empty() {
                files.push((name, bytes.to_vec()));
            }
        } else {
            let text: String = field.text().await.ok()?.chars().take(4000).collect();
            fields.entry(name).and_modify(|v| *v = format!("{v},{text}")).or_insert(text);
        }
    }
    Some((fields, files))
}

/// A multipart post: its fields and photos once its CSRF token is the
/// session's and its nonce is new (a double tap makes one change).
async fn multipart_post(
    console: &Console,
    me: &Staffer<need::Content>,
    multipart: Multipart,
) -> Result<(Fields, Vec<(String, Vec<u8>)>), Response> {
    let Some((fields, files)) = read_multipart(multipart).await else {
        let refused = Err(StaffError::Invalid(me.t.upload_refused.clone()));
        return Err(act(console, me, "", "promotions", refused).await);
    };
    if !crate::staff::same(fields.get("csrf").map_or("", String::as_str), &me.signed.csrf) {
        return Err(super::message(
            me.t,
            Some(me.me()),
            StatusCode::FORBIDDEN,
            &me.t.csrf_title,
            me.t.csrf_body.clone(),
        ));
    }
    Ok((fields, files))
}

/// The photo sent as `name`, checked (decoded under a site's limits) and
/// kept for the brand: its id.
async fn keep_photo(
    console: &Console,
    me: &Staffer<need::Content>,
    files: &mut Vec<(String, Vec<u8>)>,
    name: &str,
) -> Result<Option<String>, StaffError> {
    let Some(bytes) = files.iter().position(|(n, _)| n == name).map(|i| files.swap_remove(i).1) else {
        return Ok(None);
    };
    let refused = || StaffError::Invalid(me.t.upload_refused.clone());
    if bytes.len() > MAX_UPLOAD {
        return Err(refused());
    }
    let checked = bytes.clone();
    let decoded = tokio::task::spawn_blocking(move || guestwifi_core::marketing::reencode(&checked)).await;
    if !matches!(decoded, Ok(Ok(_))) {
        return Err(refused());
    }
    match console.db.add_photo(&me.person().brand, bytes).await {
        Ok(id) => Ok(Some(id)),
        Err(e) => Err(StaffError::Invalid(format!("{e:#}"))),
    }
}

fn field(fields: &Fields, name: &str) -> String {
    fields.get(name).cloned().unwrap_or_default()
}

/// `POST /content/edit/{dishes|promotions|products}` (multipart).
async fn add(
    State(console): State<Arc<Console>>,
    Path(kind): Path<String>,
    me: Staffer<need::Content>,
    multipart: Multipart,
) -> Response {
    let (fields, mut files) = match multipart_post(&console, &me, multipart).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let scope = field(&fields, "scope");
    if !console.first_use(&field(&fields, "once")) {
        let shown = Shown { scope, block: kind };
        return render(&console, &me, shown, StatusCode::OK, Some(me.t.sent_twice.clone())).await.unwrap_or_else(|p| p);
    }
    let action = async {
        let kind = Kind::parse(&kind).ok_or_else(|| StaffError::Invalid(format!("{kind:?} is not a list")))?;
        let image = keep_photo(&console, &me, &mut files, "photo").await?;
        Ok(Action::Edit { scope: scope_of(&scope)?, edit: Edit::Add { kind, fields: fields.clone(), image } })
    }
    .await;
    act(&console, &me, &scope, &kind, action).await
}

/// `POST /content/edit/brand` (multipart): colour, story, member day, logo, background.
async fn brand(State(console): State<Arc<Console>>, me: Staffer<need::Content>, multipart: Multipart) -> Response {
    let (fields, mut files) = match multipart_post(&console, &me, multipart).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let scope = field(&fields, "scope");
    let action = async {
        let logo = keep_photo(&console, &me, &mut files, "logo").await?;
        let background = keep_photo(&console, &me, &mut files, "background").await?;
        Ok(Action::Edit { scope: scope_of(&scope)?, edit: Edit::Brand { fields: fields.clone(), logo, background } })
    }
    .await;
    act(&console, &me, &scope, "brand", action).await
}

/// `POST /content/edit/ad` (multipart): the countdown page's ad.
async fn ad(State(console): State<Arc<Console>>, me: Staffer<need::Content>, multipart: Multipart) -> Response {
    let (fields, mut files) = match multipart_post(&console, &me, multipart).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let scope = field(&fields, "scope");
    let action = async {
        let image = keep_photo(&console, &me, &mut files, "photo").await?;
        Ok(Action::Edit { scope: scope_of(&scope)?, edit: Edit::Ad { fields: fields.clone(), image } })
    }
    .await;
    act(&console, &me, &scope, "ad", action).await
}

#[derive(Deserialize)]
struct ItemForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    landing: String,
    #[serde(default)]
    block: String,
}

impl Csrf for ItemForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /content/edit/landing`.
async fn landing(State(console): State<Arc<Console>>, posted: Posted<need::Content, ItemForm>) -> Response {
    let Posted { staffer: me, form } = posted;
    let action = scope_of(&form.scope)
        .map(|scope| Action::Edit { scope, edit: Edit::Landing { landing: form.landing.clone() } });
    act(&console, &me, &form.scope, "landing", action).await
}

/// `POST /content/edit/{kind}/remove` and `/up`.
async fn item(console: &Console, me: Staffer<need::Content>, form: ItemForm, kind: &str, up: bool) -> Response {
    let action = match (scope_of(&form.scope), Kind::parse(kind)) {
        (Ok(scope), Some(kind)) => {
            let id = form.id.clone();
            Ok(Action::Edit { scope, edit: if up { Edit::Up { kind, id } } else { Edit::Remove { kind, id } } })
        }
        (Err(e), _) => Err(e),
        (_, None) => Err(StaffError::Invalid(format!("{kind:?} is not a list"))),
    };
    act(console, &me, &form.scope, kind, action).await
}

async fn remove(
    State(console): State<Arc<Console>>,
    Path(kind): Path<String>,
    posted: Posted<need::Content, ItemForm>,
) -> Response {
    item(&console, posted.staffer, posted.form, &kind, false).await
}

async fn up(
    State(console): State<Arc<Console>>,
    Path(kind): Path<String>,
    posted: Posted<need::Content, ItemForm>,
) -> Response {
    item(&console, posted.staffer, posted.form, &kind, true).await
}

/// `POST /content/draft/discard`: the scope's block back to what it shows.
async fn discard(State(console): State<Arc<Console>>, posted: Posted<need::Content, ItemForm>) -> Response {
    let Posted { staffer: me, form } = posted;
    let action = scope_of(&form.scope).map(|scope| Action::DiscardDraft { scope, block: form.block.clone() });
    act(&console, &me, &form.scope, &form.block, action).await
}

/// The CSP of the preview: the portal page's own style and photos, framed
/// by the content page only; no script runs in it.
const PREVIEW_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'self'; base-uri 'none'";

/// The scope's content with its drafts, if the person's scope covers it.
async fn scope_content(
    console: &Console,
    me: &Staffer<need::Content>,
    scope: &str,
) -> Result<guestwifi_core::marketing::Content, Response> {
    let person = me.person();
    let Some(scope) = Scope::parse(scope) else { return Err(StatusCode::NOT_FOUND.into_response()) };
    let sites = console.db.sites(Some(&person.brand)).await.map_err(|e| me.failed(&e))?;
    let region_of = |site: &str| sites.iter().find(|s| s.site == site).map(|s| s.region.clone());
    if !person.covers_scope(&scope, region_of) {
        return Err(StatusCode::FORBIDDEN.into_response());
    }
    let (content, _) = crate::drafts::content(&console.db, &person.brand, &scope).await.map_err(|e| me.failed(&e))?;
    Ok(content)
}

/// `GET /content/preview/{scope}`: the login page as a guest's phone at a
/// site of the scope would show the drafts (the content page frames it).
async fn preview(
    State(console): State<Arc<Console>>,
    Path(scope): Path<String>,
    me: Staffer<need::Content>,
) -> Response {
    let content = match scope_content(&console, &me, &scope).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let lang = if me.t.lang == "en" { guestwifi_views::i18n::Lang::En } else { guestwifi_views::i18n::Lang::Zh };
    let name = me.t.scope_name(&Scope::parse(&scope).unwrap_or(Scope::Brand));
    let venue = guestwifi_views::login::Venue {
        name: &name,
        tagline: "",
        offered: guestwifi_views::login::Offered {
            countdown: true,
            sms: true,
            first: "countdown".into(),
            ..Default::default()
        },
        seconds: 15,
        wechat: None,
        consent_version: "",
        fallback_ad: None,
    };
    let now = guestwifi_core::marketing::Now::at(guestwifi_core::kit::time::now_ms(), console.zone);
    let root = format!("/content/preview/{scope}");
    let mut response = match guestwifi_views::login::preview(venue, &content, &now, lang, &root) {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(err) => return me.failed(&err),
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PREVIEW_CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    response
}

async fn preview_css(_me: Staffer<need::Content>) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], guestwifi_views::PORTAL_CSS).into_response()
}

async fn preview_brand(
    State(console): State<Arc<Console>>,
    Path(scope): Path<String>,
    me: Staffer<need::Content>,
) -> Response {
    match scope_content(&console, &me, &scope).await {
        Ok(content) => {
            let css = guestwifi_views::blocks::brand_css(&content, &format!("/content/preview/{scope}"));
            ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], css).into_response()
        }
        Err(page) => page,
    }
}

async fn photo_in_preview(
    State(console): State<Arc<Console>>,
    Path((_scope, id, file)): Path<(String, String, String)>,
    me: Staffer<need::Content>,
) -> Response {
    photo(State(console), Path((id, file)), me).await
}

/// `GET /content/photo/{id}/{width}.jpg`: a photo of the brand's as it was
/// given (each site keeps its own widths); its type from its bytes.
async fn photo(
    State(console): State<Arc<Console>>,
    Path((id, file)): Path<(String, String)>,
    me: Staffer<need::Content>,
) -> Response {
    let width = file.strip_suffix(".jpg").and_then(|w| w.parse::<u32>().ok());
    if width.is_none() || id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match console.db.photo(&me.person().brand, &id).await {
        Ok(Some(bytes)) => {
            let kind = match bytes.first() {
                Some(0xff) => "image/jpeg",
                Some(0x89) => "image/png",
                _ => "image/webp",
            };
            ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "private, max-age=86400")], bytes).into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => me.failed(&e),
    }
}
