//! The HQ editor's drafts: what a scope shows (its own version of each
//! marketing block, else the nearest scope above's), and a scope's block as
//! the marketer changes it with the editor both consoles share
//! (`guestwifi_core::marketing::Edit`) until it is published.

use crate::db::{Db, SiteRef};
use guestwifi_core::hq::protocol::{Scope, BLOCKS};
use guestwifi_core::kit::time::now_ms;
use guestwifi_core::marketing::{compose, Content};
use std::collections::BTreeMap;

/// Each marketing block as the sites of `scope` would show it from HQ now:
/// the nearest scope's newest version (a site's own blocks are not HQ's to see).
pub async fn shown(db: &Db, brand: &str, scope: &Scope) -> Result<BTreeMap<String, serde_json::Value>, sqlx::Error> {
    let at = match scope {
        Scope::Brand => SiteRef { brand: brand.into(), site: String::new(), region: String::new() },
        Scope::Region(r) => SiteRef { brand: brand.into(), site: String::new(), region: r.clone() },
        Scope::Site(s) => {
            let region = db.sites(Some(brand)).await?.into_iter().find(|x| &x.site == s).map(|x| x.region);
            SiteRef { brand: brand.into(), site: s.clone(), region: region.unwrap_or_default() }
        }
    };
    let blocks = db.blocks_at(&at).await?;
    Ok(blocks.into_iter().filter(|(name, _)| BLOCKS.contains(&name.as_str())).map(|(n, b)| (n, b.value)).collect())
}

/// The drafts kept at `scope`, by block.
pub async fn drafts(
    pool: &sqlx::AnyPool,
    brand: &str,
    scope: &Scope,
) -> Result<BTreeMap<String, serde_json::Value>, sqlx::Error> {
    let (kind, id) = scope.parts();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT block, value FROM hq_drafts WHERE brand_id = $1 AND scope_kind = $2 AND scope_id = $3")
            .bind(brand)
            .bind(kind)
            .bind(id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().filter_map(|(b, v)| Some((b, serde_json::from_str(&v).ok()?))).collect())
}

/// What the editor and the phone preview show at `scope`: every block as
/// the scope shows it, with the scope's drafts in place; which blocks are
/// drafts. A draft that no longer reads with the rest (a promotion its ad
/// opened, withdrawn above) is left out rather than hiding everything.
pub async fn content(db: &Db, brand: &str, scope: &Scope) -> Result<(Content, Vec<String>), sqlx::Error> {
    let mut blocks = shown(db, brand, scope).await?;
    let base = compose(&Content::default(), &blocks).unwrap_or_default();
    let mut drafted = Vec::new();
    for (block, value) in drafts(db.pool(), brand, scope).await? {
        blocks.insert(block.clone(), value);
        if compose(&Content::default(), &blocks).is_ok() {
            drafted.push(block);
        } else {
            blocks.remove(&block);
        }
    }
    Ok((compose(&Content::default(), &blocks).unwrap_or(base), drafted))
}

/// Takes the lock of `scope`'s `block` drafts for `tx` (two marketers'
/// edits of one block are applied one after the other, none lost).
pub async fn lock_in(tx: &mut sqlx::AnyConnection, brand: &str, scope: &Scope, block: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))::TEXT")
        .bind(format!("draft {brand} {scope} {block}"))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Keeps `value` as `scope`'s draft of `block`, in `tx`.
pub async fn save_in(
    tx: &mut sqlx::AnyConnection,
    brand: &str,
    scope: &Scope,
    block: &str,
    value: &serde_json::Value,
    by: &str,
) -> Result<(), sqlx::Error> {
    let (kind, id) = scope.parts();
    sqlx::query(
        "INSERT INTO hq_drafts (brand_id, scope_kind, scope_id, block, value, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (brand_id, scope_kind, scope_id, block) DO UPDATE SET \
         value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(brand)
    .bind(kind)
    .bind(id)
    .bind(block)
    .bind(value.to_string())
    .bind(now_ms())
    .bind(by)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Forgets `scope`'s draft of `block` (published or discarded), in `tx`;
/// whether there was one.
pub async fn drop_in(
    tx: &mut sqlx::AnyConnection,
    brand: &str,
    scope: &Scope,
    block: &str,
) -> Result<bool, sqlx::Error> {
    let (kind, id) = scope.parts();
    let gone =
        sqlx::query("DELETE FROM hq_drafts WHERE brand_id = $1 AND scope_kind = $2 AND scope_id = $3 AND block = $4")
            .bind(brand)
            .bind(kind)
            .bind(id)
            .bind(block)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(gone > 0)
}
