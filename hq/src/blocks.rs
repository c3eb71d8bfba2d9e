//! The blocks HQ publishes for a scope: what may be published (checked as
//! a site checks it), a new version in a transaction of the caller's, the
//! newest at a scope, and how a scope is stored.

use guestwifi_core::hq::protocol::{self, Scope};
use guestwifi_core::kit::time::now_ms;
use std::collections::BTreeMap;

/// A stored scope.
pub fn scope_of(kind: &str, id: &str) -> Scope {
    match kind {
        "region" => Scope::Region(id.into()),
        "site" => Scope::Site(id.into()),
        _ => Scope::Brand,
    }
}

/// Whether `value` may be published as `block`: a marketing block the
/// site's editor would accept, or settings keys HQ may manage.
pub fn check_block(block: &str, value: Option<&serde_json::Value>) -> anyhow::Result<()> {
    let settings = block == guestwifi_core::hq::settings::BLOCK;
    anyhow::ensure!(
        settings || protocol::BLOCKS.contains(&block),
        "{block:?} is not a block: one of {:?} or settings",
        protocol::BLOCKS
    );
    match value {
        Some(v) if settings => {
            let keys: BTreeMap<String, serde_json::Value> = serde_json::from_value(v.clone())
                .map_err(|_| anyhow::anyhow!("settings: an object of dotted keys (\"auth.sms.enabled\": true)"))?;
            guestwifi_core::hq::settings::to_toml(&keys).map_err(anyhow::Error::msg)?;
        }
        Some(v) => {
            let blocks = BTreeMap::from([(block.to_string(), v.clone())]);
            guestwifi_core::marketing::compose(&Default::default(), &blocks).map_err(anyhow::Error::msg)?;
        }
        None => {}
    }
    Ok(())
}

/// Publishes `value` as the newest version of `block` at `scope` in `tx`
/// (checked by the caller); its version. The caller wakes the sites after commit.
pub async fn publish_in(
    tx: &mut sqlx::AnyConnection,
    brand: &str,
    scope: &Scope,
    block: &str,
    value: Option<&serde_json::Value>,
    by: &str,
) -> Result<i64, sqlx::Error> {
    let (kind, id) = scope.parts();
    let version: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM hq_blocks WHERE brand_id = $1 AND scope_kind = $2 AND scope_id = $3 AND block = $4",
    )
    .bind(brand)
    .bind(kind)
    .bind(id)
    .bind(block)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO hq_blocks (brand_id, scope_kind, scope_id, block, version, value, published_at, published_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(brand)
    .bind(kind)
    .bind(id)
    .bind(block)
    .bind(version)
    .bind(value.map(|v| v.to_string()))
    .bind(now_ms())
    .bind(by)
    .execute(&mut *tx)
    .await?;
    Ok(version)
}

/// The newest value of `block` at `scope` (None: none, or withdrawn).
pub async fn current_in(
    tx: &mut sqlx::AnyConnection,
    brand: &str,
    scope: &Scope,
    block: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let (kind, id) = scope.parts();
    let value: Option<Option<String>> = sqlx::query_scalar(
        "SELECT value FROM hq_blocks WHERE brand_id = $1 AND scope_kind = $2 AND scope_id = $3 AND block = $4 \
         ORDER BY version DESC LIMIT 1",
    )
    .bind(brand)
    .bind(kind)
    .bind(id)
    .bind(block)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(value.flatten().and_then(|v| serde_json::from_str(&v).ok()))
}

/// The blocks a brand's scopes let their sites replace: (scope kind, scope id, block).
pub type Overridable = std::collections::HashSet<(String, String, String)>;

/// The brand's scopes' "sites may use their own" blocks.
pub async fn overridable(pool: &sqlx::AnyPool, brand: &str) -> Result<Overridable, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT scope_kind, scope_id, block FROM hq_block_policy WHERE brand_id = $1 AND sites_may_override",
    )
    .bind(brand)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Whether `scope` lets its sites replace `block`, in `tx`.
pub async fn may_override_in(
    tx: &mut sqlx::AnyConnection,
    brand: &str,
    scope: &Scope,
    block: &str,
) -> Result<bool, sqlx::Error> {
    let (kind, id) = scope.parts();
    let allowed: Option<bool> = sqlx::query_scalar(
        "SELECT sites_may_override FROM hq_block_policy WHERE brand_id = $1 AND scope_kind = $2 AND scope_id = $3 AND block = $4",
    )
    .bind(brand)
    .bind(kind)
    .bind(id)
    .bind(block)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(allowed.unwrap_or(false))
}

/// Sets whether `scope` lets its sites replace `block`, in `tx`, set `by`.
pub async fn set_may_override_in(
    tx: &mut sqlx::AnyConnection,
    brand: &str,
    scope: &Scope,
    block: &str,
    allowed: bool,
    by: &str,
) -> Result<(), sqlx::Error> {
    let (kind, id) = scope.parts();
    sqlx::query(
        "INSERT INTO hq_block_policy (brand_id, scope_kind, scope_id, block, sites_may_override, set_at, set_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (brand_id, scope_kind, scope_id, block) DO UPDATE SET \
         sites_may_override = excluded.sites_may_override, set_at = excluded.set_at, set_by = excluded.set_by",
    )
    .bind(brand)
    .bind(kind)
    .bind(id)
    .bind(block)
    .bind(allowed)
    .bind(now_ms())
    .bind(by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The blocks `site` last said it shows its own of (where HQ lets it).
pub async fn own_at(pool: &sqlx::AnyPool, brand: &str, site: &str) -> Result<Vec<String>, sqlx::Error> {
    let own: Option<String> =
        sqlx::query_scalar("SELECT own_blocks FROM hq_site_status WHERE brand_id = $1 AND site_id = $2")
            .bind(brand)
            .bind(site)
            .fetch_optional(pool)
            .await?;
    Ok(own.unwrap_or_default().split_whitespace().map(str::to_string).collect())
}
