//! Staged publishes. A block meant for a region or the whole brand goes
//! first to one canary site, then (for the brand) to the canary's region,
//! then to the target; each step waits until every site of the step that
//! is online has applied the bundle HQ gives it now, and stops the whole
//! rollout if any of them refused it since the step began. Stopping puts
//! every scope the rollout touched back as it was. A site that is offline
//! is not waited for (it takes the block when it is back); a canary that
//! is offline is.
//!
//! Every replica drives the rollouts ([`drive`]); a step is taken by one
//! conditional update of the rollout's stage in the same transaction as its
//! publish, so two replicas never take the same step twice.

use crate::audit::Entry;
use crate::blocks::{check_block, current_in, publish_in};
use crate::db::{Db, SiteRef, SiteRow};
use crate::health::Thresholds;
use guestwifi_core::hq::protocol::Scope;
use guestwifi_core::kit::time::now_ms;
use std::time::Duration;

/// Where a rollout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// On the canary site.
    Canary,
    /// On the canary's region (a rollout for the brand).
    Region,
    /// On the target.
    Target,
    /// Applied by every online site of the target.
    Done,
    /// Stopped: a site refused it; every scope is as it was.
    Halted,
}

impl Stage {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Canary => "canary",
            Stage::Region => "region",
            Stage::Target => "target",
            Stage::Done => "done",
            Stage::Halted => "halted",
        }
    }

    fn parse(text: &str) -> Stage {
        match text {
            "canary" => Stage::Canary,
            "region" => Stage::Region,
            "target" => Stage::Target,
            "done" => Stage::Done,
            _ => Stage::Halted,
        }
    }
}

/// A rollout as the content page shows it.
#[derive(Clone, Debug)]
pub struct Rollout {
    /// Its id.
    pub id: String,
    /// Brand.
    pub brand: String,
    /// The block.
    pub block: String,
    /// The value rolled out (None: a withdrawal).
    pub value: Option<serde_json::Value>,
    /// Where it is going.
    pub target: Scope,
    /// The canary site, and its region.
    pub canary: (String, String),
    /// What the canary, its region and the target held before.
    prev: [Option<serde_json::Value>; 3],
    /// Where it stands, since when.
    pub stage: Stage,
    /// Since when (UTC ms).
    pub stage_at: i64,
    /// Why it halted.
    pub why: String,
    /// Started when, by whom.
    pub created_at: i64,
    /// By whom.
    pub created_by: String,
}

/// Why a rollout cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The block, the target or the canary do not fit.
    #[error("{0}")]
    Invalid(String),
    /// The store.
    #[error("store")]
    Store(#[from] sqlx::Error),
}

/// Starts a rollout of `value` as `block` for `target` (a region or the
/// brand) by way of `canary` (a site of the target): the block is published
/// at the canary's site scope now, `audit` written with it. The rollout's id.
pub async fn start(
    db: &Db,
    audit: &Entry<'_>,
    block: &str,
    value: Option<serde_json::Value>,
    target: &Scope,
    canary: &str,
) -> Result<String, RolloutError> {
    let brand = audit.brand;
    check_block(block, value.as_ref()).map_err(|e| RolloutError::Invalid(format!("{e:#}")))?;
    let sites = db.sites(Some(brand)).await?;
    let Some(site) = sites.iter().find(|s| s.site == canary && s.state == "enrolled") else {
        return Err(RolloutError::Invalid(format!("{canary} is no enrolled site of {brand}")));
    };
    let within = match target {
        Scope::Brand => true,
        Scope::Region(r) => &site.region == r,
        Scope::Site(_) => return Err(RolloutError::Invalid("a site takes a block at once: no canary".into())),
    };
    if !within {
        return Err(RolloutError::Invalid(format!("the canary {canary} is not in {target}")));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (kind, target_id) = target.parts();
    let canary_scope = Scope::Site(canary.into());
    let region_scope = Scope::Region(site.region.clone());
    let mut tx = db.pool().begin().await?;
    let prev_canary = current_in(&mut tx, brand, &canary_scope, block).await?;
    let prev_region = match site.region.is_empty() {
        true => None,
        false => current_in(&mut tx, brand, &region_scope, block).await?,
    };
    let prev_target = current_in(&mut tx, brand, target, block).await?;
    let text = |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string());
    sqlx::query(
        "INSERT INTO hq_rollouts (brand_id, rollout_id, block, value, target_kind, target_id, canary_site, canary_region, \
           prev_canary, prev_region, prev_target, stage, stage_at, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'canary', $12, $12, $13)",
    )
    .bind(brand)
    .bind(&id)
    .bind(block)
    .bind(text(&value))
    .bind(kind)
    .bind(target_id)
    .bind(canary)
    .bind(&site.region)
    .bind(text(&prev_canary))
    .bind(text(&prev_region))
    .bind(text(&prev_target))
    .bind(now_ms())
    .bind(audit.actor)
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        // hq_rollouts_one_live: a rollout of this block is under way (or a second tap).
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            RolloutError::Invalid(format!("a staged publish of {block} is under way: wait for it to finish"))
        }
        other => RolloutError::Store(other),
    })?;
    let by = format!("{} (rollout {})", audit.actor, &id[..8]);
    publish_in(&mut tx, brand, &canary_scope, block, value.as_ref(), &by).await?;
    crate::audit::write(&mut tx, audit).await?;
    tx.commit().await?;
    db.published(brand).await?;
    Ok(id)
}

/// The rollouts of `brand` (every brand: None), newest first; only the
/// live ones (not done or halted) with `live`.
pub async fn list(db: &Db, brand: Option<&str>, live: bool, limit: i64) -> Result<Vec<Rollout>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        brand_id: String,
        rollout_id: String,
        block: String,
        value: Option<String>,
        target_kind: String,
        target_id: String,
        canary_site: String,
        canary_region: String,
        prev_canary: Option<String>,
        prev_region: Option<String>,
        prev_target: Option<String>,
        stage: String,
        stage_at: i64,
        why: String,
        created_at: i64,
        created_by: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT brand_id, rollout_id, block, value, target_kind, target_id, canary_site, canary_region, prev_canary, \
           prev_region, prev_target, stage, stage_at, why, created_at, created_by \
         FROM hq_rollouts WHERE ($1 = '' OR brand_id = $1) AND ($2 = 0 OR stage IN ('canary', 'region', 'target')) \
         ORDER BY created_at DESC LIMIT $3",
    )
    .bind(brand.unwrap_or(""))
    .bind(i64::from(live))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok());
    Ok(rows
        .into_iter()
        .map(|r| Rollout {
            id: r.rollout_id,
            brand: r.brand_id,
            block: r.block,
            value: json(r.value),
            target: crate::blocks::scope_of(&r.target_kind, &r.target_id),
            canary: (r.canary_site, r.canary_region),
            prev: [json(r.prev_canary), json(r.prev_region), json(r.prev_target)],
            stage: Stage::parse(&r.stage),
            stage_at: r.stage_at,
            why: r.why,
            created_at: r.created_at,
            created_by: r.created_by,
        })
        .collect())
}

/// Takes every rollout one step further where it can, every second, on
/// every replica, for as long as HQ runs.
pub async fn drive(db: Db, ticket_public: Option<String>, thresholds: Thresholds) {
    loop {
        if let Err(err) = step_all(&db, ticket_public.as_deref(), thresholds).await {
            tracing::warn!(error = %err, "rollouts: could not take a step");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One look at every live rollout (all brands).
pub async fn step_all(db: &Db, ticket_public: Option<&str>, thresholds: Thresholds) -> Result<(), sqlx::Error> {
    for rollout in list(db, None, true, 1000).await? {
        let sites = db.sites(Some(&rollout.brand)).await?;
        match verdict(db, &rollout, &sites, ticket_public, thresholds).await? {
            Verdict::Wait => {}
            Verdict::Advance => advance(db, &rollout).await?,
            Verdict::Halt(why) => halt(db, &rollout, &why).await?,
        }
    }
    Ok(())
}

enum Verdict {
    Wait,
    Advance,
    Halt(String),
}

/// The scope the rollout's current stage has published at.
fn stage_scope(r: &Rollout) -> Scope {
    match r.stage {
        Stage::Canary => Scope::Site(r.canary.0.clone()),
        Stage::Region => Scope::Region(r.canary.1.clone()),
        _ => r.target.clone(),
    }
}

/// Whether every online site of the stage has applied what HQ gives it now,
/// and none refused it since the stage began.
async fn verdict(
    db: &Db,
    r: &Rollout,
    sites: &[SiteRow],
    ticket_public: Option<&str>,
    t: Thresholds,
) -> Result<Verdict, sqlx::Error> {
    let scope = stage_scope(r);
    let now = now_ms();
    let covered: Vec<&SiteRow> = sites
        .iter()
        .filter(|s| s.state == "enrolled")
        .filter(|s| match &scope {
            Scope::Brand => true,
            Scope::Region(id) => &s.region == id,
            Scope::Site(id) => &s.site == id,
        })
        .collect();
    let refs: Vec<SiteRef> = covered
        .iter()
        .map(|s| SiteRef { brand: s.brand.clone(), site: s.site.clone(), region: s.region.clone() })
        .collect();
    let bundles = db.bundles(&r.brand, &refs, ticket_public).await?;
    let mut applied_somewhere = false;
    for (s, bundle) in covered.into_iter().zip(bundles) {
        let wanted = bundle.version;
        if s.refused == wanted && s.refused_at.is_some_and(|at| at >= r.stage_at) {
            return Ok(Verdict::Halt(format!("{} refused it: {}", s.site, s.refused_why)));
        }
        let online = s.heartbeat_at.is_some_and(|at| now - at <= t.offline_ms);
        if s.applied == wanted {
            applied_somewhere = true;
        } else if online || (r.stage == Stage::Canary) {
            // The canary is waited for even while offline: it is the test.
            return Ok(Verdict::Wait);
        }
    }
    Ok(if applied_somewhere { Verdict::Advance } else { Verdict::Wait })
}

/// The next stage, its scope published in the same transaction as the
/// stage changes; the scope left behind gets back what it held.
async fn advance(db: &Db, r: &Rollout) -> Result<(), sqlx::Error> {
    let next = match (r.stage, &r.target) {
        (Stage::Canary, Scope::Brand) if !r.canary.1.is_empty() => Stage::Region,
        (Stage::Canary | Stage::Region, _) => Stage::Target,
        _ => Stage::Done,
    };
    let mut tx = db.pool().begin().await?;
    if !moved(&mut tx, r, next, "").await? {
        return Ok(());
    }
    let by = format!("rollout {}", &r.id[..8]);
    if next != Stage::Done {
        let scope = match next {
            Stage::Region => Scope::Region(r.canary.1.clone()),
            _ => r.target.clone(),
        };
        publish_in(&mut tx, &r.brand, &scope, &r.block, r.value.as_ref(), &by).await?;
        // The narrower scope the rollout used goes back to what it held.
        let (left, held) = match r.stage {
            Stage::Canary => (Scope::Site(r.canary.0.clone()), &r.prev[0]),
            _ => (Scope::Region(r.canary.1.clone()), &r.prev[1]),
        };
        if left != scope {
            publish_in(&mut tx, &r.brand, &left, &r.block, held.as_ref(), &by).await?;
        }
    }
    let what = format!("{} → {}", r.block, r.target);
    crate::audit::write(&mut tx, &Entry::hq(&r.brand, "rollout.step", &what, r.stage.as_str(), next.as_str())).await?;
    tx.commit().await?;
    tracing::info!(rollout = %r.id, block = %r.block, stage = next.as_str(), "rollout stepped");
    db.published(&r.brand).await
}

/// Stops the rollout: every scope it published at gets back what it held.
async fn halt(db: &Db, r: &Rollout, why: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    if !moved(&mut tx, r, Stage::Halted, why).await? {
        return Ok(());
    }
    let by = format!("rollout {} halted", &r.id[..8]);
    let stage_scope = stage_scope(r);
    publish_in(&mut tx, &r.brand, &stage_scope, &r.block, held(r, &stage_scope).as_ref(), &by).await?;
    let what = format!("{} → {}", r.block, r.target);
    crate::audit::write(&mut tx, &Entry::hq(&r.brand, "rollout.halt", &what, r.stage.as_str(), why)).await?;
    tx.commit().await?;
    tracing::warn!(rollout = %r.id, block = %r.block, why, "rollout halted; its scopes are back as they were");
    db.published(&r.brand).await
}

/// What `scope` held before the rollout.
fn held(r: &Rollout, scope: &Scope) -> Option<serde_json::Value> {
    match scope {
        Scope::Site(_) => r.prev[0].clone(),
        s if *s == r.target => r.prev[2].clone(),
        _ => r.prev[1].clone(),
    }
}

/// Moves the rollout from its stage to `next`; false if another replica did first.
async fn moved(tx: &mut sqlx::AnyConnection, r: &Rollout, next: Stage, why: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE hq_rollouts SET stage = $3, stage_at = $4, why = $5 WHERE brand_id = $1 AND rollout_id = $2 AND stage = $6",
    )
    .bind(&r.brand)
    .bind(&r.id)
    .bind(next.as_str())
    .bind(now_ms())
    .bind(why)
    .bind(r.stage.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}
