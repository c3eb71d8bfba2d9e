//! What one published version holds, and when each block shows.
//!
//! A version is stored as JSON; every field added since the first version
//! has a default, so an old version still loads (and a rollback to it shows
//! what it showed then).

use serde::{Deserialize, Serialize};

/// What the portal shows (one version).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Logo, colour, background, story, member day.
    #[serde(default)]
    pub brand: Brand,
    /// Featured dishes, in the order guests see them.
    #[serde(default)]
    pub dishes: Vec<Dish>,
    /// Promotions, in order.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
    /// The menu: dishes and drinks by category and tag.
    #[serde(default)]
    pub products: Vec<Product>,
    /// The countdown page's ad (in place of the configured one).
    #[serde(default)]
    pub ad: Option<Ad>,
    /// Where a guest goes after logging in.
    #[serde(default)]
    pub landing: Landing,
}

/// The brand's look and words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brand {
    /// Logo photo id.
    #[serde(default)]
    pub logo: Option<String>,
    /// Header background photo id.
    #[serde(default)]
    pub background: Option<String>,
    /// `#rrggbb`, or empty for the portal's own red.
    #[serde(default)]
    pub colour: String,
    /// A short brand story, zh-CN.
    #[serde(default)]
    pub story_zh: String,
    /// The same, English.
    #[serde(default)]
    pub story_en: String,
    /// The weekly member day: 0 Sunday … 6 Saturday.
    #[serde(default)]
    pub member_day: Option<u8>,
}

/// When a block shows; empty shows always.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// First day, `YYYY-MM-DD` in the site's zone.
    #[serde(default)]
    pub from: Option<String>,
    /// Last day, inclusive.
    #[serde(default)]
    pub until: Option<String>,
    /// Only in these meal times (any of them); none: all day.
    #[serde(default)]
    pub meals: Vec<Meal>,
    /// Only on the brand's member day.
    #[serde(default)]
    pub member_day: bool,
}

/// A meal time, in the site's zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Meal {
    /// 06:00–10:00.
    Breakfast,
    /// 10:00–14:30.
    Lunch,
    /// 14:30–17:00.
    Tea,
    /// 17:00–22:00.
    Dinner,
    /// 22:00–02:00.
    Late,
}

impl Meal {
    /// Every meal, in the day's order.
    pub const ALL: [Meal; 5] = [Meal::Breakfast, Meal::Lunch, Meal::Tea, Meal::Dinner, Meal::Late];

    /// Its name in forms and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Meal::Breakfast => "breakfast",
            Meal::Lunch => "lunch",
            Meal::Tea => "tea",
            Meal::Dinner => "dinner",
            Meal::Late => "late",
        }
    }

    /// Minutes of the day it starts and ends (the end may pass midnight).
    fn window(self) -> (u32, u32) {
        match self {
            Meal::Breakfast => (6 * 60, 10 * 60),
            Meal::Lunch => (10 * 60, 14 * 60 + 30),
            Meal::Tea => (14 * 60 + 30, 17 * 60),
            Meal::Dinner => (17 * 60, 22 * 60),
            Meal::Late => (22 * 60, 26 * 60),
        }
    }

    fn contains(self, minute: u32) -> bool {
        let (start, end) = self.window();
        (start..end).contains(&minute) || (end > 1440 && minute < end - 1440)
    }

    /// Reads a form's meal name.
    pub fn parse(name: &str) -> Option<Meal> {
        Meal::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The local time a schedule is checked at.
#[derive(Clone, Debug)]
pub struct Now {
    /// `YYYY-MM-DD` in the site's zone.
    date: String,
    /// Minutes since local midnight.
    minute: u32,
    /// 0 Sunday … 6 Saturday.
    weekday: u8,
}

impl Now {
    /// UTC ms seen in a zone `offset` hours ahead of UTC.
    pub fn at(ms: i64, offset: i64) -> Now {
        let local = ms.div_euclid(1000) + offset * 3600;
        let days = local.div_euclid(86_400);
        Now {
            date: crate::kit::time::civil_date(local, 0),
            minute: (local.rem_euclid(86_400) / 60) as u32,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u8,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> &str {
        &self.date
    }

    /// 0 Sunday … 6 Saturday.
    pub fn weekday(&self) -> u8 {
        self.weekday
    }
}

impl Schedule {
    /// Whether the block shows at `now`, given the brand's member day.
    pub fn shows(&self, now: &Now, member_day: Option<u8>) -> bool {
        let date = now.date();
        if self.from.as_deref().is_some_and(|from| date < from) || self.until.as_deref().is_some_and(|u| date > u) {
            return false;
        }
        if self.member_day && member_day != Some(now.weekday) {
            return false;
        }
        self.meals.is_empty() || self.meals.iter().any(|m| m.contains(now.minute))
    }

    /// Checks the dates are dates and in order.
    pub fn validate(&self, member_day: Option<u8>) -> Result<(), String> {
        for date in [&self.from, &self.until].into_iter().flatten() {
            if !is_date(date) {
                return Err(format!("{date:?} is not a date (YYYY-MM-DD)"));
            }
        }
        if let (Some(from), Some(until)) = (&self.from, &self.until) {
            if until < from {
                return Err("the last day is before the first".into());
            }
        }
        if self.member_day && member_day.is_none() {
            return Err("set the brand's member day first".into());
        }
        Ok(())
    }

    /// For people: `2026-12-01 – 2026-12-31 · lunch, dinner · member day`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (&self.from, &self.until) {
            (None, None) => {}
            (from, until) => {
                parts.push(format!("{} – {}", from.as_deref().unwrap_or("…"), until.as_deref().unwrap_or("…")))
            }
        }
        if !self.meals.is_empty() {
            parts.push(self.meals.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "));
        }
        if self.member_day {
            parts.push("member day".into());
        }
        parts.join(" · ")
    }
}

fn is_date(text: &str) -> bool {
    text.len() == 10 && crate::kit::time::day_start(text, 0).is_some()
}

/// A featured dish.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dish {
    /// Its id within the content.
    pub id: String,
    /// Name, zh-CN.
    pub name_zh: String,
    /// Name, English.
    pub name_en: String,
    /// Price, cents (fen).
    pub price_cents: i64,
    /// Its photo's id.
    pub image: Option<String>,
    /// When it shows.
    #[serde(default)]
    pub schedule: Schedule,
}

/// A promotion: listed on the home page, its own detail page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    /// Its id within the content.
    pub id: String,
    /// Title, zh-CN.
    pub title_zh: String,
    /// Title, English.
    pub title_en: String,
    /// Text, zh-CN (paragraphs split by blank lines).
    pub body_zh: String,
    /// Text, English.
    pub body_en: String,
    /// Its photo's id.
    pub image: Option<String>,
    /// When it shows.
    #[serde(default)]
    pub schedule: Schedule,
}

/// A dish or drink on the menu.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its id within the content.
    pub id: String,
    /// Name, zh-CN.
    pub name_zh: String,
    /// Name, English.
    pub name_en: String,
    /// Price, cents (fen).
    pub price_cents: i64,
    /// Its category (热菜, 饮品 …), as the marketer writes it.
    pub category: String,
    /// Tags (辣, 招牌, 素食 …).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Its photo's id.
    pub image: Option<String>,
}

/// The countdown page's ad: a photo and a line; tapping it opens a
/// promotion after the login (or just logs in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ad {
    /// Its photo's id.
    pub image: Option<String>,
    /// Its line, zh-CN.
    pub text_zh: String,
    /// Its line, English.
    pub text_en: String,
    /// The promotion it opens, by id.
    #[serde(default)]
    pub promotion: Option<String>,
    /// When it shows.
    #[serde(default)]
    pub schedule: Schedule,
}

/// Where the success page sends a guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Landing {
    /// The page the guest first asked for (only a URL our redirect signed).
    #[default]
    Original,
    /// The portal's promotions page.
    Promotions,
    /// The venue's own web page (`venue.info_url`).
    Venue,
}

impl Landing {
    /// Its name in forms.
    pub fn name(self) -> &'static str {
        match self {
            Landing::Original => "original",
            Landing::Promotions => "promotions",
            Landing::Venue => "venue",
        }
    }

    /// Reads a form's landing name.
    pub fn parse(name: &str) -> Option<Landing> {
        [Landing::Original, Landing::Promotions, Landing::Venue].into_iter().find(|l| l.name() == name)
    }
}

impl Content {
    /// The dishes showing at `now`.
    pub fn dishes_at<'a>(&'a self, now: &'a Now) -> impl Iterator<Item = &'a Dish> + 'a {
        self.dishes.iter().filter(move |d| d.schedule.shows(now, self.brand.member_day))
    }

    /// The promotions showing at `now`.
    pub fn promotions_at<'a>(&'a self, now: &'a Now) -> impl Iterator<Item = &'a Promotion> + 'a {
        self.promotions.iter().filter(move |p| p.schedule.shows(now, self.brand.member_day))
    }

    /// The ad, when it shows at `now`.
    pub fn ad_at(&self, now: &Now) -> Option<&Ad> {
        self.ad.as_ref().filter(|a| a.schedule.shows(now, self.brand.member_day))
    }

    /// The menu's categories, in the order of their first product.
    pub fn categories(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.products {
            if !out.contains(&p.category.as_str()) {
                out.push(&p.category);
            }
        }
        out
    }

    /// Every tag on the menu, in the order first used.
    pub fn tags(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for tag in self.products.iter().flat_map(|p| &p.tags) {
            if !out.contains(&tag.as_str()) {
                out.push(tag);
            }
        }
        out
    }
}

/// The most of each list, as the editor allows them.
pub const MAX_DISHES: usize = 24;
/// See [`MAX_DISHES`].
pub const MAX_PROMOTIONS: usize = 20;
/// See [`MAX_DISHES`].
pub const MAX_PRODUCTS: usize = 300;

/// `#rrggbb`.
pub fn is_colour(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn bounded(what: &str, text: &str, max: usize) -> Result<(), String> {
    if text.chars().count() > max {
        return Err(format!("{what}: {max} characters at most"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(format!("{what}: control characters"));
    }
    Ok(())
}

fn photo_id(what: &str, image: &Option<String>) -> Result<(), String> {
    match image {
        Some(id) if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Err(format!("{what}: {id:?} is not a photo id"))
        }
        _ => Ok(()),
    }
}

impl Content {
    /// Checks content that did not come through the editor's forms (a
    /// bundle from headquarters) by the editor's own bounds: what the
    /// portal can show as it is, or why not.
    pub fn check(&self) -> Result<(), String> {
        let brand = &self.brand;
        let colour = &brand.colour;
        if !colour.is_empty() && !is_colour(colour) {
            return Err(format!("brand: {colour:?} is not a colour (#rrggbb)"));
        }
        if brand.member_day.is_some_and(|d| d > 6) {
            return Err("brand: the member day is not a day of the week".into());
        }
        bounded("brand story", &brand.story_zh, 500)?;
        bounded("brand story (English)", &brand.story_en, 1000)?;
        photo_id("brand logo", &brand.logo)?;
        photo_id("brand background", &brand.background)?;
        let member_day = brand.member_day;
        if self.dishes.len() > MAX_DISHES
            || self.promotions.len() > MAX_PROMOTIONS
            || self.products.len() > MAX_PRODUCTS
        {
            return Err(format!(
                "at most {MAX_DISHES} dishes, {MAX_PROMOTIONS} promotions and {MAX_PRODUCTS} products"
            ));
        }
        let mut ids = std::collections::HashSet::new();
        let mut id = |what: &str, id: &str| {
            if id.is_empty() || id.len() > 32 || !ids.insert(format!("{what}/{id}")) {
                return Err(format!("{what}: {id:?} is empty, too long or twice"));
            }
            Ok(())
        };
        for d in &self.dishes {
            id("dish", &d.id)?;
            if d.name_zh.is_empty() || d.price_cents < 0 {
                return Err(format!("dish {}: a name and a price are needed", d.id));
            }
            bounded("dish name", &d.name_zh, 40)?;
            bounded("dish name (English)", &d.name_en, 60)?;
            photo_id("dish", &d.image)?;
            d.schedule.validate(member_day).map_err(|e| format!("dish {}: {e}", d.id))?;
        }
        for p in &self.promotions {
            id("promotion", &p.id)?;
            if p.title_zh.is_empty() {
                return Err(format!("promotion {}: a title is needed", p.id));
            }
            bounded("promotion title", &p.title_zh, 40)?;
            bounded("promotion title (English)", &p.title_en, 80)?;
            bounded("promotion text", &p.body_zh, 1000)?;
            bounded("promotion text (English)", &p.body_en, 2000)?;
            photo_id("promotion", &p.image)?;
            p.schedule.validate(member_day).map_err(|e| format!("promotion {}: {e}", p.id))?;
        }
        for p in &self.products {
            id("product", &p.id)?;
            if p.name_zh.is_empty() || p.category.is_empty() || p.price_cents < 0 {
                return Err(format!("product {}: a name, a category and a price are needed", p.id));
            }
            bounded("product name", &p.name_zh, 40)?;
            bounded("product name (English)", &p.name_en, 60)?;
            bounded("product category", &p.category, 12)?;
            if p.tags.len() > 6 || p.tags.iter().any(|t| t.chars().count() > 12) {
                return Err(format!("product {}: 6 tags at most, 12 characters each", p.id));
            }
            photo_id("product", &p.image)?;
        }
        if let Some(ad) = &self.ad {
            bounded("ad", &ad.text_zh, 60)?;
            bounded("ad (English)", &ad.text_en, 120)?;
            photo_id("ad", &ad.image)?;
            ad.schedule.validate(member_day).map_err(|e| format!("ad: {e}"))?;
            if let Some(p) = &ad.promotion {
                if !self.promotions.iter().any(|x| &x.id == p) {
                    return Err(format!("ad: it opens promotion {p}, which is not there"));
                }
            }
        }
        Ok(())
    }

    /// The photo ids it shows.
    pub fn photos(&self) -> Vec<&str> {
        let b = &self.brand;
        let images = [&b.logo, &b.background]
            .into_iter()
            .chain(self.dishes.iter().map(|d| &d.image))
            .chain(self.promotions.iter().map(|p| &p.image))
            .chain(self.products.iter().map(|p| &p.image))
            .chain(self.ad.iter().map(|a| &a.image));
        let mut ids: Vec<&str> = images.flatten().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTC ms of a local time in Shanghai (UTC+8).
    fn shanghai(date: &str, hour: i64, minute: i64) -> i64 {
        crate::kit::time::day_start(date, 8).unwrap() + (hour * 60 + minute) * 60_000
    }

    #[test]
    fn a_schedule_shows_between_its_dates_in_its_meals_and_on_the_member_day() {
        let lunch_only = Schedule {
            from: Some("2026-12-01".into()),
            until: Some("2026-12-31".into()),
            meals: vec![Meal::Lunch],
            member_day: false,
        };
        let at = |date: &str, h, m| Now::at(shanghai(date, h, m), 8);
        assert!(lunch_only.shows(&at("2026-12-01", 11, 0), None));
        assert!(!lunch_only.shows(&at("2026-12-01", 9, 59), None), "breakfast is not lunch");
        assert!(!lunch_only.shows(&at("2026-12-01", 14, 30), None), "lunch ends at 14:30");
        assert!(!lunch_only.shows(&at("2026-11-30", 12, 0), None), "before the first day");
        assert!(lunch_only.shows(&at("2026-12-31", 12, 0), None), "the last day is in");
        assert!(!lunch_only.shows(&at("2027-01-01", 12, 0), None));
        // 11:00 in Shanghai is 03:00 UTC: the zone decides, not UTC.
        assert!(!lunch_only.shows(&Now::at(shanghai("2026-12-01", 11, 0), 0), None));

        let late = Schedule { meals: vec![Meal::Late], ..Schedule::default() };
        assert!(late.shows(&at("2026-12-01", 23, 0), None));
        assert!(late.shows(&at("2026-12-02", 1, 30), None), "the late meal passes midnight");
        assert!(!late.shows(&at("2026-12-02", 2, 0), None));

        // 2026-12-02 is a Wednesday (3).
        let member = Schedule { member_day: true, ..Schedule::default() };
        assert!(member.shows(&at("2026-12-02", 12, 0), Some(3)));
        assert!(!member.shows(&at("2026-12-03", 12, 0), Some(3)));
        assert!(!member.shows(&at("2026-12-02", 12, 0), None));
        assert!(Schedule::default().shows(&at("2026-12-03", 4, 0), None));
    }

    #[test]
    fn a_schedule_with_bad_dates_is_refused() {
        let bad = |from: &str, until: &str| Schedule {
            from: Some(from.into()),
            until: Some(until.into()),
            ..Schedule::default()
        };
        assert!(bad("2026-12-01", "2026-12-31").validate(None).is_ok());
        assert!(bad("2026-13-01", "2026-12-31").validate(None).is_err());
        assert!(bad("2026-12-31", "2026-12-01").validate(None).is_err());
        assert!(bad("12/01/2026", "2026-12-01").validate(None).is_err());
        let member = Schedule { member_day: true, ..Schedule::default() };
        assert!(member.validate(None).is_err());
        assert!(member.validate(Some(3)).is_ok());
    }

    #[test]
    fn a_version_saved_before_the_new_blocks_still_loads() {
        let old = r#"{"dishes":[{"id":"a","name_zh":"面","name_en":"","price_cents":100,"image":null}]}"#;
        let content: Content = serde_json::from_str(old).unwrap();
        assert_eq!(content.dishes.len(), 1);
        assert_eq!(content.landing, Landing::Original);
        assert!(content.dishes[0].schedule.meals.is_empty());
    }
}
