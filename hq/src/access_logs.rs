//! What each site says of its access log (上网日志), for the compliance
//! officer: the last check of its hash chain and its daily digests, filed
//! from the heartbeat. The log's rows never leave the site (the police ask
//! the site); HQ keeps the digests so a history rewritten at a site shows
//! as a day whose head changed.

use guestwifi_core::kit::time::now_ms;
use guestwifi_core::trail::State;

/// Files a heartbeat's access-log state of `brand`'s `site` in `tx`.
pub async fn file_in(tx: &mut sqlx::AnyConnection, brand: &str, site: &str, state: &State) -> Result<(), sqlx::Error> {
    let now = now_ms();
    if let Some(v) = &state.verdict {
        let (seq, why) = v.broken.clone().unzip();
        sqlx::query(
            "INSERT INTO hq_access_checks (brand_id, site_id, checked_at, rows, pending, broken_seq, why, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (brand_id, site_id) DO UPDATE SET \
             checked_at = excluded.checked_at, rows = excluded.rows, pending = excluded.pending, \
             broken_seq = excluded.broken_seq, why = excluded.why, received_at = excluded.received_at",
        )
        .bind(brand)
        .bind(site)
        .bind(state.checked_at)
        .bind(v.rows as i64)
        .bind(v.pending as i64)
        .bind(seq)
        .bind(why.map(|w| w.chars().take(200).collect::<String>()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for d in state.digests.iter().take(7) {
        let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
        if d.day.len() != 10 || !hex(&d.hash) {
            continue;
        }
        sqlx::query(
            "INSERT INTO hq_access_digests (brand_id, site_id, day, last_seq, hash, rows, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (brand_id, site_id, day) DO UPDATE SET \
             changed_hash = excluded.hash, changed_at = excluded.received_at \
             WHERE hq_access_digests.hash <> excluded.hash AND hq_access_digests.changed_hash IS NULL",
        )
        .bind(brand)
        .bind(site)
        .bind(&d.day)
        .bind(d.last_seq)
        .bind(&d.hash)
        .bind(d.rows)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// One site's access log as HQ last heard of it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SiteLog {
    /// Site id.
    pub site_id: String,
    /// When the site last checked its chain (UTC ms; None: never said).
    pub checked_at: Option<i64>,
    /// Rows then.
    pub rows: Option<i64>,
    /// The first broken row, if any.
    pub broken_seq: Option<i64>,
    /// Why.
    pub why: Option<String>,
    /// The newest digest's day.
    pub last_day: Option<String>,
    /// Its head.
    pub last_hash: Option<String>,
    /// Days whose head changed after HQ first heard it.
    pub changed_days: i64,
}

/// Every site of `brand` with what it last said of its access log.
pub async fn list(pool: &sqlx::AnyPool, brand: &str) -> Result<Vec<SiteLog>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.site_id, c.checked_at, c.rows, c.broken_seq, c.why, \
           (SELECT day FROM hq_access_digests d WHERE d.brand_id = s.brand_id AND d.site_id = s.site_id ORDER BY day DESC LIMIT 1) AS last_day, \
           (SELECT hash FROM hq_access_digests d WHERE d.brand_id = s.brand_id AND d.site_id = s.site_id ORDER BY day DESC LIMIT 1) AS last_hash, \
           (SELECT COUNT(*) FROM hq_access_digests d WHERE d.brand_id = s.brand_id AND d.site_id = s.site_id AND d.changed_hash IS NOT NULL) AS changed_days \
         FROM hq_sites s LEFT JOIN hq_access_checks c ON c.brand_id = s.brand_id AND c.site_id = s.site_id \
         WHERE s.brand_id = $1 ORDER BY s.site_id",
    )
    .bind(brand)
    .fetch_all(pool)
    .await
}
