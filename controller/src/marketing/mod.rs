//! The portal's marketing blocks, as the marketer edits them: a draft,
//! published versions (every publish is one; a rollback publishes an
//! earlier one again), and the photos.
//!
//! A photo is never stored as uploaded: its bytes are sniffed (JPEG, PNG or
//! WebP, whatever its name says), decoded under size limits, and
//! re-encoded as JPEG at [`WIDTHS`], so a guest's phone loads the width its
//! screen needs (`srcset`) and nothing a browser could take for a page ever
//! reaches it. Its id is a hash of its bytes; its name is never a path.

use crate::store::now_ms;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::sync::{Arc, RwLock};

/// The widths every photo is kept at, pixels.
pub const WIDTHS: [u32; 3] = [320, 640, 960];
/// The largest upload taken, bytes.
pub const MAX_UPLOAD: usize = 8 * 1024 * 1024;
/// The largest picture decoded, pixels a side.
const MAX_SIDE: u32 = 8000;

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

/// What the portal shows (one version).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Featured dishes, in the order guests see them.
    #[serde(default)]
    pub dishes: Vec<Dish>,
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
    /// How many dishes it shows.
    pub dishes: usize,
}

/// The marketing service.
pub struct Marketing {
    db: SqlitePool,
    published: RwLock<Arc<Content>>,
}

impl Marketing {
    /// Loads the newest published version.
    pub async fn load(db: SqlitePool) -> Result<Self, MarketingError> {
        let latest: Option<String> =
            sqlx::query_scalar("SELECT content FROM marketing_versions ORDER BY id DESC LIMIT 1")
                .fetch_optional(&db)
                .await?;
        let content = latest.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_default();
        Ok(Marketing { db, published: RwLock::new(Arc::new(content)) })
    }

    /// What guests see now.
    pub fn published(&self) -> Arc<Content> {
        self.published.read().unwrap().clone()
    }

    /// The marketer's draft (the published content until they change it).
    pub async fn draft(&self) -> Result<Content, MarketingError> {
        let draft: Option<String> = sqlx::query_scalar("SELECT content FROM marketing_draft WHERE k = 'draft'")
            .fetch_optional(&self.db)
            .await?;
        Ok(draft.and_then(|c| serde_json::from_str(&c).ok()).unwrap_or_else(|| (*self.published()).clone()))
    }

    async fn save_draft(&self, content: &Content) -> Result<(), MarketingError> {
        sqlx::query("INSERT INTO marketing_draft (k, content) VALUES ('draft', ?) ON CONFLICT (k) DO UPDATE SET content = excluded.content")
            .bind(serde_json::to_string(content).expect("content serialises"))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Adds a dish at the end of the draft.
    pub async fn add_dish(
        &self,
        name_zh: &str,
        name_en: &str,
        price: &str,
        image: Option<String>,
    ) -> Result<Dish, MarketingError> {
        let name_zh = name_zh.trim();
        if name_zh.is_empty() || name_zh.chars().count() > 40 || name_en.chars().count() > 60 {
            return Err(MarketingError::Invalid("a dish needs a Chinese name (40 characters at most)".into()));
        }
        let price_cents =
            parse_price(price).ok_or_else(|| MarketingError::Invalid(format!("{price:?} is not a price in yuan")))?;
        let dish = Dish {
            id: crate::auth::random_code(8),
            name_zh: name_zh.to_string(),
            name_en: name_en.trim().to_string(),
            price_cents,
            image,
        };
        let mut draft = self.draft().await?;
        if draft.dishes.len() >= 24 {
            return Err(MarketingError::Invalid("24 featured dishes at most".into()));
        }
        draft.dishes.push(dish.clone());
        self.save_draft(&draft).await?;
        Ok(dish)
    }

    /// Removes a dish from the draft.
    pub async fn remove_dish(&self, id: &str) -> Result<(), MarketingError> {
        let mut draft = self.draft().await?;
        let before = draft.dishes.len();
        draft.dishes.retain(|d| d.id != id);
        if draft.dishes.len() == before {
            return Err(MarketingError::NotFound);
        }
        self.save_draft(&draft).await
    }

    /// Moves a dish one place up in the draft.
    pub async fn move_up(&self, id: &str) -> Result<(), MarketingError> {
        let mut draft = self.draft().await?;
        let i = draft.dishes.iter().position(|d| d.id == id).ok_or(MarketingError::NotFound)?;
        if i > 0 {
            draft.dishes.swap(i, i - 1);
        }
        self.save_draft(&draft).await
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
        *self.published.write().unwrap() = Arc::new(content.clone());
        tracing::info!(version = id, by, dishes = content.dishes.len(), note, "marketing published");
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

    /// Every published version, newest first.
    pub async fn versions(&self) -> Result<Vec<Version>, MarketingError> {
        let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT id, published_at, published_by, note, content FROM marketing_versions ORDER BY id DESC LIMIT 100",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, published_at, published_by, note, content)| Version {
                id,
                published_at,
                published_by,
                note,
                dishes: serde_json::from_str::<Content>(&content).map(|c| c.dishes.len()).unwrap_or(0),
            })
            .collect())
    }

    /// Takes an uploaded photo: sniffs, decodes, re-encodes at [`WIDTHS`];
    /// returns its id.
    pub async fn store_image(&self, bytes: Vec<u8>) -> Result<String, MarketingError> {
        if bytes.len() > MAX_UPLOAD {
            return Err(MarketingError::TooLarge);
        }
        let id = ap_protocol::hex::encode(&Sha256::digest(&bytes)[..8]);
        let encoded =
            tokio::task::spawn_blocking(move || reencode(&bytes)).await.map_err(|_| MarketingError::NotAnImage)??;
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

    /// A photo as an HTTP response, by its URL's id and file (`640.jpg`):
    /// the portal's `/m/…` and the console's preview.
    pub async fn photo_response(&self, id: &str, file: &str) -> axum::response::Response {
        let width = file.strip_suffix(".jpg").and_then(|w| w.parse::<u32>().ok());
        let (Some(width), true) = (width, id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())) else {
            return axum::http::StatusCode::NOT_FOUND.into_response();
        };
        match self.image(id, width).await {
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

    /// A photo at one of [`WIDTHS`] (JPEG).
    pub async fn image(&self, id: &str, width: u32) -> Result<Option<Vec<u8>>, MarketingError> {
        Ok(sqlx::query_scalar("SELECT bytes FROM marketing_images WHERE id = ? AND width = ?")
            .bind(id)
            .bind(width)
            .fetch_optional(&self.db)
            .await?)
    }
}

/// `38`, `38.5`, `¥38.50` -> cents.
fn parse_price(text: &str) -> Option<i64> {
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

/// A price for people: `38` or `38.50`.
pub fn price_text(cents: i64) -> String {
    if cents % 100 == 0 {
        format!("{}", cents / 100)
    } else {
        format!("{}.{:02}", cents / 100, cents % 100)
    }
}

/// Sniff, decode with limits, resize to each width (never up), JPEG.
fn reencode(bytes: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, MarketingError> {
    use image::ImageFormat;
    let format = image::guess_format(bytes).map_err(|_| MarketingError::NotAnImage)?;
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP) {
        return Err(MarketingError::NotAnImage);
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A PNG of `w` x `h` pixels, made here.
    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 120]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

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
        assert!(versions.iter().any(|v| v.id == v2 && v.dishes == 2));
        assert!(matches!(m.rollback(99, "mkt").await, Err(MarketingError::NotFound)));
        assert!(matches!(m.add_dish("", "", "1", None).await, Err(MarketingError::Invalid(_))));
        assert!(matches!(m.add_dish("面", "", "abc", None).await, Err(MarketingError::Invalid(_))));
    }
}
