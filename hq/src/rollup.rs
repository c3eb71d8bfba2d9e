//! Chain statistics kept up as facts land: every `events` row a filing
//! inserts is queued by a trigger in the same transaction
//! (`hq_rollup_queue`), and the roller takes the oldest queued rows, adds
//! what they count to `hq_stats` (a scope's day: the brand, the site's
//! region, the site) and deletes them, all in one transaction. A fact so
//! counts once, however often its site resends it and whichever replica
//! rolls it; one replica rolls at a time (an advisory lock), so two never
//! wait on each other's rows. A statistics page then sums a few hundred
//! rows a scope a year (the `stats` module) and never reads `events`.
//!
//! What a day counts, by `what` and `key`:
//! - `logins`, `method`/the method, `hour`/00-23 (the login's local hour);
//! - `guests`/`new` (first login in the chain), `elsewhere` (first here,
//!   known at another site of the chain), `returning`: each device once a
//!   day a scope, at its first login that day;
//! - `views` (portal views), `refusals` and `refusal`/`method:reason`;
//! - `visits_ended`, `dwell_ms` and `dwell`/a bucket, on the day the visit
//!   started;
//! - `promotion_impression`, `promotion_click`, `ad_impression`,
//!   `ad_click`, `dish_impression`, `menu_view`, keyed by what was shown
//!   (an impression of several slots counts once for each).

use crate::db::Db;
use guestwifi_core::kit::time::{now_ms, DAY_MS};
use guestwifi_core::members::feed::placeholders;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// Queued rows one roll takes at most.
pub const ROLL_ROWS: i64 = 20_000;

/// Days a device's first login of a day is remembered (how late a fact
/// may land and still not count its device twice that day).
pub const DAILY_GUESTS_DAYS: i32 = 14;

/// Rows a multi-row statement takes at a time.
const ROWS_A_STATEMENT: usize = 1_000;

/// The advisory lock only one roller holds.
const ROLLER_LOCK: i64 = 0x6871_5f72_6f6c_6c75;

/// Dwell buckets: upper bounds in minutes, and their keys.
pub const DWELL_BUCKETS: [(i64, &str); 5] =
    [(15, "0-15"), (30, "15-30"), (60, "30-60"), (120, "60-120"), (i64::MAX, "120+")];

/// A queued events row.
#[derive(Clone, Debug)]
pub struct Landed {
    /// Its site.
    pub site: String,
    /// The fact's kind (`login`, `visit_end`, `portal_view`, ...).
    pub kind: String,
    /// The device.
    pub mac: String,
    /// When it happened, UTC ms.
    pub at: i64,
    /// The method, the slots shown, the visit id...
    pub detail: String,
}

/// The day `at` falls on in the zone `offset` (hours): days since
/// 1970-01-01 there.
pub fn day_of(at: i64, offset: i64) -> i32 {
    (at + offset * 3_600_000).div_euclid(DAY_MS) as i32
}

/// The scopes a site's figures count in: the brand, its region, itself.
pub fn scopes_of(site: &str, region: &str) -> Vec<String> {
    let mut scopes = vec!["brand".to_string()];
    if !region.is_empty() {
        scopes.push(format!("region:{region}"));
    }
    scopes.push(format!("site:{site}"));
    scopes
}

/// A device as the statistics know it: a hash of the brand and the MAC.
pub fn guest_of(brand: &str, mac: &str) -> String {
    let digest = Sha256::digest(format!("{brand}/{mac}").as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

/// The dwell bucket of `ms`.
pub fn dwell_bucket(ms: i64) -> &'static str {
    let minutes = ms / 60_000;
    DWELL_BUCKETS.iter().find(|(max, _)| minutes < *max).map_or("120+", |(_, k)| k)
}

/// Increments to add to `hq_stats`: (scope, what, day, key) -> n.
#[derive(Debug, Default)]
pub struct Tally {
    /// The increments, in key order (the order rows are locked in).
    pub counts: BTreeMap<(String, String, i32, String), i64>,
}

impl Tally {
    /// Adds `n` to `what`/`key` of `day` in each of `scopes`.
    pub fn add(&mut self, scopes: &[String], what: &str, day: i32, key: &str, n: i64) {
        for scope in scopes {
            *self.counts.entry((scope.clone(), what.to_string(), day, key.to_string())).or_default() += n;
        }
    }

    /// What `row` counts by itself (guests and dwell need the store).
    pub fn count(&mut self, scopes: &[String], row: &Landed, offset: i64) {
        let day = day_of(row.at, offset);
        match row.kind.as_str() {
            "login" => {
                self.add(scopes, "logins", day, "", 1);
                self.add(scopes, "method", day, &row.detail, 1);
                let hour = (row.at + offset * 3_600_000).rem_euclid(DAY_MS) / 3_600_000;
                self.add(scopes, "hour", day, &format!("{hour:02}"), 1);
            }
            "portal_view" => self.add(scopes, "views", day, "", 1),
            "refusal" => {
                self.add(scopes, "refusals", day, "", 1);
                self.add(scopes, "refusal", day, &row.detail, 1);
            }
            kind if kind.ends_with("_impression") => {
                for slot in row.detail.split(',').filter(|s| !s.is_empty()) {
                    self.add(scopes, kind, day, slot, 1);
                }
            }
            "promotion_click" | "ad_click" | "menu_view" => self.add(scopes, &row.kind, day, &row.detail, 1),
            _ => {}
        }
    }

    /// A visit that started at `started` and lasted `ms`.
    pub fn dwell(&mut self, scopes: &[String], started: i64, ms: i64, offset: i64) {
        let day = day_of(started, offset);
        self.add(scopes, "visits_ended", day, "", 1);
        self.add(scopes, "dwell_ms", day, "", ms.max(0));
        self.add(scopes, "dwell", day, dwell_bucket(ms), 1);
    }

    /// A device's first login of `day` in `scope`, classified.
    pub fn guest(&mut self, scope: &str, day: i32, class: &str) {
        self.add(&[scope.to_string()], "guests", day, class, 1);
    }
}

/// A device at its first login of a day in a scope: returning when the
/// scope saw it before, new here but known elsewhere when only the chain
/// did, else new.
pub fn classify(seen_here_before: bool, seen_in_chain_before: bool) -> &'static str {
    match (seen_here_before, seen_in_chain_before) {
        (true, _) => "returning",
        (false, true) => "elsewhere",
        (false, false) => "new",
    }
}

/// Adds `tally` to `hq_stats` of `brand`: multi-row upserts in key order.
pub async fn write(tx: &mut AnyConnection, brand: &str, tally: &Tally) -> Result<(), sqlx::Error> {
    let rows: Vec<_> = tally.counts.iter().filter(|(_, n)| **n != 0).collect();
    for chunk in rows.chunks(ROWS_A_STATEMENT) {
        let sql = format!(
            "INSERT INTO hq_stats (brand_id, scope, what, day, key, n) VALUES {} \
             ON CONFLICT (brand_id, scope, what, day, key) DO UPDATE SET n = hq_stats.n + EXCLUDED.n",
            placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for ((scope, what, day, key), n) in chunk {
            q = q.bind(brand).bind(scope.as_str()).bind(what.as_str()).bind(*day).bind(key.as_str()).bind(**n);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Takes up to `limit` queued rows and adds them to the figures; returns
/// how many it took (0 when another replica is rolling).
pub async fn roll_once(db: &Db, offset: i64, limit: i64) -> Result<usize, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)").bind(ROLLER_LOCK).fetch_one(&mut *tx).await?;
    if !locked {
        return Ok(0);
    }
    let rows: Vec<(String, String, String, String, i64, String)> = sqlx::query_as(
        "DELETE FROM hq_rollup_queue WHERE seq IN (SELECT seq FROM hq_rollup_queue ORDER BY seq LIMIT $1) \
         RETURNING brand_id, site_id, kind, mac, at, detail",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let taken = rows.len();
    let mut brands: BTreeMap<String, Vec<Landed>> = BTreeMap::new();
    for (brand, site, kind, mac, at, detail) in rows {
        brands.entry(brand).or_default().push(Landed { site, kind, mac, at, detail });
    }
    for (brand, rows) in &brands {
        roll_brand(&mut tx, brand, rows, offset).await?;
    }
    tx.commit().await?;
    Ok(taken)
}

/// Adds `rows` of `brand` to its figures, in the caller's transaction.
async fn roll_brand(tx: &mut AnyConnection, brand: &str, rows: &[Landed], offset: i64) -> Result<(), sqlx::Error> {
    let regions: HashMap<String, String> =
        sqlx::query_as::<_, (String, String)>("SELECT site_id, region_id FROM sites WHERE brand_id = $1")
            .bind(brand)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let scopes = |site: &str| scopes_of(site, regions.get(site).map_or("", String::as_str));
    let mut tally = Tally::default();
    let mut logins: Vec<Login> = Vec::new();
    let mut ends: HashMap<String, Vec<String>> = HashMap::new();
    for row in rows {
        let scopes = scopes(&row.site);
        tally.count(&scopes, row, offset);
        match row.kind.as_str() {
            "login" if !row.mac.is_empty() => {
                logins.push(Login {
                    at: row.at,
                    day: day_of(row.at, offset),
                    guest: guest_of(brand, &row.mac),
                    scopes,
                });
            }
            "visit_end" => {
                let visit = row.detail.split(' ').next().unwrap_or_default().to_string();
                ends.insert(visit, scopes);
            }
            _ => {}
        }
    }
    guests(tx, brand, &mut logins, &mut tally).await?;
    let visits: Vec<&String> = ends.keys().collect();
    for chunk in visits.chunks(ROWS_A_STATEMENT) {
        let sql = format!(
            "SELECT visit_id, started_at, ended_at FROM visits WHERE brand_id = $1 AND ended_at IS NOT NULL \
             AND visit_id IN ({})",
            (2..chunk.len() + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64)>(&sql).bind(brand);
        for visit in chunk {
            q = q.bind(visit.as_str());
        }
        for (visit, started, ended) in q.fetch_all(&mut *tx).await? {
            if let Some(scopes) = ends.get(&visit) {
                tally.dwell(scopes, started, ended - started, offset);
            }
        }
    }
    write(tx, brand, &tally).await
}

/// A login as the guests' count needs it.
struct Login {
    at: i64,
    day: i32,
    guest: String,
    scopes: Vec<String>,
}

/// Counts each device's first login of a day in each scope, as new, new
/// here but known elsewhere, or returning. The logins of a roll are taken
/// in time order: a device that logged in at one site and then at another
/// is new at the first and known at the second, in one roll as in two.
async fn guests(
    tx: &mut AnyConnection,
    brand: &str,
    logins: &mut [Login],
    tally: &mut Tally,
) -> Result<(), sqlx::Error> {
    logins.sort_by_key(|l| l.at);
    let triples: BTreeSet<(&str, i32, &str)> =
        logins.iter().flat_map(|l| l.scopes.iter().map(|s| (s.as_str(), l.day, l.guest.as_str()))).collect();
    let triples: Vec<_> = triples.into_iter().collect();
    let mut firsts: BTreeSet<(String, i32, String)> = BTreeSet::new();
    for chunk in triples.chunks(ROWS_A_STATEMENT) {
        let sql = format!(
            "INSERT INTO hq_stats_daily_guests (brand_id, scope, day, guest) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING scope, day, guest",
            placeholders(chunk.len(), 4)
        );
        let mut q = sqlx::query_as::<_, (String, i32, String)>(&sql);
        for (scope, day, guest) in chunk {
            q = q.bind(brand).bind(*scope).bind(*day).bind(*guest);
        }
        firsts.extend(q.fetch_all(&mut *tx).await?);
    }
    if firsts.is_empty() {
        return Ok(());
    }
    // The first day each is seen in each scope and in the chain (the
    // earliest of the store's and the roll's).
    let mut first_days: BTreeMap<(&str, &str), i32> = BTreeMap::new();
    for (scope, day, guest) in &firsts {
        for scope in [scope.as_str(), "brand"] {
            let d = first_days.entry((scope, guest)).or_insert(*day);
            *d = (*d).min(*day);
        }
    }
    let seen: Vec<_> = first_days.iter().collect();
    let mut known: HashMap<(String, String), i32> = HashMap::new();
    for chunk in seen.chunks(ROWS_A_STATEMENT) {
        let sql = format!(
            "INSERT INTO hq_stats_seen (brand_id, scope, guest, first_day) VALUES {} \
             ON CONFLICT (brand_id, guest, scope) DO UPDATE SET first_day = LEAST(hq_stats_seen.first_day, EXCLUDED.first_day) \
             RETURNING scope, guest, first_day",
            placeholders(chunk.len(), 4)
        );
        let mut q = sqlx::query_as::<_, (String, String, i32)>(&sql);
        for ((scope, guest), day) in chunk {
            q = q.bind(brand).bind(*scope).bind(*guest).bind(**day);
        }
        for (scope, guest, first) in q.fetch_all(&mut *tx).await? {
            known.insert((scope, guest), first);
        }
    }
    for login in logins.iter() {
        let (day, guest) = (login.day, &login.guest);
        // Whether the chain saw this device before today, or today before
        // this login (its brand-wide first of the day was an earlier one).
        let brand_first = firsts.contains(&("brand".to_string(), day, guest.clone()));
        let chain_before = known.get(&("brand".to_string(), guest.clone())).is_some_and(|d| *d < day) || !brand_first;
        for scope in &login.scopes {
            let Some(first) = firsts.take(&(scope.clone(), day, guest.clone())) else { continue };
            let here_before = known.get(&(scope.clone(), guest.clone())).is_some_and(|d| *d < day);
            tally.guest(&first.0, day, classify(here_before, chain_before && scope != "brand"));
        }
        // Later logins of this device today: the chain has seen it.
        firsts.remove(&("brand".to_string(), day, guest.clone()));
    }
    Ok(())
}

/// Forgets the first logins of days no fact should land for any more.
pub async fn prune(db: &Db, offset: i64) -> Result<u64, sqlx::Error> {
    let before = day_of(now_ms(), offset) - DAILY_GUESTS_DAYS;
    Ok(sqlx::query("DELETE FROM hq_stats_daily_guests WHERE day < $1")
        .bind(before)
        .execute(db.pool())
        .await?
        .rows_affected())
}

/// Forgets `macs` of `brand` in the statistics (an erased member's
/// devices): their first days; the day sums keep no device.
pub async fn forget(db: &Db, brand: &str, macs: &[&str]) -> Result<(), sqlx::Error> {
    for mac in macs {
        let guest = guest_of(brand, mac);
        for table in ["hq_stats_seen", "hq_stats_daily_guests"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE brand_id = $1 AND guest = $2"))
                .bind(brand)
                .bind(&guest)
                .execute(db.pool())
                .await?;
        }
    }
    Ok(())
}

/// How many landed rows wait to be rolled up.
pub async fn waiting(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM hq_rollup_queue").fetch_one(db.pool()).await
}

/// Rolls up what lands, for as long as HQ runs: again at once while a roll
/// was full, else every second; prunes once an hour.
pub async fn drive(db: Db, offset: i64) {
    let mut pruned = 0i64;
    loop {
        let full = match roll_once(&db, offset, ROLL_ROWS).await {
            Ok(n) => n as i64 == ROLL_ROWS,
            Err(err) => {
                tracing::warn!(error = %guestwifi_core::error_chain(&err), "statistics: could not roll up");
                false
            }
        };
        if now_ms() - pruned > 3_600_000 {
            match prune(&db, offset).await {
                Ok(_) => pruned = now_ms(),
                Err(err) => tracing::warn!(error = %guestwifi_core::error_chain(&err), "statistics: could not prune"),
            }
        }
        if !full {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, at: i64, detail: &str) -> Landed {
        Landed { site: "s1".into(), kind: kind.into(), mac: "m".into(), at, detail: detail.into() }
    }

    #[test]
    fn a_login_counts_in_its_local_day_and_hour_in_every_scope() {
        let scopes = scopes_of("s1", "east");
        assert_eq!(scopes, ["brand", "region:east", "site:s1"]);
        let mut t = Tally::default();
        // 2026-12-03 17:30 UTC is 01:30 on the 4th in UTC+8.
        let at = 1_764_783_000_000 + 365 * DAY_MS;
        t.count(&scopes, &row("login", at, "sms"), 8);
        let day = day_of(at, 8);
        assert_eq!(day, day_of(at, 0) + 1);
        for scope in &scopes {
            assert_eq!(t.counts[&(scope.clone(), "logins".into(), day, String::new())], 1);
            assert_eq!(t.counts[&(scope.clone(), "method".into(), day, "sms".into())], 1);
            assert_eq!(t.counts[&(scope.clone(), "hour".into(), day, "01".into())], 1);
        }
    }

    #[test]
    fn an_impression_of_several_slots_counts_once_for_each_and_unknown_kinds_count_nothing() {
        let scopes = scopes_of("s1", "");
        assert_eq!(scopes, ["brand", "site:s1"]);
        let mut t = Tally::default();
        t.count(&scopes, &row("dish_impression", 0, "a,b,,c"), 0);
        t.count(&scopes, &row("consent", 0, "v2"), 0);
        t.count(&scopes, &row("coupon", 0, "welcome"), 0);
        let site: Vec<_> = t.counts.iter().filter(|((s, ..), _)| s == "site:s1").collect();
        assert_eq!(site.len(), 3);
        assert!(site.iter().all(|((_, what, _, _), n)| what == "dish_impression" && **n == 1));
    }

    #[test]
    fn dwell_falls_in_buckets_and_guests_are_new_elsewhere_or_returning() {
        assert_eq!(dwell_bucket(0), "0-15");
        assert_eq!(dwell_bucket(15 * 60_000), "15-30");
        assert_eq!(dwell_bucket(59 * 60_000), "30-60");
        assert_eq!(dwell_bucket(119 * 60_000), "60-120");
        assert_eq!(dwell_bucket(10 * 3_600_000), "120+");
        assert_eq!(classify(false, false), "new");
        assert_eq!(classify(false, true), "elsewhere");
        assert_eq!(classify(true, true), "returning");
        assert_ne!(guest_of("b", "aa:bb"), guest_of("c", "aa:bb"), "a device is not followed across brands");
    }
}
