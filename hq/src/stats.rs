//! Chain statistics as the pages read them: sums of the daily figures the
//! roller keeps ([`crate::rollup`]) for a scope and a date range, sites
//! side by side, one promotion across the sites that showed it. Each is one
//! or two grouped queries over `hq_stats` (about a hundred rows a scope a
//! day), never a look at `events`.

use crate::db::Db;
use crate::rollup::{day_of, DWELL_BUCKETS};
use guestwifi_core::stats::Range;
use std::collections::{BTreeMap, HashMap};

/// A day of a scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Logins.
    pub logins: i64,
    /// Devices that logged in (each once a day).
    pub guests: i64,
    /// Portal views.
    pub views: i64,
}

/// What was shown and tapped: an ad, a promotion, a dish.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Its id (an ad's URL).
    pub id: String,
    /// Times shown.
    pub shown: i64,
    /// Times tapped.
    pub taps: i64,
}

impl Slot {
    /// Taps per showing, percent, one decimal.
    pub fn rate(&self) -> String {
        percent(self.taps, self.shown)
    }
}

/// `part` of `whole` in percent, one decimal ("—" of nothing).
pub fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        "—".into()
    } else {
        format!("{:.1}", part as f64 * 100.0 / whole as f64)
    }
}

/// A scope's figures over a range.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Logins.
    pub logins: i64,
    /// Portal views.
    pub views: i64,
    /// Refused tries.
    pub refusals: i64,
    /// Devices first seen in the chain (a device's first login of a day).
    pub new: i64,
    /// Devices new here but known at another site of the chain.
    pub elsewhere: i64,
    /// Devices seen here before.
    pub returning: i64,
    /// Visits that ended, and their summed length.
    pub visits_ended: i64,
    /// Summed length of the visits that ended, ms.
    pub dwell_ms: i64,
    /// Logins by method, most first.
    pub methods: Vec<(String, i64)>,
    /// Logins by local hour.
    pub hours: [i64; 24],
    /// Visits by length, in bucket order.
    pub dwell: Vec<(String, i64)>,
    /// Refusals by `method:reason`, most first.
    pub refusal_reasons: Vec<(String, i64)>,
    /// Promotions, most shown first.
    pub promotions: Vec<Slot>,
    /// Ads, most shown first.
    pub ads: Vec<Slot>,
    /// Dishes shown, most first (the first 20).
    pub dishes: Vec<(String, i64)>,
    /// Every day of the range.
    pub days: Vec<Day>,
}

impl Figures {
    /// Device-days: each device once a day.
    pub fn guests(&self) -> i64 {
        self.new + self.elsewhere + self.returning
    }

    /// Logins per portal view, percent.
    pub fn conversion(&self) -> String {
        percent(self.logins, self.views)
    }

    /// Mean visit, minutes (None without an ended visit).
    pub fn dwell_minutes(&self) -> Option<i64> {
        (self.visits_ended > 0).then(|| self.dwell_ms / self.visits_ended / 60_000)
    }
}

/// The range's first and last day numbers.
fn days_of(range: &Range) -> (i32, i32) {
    (day_of(range.start, range.offset), day_of(range.end - 1, range.offset))
}

/// `$first, $first+1, ...`: `n` binds.
fn binds(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn slots(shown: &HashMap<String, i64>, taps: &HashMap<String, i64>) -> Vec<Slot> {
    let mut ids: Vec<&String> = shown.keys().chain(taps.keys()).collect();
    ids.sort();
    ids.dedup();
    let mut slots: Vec<Slot> = ids
        .into_iter()
        .map(|id| Slot {
            id: id.clone(),
            shown: shown.get(id).copied().unwrap_or(0),
            taps: taps.get(id).copied().unwrap_or(0),
        })
        .collect();
    slots.sort_by(|a, b| b.shown.cmp(&a.shown).then(b.taps.cmp(&a.taps)).then(a.id.cmp(&b.id)));
    slots
}

fn most_first(map: HashMap<String, i64>) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = map.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// The figures of `scope` ('brand', 'region:ID', 'site:ID') over `range`:
/// two grouped queries.
pub async fn figures(db: &Db, brand: &str, scope: &str, range: &Range) -> Result<Figures, sqlx::Error> {
    let (first, last) = days_of(range);
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT what, key, SUM(n)::BIGINT FROM hq_stats WHERE brand_id = $1 AND scope = $2 AND day >= $3 AND day <= $4 \
         GROUP BY what, key",
    )
    .bind(brand)
    .bind(scope)
    .bind(first)
    .bind(last)
    .fetch_all(db.pool())
    .await?;
    let mut f = Figures::default();
    let mut keyed: HashMap<String, HashMap<String, i64>> = HashMap::new();
    for (what, key, n) in rows {
        match what.as_str() {
            "logins" => f.logins = n,
            "views" => f.views = n,
            "refusals" => f.refusals = n,
            "visits_ended" => f.visits_ended = n,
            "dwell_ms" => f.dwell_ms = n,
            "guests" => match key.as_str() {
                "new" => f.new = n,
                "elsewhere" => f.elsewhere = n,
                _ => f.returning += n,
            },
            "hour" => {
                if let Some(h) = key.parse::<usize>().ok().filter(|h| *h < 24) {
                    f.hours[h] += n;
                }
            }
            _ => {
                keyed.entry(what).or_default().insert(key, n);
            }
        }
    }
    let mut take = |what: &str| keyed.remove(what).unwrap_or_default();
    f.methods = most_first(take("method"));
    f.refusal_reasons = most_first(take("refusal"));
    let dwell = take("dwell");
    f.dwell = DWELL_BUCKETS.iter().map(|(_, k)| (k.to_string(), dwell.get(*k).copied().unwrap_or(0))).collect();
    f.promotions = slots(&take("promotion_impression"), &take("promotion_click"));
    f.ads = slots(&take("ad_impression"), &take("ad_click"));
    f.dishes = most_first(take("dish_impression"));
    f.dishes.truncate(20);
    let per_day: Vec<(i32, String, i64)> = sqlx::query_as(
        "SELECT day, what, SUM(n)::BIGINT FROM hq_stats WHERE brand_id = $1 AND scope = $2 \
         AND what IN ('logins', 'guests', 'views') AND day >= $3 AND day <= $4 GROUP BY day, what",
    )
    .bind(brand)
    .bind(scope)
    .bind(first)
    .bind(last)
    .fetch_all(db.pool())
    .await?;
    let mut days: BTreeMap<i32, Day> = (first..=last)
        .map(|d| (d, Day { date: range.date(d as i64 * guestwifi_core::kit::time::DAY_MS), ..Day::default() }))
        .collect();
    for (day, what, n) in per_day {
        if let Some(d) = days.get_mut(&day) {
            match what.as_str() {
                "logins" => d.logins = n,
                "guests" => d.guests = n,
                _ => d.views = n,
            }
        }
    }
    f.days = days.into_values().collect();
    Ok(f)
}

/// A site's figures beside the others'.
#[derive(Clone, Debug, Default)]
pub struct SiteFigures {
    /// The site.
    pub site: String,
    /// Logins.
    pub logins: i64,
    /// Device-days.
    pub guests: i64,
    /// Devices new to the chain.
    pub new: i64,
    /// Devices seen here before.
    pub returning: i64,
    /// Portal views.
    pub views: i64,
    /// Visits that ended.
    pub visits_ended: i64,
    /// Their summed length, ms.
    pub dwell_ms: i64,
}

impl SiteFigures {
    /// Logins per view, percent.
    pub fn conversion(&self) -> String {
        percent(self.logins, self.views)
    }

    /// Returning devices of all, percent.
    pub fn returning_share(&self) -> String {
        percent(self.returning, self.guests)
    }

    /// Mean visit, minutes.
    pub fn dwell_minutes(&self) -> i64 {
        if self.visits_ended == 0 {
            0
        } else {
            self.dwell_ms / self.visits_ended / 60_000
        }
    }

    /// The value a column sorts by (None: not a column).
    pub fn sort_key(&self, column: &str) -> Option<f64> {
        let ratio = |a: i64, b: i64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Some(match column {
            "logins" => self.logins as f64,
            "guests" => self.guests as f64,
            "new" => self.new as f64,
            "returning" => ratio(self.returning, self.guests),
            "views" => self.views as f64,
            "conversion" => ratio(self.logins, self.views),
            "dwell" => ratio(self.dwell_ms, self.visits_ended),
            _ => return None,
        })
    }
}

/// Every one of `sites` over `range`, in the order given: one grouped
/// query.
pub async fn sites_compared(
    db: &Db,
    brand: &str,
    sites: &[String],
    range: &Range,
) -> Result<Vec<SiteFigures>, sqlx::Error> {
    if sites.is_empty() {
        return Ok(Vec::new());
    }
    let (first, last) = days_of(range);
    let sql = format!(
        "SELECT scope, what, key, SUM(n)::BIGINT FROM hq_stats WHERE brand_id = $1 AND day >= $2 AND day <= $3 \
         AND what IN ('logins', 'guests', 'views', 'visits_ended', 'dwell_ms') AND scope IN ({}) GROUP BY scope, what, key",
        binds(4, sites.len())
    );
    let mut q = sqlx::query_as::<_, (String, String, String, i64)>(&sql).bind(brand).bind(first).bind(last);
    for site in sites {
        q = q.bind(format!("site:{site}"));
    }
    let mut by: HashMap<String, SiteFigures> =
        sites.iter().map(|s| (s.clone(), SiteFigures { site: s.clone(), ..Default::default() })).collect();
    for (scope, what, key, n) in q.fetch_all(db.pool()).await? {
        let Some(f) = scope.strip_prefix("site:").and_then(|s| by.get_mut(s)) else { continue };
        match (what.as_str(), key.as_str()) {
            ("logins", _) => f.logins = n,
            ("views", _) => f.views = n,
            ("visits_ended", _) => f.visits_ended = n,
            ("dwell_ms", _) => f.dwell_ms = n,
            ("guests", k) => {
                f.guests += n;
                match k {
                    "new" => f.new = n,
                    "returning" => f.returning = n,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    Ok(sites.iter().filter_map(|s| by.remove(s)).collect())
}

/// Promotion `id` at each site that showed it over `range` (site ids,
/// most shown first): one query on the statistics' key index.
pub async fn promotion(db: &Db, brand: &str, id: &str, range: &Range) -> Result<Vec<(String, Slot)>, sqlx::Error> {
    let (first, last) = days_of(range);
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT scope, what, SUM(n)::BIGINT FROM hq_stats WHERE brand_id = $1 \
         AND what IN ('promotion_impression', 'promotion_click') AND key = $2 AND day >= $3 AND day <= $4 \
         AND scope LIKE 'site:%' GROUP BY scope, what",
    )
    .bind(brand)
    .bind(id)
    .bind(first)
    .bind(last)
    .fetch_all(db.pool())
    .await?;
    let mut by: BTreeMap<String, Slot> = BTreeMap::new();
    for (scope, what, n) in rows {
        let site = scope.trim_start_matches("site:").to_string();
        let slot = by.entry(site).or_insert_with(|| Slot { id: id.to_string(), ..Default::default() });
        if what == "promotion_click" {
            slot.taps = n;
        } else {
            slot.shown = n;
        }
    }
    let mut out: Vec<(String, Slot)> = by.into_iter().collect();
    out.sort_by(|a, b| b.1.shown.cmp(&a.1.shown).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// What the brand's promotions and dishes are called, by id (the newest
/// title any scope published; `en` picks the English one).
pub async fn names(db: &Db, brand: &str, en: bool) -> Result<HashMap<String, String>, sqlx::Error> {
    let values: Vec<String> = sqlx::query_scalar(
        "SELECT value FROM hq_blocks WHERE brand_id = $1 AND block IN ('promotions', 'dishes') AND value IS NOT NULL \
         ORDER BY published_at DESC LIMIT 500",
    )
    .bind(brand)
    .fetch_all(db.pool())
    .await?;
    let mut names = HashMap::new();
    for value in values {
        let Ok(serde_json::Value::Array(items)) = serde_json::from_str::<serde_json::Value>(&value) else { continue };
        for item in items {
            let Some(id) = item.get("id").and_then(|v| v.as_str()) else { continue };
            let pick = |zh: &str, en_key: &str| {
                let en_name = item.get(en_key).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
                let zh_name = item.get(zh).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
                if en { en_name.or(zh_name) } else { zh_name.or(en_name) }.map(str::to_string)
            };
            if let Some(name) = pick("title_zh", "title_en").or_else(|| pick("name_zh", "name_en")) {
                names.entry(id.to_string()).or_insert(name);
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_sorting_read_as_a_person_expects() {
        assert_eq!(percent(1, 3), "33.3");
        assert_eq!(percent(5, 0), "—");
        let shown = HashMap::from([("a".to_string(), 10), ("b".to_string(), 30)]);
        let taps = HashMap::from([("a".to_string(), 4), ("c".to_string(), 1)]);
        let s = slots(&shown, &taps);
        assert_eq!(s.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(s[1].rate(), "40.0");
        let f = SiteFigures {
            logins: 3,
            views: 4,
            guests: 2,
            returning: 1,
            visits_ended: 2,
            dwell_ms: 7_200_000,
            ..Default::default()
        };
        assert_eq!(f.conversion(), "75.0");
        assert_eq!(f.returning_share(), "50.0");
        assert_eq!(f.dwell_minutes(), 60);
        assert_eq!(f.sort_key("dwell"), Some(3_600_000.0));
        assert_eq!(f.sort_key("nope"), None);
    }
}
