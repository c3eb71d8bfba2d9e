//! The marketer's blocks as a guest's page shows them: photos at the width
//! a screen needs, the promotions, dishes and products in the guest's
//! language, the brand's colour and header photo as CSS.

use crate::i18n::Lang;
use guestwifi_core::marketing::{price_text, Content, Now, Promotion, WIDTHS};

/// A photo's URLs: the 640 px one and its `srcset`.
pub struct Photo {
    /// The 640 px JPEG.
    pub src: String,
    /// Every width kept.
    pub srcset: String,
}

impl Photo {
    /// The photo `id` (if any) under `root`.
    pub fn of(root: &str, id: &Option<String>) -> Option<Photo> {
        id.as_ref().map(|id| Photo {
            src: format!("{root}/m/{id}/640.jpg"),
            srcset: WIDTHS.map(|w| format!("{root}/m/{id}/{w}.jpg {w}w")).join(", "),
        })
    }
}

/// A featured dish, a promotion or a product as a page shows it.
pub struct Item {
    /// Its id (what the impression and click events name).
    pub id: String,
    /// Its name in the page's language.
    pub name: String,
    /// Price (dishes, products) or the schedule's dates (promotions).
    pub detail: String,
    /// Its photo.
    pub photo: Option<Photo>,
    /// A product's tags.
    pub tags: Vec<String>,
}

/// The marketer's blocks on the login page.
#[derive(Default)]
pub struct Blocks {
    /// The logo's URL.
    pub logo: Option<String>,
    /// The dishes showing now.
    pub dishes: Vec<Item>,
    /// The promotions showing now.
    pub promotions: Vec<Item>,
    /// Paragraphs of the brand story.
    pub story: Vec<String>,
    /// The menu has products.
    pub menu: bool,
}

/// The text in the page's language: the English one when there is one.
pub fn pick<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::En if !en.is_empty() => en,
        _ => zh,
    }
}

/// A text's paragraphs (split at blank lines).
pub fn paragraphs(text: &str) -> Vec<String> {
    text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
}

impl Blocks {
    /// What `content` shows at `now`, in `lang`, its assets under `root`.
    pub fn of(content: &Content, now: &Now, lang: Lang, root: &str) -> Blocks {
        Blocks {
            logo: content.brand.logo.as_ref().map(|id| format!("{root}/m/{id}/320.jpg")),
            dishes: content
                .dishes_at(now)
                .map(|d| Item {
                    id: d.id.clone(),
                    name: pick(lang, &d.name_zh, &d.name_en).to_string(),
                    detail: price_text(d.price_cents),
                    photo: Photo::of(root, &d.image),
                    tags: Vec::new(),
                })
                .collect(),
            promotions: content.promotions_at(now).map(|p| promotion_item(p, lang, root)).collect(),
            story: paragraphs(pick(lang, &content.brand.story_zh, &content.brand.story_en)),
            menu: !content.products.is_empty(),
        }
    }

    /// The ids of what was shown, for the impression events.
    pub fn shown(items: &[Item]) -> String {
        items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>().join(",")
    }
}

/// A promotion as the list and its page show it.
pub fn promotion_item(p: &Promotion, lang: Lang, root: &str) -> Item {
    let dates = match (&p.schedule.from, &p.schedule.until) {
        (_, Some(until)) => format!("{} {until}", lang.strings().promotion_until),
        _ => String::new(),
    };
    Item {
        id: p.id.clone(),
        name: pick(lang, &p.title_zh, &p.title_en).to_string(),
        detail: dates,
        photo: Photo::of(root, &p.image),
        tags: Vec::new(),
    }
}

/// The CSS of `content`'s brand, its photos under `root`. Only validated
/// values reach it: a colour is `#rrggbb`, a photo id is hex.
pub fn brand_css(content: &Content, root: &str) -> String {
    let brand = &content.brand;
    let mut css = String::new();
    if !brand.colour.is_empty() {
        css.push_str(&format!(":root{{--brand:{}}}\n", brand.colour));
    }
    if let Some(bg) = &brand.background {
        css.push_str(&format!(
            ".brand{{background-image:linear-gradient(rgba(0,0,0,.35),rgba(0,0,0,.35)),url({root}/m/{bg}/640.jpg);\
             background-size:cover;background-position:center}}\n\
             @media (min-width:40rem){{.brand{{background-image:linear-gradient(rgba(0,0,0,.35),rgba(0,0,0,.35)),\
             url({root}/m/{bg}/960.jpg)}}}}\n"
        ));
    }
    css
}
