//! The marketer's block editor: one block open at a time, its items with
//! their photo, schedule, order and removal, and the form that adds one
//! (or the block's own form: brand, ad, landing). A site's console and
//! headquarters' console render this same view; their posts both become a
//! `guestwifi_core::marketing::Edit`.

use askama::Template;
use guestwifi_core::marketing::{price_text, Content, Landing, Meal};
use serde::Deserialize;
use std::sync::LazyLock;

/// The editor's words (`console-templates/i18n/editor.*.toml`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Words {
    pub lang: String,
    pub none: String,
    pub remove: String,
    pub save: String,
    pub member_day: String,
    pub schedule_title: String,
    pub schedule_from: String,
    pub schedule_until: String,
    pub schedule_meals: String,
    pub schedule_member_day: String,
    pub schedule_always: String,
    pub brand_colour: String,
    pub brand_logo: String,
    pub clear_photo: String,
    pub brand_background: String,
    pub brand_story: String,
    pub promotion_title: String,
    pub promotion_body: String,
    pub promotion_add: String,
    pub dish_name: String,
    pub dish_price: String,
    pub dish_photo: String,
    pub dish_add: String,
    pub product_category: String,
    pub product_tags: String,
    pub product_add: String,
    pub ad_hint: String,
    pub ad_text: String,
    pub ad_opens: String,
    pub meal_breakfast: String,
    pub meal_lunch: String,
    pub meal_tea: String,
    pub meal_dinner: String,
    pub meal_late: String,
    pub sunday: String,
    pub monday: String,
    pub tuesday: String,
    pub wednesday: String,
    pub thursday: String,
    pub friday: String,
    pub saturday: String,
    pub landing_original: String,
    pub landing_promotions: String,
    pub landing_venue: String,
}

static ZH: LazyLock<Words> = LazyLock::new(|| {
    toml::from_str(include_str!("../../console-templates/i18n/editor.zh-CN.toml")).expect("zh-CN editor words")
});
static EN: LazyLock<Words> = LazyLock::new(|| {
    toml::from_str(include_str!("../../console-templates/i18n/editor.en.toml")).expect("en editor words")
});

impl Words {
    /// The words of a console page in `lang` (`en`, else Chinese).
    pub fn of(lang: &str) -> &'static Words {
        match lang {
            "en" => &EN,
            _ => &ZH,
        }
    }
}

/// The blocks the editor opens one at a time, in the order of its tabs.
pub const BLOCKS: [&str; 6] = ["brand", "promotions", "dishes", "products", "ad", "landing"];

/// A dish, promotion or product of the draft as the editor lists it.
pub struct DraftItem {
    /// Its id.
    pub id: String,
    /// Its Chinese name.
    pub title: String,
    /// Its English name, price, category.
    pub detail: String,
    /// Its photo's id.
    pub image: Option<String>,
    /// When it shows (empty: always).
    pub schedule: String,
}

/// Where the editor's forms post and what they carry.
pub struct Target<'a> {
    /// The forms post to `{action}/dishes`, `{action}/brand`, ...
    pub action: &'a str,
    /// Hidden fields every form carries (the CSRF token; at HQ the scope).
    pub hidden: Vec<(&'static str, String)>,
    /// The one-time token of the forms that make something.
    pub once: &'a str,
    /// Thumbnails are at `{media}/{id}/320.jpg`.
    pub media: &'a str,
}

/// The editor of one block.
#[derive(Template)]
#[template(path = "editor/block.html")]
pub struct Editor<'a> {
    w: &'static Words,
    open: &'a str,
    draft: &'a Content,
    action: &'a str,
    hidden: Vec<(&'static str, String)>,
    once: &'a str,
    media: &'a str,
    /// (value, label, chosen) for the member day's select.
    days: Vec<(String, &'static str, bool)>,
    /// (value, label) of each meal time.
    meals: Vec<(&'static str, &'static str)>,
    /// (value, label, chosen) for the landing.
    landings: Vec<(&'static str, &'static str, bool)>,
    dishes: Vec<DraftItem>,
    promotions: Vec<DraftItem>,
    products: Vec<DraftItem>,
}

impl<'a> Editor<'a> {
    /// The editor of block `open` of `draft`, in `lang`, its forms posting to `target`.
    pub fn new(lang: &str, open: &'a str, draft: &'a Content, target: Target<'a>) -> Editor<'a> {
        let w = Words::of(lang);
        let dishes = draft
            .dishes
            .iter()
            .map(|d| DraftItem {
                id: d.id.clone(),
                title: d.name_zh.clone(),
                detail: format!("{} · ¥{}", d.name_en, price_text(d.price_cents)),
                image: d.image.clone(),
                schedule: d.schedule.describe(),
            })
            .collect();
        let promotions = draft
            .promotions
            .iter()
            .map(|p| DraftItem {
                id: p.id.clone(),
                title: p.title_zh.clone(),
                detail: p.title_en.clone(),
                image: p.image.clone(),
                schedule: p.schedule.describe(),
            })
            .collect();
        let products = draft
            .products
            .iter()
            .map(|p| DraftItem {
                id: p.id.clone(),
                title: p.name_zh.clone(),
                detail: format!(
                    "{} · ¥{} · {} · {}",
                    p.name_en,
                    price_text(p.price_cents),
                    p.category,
                    p.tags.join(", ")
                ),
                image: p.image.clone(),
                schedule: String::new(),
            })
            .collect();
        let day_names = [&w.sunday, &w.monday, &w.tuesday, &w.wednesday, &w.thursday, &w.friday, &w.saturday];
        let mut days = vec![(String::new(), w.none.as_str(), draft.brand.member_day.is_none())];
        days.extend(
            day_names
                .iter()
                .enumerate()
                .map(|(i, name)| (i.to_string(), name.as_str(), draft.brand.member_day == Some(i as u8))),
        );
        let meal_names = [&w.meal_breakfast, &w.meal_lunch, &w.meal_tea, &w.meal_dinner, &w.meal_late];
        let meals = Meal::ALL.iter().zip(meal_names).map(|(m, name)| (m.name(), name.as_str())).collect();
        let landings = [
            (Landing::Original, &w.landing_original),
            (Landing::Promotions, &w.landing_promotions),
            (Landing::Venue, &w.landing_venue),
        ]
        .into_iter()
        .map(|(l, name)| (l.name(), name.as_str(), l == draft.landing))
        .collect();
        Editor {
            w,
            open,
            draft,
            action: target.action,
            hidden: target.hidden,
            once: target.once,
            media: target.media,
            days,
            meals,
            landings,
            dishes,
            promotions,
            products,
        }
    }

    /// The editor's HTML (a fragment the console's page places).
    pub fn html(&self) -> String {
        self.render().unwrap_or_else(|e| format!("<p class=\"notice\">{e}</p>"))
    }
}

/// What a block holds, a line an item (titles, names, the story, the ad's
/// text): how a console shows a block it cannot edit there.
pub fn lines(value: &serde_json::Value, none: &str) -> Vec<String> {
    let line = |v: &serde_json::Value| {
        ["title_zh", "name_zh", "story_zh", "text_zh"]
            .iter()
            .find_map(|k| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty()).map(str::to_string))
    };
    match value {
        serde_json::Value::Array(items) => items.iter().filter_map(line).collect(),
        serde_json::Value::Null => vec![none.to_string()],
        serde_json::Value::String(s) => vec![s.clone()],
        other => line(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_load_and_the_forms_post_where_the_console_says() {
        assert_eq!((Words::of("en").lang.as_str(), Words::of("zh-CN").lang.as_str()), ("en", "zh-CN"));
        assert_ne!(Words::of("zh-CN").dish_add, Words::of("en").dish_add);
        let mut draft = Content::default();
        guestwifi_core::marketing::Edit::Add {
            kind: guestwifi_core::marketing::Kind::Dish,
            fields: [("name_zh", "红烧肉"), ("price", "58")].map(|(k, v)| (k.to_string(), v.to_string())).into(),
            image: Some("00112233aabbccdd".into()),
        }
        .apply(&mut draft)
        .unwrap();
        let target = Target {
            action: "/content/edit",
            hidden: vec![("csrf", "tok".into()), ("scope", "region:east".into())],
            once: "n1",
            media: "/content/photo",
        };
        let html = Editor::new("zh-CN", "dishes", &draft, target).html();
        assert!(html.contains("action=\"/content/edit/dishes\"") && html.contains("id=\"dish-form\""), "{html}");
        assert!(html.contains("name=\"scope\" value=\"region:east\"") && html.contains("红烧肉"));
        assert!(html.contains("src=\"/content/photo/00112233aabbccdd/320.jpg\""));
        assert!(!html.contains("id=\"brand-form\""), "one block open");
    }
}
