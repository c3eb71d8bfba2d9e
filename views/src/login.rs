//! The login page: every way in the restaurant offers (its first one
//! first), the countdown's ad, the marketer's blocks; and the same page as
//! a marketer's phone preview, from a draft, with nothing counted.

use crate::blocks::Blocks;
use crate::i18n::{Lang, Strings};
use askama::Template;
use guestwifi_core::marketing::{Content, Now};

/// The login page.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// The page's strings.
    pub t: &'a Strings,
    /// Where the page's CSS is: empty for the portal, the editor preview's root there.
    pub asset_root: &'a str,
    /// The restaurant's name.
    pub venue: &'a str,
    /// Its tagline in the page's language.
    pub tagline: &'a str,
    /// Its own site's address (the footer's link), or empty.
    pub venue_url: &'a str,
    /// The countdown's ticket, when the countdown is offered.
    pub ticket: Option<String>,
    /// The countdown's length.
    pub seconds: u64,
    /// The countdown logs in by itself when it ends.
    pub auto_login: bool,
    /// The countdown's ad.
    pub ad: Option<AdView>,
    /// The consent text's version the forms carry.
    pub consent_version: &'a str,
    /// A member this device logged in as before (masked).
    pub member_return: Option<String>,
    /// The marketer's blocks: brand, dishes, promotions, story, menu.
    pub blocks: Blocks,
    /// The keyword to send to the WeChat account, when WeChat is on.
    pub wechat: Option<String>,
    /// QQ and Weibo buttons: (path segment, label).
    pub oauth: Vec<(&'static str, &'a str)>,
    /// The device's form token (every form).
    pub token: String,
    /// Where the guest first asked to go, carried by every login form.
    pub then: Option<Then>,
    /// The ways to log in offered, the site's first one first (its own big
    /// card; the others in a compact list): (way, name, the card's id).
    pub ways: Vec<(&'static str, &'a str, &'static str)>,
    /// Why this device's last session ended, when the guest should be told
    /// (its data allowance was used up).
    pub ended: Option<String>,
}

impl LoginPage<'_> {
    /// Whether the page's way `m` is `way` (the template's macro asks).
    fn way_is(&self, m: &str, way: &str) -> bool {
        m == way
    }
}

/// A URL the portal signed for this device, and its signature.
pub struct Then {
    /// The URL.
    pub url: String,
    /// Its signature.
    pub sig: String,
}

/// The countdown page's ad as shown.
pub struct AdView {
    /// Its photo's URL, or empty.
    pub image: String,
    /// Its line in the page's language.
    pub text: String,
}

impl AdView {
    /// The marketer's ad in `content`, when its schedule shows it at `now`.
    pub fn of(content: &Content, now: &Now, lang: Lang, root: &str) -> Option<AdView> {
        content.ad_at(now).map(|ad| AdView {
            image: ad.image.as_ref().map(|id| format!("{root}/m/{id}/640.jpg")).unwrap_or_default(),
            text: crate::blocks::pick(lang, &ad.text_zh, &ad.text_en).to_string(),
        })
    }
}

/// The ways to log in a site offers, and the one it lists first.
#[derive(Clone, Debug, Default)]
pub struct Offered {
    /// Countdown.
    pub countdown: bool,
    /// SMS code.
    pub sms: bool,
    /// WeChat official account.
    pub wechat: bool,
    /// QQ or Weibo.
    pub oauth: bool,
    /// Voucher card.
    pub voucher: bool,
    /// Front-desk ID account.
    pub account: bool,
    /// Membership card.
    pub card: bool,
    /// The counter's rotating QR.
    pub counter_qr: bool,
    /// The way listed first (`qq` and `weibo` are `oauth`).
    pub first: String,
}

/// Every way to log in, in the order the page lists them when the site
/// chose none first: (way, its card's id).
const WAYS: [(&str, &str); 8] = [
    ("countdown", "countdown-card"),
    ("sms", "sms-card"),
    ("wechat", "wechat-card"),
    ("oauth", "oauth-card"),
    ("voucher", "voucher-card"),
    ("account", "account-card"),
    ("card", "card-card"),
    ("counter_qr", "counter-card"),
];

impl Offered {
    /// The ways offered, the first one first: (way, its name, its card's id).
    pub fn ways<'a>(&self, t: &'a Strings) -> Vec<(&'static str, &'a str, &'static str)> {
        let offered = |way: &str| match way {
            "countdown" => self.countdown,
            "sms" => self.sms,
            "wechat" => self.wechat,
            "oauth" => self.oauth,
            "voucher" => self.voucher,
            "account" => self.account,
            "card" => self.card,
            _ => self.counter_qr,
        };
        let name = |way: &str| -> &'a str {
            match way {
                "countdown" => &t.connect_title,
                "sms" => &t.sms_title,
                "wechat" => &t.wechat_title,
                "oauth" => &t.oauth_title,
                "voucher" => &t.voucher_title,
                "account" => &t.account_title,
                "card" => &t.card_title,
                _ => &t.counter_hint_title,
            }
        };
        let first = match self.first.as_str() {
            "qq" | "weibo" => "oauth",
            other => other,
        };
        let mut ways: Vec<(&'static str, &'a str, &'static str)> =
            WAYS.iter().filter(|(w, _)| offered(w)).map(|(w, id)| (*w, name(w), *id)).collect();
        if let Some(at) = ways.iter().position(|(w, _, _)| *w == first) {
            let chosen = ways.remove(at);
            ways.insert(0, chosen);
        }
        ways
    }
}

/// What a phone preview shows of the site around the marketer's content.
pub struct Venue<'a> {
    /// The name in the header.
    pub name: &'a str,
    /// The tagline in the preview's language.
    pub tagline: &'a str,
    /// The ways in offered.
    pub offered: Offered,
    /// The countdown's length.
    pub seconds: u64,
    /// The WeChat keyword, when WeChat is on.
    pub wechat: Option<String>,
    /// The consent text's version.
    pub consent_version: &'a str,
    /// The countdown's ad when the content has none showing (the site's configured one).
    pub fallback_ad: Option<AdView>,
}

/// The login page as `content` would show it at `venue`, for a console's
/// phone preview: no ticket, no device, nothing counted; its assets
/// (stylesheet, brand CSS, photos) under `root`.
pub fn preview(venue: Venue<'_>, content: &Content, now: &Now, lang: Lang, root: &str) -> askama::Result<String> {
    let t = lang.strings();
    let ad = match venue.offered.countdown {
        true => AdView::of(content, now, lang, root).or(venue.fallback_ad),
        false => None,
    };
    LoginPage {
        t,
        asset_root: root,
        venue: venue.name,
        tagline: venue.tagline,
        venue_url: "",
        ticket: venue.offered.countdown.then(String::new),
        seconds: venue.seconds,
        auto_login: false,
        ad,
        consent_version: venue.consent_version,
        member_return: None,
        ended: None,
        blocks: Blocks::of(content, now, lang, root),
        wechat: venue.wechat,
        oauth: Vec::new(),
        token: String::new(),
        then: None,
        ways: venue.offered.ways(t),
    }
    .render()
}
