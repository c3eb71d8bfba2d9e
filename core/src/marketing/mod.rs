//! The portal's marketing blocks, as the marketer edits them: a draft,
//! published versions (every publish is one; a rollback publishes an
//! earlier one again), and the photos.
//!
//! A photo is never stored as uploaded: its bytes are sniffed (JPEG, PNG or
//! WebP, whatever its name says), decoded under size limits, and
//! re-encoded as JPEG at [`WIDTHS`], so a guest's phone loads the width its
//! screen needs (`srcset`) and nothing a browser could take for a page ever
//! reaches it. Its id is a hash of its bytes; its name is never a path.

use crate::kit::time::now_ms;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

mod content;
mod edit;
pub use content::{Ad, Brand, Content, Dish, Landing, Meal, Now, Product, Promotion, Schedule};
pub use edit::Edit;

/// The widths every photo is kept at, pixels.
pub const WIDTHS: [u32; 3] = [320, 640, 960];
/// The largest upload taken, bytes.
pub const MAX_UPLOAD: usize = 8 * 1024 * 1024;
/// The largest picture decoded, pixels a side.
const MAX_SIDE: u32 = 8000;
/// The most pixels a photo may have (40 MP: any phone's camera).
const MAX_PIXELS: u64 = 40_000_000;
/// The most the decoder may allocate for one photo.
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a marketing change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MarketingError {
    /// Not a JPEG, PNG or WebP picture (whatever its name says).
    #[error("not a JPEG, PNG or WebP picture")]
    NotAnImage,
    /// Larger than [`MAX_UPLOAD`] or [`MAX_SIDE`].
    #[error("the picture is too large")]
    TooLarge,
    /// A field is empty or out of range.
    #[error("{0}")]
    Invalid(String),
    /// No such version or dish.
    #[error("not found")]
    NotFound,
    /// The store failed.
    #[error("marketing store error")]
    Store(#[from] sqlx::Error),
}

/// One published version, as listed.
#[derive(Clone, Debug, Serialize)]
pub struct Version {
    /// Its number.
    pub id: i64,
    /// UTC ms.
    pub published_at: i64,
    /// Who published it.
    pub published_by: String,
    /// `rollback to N`, or empty.
    pub note: String,
    /// What it shows, counted: `3 dishes · 2 promotions · 10 products`.
    pub summary: String,
    /// Its dishes, promotions and products, counted.
    pub counts: [usize; 3],
    /// It has a countdown ad.
    pub ad: bool,
}

/// The blocks a marketer adds, orders and removes one by one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A featured dish.
    Dish,
    /// A promotion.
    Promotion,
    /// A dish or drink on the menu.
    Product,
}

impl Kind {
    /// Reads a URL's kind (`/console/marketing/dishes/…`).
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "dishes" => Some(Kind::Dish),
            "promotions" => Some(Kind::Promotion),
            "products" => Some(Kind::Product),
            _ => None,
        }
    }

    /// Its name in the audit log.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dish => "dish",
            Kind::Promotion => "promotion",
            Kind::Product => "product",
        }
    }
}

/// A form's text fields (a repeated field's values joined by commas).
pub type Fields = BTreeMap<String, String>;

impl Content {
    /// `3 dishes · 2 promotions · 10 products`.
    pub fn summary(&self) -> String {
        format!(
            "{} dishes · {} promotions · {} products{}",
            self.dishes.len(),
            self.promotions.len(),
            self.products.len(),
            if self.ad.is_some() { " · ad" } else { "" }
        )
    }
}

/// The blocks headquarters manages for this site (the last bundle applied).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Managed {
    /// The bundle's version (empty: none applied).
    pub version: String,
    /// The blocks by name (`brand`, `dishes`, ...), as `Content` holds them.
    pub blocks: BTreeMap<String, serde_json::Value>,
    /// When it was applied, UTC ms.
    pub applied_at: i64,
    /// The blocks HQ lets this site replace with its own.
    pub overridable: BTreeSet<String>,
    /// The overridable blocks the site chose to keep its own.
    pub own: BTreeSet<String>,
}

impl Managed {
    /// The blocks HQ's bundle puts over the site's own now: all of them but
    /// those the site keeps its own where HQ lets it.
    pub fn in_force(&self) -> BTreeMap<String, serde_json::Value> {
        self.blocks
            .iter()
            .filter(|(name, _)| !(self.overridable.contains(*name) && self.own.contains(*name)))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect()
    }
}

/// `own` with each of `blocks` in place of its own block, checked whole.
pub fn compose(own: &Content, blocks: &BTreeMap<String, serde_json::Value>) -> Result<Content, String> {
    if blocks.is_empty() {
        return Ok(own.clone());
    }
    let mut value = serde_json::to_value(own).expect("content serialises");
    let map = value.as_object_mut().expect("content is an object");
    for (name, block) in blocks {
        if !map.contains_key(name) {
            return Err(format!("{name:?} is not a marketing block"));
        }
        map.insert(name.clone(), block.clone());
    }
    let content: Content = serde_json::from_value(value).map_err(|e| format!("a block does not read: {e}"))?;
    content.check()?;
    Ok(content)
}

/// The marketing service.
pub struct Marketing {
    db: SqlitePool,
    /// What guests see: the site's own published version under HQ's blocks.
    published: RwLock<Arc<Content>>,
    /// The site's own published version.
    own: RwLock<Arc<Content>>,
    managed: RwLock<Managed>,
    /// One draft change at a time: two marketers' edits never undo each other.
    editing: tokio::sync::Mutex<()>,
    /// One photo decoded at a time: uploads at once cannot stack their memory.
    decoding: tokio::sync::Mutex<()>,
}

impl Marketing {
    /// Loads the newest published version.
    pub async fn load(db: SqlitePool) -> Result<Self, MarketingError> {
        let latest: Option<String> =
            sqlx::query_scalar("SELECT content FROM marketing_versions ORDER BY id DESC LIMIT 1")
                .fetch_optional(&db)
                .await?;
        let content: Content = latest.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default();
        let managed: Option<(String, String, i64, String)> =
            sqlx::query_as("SELECT version, blocks, applied_at, overridable FROM hq_bundle WHERE k = 'applied'")
                .fetch_optional(&db)
                .await?;
        let own: Vec<String> = sqlx::query_scalar("SELECT block FROM hq_own_blocks").fetch_all(&db).await?;
        let mut managed = managed
            .and_then(|(version, blocks, applied_at, overridable)| {
                Some(Managed {
                    version,
                    blocks: serde_json::from_str(&blocks).ok()?,
                    applied_at,
                    overridable: serde_json::from_str(&overridable).unwrap_or_default(),
                    own: BTreeSet::new(),
                })
            })
            .unwrap_or_default();
        managed.own = own.into_iter().collect();
        let shown = compose(&content, &managed.in_force()).unwrap_or_else(|_| content.clone());
        Ok(Marketing {
            db,
            published: RwLock::new(Arc::new(shown)),
            own: RwLock::new(Arc::new(content)),
            managed: RwLock::new(managed),
            editing: tokio::sync::Mutex::new(()),
            decoding: tokio::sync::Mutex::new(()),
        })
    }

    /// What guests see now.
    pub fn published(&self) -> Arc<Content> {
        self.published.read().unwrap().clone()
    }

    /// The site's own published version, without headquarters' blocks
    /// (what its draft is compared with).
    pub fn own(&self) -> Arc<Content> {
        self.own.read().unwrap().clone()
    }

    /// The blocks headquarters manages here, and the bundle they came in.
    pub fn managed(&self) -> Managed {
        self.managed.read().unwrap().clone()
    }

    /// Applies a bundle's blocks: checked whole over the site's own
    /// version (a bad one changes nothing), photos they name must be here
    /// (the caller fetches them first), kept, and shown at once.
    pub async fn apply_managed(
        &self,
        version: &str,
        blocks: BTreeMap<String, serde_json::Value>,
        overridable: BTreeSet<String>,
    ) -> Result<(), MarketingError> {
        let _one = self.editing.lock().await;
        let own = self.own.read().unwrap().clone();
        let next = Managed {
            version: version.into(),
            blocks,
            applied_at: now_ms(),
            overridable,
            own: self.managed.read().unwrap().own.clone(),
        };
        let shown = compose(&own, &next.in_force()).map_err(MarketingError::Invalid)?;
        for id in shown.photos() {
            if self.image(id, WIDTHS[0]).await?.is_none() {
                return Err(MarketingError::Invalid(format!("photo {id} is not here")));
            }
        }
        sqlx::query(
            "INSERT INTO hq_bundle (k, version, blocks, applied_at, overridable) VALUES ('applied', ?, ?, ?, ?) \
             ON CONFLICT (k) DO UPDATE SET version = excluded.version, blocks = excluded.blocks, \
             applied_at = excluded.applied_at, overridable = excluded.overridable",
        )
        .bind(version)
        .bind(serde_json::to_string(&next.blocks).expect("blocks serialise"))
        .bind(next.applied_at)
        .bind(serde_json::to_string(&next.overridable).expect("names serialise"))
        .execute(&self.db)
        .await?;
        tracing::info!(bundle = version, blocks = ?next.blocks.keys().collect::<Vec<_>>(), shows = %shown.summary(), "headquarters' blocks applied");
        *self.managed.write().unwrap() = next;
        *self.published.write().unwrap() = Arc::new(shown);
        Ok(())
    }

    /// The site keeps its own `block` (`own`) where HQ lets it, or takes
    /// HQ's again; guests see the change at once. False when nothing changed.
    pub async fn keep_own(&self, block: &str, own: bool, by: &str) -> Result<bool, MarketingError> {
        let _one = self.editing.lock().await;
        let mut next = self.managed.read().unwrap().clone();
        if own && !next.overridable.contains(block) {
            return Err(MarketingError::Invalid(format!("headquarters does not let this site replace its {block}")));
        }
        let changed = match own {
            true => next.own.insert(block.to_string()),
            false => next.own.remove(block),
        };
        if !changed {
            return Ok(false);
        }
        let content = self.own.read().unwrap().clone();
        let shown = compose(&content, &next.in_force()).map_err(MarketingError::Invalid)?;
        match own {
            true => {
                sqlx::query("INSERT INTO hq_own_blocks (block, since, by) VALUES (?, ?, ?)")
                    .bind(block)
                    .bind(now_ms())
                    .bind(by)
                    .execute(&self.db)
                    .await?
            }
            false => sqlx::query("DELETE FROM hq_own_blocks WHERE block = ?").bind(block).execute(&self.db).await?,
        };
        tracing::info!(block, own, by, shows = %shown.summary(), "a block headquarters offers: the site's own or HQ's");
        *self.managed.write().unwrap() = next;
        *self.published.write().unwrap() = Arc::new(shown);
        Ok(true)
    }

    /// The photos `blocks` name that are not here yet.
    pub async fn missing_photos(&self, blocks: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
        let own = self.own.read().unwrap().clone();
        let Ok(shown) = compose(&own, blocks) else { return Vec::new() };
        let mut missing = Vec::new();
        for id in shown.photos() {
            if !matches!(self.image(id, WIDTHS[0]).await, Ok(Some(_))) {
                missing.push(id.to_string());
            }
        }
        missing
    }

    /// The marketer's draft (the site's own published content until they
    /// change it: never headquarters' blocks, which a publish would
    /// otherwise copy into the site's own version).
    pub async fn draft(&self) -> Result<Content, MarketingError> {
        let draft: Option<String> = sqlx::query_scalar("SELECT content FROM marketing_draft WHERE k = 'draft'")
            .fetch_optional(&self.db)
            .await?;
        Ok(draft.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_else(|| (*self.own()).clone()))
    }

    async fn save_draft(&self, content: &Content) -> Result<(), MarketingError> {
        sqlx::query("INSERT INTO marketing_draft (k, content) VALUES ('draft', ?) ON CONFLICT (k) DO UPDATE SET content = excluded.content")
            .bind(serde_json::to_string(content).expect("content serialises"))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Changes the draft: `change` sees it and may refuse (nothing saved).
    async fn edit<T>(
        &self,
        change: impl FnOnce(&mut Content) -> Result<T, MarketingError>,
    ) -> Result<T, MarketingError> {
        let _one = self.editing.lock().await;
        let mut draft = self.draft().await?;
        let out = change(&mut draft)?;
        self.save_draft(&draft).await?;
        Ok(out)
    }

    /// Adds a dish at the end of the draft (the console's form, for tests).
    pub async fn add_dish(
        &self,
        name_zh: &str,
        name_en: &str,
        price: &str,
        image: Option<String>,
    ) -> Result<String, MarketingError> {
        let form: Fields =
            [("name_zh", name_zh), ("name_en", name_en), ("price", price)].map(|(k, v)| (k.into(), v.into())).into();
        self.add(Kind::Dish, &form, image).await
    }

    /// Applies `edit` to the draft (one change at a time; a refusal saves
    /// nothing); returns how the audit log names what changed.
    pub async fn change(&self, edit: Edit) -> Result<String, MarketingError> {
        self.edit(|draft| edit.apply(draft)).await
    }

    /// Adds a block of `kind` from its form at the end of the draft.
    pub async fn add(&self, kind: Kind, form: &Fields, image: Option<String>) -> Result<String, MarketingError> {
        self.change(Edit::Add { kind, fields: form.clone(), image }).await
    }

    /// Removes a block from the draft.
    pub async fn remove(&self, kind: Kind, id: &str) -> Result<(), MarketingError> {
        self.change(Edit::Remove { kind, id: id.to_string() }).await.map(drop)
    }

    /// Moves a block one place up in the draft.
    pub async fn move_up(&self, kind: Kind, id: &str) -> Result<(), MarketingError> {
        self.change(Edit::Up { kind, id: id.to_string() }).await.map(drop)
    }

    /// Sets the brand from its form.
    pub async fn set_brand(
        &self,
        form: &Fields,
        logo: Option<String>,
        background: Option<String>,
    ) -> Result<String, MarketingError> {
        self.change(Edit::Brand { fields: form.clone(), logo, background }).await
    }

    /// Sets the countdown page's ad from its form.
    pub async fn set_ad(&self, form: &Fields, image: Option<String>) -> Result<String, MarketingError> {
        self.change(Edit::Ad { fields: form.clone(), image }).await
    }

    /// Sets where a guest goes after logging in.
    pub async fn set_landing(&self, name: &str) -> Result<String, MarketingError> {
        self.change(Edit::Landing { landing: name.to_string() }).await
    }

    /// Publishes the draft as a new version; guests see it at once.
    pub async fn publish(&self, by: &str) -> Result<i64, MarketingError> {
        let draft = self.draft().await?;
        self.publish_content(&draft, by, "").await
    }

    async fn publish_content(&self, content: &Content, by: &str, note: &str) -> Result<i64, MarketingError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO marketing_versions (published_at, published_by, note, content) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(now_ms())
        .bind(by)
        .bind(note)
        .bind(serde_json::to_string(content).expect("content serialises"))
        .fetch_one(&self.db)
        .await?;
        let managed = self.managed.read().unwrap().in_force();
        // HQ's blocks stay over it; a site block HQ's no longer fits (an ad
        // opening a promotion HQ replaced) shows the site's own whole.
        let shown = compose(content, &managed).unwrap_or_else(|_| content.clone());
        *self.own.write().unwrap() = Arc::new(content.clone());
        *self.published.write().unwrap() = Arc::new(shown);
        tracing::info!(version = id, by, shows = %content.summary(), note, "marketing published");
        Ok(id)
    }

    /// Publishes version `id` again (and makes it the draft); 0 is the
    /// empty page before the first publish.
    pub async fn rollback(&self, id: i64, by: &str) -> Result<i64, MarketingError> {
        let content = if id == 0 {
            Content::default()
        } else {
            let stored: Option<String> = sqlx::query_scalar("SELECT content FROM marketing_versions WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.db)
                .await?;
            serde_json::from_str(&stored.ok_or(MarketingError::NotFound)?).map_err(|_| MarketingError::NotFound)?
        };
        self.save_draft(&content).await?;
        self.publish_content(&content, by, &format!("rollback to {id}")).await
    }

    /// The names of every dish, promotion and product any version (or the
    /// draft) has had, by id: statistics name slots after them.
    pub async fn names(&self) -> std::collections::HashMap<String, String> {
        let mut names = std::collections::HashMap::new();
        let versions: Vec<String> = sqlx::query_scalar("SELECT content FROM marketing_versions ORDER BY id")
            .fetch_all(&self.db)
            .await
            .unwrap_or_default();
        let draft = self.draft().await.ok();
        let contents = versions.iter().filter_map(|c| serde_json::from_str::<Content>(c).ok()).chain(draft);
        for c in contents {
            names.extend(c.dishes.into_iter().map(|d| (d.id, d.name_zh)));
            names.extend(c.promotions.into_iter().map(|p| (p.id, p.title_zh)));
            names.extend(c.products.into_iter().map(|p| (p.id, p.name_zh)));
        }
        names
    }

    /// Every published version, newest first.
    pub async fn versions(&self) -> Result<Vec<Version>, MarketingError> {
        let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT id, published_at, published_by, note, content FROM marketing_versions ORDER BY id DESC LIMIT 100",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, published_at, published_by, note, content)| {
                let content = serde_json::from_str::<Content>(&content).unwrap_or_default();
                Version {
                    id,
                    published_at,
                    published_by,
                    note,
                    summary: content.summary(),
                    counts: [content.dishes.len(), content.promotions.len(), content.products.len()],
                    ad: content.ad.is_some(),
                }
            })
            .collect())
    }

    /// Takes an uploaded photo: sniffs, decodes, re-encodes at [`WIDTHS`];
    /// returns its id.
    pub async fn store_image(&self, bytes: Vec<u8>) -> Result<String, MarketingError> {
        if bytes.len() > MAX_UPLOAD {
            return Err(MarketingError::TooLarge);
        }
        let id = photo_id(&bytes);
        let one = self.decoding.lock().await;
        let encoded =
            tokio::task::spawn_blocking(move || reencode(&bytes)).await.map_err(|_| MarketingError::NotAnImage)??;
        drop(one);
        let mut tx = self.db.begin().await?;
        for (width, jpeg) in encoded {
            sqlx::query("INSERT INTO marketing_images (id, width, bytes) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                .bind(&id)
                .bind(width)
                .bind(jpeg)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// A photo at one of [`WIDTHS`] (JPEG).
    pub async fn image(&self, id: &str, width: u32) -> Result<Option<Vec<u8>>, MarketingError> {
        Ok(sqlx::query_scalar("SELECT bytes FROM marketing_images WHERE id = ? AND width = ?")
            .bind(id)
            .bind(width)
            .fetch_optional(&self.db)
            .await?)
    }
}

/// A photo's id: a hash of its bytes as uploaded (so HQ and every site name
/// one photo alike, and a site fetches it once).
pub fn photo_id(bytes: &[u8]) -> String {
    ap_protocol::hex::encode(&Sha256::digest(bytes)[..8])
}

/// Whether `bytes` start as a JPEG, PNG or WebP picture does (what HQ
/// takes; each site still decodes and re-encodes it under its limits).
pub fn looks_like_photo(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xff, 0xd8, 0xff])
        || bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || (bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP")
}

/// A price for people: `38` or `38.50`.
pub fn price_text(cents: i64) -> String {
    if cents % 100 == 0 {
        format!("{}", cents / 100)
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

/// Sniff, decode with limits, resize to each width (never up), JPEG: what
/// a site keeps of a photo, and how headquarters checks one it is given.
pub fn reencode(bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, MarketingError> {
    use image::ImageFormat;
    let format = image::guess_format(bytes).map_err(|_| MarketingError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) {
        return Err(MarketingError::NotAnImage);
    }
    // The header's size first: a small file can say 8000 x 8000 at 16 bits.
    let (w, h) = image::ImageReader::with_format(std::io::Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|_| MarketingError::NotAnImage)?;
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(MarketingError::TooLarge);
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => MarketingError::TooLarge,
        _ => MarketingError::NotAnImage,
    })?;
    let picture = image::DynamicImage::ImageRgb8(picture.to_rgb8());
    let mut out = Vec::new();
    for width in WIDTHS {
        let scaled = if picture.width() > width {
            picture.resize(width, u32::MAX, image::imageops::FilterType::Triangle)
        } else {
            picture.clone()
        };
        let mut jpeg = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80);
        scaled.write_with_encoder(encoder).map_err(|_| MarketingError::NotAnImage)?;
        out.push((width, jpeg));
    }
    Ok(out)
}

/// What tests of the marketer's editor send (this crate's and the console's).
#[cfg(any(test, feature = "testing"))]
pub mod samples {
    use super::Fields;

    /// A form as the console's editor sends it.
    pub fn form(fields: &[(&str, &str)]) -> Fields {
        fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A PNG of `w` x `h` pixels, made here.
    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 120]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::edit::parse_price;
    use super::samples::png;
    use super::*;

    #[test]
    fn prices_are_read_as_people_write_them() {
        assert_eq!(parse_price("38"), Some(3800));
        assert_eq!(parse_price("¥38.5"), Some(3850));
        assert_eq!(parse_price("0.05"), Some(5));
        assert_eq!(parse_price("-1"), None);
        assert_eq!(parse_price("1.234"), None);
        assert_eq!(price_text(3850), "38.50");
        assert_eq!(price_text(3800), "38");
    }

    #[tokio::test]
    async fn a_photo_is_re_encoded_at_each_width_and_html_named_jpg_is_refused() {
        let m = Marketing::load(crate::store::memory().await.unwrap()).await.unwrap();
        let id = m.store_image(png(1200, 800)).await.unwrap();
        for width in WIDTHS {
            let jpeg = m.image(&id, width).await.unwrap().unwrap();
            let decoded = image::load_from_memory(&jpeg).unwrap();
            assert_eq!(decoded.width(), width, "resized to {width}");
            assert_eq!(image::guess_format(&jpeg).unwrap(), image::ImageFormat::Jpeg);
        }
        let html = b"<html><script>alert(1)</script></html>".to_vec();
        assert!(matches!(m.store_image(html).await, Err(MarketingError::NotAnImage)));
        let truncated = png(100, 100)[..60].to_vec();
        assert!(matches!(m.store_image(truncated).await, Err(MarketingError::NotAnImage)));
    }

    #[tokio::test]
    async fn a_small_file_of_too_many_pixels_is_refused_before_it_is_decoded() {
        let m = Marketing::load(crate::store::memory().await.unwrap()).await.unwrap();
        // 6400 x 6400 grey: 41 MP, a few kilobytes of PNG.
        let big = image::GrayImage::new(6400, 6400);
        let mut png = std::io::Cursor::new(Vec::new());
        big.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let png = png.into_inner();
        assert!(png.len() < MAX_UPLOAD);
        assert!(matches!(m.store_image(png).await, Err(MarketingError::TooLarge)));
        assert!(m.store_image(samples::png(1200, 800)).await.is_ok(), "a photo of a phone's size still is");
    }

    #[tokio::test]
    async fn every_publish_is_a_version_and_a_rollback_brings_an_earlier_one_back() {
        let m = Marketing::load(crate::store::memory().await.unwrap()).await.unwrap();
        m.add_dish("红烧肉", "Braised pork", "58", None).await.unwrap();
        assert!(m.published().dishes.is_empty(), "a draft is not published");
        let v1 = m.publish("mkt").await.unwrap();
        m.add_dish("清蒸鱼", "Steamed fish", "88.5", None).await.unwrap();
        let v2 = m.publish("mkt").await.unwrap();
        assert_eq!(m.published().dishes.len(), 2);
        m.rollback(v1, "mkt").await.unwrap();
        assert_eq!(m.published().dishes.len(), 1);
        assert_eq!(m.draft().await.unwrap().dishes.len(), 1, "the draft follows the rollback");
        m.rollback(0, "mkt").await.unwrap();
        assert!(m.published().dishes.is_empty());
        let versions = m.versions().await.unwrap();
        assert_eq!(versions.len(), 4);
        assert_eq!(versions[0].note, "rollback to 0");
        assert!(versions.iter().any(|v| v.id == v2 && v.summary.starts_with("2 dishes")));
        assert!(matches!(m.rollback(99, "mkt").await, Err(MarketingError::NotFound)));
        assert!(matches!(m.add_dish("", "", "1", None).await, Err(MarketingError::Invalid(_))));
        assert!(matches!(m.add_dish("面", "", "abc", None).await, Err(MarketingError::Invalid(_))));
    }
}

#[cfg(test)]
mod editor_tests {
    use super::samples::form;
    use super::*;

    #[tokio::test]
    async fn a_refused_change_leaves_the_draft_as_it_was() {
        let m = Marketing::load(crate::store::memory().await.unwrap()).await.unwrap();
        m.set_brand(&form(&[("colour", "#112233")]), None, None).await.unwrap();
        let before = m.draft().await.unwrap();
        for bad in [
            m.set_brand(&form(&[("colour", "red;}</style>")]), None, None).await,
            m.set_brand(&form(&[("member_day", "7")]), None, None).await,
            m.add(Kind::Promotion, &form(&[("title_zh", "x"), ("meals", "brunch")]), None).await,
            m.add(Kind::Promotion, &form(&[("title_zh", "x"), ("member_day", "1")]), None).await,
            m.add(Kind::Promotion, &form(&[("title_zh", "x"), ("from", "2026-12-31"), ("until", "2026-12-01")]), None)
                .await,
            m.add(Kind::Product, &form(&[("name_zh", "x"), ("price", "1")]), None).await,
            m.add(
                Kind::Product,
                &form(&[("name_zh", "x"), ("price", "1"), ("category", "c"), ("tags", "1,2,3,4,5,6,7")]),
                None,
            )
            .await,
            m.set_ad(&form(&[("text_zh", "ad"), ("promotion", "nope")]), None).await,
            m.set_landing("http://evil.test/").await,
        ] {
            assert!(matches!(bad, Err(MarketingError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(m.draft().await.unwrap(), before, "nothing changed");
    }

    #[tokio::test]
    async fn removing_a_promotion_unlinks_the_ad_and_order_is_kept() {
        let m = Marketing::load(crate::store::memory().await.unwrap()).await.unwrap();
        let a = m.add(Kind::Promotion, &form(&[("title_zh", "A")]), None).await.unwrap();
        let a = a.split(' ').next().unwrap().to_string();
        let b = m.add(Kind::Promotion, &form(&[("title_zh", "B")]), None).await.unwrap();
        let b = b.split(' ').next().unwrap().to_string();
        m.set_ad(&form(&[("text_zh", "看 A"), ("promotion", &a)]), None).await.unwrap();
        m.move_up(Kind::Promotion, &b).await.unwrap();
        let draft = m.draft().await.unwrap();
        assert_eq!(draft.promotions.iter().map(|p| p.title_zh.as_str()).collect::<Vec<_>>(), ["B", "A"]);
        m.remove(Kind::Promotion, &a).await.unwrap();
        let draft = m.draft().await.unwrap();
        assert_eq!(draft.ad.as_ref().unwrap().promotion, None);
        assert!(matches!(m.remove(Kind::Promotion, &a).await, Err(MarketingError::NotFound)));
        assert!(matches!(m.move_up(Kind::Product, "nope").await, Err(MarketingError::NotFound)));
        m.set_ad(&form(&[("text_zh", "")]), None).await.unwrap();
        assert_eq!(m.draft().await.unwrap().ad, None, "an empty line removes the ad");
    }
}
