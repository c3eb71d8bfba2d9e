//! Footfall: where guests spend their time across the restaurant's zones.
//!
//! The admin puts each AP in a zone (大堂, 包间, 露台, 吧台); the AC records
//! every station's visits to an AP with the zone the AP was in then
//! (`footfall_station_visits`, a view of the AC's table). A roll turns one
//! day of those into aggregates (`footfall_days`) that name no device:
//! devices present and time spent per zone and hour, visits and their
//! length, new against returning, and how guests moved between zones. The
//! statistics page and HQ read only the aggregates.
//!
//! A zone visit is a device's time in one zone: its station visits to the
//! zone's APs with gaps of at most [`SAME_VISIT_GAP_MS`] between them
//! (roaming between two APs of the hall is one visit). A device's move
//! from zone A to zone B is a visit to B that starts within
//! [`MOVE_GAP_MS`] of its visit to A ending.
//!
//! Station-level rows are kept [`KEEP_DAYS`] days (long enough to roll up
//! yesterday after midnight and to name a session's AP in the access log),
//! then deleted: only the aggregates stay. A named member's zones are kept
//! with the member's visits only when the member consented to it (the
//! sessions' visit end carries them; the member store drops them without
//! that consent).

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::Range;
use crate::kit::time::{now_ms, DAY_MS};

/// Station visits within this of each other in one zone are one visit.
pub const SAME_VISIT_GAP_MS: i64 = 10 * 60_000;

/// A visit to another zone that starts within this of the last one's end is a move.
pub const MOVE_GAP_MS: i64 = 30 * 60_000;

/// An open station visit counts at most this long (an AP that vanished never said the guest left).
pub const OPEN_VISIT_MAX_MS: i64 = 12 * 3_600_000;

/// Days station-level rows are kept.
pub const KEEP_DAYS: i64 = 2;

/// Visit length buckets: upper bounds in minutes, and their keys.
pub const DWELL_BUCKETS: [(i64, &str); 5] =
    [(15, "0-15"), (30, "15-30"), (60, "30-60"), (120, "60-120"), (i64::MAX, "120+")];

/// One aggregate: a day's count for a zone (see `footfall_days`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    /// `YYYY-MM-DD` in the site's zone.
    pub day: String,
    /// The zone.
    pub zone: String,
    /// `present`, `dwell_ms`, `visits`, `dwell`, `new`, `returning`, `move`.
    pub what: String,
    /// The hour (`00`-`23`), bucket or next zone; empty when none.
    pub key: String,
    /// The count.
    pub n: i64,
}

/// A zone visit being built: its device, zone, start and end.
#[derive(Clone, Debug)]
struct ZoneVisit {
    station: String,
    zone: String,
    start: i64,
    end: i64,
}

/// Rolls the day that starts at `start` (UTC ms, the zone's midnight) up
/// into `footfall_days`, replacing what that day had. `offset` is the
/// site's zone in hours. Returns the day's cells.
pub async fn roll_day(db: &SqlitePool, start: i64, offset: i64) -> Result<Vec<Cell>, sqlx::Error> {
    let end = start + DAY_MS;
    let now = now_ms();
    let rows: Vec<(String, String, i64, Option<i64>, bool)> = sqlx::query_as(
        "SELECT v.station, v.zone, v.joined_at, v.left_at, \
         EXISTS (SELECT 1 FROM stats_sessions s WHERE s.mac = v.station AND s.started_at < ?1) \
         FROM footfall_station_visits v \
         WHERE v.zone != '' AND v.joined_at < ?2 AND (v.left_at IS NULL OR v.left_at > ?1) AND v.joined_at > ?1 - ?3 \
         ORDER BY v.station, v.joined_at",
    )
    .bind(start)
    .bind(end)
    .bind(OPEN_VISIT_MAX_MS)
    .fetch_all(db)
    .await?;
    let returning: HashSet<String> = rows.iter().filter(|r| r.4).map(|r| r.0.clone()).collect();
    let stays = rows.into_iter().filter_map(|(station, zone, joined, left, _)| {
        let left = left.unwrap_or(now).min(joined + OPEN_VISIT_MAX_MS);
        let (s, e) = (joined.max(start), left.min(end));
        (e > s).then_some(ZoneVisit { station, zone, start: s, end: e })
    });
    let cells = aggregate(&visits_of(stays), &returning, start, offset);
    let day = Range { start, end, offset }.date(start);
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM footfall_days WHERE day = ?").bind(&day).execute(&mut *tx).await?;
    for c in &cells {
        sqlx::query("INSERT INTO footfall_days (day, zone, what, key, n) VALUES (?, ?, ?, ?, ?)")
            .bind(&c.day)
            .bind(&c.zone)
            .bind(&c.what)
            .bind(&c.key)
            .bind(c.n)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(cells)
}

/// Rolls today and yesterday up (the zone's days) and deletes station
/// visits that ended more than [`KEEP_DAYS`] days ago.
pub async fn roll(db: &SqlitePool, offset: i64) -> Result<(), sqlx::Error> {
    let today = Range::last_days(1, offset).start;
    roll_day(db, today - DAY_MS, offset).await?;
    roll_day(db, today, offset).await?;
    // And visits never closed (an AP that vanished never said the guest left), once they no longer count.
    sqlx::query(
        "DELETE FROM station_visits WHERE (left_at IS NOT NULL AND left_at < ?1) OR (left_at IS NULL AND joined_at < ?1 - ?2)",
    )
    .bind(now_ms() - KEEP_DAYS * DAY_MS)
    .bind(OPEN_VISIT_MAX_MS)
    .execute(db)
    .await?;
    Ok(())
}

/// Station visits (sorted by device, then start) merged into zone visits.
fn visits_of(stays: impl Iterator<Item = ZoneVisit>) -> Vec<ZoneVisit> {
    let mut out: Vec<ZoneVisit> = Vec::new();
    // The device's open visit in each zone: its index in `out`.
    let mut open: HashMap<String, usize> = HashMap::new();
    let mut device = String::new();
    for stay in stays {
        if stay.station != device {
            device = stay.station.clone();
            open.clear();
        }
        match open.get(&stay.zone).map(|i| &mut out[*i]) {
            Some(v) if stay.start - v.end <= SAME_VISIT_GAP_MS => v.end = v.end.max(stay.end),
            _ => {
                open.insert(stay.zone.clone(), out.len());
                out.push(stay);
            }
        }
    }
    out
}

/// The day's cells from its zone visits.
fn aggregate(visits: &[ZoneVisit], returning: &HashSet<String>, start: i64, offset: i64) -> Vec<Cell> {
    let day = Range { start, end: start + DAY_MS, offset }.date(start);
    let mut counts: BTreeMap<(String, &str, String), i64> = BTreeMap::new();
    let mut add = |zone: &str, what: &'static str, key: String, n: i64| {
        *counts.entry((zone.to_string(), what, key)).or_default() += n;
    };
    let mut present: BTreeSet<(&str, i64, &str)> = BTreeSet::new();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for v in visits {
        add(&v.zone, "visits", String::new(), 1);
        let minutes = (v.end - v.start) / 60_000;
        let bucket = DWELL_BUCKETS.iter().find(|(upper, _)| minutes < *upper).map_or("120+", |b| b.1);
        add(&v.zone, "dwell", bucket.to_string(), 1);
        // Each hour it spans: the device was present, for so long.
        let mut h = (v.start - start).div_euclid(3_600_000);
        while start + h * 3_600_000 < v.end && h < 24 {
            let (hs, he) = (start + h * 3_600_000, start + (h + 1) * 3_600_000);
            add(&v.zone, "dwell_ms", format!("{h:02}"), v.end.min(he) - v.start.max(hs));
            present.insert((&v.zone, h, &v.station));
            h += 1;
        }
        if seen.insert((&v.zone, &v.station)) {
            add(&v.zone, if returning.contains(&v.station) { "returning" } else { "new" }, String::new(), 1);
        }
    }
    for (zone, h, _) in &present {
        add(zone, "present", format!("{h:02}"), 1);
    }
    // Moves: a device's visits by start; the next one in another zone, soon enough.
    let mut by_device: BTreeMap<&str, Vec<&ZoneVisit>> = BTreeMap::new();
    for v in visits {
        by_device.entry(&v.station).or_default().push(v);
    }
    for list in by_device.values_mut() {
        list.sort_by_key(|v| v.start);
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.zone != b.zone && b.start - a.end <= MOVE_GAP_MS && b.start >= a.start {
                add(&a.zone, "move", b.zone.clone(), 1);
            }
        }
    }
    counts
        .into_iter()
        .map(|((zone, what, key), n)| Cell { day: day.clone(), zone, what: what.into(), key, n })
        .collect()
}

/// The cells of the days `range` covers.
pub async fn cells(db: &SqlitePool, range: &Range) -> Result<Vec<Cell>, sqlx::Error> {
    let (from, to) = range.dates();
    Ok(sqlx::query_as::<_, (String, String, String, String, i64)>(
        "SELECT day, zone, what, key, n FROM footfall_days WHERE day >= ? AND day <= ? ORDER BY day, zone, what, key",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|(day, zone, what, key, n)| Cell { day, zone, what, key, n })
    .collect())
}

/// The cells of the days `range` covers summed by zone, what and key (no
/// day): what [`Footfall::of`] needs for a range, a few hundred rows however long it is.
pub async fn summed(db: &SqlitePool, range: &Range) -> Result<Vec<Cell>, sqlx::Error> {
    let (from, to) = range.dates();
    Ok(sqlx::query_as::<_, (String, String, String, i64)>(
        "SELECT zone, what, key, SUM(n) FROM footfall_days WHERE day >= ? AND day <= ? GROUP BY zone, what, key",
    )
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|(zone, what, key, n)| Cell { day: String::new(), zone, what, key, n })
    .collect())
}

/// One zone's figures over a range.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Zone {
    /// Its name.
    pub name: String,
    /// Visits.
    pub visits: i64,
    /// Mean visit, minutes.
    pub mean_minutes: f64,
    /// Devices new that day / seen logged in before.
    pub new: i64,
    /// See `new`.
    pub returning: i64,
    /// Devices present by hour of day, summed over the range's days.
    pub present: [i64; 24],
    /// Minutes spent by hour of day.
    pub minutes: [i64; 24],
    /// Visits by length, as [`DWELL_BUCKETS`].
    pub lengths: [i64; 5],
}

/// Footfall over a range, zones busiest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Footfall {
    /// Each zone seen in the range.
    pub zones: Vec<Zone>,
    /// Moves: from, to, how many.
    pub moves: Vec<(String, String, i64)>,
}

impl Footfall {
    /// The figures of a set of cells (one site's, or a chain's summed).
    pub fn of(cells: &[Cell]) -> Footfall {
        let mut zones: BTreeMap<&str, Zone> = BTreeMap::new();
        let mut dwell_ms: BTreeMap<&str, i64> = BTreeMap::new();
        let mut moves: BTreeMap<(String, String), i64> = BTreeMap::new();
        for c in cells {
            let z = zones.entry(&c.zone).or_insert_with(|| Zone { name: c.zone.clone(), ..Zone::default() });
            let hour = c.key.parse::<usize>().ok().filter(|h| *h < 24);
            match (c.what.as_str(), hour) {
                ("visits", _) => z.visits += c.n,
                ("new", _) => z.new += c.n,
                ("returning", _) => z.returning += c.n,
                ("present", Some(h)) => z.present[h] += c.n,
                ("dwell_ms", Some(h)) => {
                    z.minutes[h] += c.n / 60_000;
                    *dwell_ms.entry(&c.zone).or_default() += c.n;
                }
                ("dwell", _) => {
                    if let Some(i) = DWELL_BUCKETS.iter().position(|b| b.1 == c.key) {
                        z.lengths[i] += c.n;
                    }
                }
                ("move", _) => *moves.entry((c.zone.clone(), c.key.clone())).or_default() += c.n,
                _ => {}
            }
        }
        let mut zones: Vec<Zone> = zones
            .into_iter()
            .map(|(name, mut z)| {
                if z.visits > 0 {
                    z.mean_minutes = dwell_ms.get(name).copied().unwrap_or(0) as f64 / 60_000.0 / z.visits as f64;
                }
                z
            })
            .collect();
        zones.sort_by(|a, b| b.visits.cmp(&a.visits).then_with(|| a.name.cmp(&b.name)));
        let mut moves: Vec<(String, String, i64)> = moves.into_iter().map(|((a, b), n)| (a, b, n)).collect();
        moves.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
        Footfall { zones, moves }
    }

    /// The heat picture: zones down, hours of the day across, each cell
    /// as dark as the devices present then (against the busiest cell), the
    /// count written in it. SVG, zone names escaped.
    pub fn heat_svg(&self) -> String {
        let (left, cell_w, cell_h, top) = (96, 26, 26, 22);
        let width = left + 24 * cell_w + 4;
        let height = top + self.zones.len().max(1) as i64 * cell_h + 4;
        let max = self.zones.iter().flat_map(|z| z.present).max().unwrap_or(0).max(1);
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
             class=\"heat\" font-family=\"sans-serif\" font-size=\"11\">"
        );
        for h in 0..24 {
            svg += &format!(
                "<text x=\"{}\" y=\"14\" text-anchor=\"middle\">{h:02}</text>",
                left + h * cell_w + cell_w / 2
            );
        }
        for (row, z) in self.zones.iter().enumerate() {
            let y = top + row as i64 * cell_h;
            svg += &format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 6,
                y + cell_h / 2 + 4,
                escape(&z.name)
            );
            for (h, n) in z.present.iter().enumerate() {
                let x = left + h as i64 * cell_w;
                let alpha = *n as f64 / max as f64;
                svg += &format!(
                    "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{}\" fill=\"#c0392b\" fill-opacity=\"{alpha:.2}\" stroke=\"#eee\"><title>{} {h:02}:00 {n}</title></rect>",
                    cell_w - 1,
                    cell_h - 1,
                    escape(&z.name)
                );
                if *n > 0 {
                    let colour = if alpha > 0.55 { "#fff" } else { "#333" };
                    svg += &format!(
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{colour}\">{n}</text>",
                        x + cell_w / 2,
                        y + cell_h / 2 + 4
                    );
                }
            }
        }
        svg + "</svg>"
    }
}

/// Text for SVG/XML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The zones of a device's time on the Wi-Fi between `from` and `to`
/// (UTC ms): each zone with its APs and minutes, as `大堂 42m (ap-1 ap-2); 包间 10m (ap-3)`.
/// What a consenting member's visit keeps; empty when no zoned AP saw the device.
pub async fn zones_of<'e, E: sqlx::SqliteExecutor<'e>>(
    db: E,
    mac: &str,
    from: i64,
    to: i64,
) -> Result<String, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT zone, device_id, joined_at, left_at FROM footfall_station_visits \
         WHERE station = ?1 AND zone != '' AND joined_at < ?3 AND (left_at IS NULL OR left_at > ?2) ORDER BY joined_at",
    )
    .bind(mac)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    let mut zones: Vec<(String, i64, BTreeSet<String>)> = Vec::new();
    for (zone, ap, joined, left) in rows {
        let ms = left.unwrap_or(to).min(to) - joined.max(from);
        let i = match zones.iter().position(|z| z.0 == zone) {
            Some(i) => i,
            None => {
                zones.push((zone, 0, BTreeSet::new()));
                zones.len() - 1
            }
        };
        zones[i].1 += ms.max(0);
        zones[i].2.insert(ap);
    }
    Ok(zones
        .iter()
        .map(|(zone, ms, aps)| {
            format!("{zone} {}m ({})", ms / 60_000, aps.iter().cloned().collect::<Vec<_>>().join(" "))
        })
        .collect::<Vec<_>>()
        .join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    async fn store() -> SqlitePool {
        let db = crate::store::memory().await.unwrap();
        for (ap, zone) in [("ap-1", "大堂"), ("ap-2", "大堂"), ("ap-3", "包间")] {
            sqlx::query(
                "INSERT INTO access_points (device_id, model, mac, firmware, public_key_pem, state, zone, first_seen_at, last_seen_at) \
                 VALUES (?, 'm', '02:00:00:00:00:00', '1', '', 'adopted', ?, 0, 0)",
            )
            .bind(ap)
            .bind(zone)
            .execute(&db)
            .await
            .unwrap();
        }
        db
    }

    async fn stay(db: &SqlitePool, station: &str, ap: &str, from: i64, to: Option<i64>) {
        sqlx::query(
            "INSERT INTO station_visits (station, device_id, interface, joined_at, left_at, zone) \
             VALUES (?1, ?2, 'wlan0', ?3, ?4, (SELECT zone FROM access_points WHERE device_id = ?2))",
        )
        .bind(station)
        .bind(ap)
        .bind(from)
        .bind(to)
        .execute(db)
        .await
        .unwrap();
    }

    fn get(cells: &[Cell], zone: &str, what: &str, key: &str) -> i64 {
        cells.iter().find(|c| c.zone == zone && c.what == what && c.key == key).map_or(0, |c| c.n)
    }

    #[tokio::test]
    async fn a_day_counts_zone_visits_hours_lengths_moves_and_returning_devices_without_naming_one() {
        let db = store().await;
        // The site's zone is UTC+8: its day starts at 16:00 UTC the day before.
        let day = crate::kit::time::day_start("2026-12-01", 8).unwrap();
        let (a, b) = ("02:00:00:00:0a:01", "02:00:00:00:0b:01");
        // A: the hall 12:10-12:50 local, roaming ap-1 -> ap-2 with a 3-minute gap, then a private room till 14:20.
        stay(&db, a, "ap-1", day + 12 * H + 10 * M, Some(day + 12 * H + 30 * M)).await;
        stay(&db, a, "ap-2", day + 12 * H + 33 * M, Some(day + 12 * H + 50 * M)).await;
        stay(&db, a, "ap-3", day + 12 * H + 55 * M, Some(day + 14 * H + 20 * M)).await;
        // B logged in here a week before: the hall, 12:00-12:20.
        stay(&db, b, "ap-1", day + 12 * H, Some(day + 12 * H + 20 * M)).await;
        sqlx::query(
            "INSERT INTO sessions (mac, ip, identity, method, started_at, expires_at, last_seen_at) VALUES (?, '192.0.2.9', 'x', 'countdown', ?, ?, ?)",
        )
        .bind(b)
        .bind(day - 7 * 24 * H)
        .bind(day - 7 * 24 * H + H)
        .bind(day - 7 * 24 * H)
        .execute(&db)
        .await
        .unwrap();
        // Another day's visit does not count.
        stay(&db, b, "ap-3", day + 30 * H, Some(day + 31 * H)).await;
        let cells = roll_day(&db, day, 8).await.unwrap();
        assert!(cells.iter().all(|c| c.day == "2026-12-01"));
        assert_eq!(get(&cells, "大堂", "visits", ""), 2, "A's roam between two hall APs is one visit: {cells:?}");
        assert_eq!(get(&cells, "包间", "visits", ""), 1);
        assert_eq!(get(&cells, "大堂", "present", "12"), 2);
        assert_eq!(get(&cells, "包间", "present", "13"), 1);
        assert_eq!(get(&cells, "包间", "present", "14"), 1);
        assert_eq!(get(&cells, "大堂", "dwell_ms", "12"), 40 * M + 20 * M);
        assert_eq!(get(&cells, "包间", "dwell_ms", "12"), 5 * M);
        assert_eq!(get(&cells, "大堂", "dwell", "30-60"), 1, "A's 40 minutes in the hall");
        assert_eq!(get(&cells, "大堂", "dwell", "15-30"), 1, "B's 20 minutes");
        assert_eq!(get(&cells, "包间", "dwell", "60-120"), 1);
        assert_eq!(get(&cells, "大堂", "move", "包间"), 1, "A went from the hall to the private room");
        assert_eq!(get(&cells, "大堂", "new", ""), 1);
        assert_eq!(get(&cells, "大堂", "returning", ""), 1, "B logged in here before");
        assert!(cells.iter().all(|c| !c.key.contains(a) && !c.key.contains(b) && !c.zone.contains("02:00")));
        // Rolled again, the day is replaced, not added to.
        roll_day(&db, day, 8).await.unwrap();
        let range = Range::parse("2026-12-01", "2026-12-01", 8).unwrap();
        let f = Footfall::of(&super::summed(&db, &range).await.unwrap());
        assert_eq!(super::cells(&db, &range).await.unwrap().len(), cells.len(), "the heartbeat's cells, by day");
        assert_eq!(f.zones[0].name, "大堂");
        assert_eq!(f.zones[0].visits, 2);
        assert_eq!(f.zones[0].mean_minutes, 30.0);
        assert_eq!(f.moves, vec![("大堂".to_string(), "包间".to_string(), 1)]);
        let svg = f.heat_svg();
        assert!(svg.starts_with("<svg") && svg.contains(">大堂<") && svg.contains(">包间<"));
        // A's session 12:00-15:00 local: its zones, APs and minutes.
        let zones = zones_of(&db, a, day + 12 * H, day + 15 * H).await.unwrap();
        assert_eq!(zones, "大堂 37m (ap-1 ap-2); 包间 85m (ap-3)");
    }

    #[test]
    fn a_zone_name_cannot_break_out_of_the_heat_picture() {
        let f = Footfall { zones: vec![Zone { name: "<script>".into(), ..Zone::default() }], moves: vec![] };
        assert!(!f.heat_svg().contains("<script>") && f.heat_svg().contains("&lt;script&gt;"));
    }
}
