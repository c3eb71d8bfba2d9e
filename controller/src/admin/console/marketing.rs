//! The marketer's editor: the brand, promotions, featured dishes, the menu,
//! the countdown ad and the landing, one block open at a time beside the
//! phone preview, each change to a draft; publish makes it a version guests
//! see, rollback brings an earlier one back. A block headquarters manages
//! shows as such, read only (the one door refuses a local change to it).
//! Every change is in the staff audit log with its before and after.

use super::{csrf_forms, csrf_ok, csrf_refused, failed, me, need, page, Console, Me, Member, Posted, Strings};
use crate::control::{ErrorKind, MarketingChange, Reply, Request};
use crate::marketing::Fields;
use crate::portal::i18n::Lang;
use crate::staff::Signed;
use askama::Template;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// Where the phone preview's page and its assets live.
const PREVIEW: &str = "/console/marketing/preview";

/// The editor's routes.
pub(super) fn routes() -> Router<Arc<Console>> {
    let upload = || axum::extract::DefaultBodyLimit::max(crate::marketing::MAX_UPLOAD * 2 + 64 * 1024);
    Router::new()
        .route("/console/marketing", get(editor))
        .route("/console/marketing/brand", post(brand).layer(upload()))
        .route("/console/marketing/ad", post(ad).layer(upload()))
        .route("/console/marketing/landing", post(landing))
        .route("/console/marketing/own", post(keep_own))
        .route("/console/marketing/publish", post(publish))
        .route("/console/marketing/rollback", post(rollback))
        .route("/console/marketing/{kind}", post(add).layer(upload()))
        .route("/console/marketing/{kind}/remove", post(remove))
        .route("/console/marketing/{kind}/up", post(up))
        .route(PREVIEW, get(preview))
        .route("/console/marketing/preview/static/portal.css", get(preview_css))
        .route("/console/marketing/preview/brand.css", get(preview_brand))
        .route("/console/marketing/preview/m/{id}/{file}", get(media))
        .route("/console/media/{id}/{file}", get(media))
}

/// The editor's tabs: the shared editor's blocks, then `versions` (the
/// published versions and rollback).
const BLOCKS: [&str; 7] = {
    let b = guestwifi_views::editor::BLOCKS;
    [b[0], b[1], b[2], b[3], b[4], b[5], "versions"]
};

/// A tab of the editor.
struct Tab {
    block: &'static str,
    label: String,
    /// Headquarters manages it.
    managed: bool,
    /// The draft's differs from what guests see.
    changed: bool,
}

/// Which block is open (`?block=`).
#[derive(Deserialize, Default)]
struct Open {
    #[serde(default)]
    block: String,
}

/// The block to open: a known one, else the promotions.
fn open_block(asked: &str) -> &'static str {
    BLOCKS.into_iter().find(|b| *b == asked).unwrap_or("promotions")
}

#[derive(Template)]
#[template(path = "console/marketing.html")]
struct EditorPage<'a> {
    t: &'a Strings,
    me: Option<Me>,
    notice: Option<String>,
    csrf: String,
    /// The nonce of the forms that make something (a double tap makes one).
    once: String,
    /// The open block's editor (the one both consoles share).
    editor: String,
    /// The draft differs from what guests see.
    unpublished: bool,
    versions: Vec<(crate::marketing::Version, String)>,
    /// The block open, and every tab.
    open: &'static str,
    tabs: Vec<Tab>,
    /// The open block is headquarters': what it holds, as the guests see it.
    managed: Option<Vec<String>>,
    /// Headquarters lets the site replace the open block: whether it does now.
    offered: Option<bool>,
}

async fn editor(
    who: Member<need::Marketing>,
    State(console): State<Arc<Console>>,
    Query(open): Query<Open>,
) -> Response {
    let open = open_block(&open.block);
    who.keep_lang(editor_page(&console, who.t, &who.signed, None, StatusCode::OK, open).await)
}

async fn editor_page(
    console: &Console,
    t: &Strings,
    signed: &Signed,
    notice: Option<String>,
    status: StatusCode,
    open: &'static str,
) -> Response {
    let m = console.marketing();
    let offer = m.managed();
    let hq = offer.in_force();
    let (draft, versions) = match (m.draft().await, m.versions().await) {
        (Ok(d), Ok(v)) => (d, v),
        (Err(e), _) | (_, Err(e)) => return failed(t, Some(signed), &e),
    };
    let own = m.own();
    let unpublished = *own != draft;
    let label = |b: &str| match b {
        "brand" => &t.brand_title,
        "promotions" => &t.promotions_title,
        "dishes" => &t.dishes_draft,
        "products" => &t.products_title,
        "ad" => &t.ad_title,
        "landing" => &t.landing_title,
        _ => &t.versions,
    };
    let differs = |b: &str| match b {
        "brand" => draft.brand != own.brand,
        "promotions" => draft.promotions != own.promotions,
        "dishes" => draft.dishes != own.dishes,
        "products" => draft.products != own.products,
        "ad" => draft.ad != own.ad,
        "landing" => draft.landing != own.landing,
        _ => false,
    };
    let tabs = BLOCKS
        .into_iter()
        .map(|b| Tab { block: b, label: label(b).clone(), managed: hq.contains_key(b), changed: differs(b) })
        .collect();
    let managed = hq.get(open).map(|v| guestwifi_views::editor::lines(v, &t.none));
    let offered =
        (offer.blocks.contains_key(open) && offer.overridable.contains(open)).then(|| offer.own.contains(open));
    let versions = versions.into_iter().map(|v| (t.ago(v.published_at), v)).map(|(when, v)| (v, when)).collect();
    let once = Console::once();
    let target = guestwifi_views::editor::Target {
        action: "/console/marketing",
        hidden: vec![("csrf", signed.csrf.clone())],
        once: &once,
        media: "/console/media",
    };
    let editor = guestwifi_views::editor::Editor::new(&t.lang, open, &draft, target).html();
    page(
        status,
        EditorPage {
            t,
            me: Some(me(signed)),
            notice,
            csrf: signed.csrf.clone(),
            once,
            editor,
            unpublished,
            versions,
            open,
            tabs,
            managed,
            offered,
        }
        .render(),
    )
}

/// A change's outcome: the editor again, with what happened (a refusal's
/// status from the one map).
async fn done(
    console: &Console,
    who: &Member<need::Marketing>,
    reply: Reply,
    words: &str,
    open: &'static str,
) -> Response {
    let t = who.t;
    let (notice, status) = match reply {
        Reply::Changed { what } => (format!("{words}: {what}"), StatusCode::OK),
        Reply::Published { version } => (format!("{}{version}", t.published), StatusCode::OK),
        Reply::Done => (t.saved.clone(), StatusCode::OK),
        Reply::Error { kind: kind @ (ErrorKind::Unsupported | ErrorKind::TooLarge), .. } => {
            (t.upload_refused.clone(), crate::admin::api::status(kind))
        }
        Reply::Error { kind: ErrorKind::Invalid, message } => {
            (format!("{}{message}", t.bad_input), StatusCode::BAD_REQUEST)
        }
        Reply::Error { kind: ErrorKind::NotFound, .. } => (t.none.clone(), StatusCode::NOT_FOUND),
        Reply::Error { kind: ErrorKind::Conflict, .. } => (t.managed_by_hq.clone(), StatusCode::CONFLICT),
        other => return who.refused(other).into_response(),
    };
    editor_page(console, t, &who.signed, Some(notice), status, open).await
}

/// A multipart form's text fields (a repeated one's values joined by
/// commas) and its photos (by field name; an empty file is none). The
/// upload's file name is never used: a photo gets the id of its bytes.
async fn read_multipart(mut multipart: Multipart) -> Result<(Fields, Vec<(String, Vec<u8>)>), ()> {
    let (mut fields, mut files) = (Fields::new(), Vec::new());
    while let Some(field) = multipart.next_field().await.map_err(|_| ())? {
        let name = field.name().unwrap_or("").to_string();
        if field.file_name().is_some() {
            let bytes = field.bytes().await.map_err(|_| ())?;
            if !bytes.is_empty() {
                files.push((name, bytes.to_vec()));
            }
        } else {
            let text = field.text().await.map_err(|_| ())?;
            let text: String = text.chars().take(4000).collect();
            fields.entry(name).and_modify(|v| *v = format!("{v},{text}")).or_insert(text);
        }
    }
    Ok((fields, files))
}

/// The checks a multipart form shares: its CSRF token, before anything it
/// carries is stored (the role is the extractor's).
async fn multipart_form(
    console: &Console,
    who: &Member<need::Marketing>,
    multipart: Multipart,
) -> Result<(Fields, Vec<(String, Vec<u8>)>), Response> {
    let Ok((fields, files)) = read_multipart(multipart).await else {
        let too_large = Reply::Error { kind: ErrorKind::TooLarge, message: String::new() };
        return Err(done(console, who, too_large, "", "promotions").await);
    };
    if !csrf_ok(&who.signed, fields.get("csrf").map_or("", String::as_str)) {
        return Err(csrf_refused(who.t, Some(&who.signed)));
    }
    Ok((fields, files))
}

/// The photo sent as `name`, if one was.
fn photo(files: &mut Vec<(String, Vec<u8>)>, name: &str) -> Option<Vec<u8>> {
    files.iter().position(|(n, _)| n == name).map(|i| files.swap_remove(i).1)
}

/// `change` through the one door, the editor again after it, with the
/// block it changed open (`open` for publish and rollback).
async fn change(
    console: &Console,
    who: &Member<need::Marketing>,
    change: MarketingChange,
    words: &str,
    open: &str,
) -> Response {
    let open = open_block(change.block().unwrap_or(open));
    let reply = console.ask(who, Request::Marketing { change }).await;
    if let Reply::Error { message, .. } = &reply {
        tracing::warn!(user = %who.signed.username, error = %message, "marketing change refused");
    }
    done(console, who, reply, words, open).await
}

/// `POST /console/marketing/{dishes|promotions|products}` (multipart).
async fn add(
    State(console): State<Arc<Console>>,
    Path(kind): Path<String>,
    who: Member<need::Marketing>,
    multipart: Multipart,
) -> Response {
    let (fields, mut files) = match multipart_form(&console, &who, multipart).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !console.first_use(fields.get("once").map_or("", String::as_str)) {
        let open = open_block(&kind);
        return editor_page(&console, who.t, &who.signed, Some(who.t.sent_twice.clone()), StatusCode::OK, open).await;
    }
    let photo = photo(&mut files, "photo");
    change(&console, &who, MarketingChange::Add { kind, fields, photo }, &who.t.added, "").await
}

/// `POST /console/marketing/brand` (multipart): colour, story, member day,
/// logo and background photos.
async fn brand(State(console): State<Arc<Console>>, who: Member<need::Marketing>, multipart: Multipart) -> Response {
    let (fields, mut files) = match multipart_form(&console, &who, multipart).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (logo, background) = (photo(&mut files, "logo"), photo(&mut files, "background"));
    change(&console, &who, MarketingChange::Brand { fields, logo, background }, &who.t.saved, "").await
}

/// `POST /console/marketing/ad` (multipart): the countdown page's ad.
async fn ad(State(console): State<Arc<Console>>, who: Member<need::Marketing>, multipart: Multipart) -> Response {
    let (fields, mut files) = match multipart_form(&console, &who, multipart).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let photo = photo(&mut files, "photo");
    change(&console, &who, MarketingChange::Ad { fields, photo }, &who.t.saved, "").await
}

csrf_forms!(IdForm);

#[derive(Deserialize)]
struct IdForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    landing: String,
    #[serde(default)]
    once: String,
    /// The block open when the form was sent (publish, rollback).
    #[serde(default)]
    block: String,
    /// `1`: the site's own block instead of headquarters' (where it may).
    #[serde(default)]
    own: String,
}

async fn landing(
    State(console): State<Arc<Console>>,
    Posted { member: who, form }: Posted<need::Marketing, IdForm>,
) -> Response {
    change(&console, &who, MarketingChange::Landing { landing: form.landing }, &who.t.saved, "").await
}

/// A block headquarters lets the site replace: the site's own, or HQ's again.
async fn keep_own(
    State(console): State<Arc<Console>>,
    Posted { member: who, form }: Posted<need::Marketing, IdForm>,
) -> Response {
    let open = open_block(&form.block);
    let change = MarketingChange::KeepOwn { block: open.to_string(), own: form.own == "1" };
    let reply = console.ask(&who, Request::Marketing { change }).await;
    done(&console, &who, reply, &who.t.saved, open).await
}

async fn remove(
    State(console): State<Arc<Console>>,
    Path(kind): Path<String>,
    Posted { member: who, form }: Posted<need::Marketing, IdForm>,
) -> Response {
    change(&console, &who, MarketingChange::Remove { kind, id: form.id }, &who.t.remove, "").await
}

async fn up(
    State(console): State<Arc<Console>>,
    Path(kind): Path<String>,
    Posted { member: who, form }: Posted<need::Marketing, IdForm>,
) -> Response {
    change(&console, &who, MarketingChange::Up { kind, id: form.id }, "↑", "").await
}

async fn publish(
    State(console): State<Arc<Console>>,
    Posted { member: who, form }: Posted<need::Marketing, IdForm>,
) -> Response {
    let open = open_block(&form.block);
    if !console.first_use(&form.once) {
        return editor_page(&console, who.t, &who.signed, Some(who.t.sent_twice.clone()), StatusCode::OK, open).await;
    }
    change(&console, &who, MarketingChange::Publish, "", open).await
}

async fn rollback(
    State(console): State<Arc<Console>>,
    Posted { member: who, form }: Posted<need::Marketing, IdForm>,
) -> Response {
    let Ok(version) = form.version.trim().parse::<i64>() else {
        let none = Some(who.t.none.clone());
        return editor_page(&console, who.t, &who.signed, none, StatusCode::NOT_FOUND, "versions").await;
    };
    change(&console, &who, MarketingChange::Rollback { version }, "", "versions").await
}

/// The CSP of the preview: the portal page's own style and photos, framed
/// by the editor only; no script runs in it.
const PREVIEW_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'self'; base-uri 'none'";

/// `GET /console/marketing/preview`: the draft as a guest's phone shows
/// the login page (the editor frames it at a phone's width).
async fn preview(who: Member<need::Marketing>, State(console): State<Arc<Console>>) -> Response {
    let t = who.t;
    let (m, Some(portal)) = (console.marketing(), &console.portal) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let draft = match m.draft().await {
        Ok(d) => d,
        Err(err) => return failed(t, None, &err),
    };
    let lang = if t.lang == "en" { Lang::En } else { Lang::Zh };
    let mut response = crate::portal::pages::preview(portal, &draft, lang, PREVIEW);
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PREVIEW_CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    response
}

async fn preview_css(_who: Member<need::Marketing>) -> Response {
    crate::portal::pages::css().await
}

async fn preview_brand(who: Member<need::Marketing>, State(console): State<Arc<Console>>) -> Response {
    let t = who.t;
    match console.marketing().draft().await {
        Ok(draft) => crate::portal::marketing::css_response(guestwifi_views::blocks::brand_css(&draft, PREVIEW)),
        Err(err) => failed(t, None, &err),
    }
}

/// A photo, for staff (the editor's thumbnails and the preview).
async fn media(
    _who: Member<need::Everyone>,
    State(console): State<Arc<Console>>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    crate::portal::marketing::photo_response(console.marketing(), &id, &file).await
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;

    #[tokio::test]
    async fn a_marketer_adds_a_dish_with_a_photo_publishes_and_rolls_back_and_a_forged_upload_is_refused() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        h.open_user(&admin, "mkt", "marketer").await;
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
        h.open_user(&admin, "desk", "frontdesk").await;
        let desk = h.login("desk", "a long password").await;
        assert_eq!(h.send("GET", "/console/marketing", &[], &[&desk]).await.status, StatusCode::FORBIDDEN);
        let log = h.send("GET", "/console/audit?q=marketing", &[], &[&admin]).await;
        assert!(log.body.contains("marketing.publish") && log.body.contains("marketing.rollback"));
    }

    #[tokio::test]
    async fn where_headquarters_allows_it_the_site_shows_its_own_block_and_can_go_back() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let promotions = serde_json::json!([{
            "id": "hq-1", "title_zh": "全国会员日", "title_en": "Members' day", "body_zh": "", "body_en": "", "image": null
        }]);
        let blocks: std::collections::BTreeMap<String, serde_json::Value> =
            [("promotions".to_string(), promotions)].into();
        h.marketing.apply_managed("v-hq", blocks.clone(), ["promotions".to_string()].into()).await.unwrap();
        let page = h.send("GET", "/console/marketing?block=promotions", &[], &[&admin]).await;
        assert!(page.body.contains("id=\"own-form\"") && page.body.contains("id=\"managed\""), "{}", page.body);
        let csrf = page.field("csrf");

        // The site takes its own: the editor opens, a local promotion is taken and shown once published.
        let own = [("csrf", csrf.as_str()), ("block", "promotions"), ("own", "1")];
        let taken = h.send("POST", "/console/marketing/own", &own, &[&admin]).await;
        assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
        assert!(taken.body.contains("id=\"promotion-form\"") && !taken.body.contains("id=\"managed\""));
        let local = [("csrf", csrf.as_str()), ("title_zh", "本店特价")];
        assert_eq!(h.upload("/console/marketing/promotions", &local, None, &admin).await.status, StatusCode::OK);
        h.marketing.publish("owner").await.unwrap();
        let shown = h.marketing.published();
        assert_eq!(shown.promotions.iter().map(|p| p.title_zh.as_str()).collect::<Vec<_>>(), ["本店特价"]);
        // A new bundle keeps the site's choice.
        h.marketing.apply_managed("v-hq2", blocks.clone(), ["promotions".to_string()].into()).await.unwrap();
        assert_eq!(h.marketing.published().promotions[0].title_zh, "本店特价");

        // Headquarters stops allowing it: its block is back, whatever the site chose.
        h.marketing.apply_managed("v-hq3", blocks.clone(), Default::default()).await.unwrap();
        assert_eq!(h.marketing.published().promotions[0].title_zh, "全国会员日");
        h.marketing.apply_managed("v-hq4", blocks, ["promotions".to_string()].into()).await.unwrap();
        let back = [("csrf", csrf.as_str()), ("block", "promotions")];
        assert_eq!(h.send("POST", "/console/marketing/own", &back, &[&admin]).await.status, StatusCode::OK);
        assert_eq!(h.marketing.published().promotions[0].title_zh, "全国会员日", "headquarters' again");
        let log = h.send("GET", "/console/audit?q=marketing", &[], &[&admin]).await;
        assert!(log.body.contains("marketing.promotion.source"), "the choice is audited");
        // Where HQ does not allow it, the door refuses.
        let dishes = [("csrf", csrf.as_str()), ("block", "dishes"), ("own", "1")];
        assert_eq!(h.send("POST", "/console/marketing/own", &dishes, &[&admin]).await.status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn a_block_headquarters_manages_shows_read_only_and_a_local_change_to_it_is_refused() {
        let h = harness().await;
        h.setup().await;
        let admin = h.login("owner", "owner password 1").await;
        let promotions = serde_json::json!([{
            "id": "hq-1", "title_zh": "全国会员日", "title_en": "Members' day", "body_zh": "", "body_en": "", "image": null
        }]);
        h.marketing
            .apply_managed("v-hq", [("promotions".to_string(), promotions)].into(), Default::default())
            .await
            .unwrap();

        let page = h.send("GET", "/console/marketing?block=promotions", &[], &[&admin]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("id=\"managed\"") && page.body.contains("全国会员日"), "{}", page.body);
        assert!(!page.body.contains("id=\"promotion-form\""), "no form for a managed block");
        assert!(!page.body.contains("id=\"unpublished\""), "HQ's blocks are no unpublished draft");
        let csrf = page.field("csrf");
        let local = [("csrf", csrf.as_str()), ("title_zh", "本店特价")];
        let refused = h.upload("/console/marketing/promotions", &local, None, &admin).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert!(refused.body.contains("总部管理"));
        assert!(h.marketing.draft().await.unwrap().promotions.is_empty(), "nothing changed");

        // The other blocks stay the site's, one open at a time.
        let dishes = h.send("GET", "/console/marketing?block=dishes", &[], &[&admin]).await;
        assert!(dishes.body.contains("id=\"dish-form\"") && !dishes.body.contains("id=\"brand-form\""));
        assert!(dishes.body.contains("id=\"tab-promotions\"") && dishes.body.contains("class=\"badge\""));
        let dish = [("csrf", csrf.as_str()), ("name_zh", "红烧肉"), ("price", "58")];
        let added = h.upload("/console/marketing/dishes", &dish, None, &admin).await;
        assert_eq!(added.status, StatusCode::OK);
        assert!(added.body.contains("id=\"dish-form\""), "the block changed stays open");
        assert!(added.body.contains("id=\"unpublished\""));
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
}
