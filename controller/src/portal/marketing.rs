//! The marketer's blocks as guests see them: the brand's colours and
//! photos, the promotions (list and detail), the menu by category and tag,
//! and the blocks the login page shows; each view counted as an event the
//! member store receives. Everything shown is the published version and
//! only what its schedule allows now, in the site's time zone.

use super::i18n::{Lang, Strings};
use super::render::{accept_language, cookie, html, tagline};
use super::{Peer, Portal};
use crate::marketing::{price_text, Content, Now};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use guestwifi_views::blocks::{paragraphs, pick, promotion_item, Blocks, Item, Photo};
use serde::Deserialize;
use std::sync::Arc;

/// The published content and the site's time now.
pub(super) fn published(portal: &Portal) -> (Arc<Content>, Now) {
    let content = portal.marketing.published();
    (content, now(portal))
}

/// The site's time now.
pub(super) fn now(portal: &Portal) -> Now {
    Now::at(crate::kit::time::now_ms(), crate::kit::time::zone_offset(&portal.config.venue.time_zone))
}

/// `GET /brand.css`: the brand's colour and header photo over the
/// portal's own style. Only validated values reach it: a colour is
/// `#rrggbb`, a photo id is hex.
pub async fn brand_css(State(portal): State<Arc<Portal>>) -> Response {
    let (content, _) = published(&portal);
    css_response(guestwifi_views::blocks::brand_css(&content, ""))
}

pub(crate) fn css_response(css: String) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=60")], css)
        .into_response()
}

#[derive(Template)]
#[template(path = "promotions.html")]
struct PromotionsPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    promotions: Vec<Item>,
}

#[derive(Template)]
#[template(path = "promotion.html")]
struct PromotionPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    title: &'a str,
    body: Vec<String>,
    photo: Option<Photo>,
    until: String,
}

#[derive(Template)]
#[template(path = "menu.html")]
struct MenuPage<'a> {
    t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    asset_root: &'a str,
    venue: &'a str,
    tagline: &'a str,
    venue_url: &'a str,
    /// No category chosen.
    all: bool,
    /// (name, link, chosen).
    categories: Vec<(String, String, bool)>,
    tags: Vec<(String, String, bool)>,
    products: Vec<Item>,
}

/// `?lang=`, and the menu's filters.
#[derive(Deserialize, Default)]
pub struct MarketingQuery {
    lang: Option<String>,
    /// Category.
    #[serde(default)]
    c: String,
    /// Tag.
    #[serde(default)]
    t: String,
}

fn lang_of(headers: &HeaderMap, q: &MarketingQuery) -> Lang {
    Lang::choose(q.lang.as_deref(), cookie(headers, "lang"), accept_language(headers))
}

/// The guest's device, when the kernel knows it (the pages show without).
fn device(portal: &Portal, peer: Peer) -> Option<firewall::Client> {
    portal.neighbours.client(peer.0.ip())
}

/// `GET /promotions`: every promotion showing now.
pub async fn promotions(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Query(q): Query<MarketingQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers, &q);
    let (content, now) = published(&portal);
    let promotions: Vec<Item> = content.promotions_at(&now).map(|p| promotion_item(p, lang, "")).collect();
    if let (Some(client), false) = (device(&portal, peer), promotions.is_empty()) {
        portal.auth.audit.events(client, &[("promotion_impression", &Blocks::shown(&promotions))]).await;
    }
    let t = lang.strings();
    html(
        StatusCode::OK,
        PromotionsPage {
            t,
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(&portal, lang),
            venue_url: &portal.config.venue.info_url,
            promotions,
        }
        .render(),
    )
}

/// `GET /p/{id}`: a promotion's page; opening it is its click. One that
/// is not showing now (ended, another meal time) is a 404 like an unknown one.
pub async fn promotion(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Path(id): Path<String>,
    Query(q): Query<MarketingQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers, &q);
    let (content, now) = published(&portal);
    let Some(p) = content.promotions_at(&now).find(|p| p.id == id) else {
        return super::render::error_page(&portal, &headers, StatusCode::NOT_FOUND, |t| &t.error_not_found);
    };
    if let Some(client) = device(&portal, peer) {
        portal.auth.audit.event("promotion_click", client, &p.id).await;
    }
    let item = promotion_item(p, lang, "");
    html(
        StatusCode::OK,
        PromotionPage {
            t: lang.strings(),
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(&portal, lang),
            venue_url: &portal.config.venue.info_url,
            title: pick(lang, &p.title_zh, &p.title_en),
            body: paragraphs(pick(lang, &p.body_zh, &p.body_en)),
            photo: item.photo,
            until: item.detail,
        }
        .render(),
    )
}

/// `GET /menu?c=category&t=tag`: the products, filtered.
pub async fn menu(
    State(portal): State<Arc<Portal>>,
    Extension(peer): Extension<Peer>,
    Query(q): Query<MarketingQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(&headers, &q);
    let (content, _) = published(&portal);
    let link = |c: &str, t: &str| {
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        if !c.is_empty() {
            url.append_pair("c", c);
        }
        if !t.is_empty() {
            url.append_pair("t", t);
        }
        format!("/menu?{}", url.finish())
    };
    let categories = content.categories().into_iter().map(|c| (c.to_string(), link(c, &q.t), c == q.c)).collect();
    let tags = content
        .tags()
        .into_iter()
        .map(|t| {
            let chosen = t == q.t;
            (t.to_string(), link(&q.c, if chosen { "" } else { t }), chosen)
        })
        .collect();
    let products: Vec<Item> = content
        .products
        .iter()
        .filter(|p| q.c.is_empty() || p.category == q.c)
        .filter(|p| q.t.is_empty() || p.tags.contains(&q.t))
        .map(|p| Item {
            id: p.id.clone(),
            name: pick(lang, &p.name_zh, &p.name_en).to_string(),
            detail: price_text(p.price_cents),
            photo: Photo::of("", &p.image),
            tags: p.tags.clone(),
        })
        .collect();
    if let Some(client) = device(&portal, peer) {
        let filter: String = format!("{}|{}", q.c, q.t).chars().take(60).collect();
        portal.auth.audit.events(client, &[("menu_view", &filter)]).await;
    }
    html(
        StatusCode::OK,
        MenuPage {
            t: lang.strings(),
            asset_root: "",
            venue: &portal.config.venue.name,
            tagline: tagline(&portal, lang),
            venue_url: &portal.config.venue.info_url,
            all: q.c.is_empty(),
            categories,
            tags,
            products,
        }
        .render(),
    )
}

/// A photo as an HTTP response, by its URL's id and file (`640.jpg`):
/// the portal's `/m/…` and the console's preview.
pub async fn photo_response(marketing: &crate::marketing::Marketing, id: &str, file: &str) -> axum::response::Response {
    let width = file.strip_suffix(".jpg").and_then(|w| w.parse::<u32>().ok());
    let (Some(width), true) = (width, id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())) else {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    };
    match marketing.image(id, width).await {
        Ok(Some(bytes)) => (
            [
                (axum::http::header::CONTENT_TYPE, "image/jpeg"),
                (axum::http::header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => axum::http::StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            tracing::error!(error = %crate::error_chain(&err), "marketing photo not read");
            axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
