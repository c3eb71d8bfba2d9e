//! The marketer's editor as changes to a [`Content`]: what each form of the
//! editor does (add, remove and order dishes, promotions and products; the
//! brand, the countdown ad, the landing), checked field by field. The
//! site's draft and headquarters' draft of a scope both change through
//! [`Edit::apply`], so a form means the same thing in both consoles.

use super::{price_text, Ad, Content, Dish, Fields, Kind, Landing, MarketingError, Meal, Product, Promotion, Schedule};

/// One change the editor makes; photos are already stored and named by id.
#[derive(Clone, Debug)]
pub enum Edit {
    /// A dish, promotion or product at the end of its list, from its form.
    Add {
        /// Which list.
        kind: Kind,
        /// The form.
        fields: Fields,
        /// Its photo's id.
        image: Option<String>,
    },
    /// A dish, promotion or product removed.
    Remove {
        /// Which list.
        kind: Kind,
        /// Its id.
        id: String,
    },
    /// A dish, promotion or product one place up.
    Up {
        /// Which list.
        kind: Kind,
        /// Its id.
        id: String,
    },
    /// The brand from its form; a new logo or background replaces the old
    /// one, `clear_logo`/`clear_background` remove them.
    Brand {
        /// The form.
        fields: Fields,
        /// A new logo's id.
        logo: Option<String>,
        /// A new background's id.
        background: Option<String>,
    },
    /// The countdown page's ad (`text_zh` empty: no ad).
    Ad {
        /// The form.
        fields: Fields,
        /// A new photo's id (none: the ad keeps its photo).
        image: Option<String>,
    },
    /// Where a guest goes after logging in.
    Landing {
        /// `original`, `promotions` or `venue`.
        landing: String,
    },
}

impl Edit {
    /// The block it changes (as bundles and the editor's tabs name it).
    pub fn block(&self) -> &'static str {
        match self {
            Edit::Add { kind, .. } | Edit::Remove { kind, .. } | Edit::Up { kind, .. } => match kind {
                Kind::Dish => "dishes",
                Kind::Promotion => "promotions",
                Kind::Product => "products",
            },
            Edit::Brand { .. } => "brand",
            Edit::Ad { .. } => "ad",
            Edit::Landing { .. } => "landing",
        }
    }

    /// Changes `draft`, or refuses and leaves it as it was; returns how the
    /// audit log names what changed.
    pub fn apply(self, draft: &mut Content) -> Result<String, MarketingError> {
        match self {
            Edit::Add { kind, fields, image } => add(draft, kind, &fields, image),
            Edit::Remove { kind, id } => remove(draft, kind, &id).map(|()| id),
            Edit::Up { kind, id } => move_up(draft, kind, &id).map(|()| id),
            Edit::Brand { fields, logo, background } => brand(draft, &fields, logo, background),
            Edit::Ad { fields, image } => ad(draft, &fields, image),
            Edit::Landing { landing } => {
                let parsed = Landing::parse(&landing)
                    .ok_or_else(|| MarketingError::Invalid(format!("{landing:?} is not a landing")))?;
                draft.landing = parsed;
                Ok(parsed.name().to_string())
            }
        }
    }
}

impl Content {
    /// The block `name` (`brand`, `dishes`, ...) as a bundle carries it
    /// (None: no such block); [`super::compose`] puts one back.
    pub fn block(&self, name: &str) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()?.get(name).cloned()
    }
}

fn add(draft: &mut Content, kind: Kind, form: &Fields, image: Option<String>) -> Result<String, MarketingError> {
    let id = crate::kit::secrets::random_code(8);
    let price = || {
        let price = field(form, "price");
        parse_price(price).ok_or_else(|| MarketingError::Invalid(format!("{price:?} is not a price in yuan")))
    };
    let member_day = draft.brand.member_day;
    let (count, limit, label) = match kind {
        Kind::Dish => {
            let dish = Dish {
                id: id.clone(),
                name_zh: text(form, "name_zh", 40, true)?,
                name_en: text(form, "name_en", 60, false)?,
                price_cents: price()?,
                image,
                schedule: schedule(form, member_day)?,
            };
            let label = format!("{} ¥{}", dish.name_zh, price_text(dish.price_cents));
            (draft.dishes.len() + 1, 24, (label, Item::Dish(dish)))
        }
        Kind::Promotion => {
            let promotion = Promotion {
                id: id.clone(),
                title_zh: text(form, "title_zh", 40, true)?,
                title_en: text(form, "title_en", 80, false)?,
                body_zh: text(form, "body_zh", 1000, false)?,
                body_en: text(form, "body_en", 2000, false)?,
                image,
                schedule: schedule(form, member_day)?,
            };
            let label = labelled(&promotion.title_zh, &promotion.schedule);
            (draft.promotions.len() + 1, 20, (label, Item::Promotion(promotion)))
        }
        Kind::Product => {
            let tags: Vec<String> = field(form, "tags")
                .split([',', '，', '、'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect();
            if tags.len() > 6 || tags.iter().any(|t| t.chars().count() > 12) {
                return Err(MarketingError::Invalid("6 tags at most, 12 characters each".into()));
            }
            let product = Product {
                id: id.clone(),
                name_zh: text(form, "name_zh", 40, true)?,
                name_en: text(form, "name_en", 60, false)?,
                price_cents: price()?,
                category: text(form, "category", 12, true)?,
                tags,
                image,
            };
            let label = format!("{} ¥{} [{}]", product.name_zh, price_text(product.price_cents), product.category);
            (draft.products.len() + 1, 300, (label, Item::Product(product)))
        }
    };
    if count > limit {
        return Err(MarketingError::Invalid(format!("{limit} at most")));
    }
    let (label, item) = label;
    match item {
        Item::Dish(d) => draft.dishes.push(d),
        Item::Promotion(p) => draft.promotions.push(p),
        Item::Product(p) => draft.products.push(p),
    }
    Ok(format!("{id} {label}"))
}

/// A new item of one of the lists.
enum Item {
    Dish(Dish),
    Promotion(Promotion),
    Product(Product),
}

fn remove(draft: &mut Content, kind: Kind, id: &str) -> Result<(), MarketingError> {
    let before = (draft.dishes.len(), draft.promotions.len(), draft.products.len());
    match kind {
        Kind::Dish => draft.dishes.retain(|d| d.id != id),
        Kind::Promotion => {
            draft.promotions.retain(|p| p.id != id);
            // The ad that opened it opens nothing now.
            if let Some(ad) = draft.ad.as_mut().filter(|a| a.promotion.as_deref() == Some(id)) {
                ad.promotion = None;
            }
        }
        Kind::Product => draft.products.retain(|p| p.id != id),
    }
    if before == (draft.dishes.len(), draft.promotions.len(), draft.products.len()) {
        return Err(MarketingError::NotFound);
    }
    Ok(())
}

fn move_up(draft: &mut Content, kind: Kind, id: &str) -> Result<(), MarketingError> {
    fn up<T>(items: &mut [T], id: &str, id_of: fn(&T) -> &str) -> Result<(), MarketingError> {
        let i = items.iter().position(|x| id_of(x) == id).ok_or(MarketingError::NotFound)?;
        if i > 0 {
            items.swap(i, i - 1);
        }
        Ok(())
    }
    match kind {
        Kind::Dish => up(&mut draft.dishes, id, |d| &d.id),
        Kind::Promotion => up(&mut draft.promotions, id, |p| &p.id),
        Kind::Product => up(&mut draft.products, id, |p| &p.id),
    }
}

fn brand(
    draft: &mut Content,
    form: &Fields,
    logo: Option<String>,
    background: Option<String>,
) -> Result<String, MarketingError> {
    let colour = field(form, "colour").to_ascii_lowercase();
    if !colour.is_empty() && !super::content::is_colour(&colour) {
        return Err(MarketingError::Invalid(format!("{colour:?} is not a colour (#rrggbb)")));
    }
    let member_day = match field(form, "member_day") {
        "" => None,
        d => Some(
            d.parse::<u8>()
                .ok()
                .filter(|d| *d < 7)
                .ok_or_else(|| MarketingError::Invalid(format!("{d:?} is not a day of the week")))?,
        ),
    };
    let story_zh = text(form, "story_zh", 500, false)?;
    let story_en = text(form, "story_en", 1000, false)?;
    let brand = &mut draft.brand;
    brand.colour = colour;
    brand.story_zh = story_zh;
    brand.story_en = story_en;
    brand.member_day = member_day;
    if logo.is_some() || field(form, "clear_logo") == "1" {
        brand.logo = logo;
    }
    if background.is_some() || field(form, "clear_background") == "1" {
        brand.background = background;
    }
    Ok(format!(
        "colour {} · logo {} · background {} · member day {:?}",
        brand.colour,
        brand.logo.is_some(),
        brand.background.is_some(),
        brand.member_day
    ))
}

fn ad(draft: &mut Content, form: &Fields, image: Option<String>) -> Result<String, MarketingError> {
    let text_zh = text(form, "text_zh", 60, false)?;
    let text_en = text(form, "text_en", 120, false)?;
    let promotion = Some(field(form, "promotion").to_string()).filter(|p| !p.is_empty());
    if text_zh.is_empty() {
        draft.ad = None;
        return Ok("no ad".to_string());
    }
    if let Some(p) = &promotion {
        if !draft.promotions.iter().any(|x| &x.id == p) {
            return Err(MarketingError::Invalid(format!("no promotion {p}")));
        }
    }
    let schedule = schedule(form, draft.brand.member_day)?;
    let image = image.or_else(|| draft.ad.as_ref().and_then(|a| a.image.clone()));
    let label = labelled(&text_zh, &schedule);
    draft.ad = Some(Ad { image, text_zh, text_en, promotion, schedule });
    Ok(label)
}

fn field<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.get(name).map_or("", |v| v.trim())
}

/// A text field of at most `max` characters; `required` ones not empty.
fn text(form: &Fields, name: &str, max: usize, required: bool) -> Result<String, MarketingError> {
    let value = field(form, name);
    if required && value.is_empty() {
        return Err(MarketingError::Invalid(format!("{name} is needed")));
    }
    if value.chars().count() > max {
        return Err(MarketingError::Invalid(format!("{name}: {max} characters at most")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(MarketingError::Invalid(format!("{name}: control characters")));
    }
    Ok(value.replace("\r\n", "\n"))
}

/// The schedule fields every scheduled block's form has.
fn schedule(form: &Fields, member_day: Option<u8>) -> Result<Schedule, MarketingError> {
    let date = |name| Some(field(form, name).to_string()).filter(|d| !d.is_empty());
    let meals = field(form, "meals")
        .split(',')
        .filter(|m| !m.is_empty())
        .map(|m| Meal::parse(m.trim()).ok_or_else(|| MarketingError::Invalid(format!("{m:?} is not a meal time"))))
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = Schedule {
        from: date("from"),
        until: date("until"),
        meals,
        member_day: matches!(field(form, "member_day"), "1" | "on"),
    };
    schedule.validate(member_day).map_err(MarketingError::Invalid)?;
    Ok(schedule)
}

/// `name (its schedule)`, or the name alone when it always shows.
fn labelled(name: &str, schedule: &Schedule) -> String {
    match schedule.describe() {
        when if when.is_empty() => name.to_string(),
        when => format!("{name} ({when})"),
    }
}

/// `38`, `38.5`, `¥38.50` -> cents.
pub(super) fn parse_price(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches(['¥', '￥']).trim();
    let (yuan, fen) = text.split_once('.').unwrap_or((text, ""));
    if yuan.is_empty()
        || yuan.len() > 6
        || fen.len() > 2
        || !yuan.bytes().chain(fen.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let fen = format!("{fen:0<2}");
    Some(yuan.parse::<i64>().ok()? * 100 + fen.parse::<i64>().ok()?)
}
