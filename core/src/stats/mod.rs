//! Statistics from the appliance's own store (sessions, the audit trail,
//! portal events) for a date range in the site's time zone: guests and
//! logins a day, new and returning devices, logins by method and by hour,
//! refusals, dwell time, conversion from portal view to login, the ads and
//! dishes guests saw and tapped. Charts are drawn here as SVG (plotters);
//! the numbers beside them export as CSV and XLSX. It reads only the
//! read-only views its owners keep for it (`stats_sessions`,
//! `stats_refusals`, `stats_portal_events`; migration 15), never their tables.

pub mod footfall;

use plotters::prelude::*;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use std::collections::{BTreeMap, HashSet};

use crate::kit::time::{day_start, DAY_MS};

/// A date range: `from` and `to` inclusive, `YYYY-MM-DD` in the site's zone.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Range {
    /// First day's start, UTC ms.
    pub start: i64,
    /// The day after the last one, its start, UTC ms.
    pub end: i64,
    /// The zone's offset, hours.
    pub offset: i64,
}

impl Range {
    /// The range `from..=to` (dates); None when either is not a date or
    /// `to` is before `from` or the range is longer than a year.
    pub fn parse(from: &str, to: &str, offset: i64) -> Option<Range> {
        let start = day_start(from, offset)?;
        let end = day_start(to, offset)? + DAY_MS;
        (end > start && end - start <= 366 * DAY_MS).then_some(Range { start, end, offset })
    }

    /// The last `days` days up to today.
    pub fn last_days(days: i64, offset: i64) -> Range {
        let now = crate::kit::time::now_ms();
        let today = (now + offset * 3_600_000).div_euclid(DAY_MS) * DAY_MS - offset * 3_600_000;
        Range { start: today - (days - 1) * DAY_MS, end: today + DAY_MS, offset }
    }

    /// The date of a UTC ms time in the zone.
    pub fn date(&self, ms: i64) -> String {
        crate::kit::time::civil_date(ms.div_euclid(1000), self.offset)
    }

    /// Its first and last dates.
    pub fn dates(&self) -> (String, String) {
        (self.date(self.start), self.date(self.end - 1))
    }
}

/// One day's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Different devices that logged in.
    pub guests: i64,
    /// Logins.
    pub logins: i64,
    /// Devices never seen before that day.
    pub new_guests: i64,
}

/// What the statistics page shows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Each day of the range.
    pub days: Vec<Day>,
    /// Logins by the hour of day they started, in the zone.
    pub hours: [i64; 24],
    /// Logins by method.
    pub methods: Vec<(String, i64)>,
    /// Refusals by `method: reason`.
    pub refusals: Vec<(String, i64)>,
    /// Portal page views.
    pub views: i64,
    /// Logins.
    pub logins: i64,
    /// Devices seen before the range that came back in it.
    pub returning: i64,
    /// Devices first seen in the range.
    pub new_guests: i64,
    /// Mean length of the sessions that ended, minutes.
    pub dwell_minutes: f64,
    /// Marketing events: kind, what (an ad's URL, dish ids), count.
    pub top: Vec<(String, String, i64)>,
    /// Where guests spent their time, by zone (aggregates only).
    #[serde(default)]
    pub footfall: footfall::Footfall,
}

impl Report {
    /// Logins per portal view, percent.
    pub fn conversion(&self) -> f64 {
        if self.views == 0 {
            0.0
        } else {
            self.logins as f64 * 100.0 / self.views as f64
        }
    }

    /// The busiest hour of day.
    pub fn peak_hour(&self) -> usize {
        (0..24).max_by_key(|h| (self.hours[*h], std::cmp::Reverse(*h))).unwrap_or(0)
    }
}

/// Today so far at a glance, against the same weekday a week ago up to the
/// same time of day: what the home page shows. Two indexed range queries,
/// however long the site's history.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Glance {
    /// Logins since midnight in the zone.
    pub logins_today: i64,
    /// Different devices that logged in since midnight.
    pub guests_today: i64,
    /// Logins a week ago, from midnight to this time of day.
    pub logins_last_week: i64,
    /// Today's logins by method, most first.
    pub methods: Vec<(String, i64)>,
}

/// Today so far in the zone `offset`, and the same span a week before.
pub async fn glance(db: &SqlitePool, offset: i64) -> Result<Glance, sqlx::Error> {
    let now = crate::kit::time::now_ms();
    let today = Range::last_days(1, offset).start;
    let mut methods: Vec<(String, i64)> = sqlx::query_as(
        "SELECT method, COUNT(*) FROM stats_sessions WHERE started_at >= ? AND started_at < ? GROUP BY method",
    )
    .bind(today)
    .bind(now + 1)
    .fetch_all(db)
    .await?;
    methods.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let guests_today: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT mac) FROM stats_sessions WHERE started_at >= ? AND started_at < ?")
            .bind(today)
            .bind(now + 1)
            .fetch_one(db)
            .await?;
    let week = 7 * DAY_MS;
    let logins_last_week: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM stats_sessions WHERE started_at >= ? AND started_at < ?")
            .bind(today - week)
            .bind(now + 1 - week)
            .fetch_one(db)
            .await?;
    Ok(Glance { logins_today: methods.iter().map(|m| m.1).sum(), guests_today, logins_last_week, methods })
}

/// Computes the report for `range`.
pub async fn report(db: &SqlitePool, range: &Range) -> Result<Report, sqlx::Error> {
    let sessions: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT mac, method, started_at, ended_at FROM stats_sessions WHERE started_at >= ? AND started_at < ? ORDER BY started_at",
    )
    .bind(range.start)
    .bind(range.end)
    .fetch_all(db)
    .await?;
    let before: HashSet<String> =
        sqlx::query_scalar::<_, String>("SELECT DISTINCT mac FROM stats_sessions WHERE started_at < ?")
            .bind(range.start)
            .fetch_all(db)
            .await?
            .into_iter()
            .collect();
    let mut days: BTreeMap<String, (HashSet<String>, i64, i64)> = BTreeMap::new();
    let mut day = range.start;
    while day < range.end {
        days.insert(range.date(day), (HashSet::new(), 0, 0));
        day += DAY_MS;
    }
    let (mut hours, mut methods) = ([0i64; 24], BTreeMap::<String, i64>::new());
    let (mut seen, mut returning) = (HashSet::new(), HashSet::new());
    let (mut dwell_total, mut dwell_n) = (0i64, 0i64);
    for (mac, method, started, ended) in &sessions {
        let local = started + range.offset * 3_600_000;
        hours[(local.rem_euclid(DAY_MS) / 3_600_000) as usize] += 1;
        *methods.entry(method.clone()).or_default() += 1;
        if let Some(entry) = days.get_mut(&range.date(*started)) {
            entry.1 += 1;
            if before.contains(mac) {
                returning.insert(mac.clone());
            } else if seen.insert(mac.clone()) {
                entry.2 += 1;
            }
            entry.0.insert(mac.clone());
        }
        if let Some(ended) = ended {
            dwell_total += ended - started;
            dwell_n += 1;
        }
    }
    let refusals: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT method, reason, COUNT(*) FROM stats_refusals WHERE at >= ? AND at < ? \
         GROUP BY method, reason ORDER BY COUNT(*) DESC",
    )
    .bind(range.start)
    .bind(range.end)
    .fetch_all(db)
    .await?;
    let views: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stats_portal_events WHERE kind = 'portal_view' AND at >= ? AND at < ?",
    )
    .bind(range.start)
    .bind(range.end)
    .fetch_one(db)
    .await?;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, detail, COUNT(*) FROM stats_portal_events WHERE kind != 'portal_view' AND kind NOT IN ('consent', 'consent_places') \
         AND kind != 'menu_view' AND at >= ? AND at < ? GROUP BY kind, detail",
    )
    .bind(range.start)
    .bind(range.end)
    .fetch_all(db)
    .await?;
    let top = per_slot(rows);
    let mut methods: Vec<(String, i64)> = methods.into_iter().collect();
    methods.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    Ok(Report {
        days: days
            .into_iter()
            .map(|(date, (guests, logins, new_guests))| Day { date, guests: guests.len() as i64, logins, new_guests })
            .collect(),
        hours,
        methods,
        refusals: refusals.into_iter().map(|(m, r, n)| (format!("{m}: {r}"), n)).collect(),
        views,
        logins: sessions.len() as i64,
        returning: returning.len() as i64,
        new_guests: seen.len() as i64,
        dwell_minutes: if dwell_n == 0 { 0.0 } else { dwell_total as f64 / dwell_n as f64 / 60_000.0 },
        top,
        footfall: footfall::Footfall::of(&footfall::summed(db, range).await?),
    })
}

/// Counts per slot: an impression event names every slot the view showed
/// (`id,id,…`), so it counts once for each; the busiest 20, ties by name.
fn per_slot(rows: Vec<(String, String, i64)>) -> Vec<(String, String, i64)> {
    let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (kind, detail, n) in rows {
        if kind.ends_with("_impression") && detail.contains(',') {
            for id in detail.split(',').filter(|id| !id.is_empty()) {
                *counts.entry((kind.clone(), id.to_string())).or_default() += n;
            }
        } else {
            *counts.entry((kind, detail)).or_default() += n;
        }
    }
    let mut top: Vec<(String, String, i64)> = counts.into_iter().map(|((k, d), n)| (k, d, n)).collect();
    top.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
    top.truncate(20);
    top
}

/// A bar chart of counts `bars` (label, value) as SVG, `caption` above it
/// (none when empty: the page's heading, in its language, names it). The
/// value axis is ticked at whole numbers only; the SVG scales to its column.
pub fn bar_chart(caption: &str, bars: &[(String, i64)]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 260)).into_drawing_area();
        let _ = draw_bars(&root, caption, bars);
        let _ = root.present();
    }
    svg
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    bars: &[(String, i64)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(0);
    let n = bars.len().max(1) as f64;
    let (top, ticks) = count_axis(max);
    // Float axes both ways: plotters' integer key points overflow on short ranges.
    let mut builder = ChartBuilder::on(root);
    if !caption.is_empty() {
        builder.caption(caption, ("sans-serif", 16));
    }
    let mut chart = builder
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(44)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top as f64)?;
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(labels.len().clamp(2, 12))
        .y_labels(ticks)
        // Counts are whole: a tick between two whole numbers gets no label.
        .y_label_formatter(&|y| if (y - y.round()).abs() < 1e-6 { format!("{y:.0}") } else { String::new() })
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
        let x = i as f64;
        Rectangle::new([(x - 0.4, 0.0), (x + 0.4, *v as f64)], RGBColor(200, 16, 46).filled())
    }))?;
    Ok(())
}

/// The top of a count axis over `max` (a round number above it, at least 5)
/// and how many ticks put each on a whole number.
fn count_axis(max: i64) -> (u64, usize) {
    let want = (max as f64 * 1.1).ceil().max(5.0) as u64;
    // A step of 1, 2 or 5 times a power of ten giving at most 10 ticks.
    let mut step = 1u64;
    'search: loop {
        for m in [1, 2, 5] {
            if want.div_ceil(step * m) <= 10 {
                step *= m;
                break 'search;
            }
        }
        step *= 10;
    }
    let top = want.div_ceil(step) * step;
    (top, (top / step + 1) as usize)
}

/// The report's tables as CSV sections (a spreadsheet opens it).
pub fn csv(report: &Report, range: &Range) -> String {
    let (from, to) = range.dates();
    let mut out = format!("range,{from},{to}\n\ndate,guests,logins,new_guests\n");
    for d in &report.days {
        out.push_str(&format!("{},{},{},{}\n", d.date, d.guests, d.logins, d.new_guests));
    }
    out.push_str("\nhour,logins\n");
    for (h, n) in report.hours.iter().enumerate() {
        out.push_str(&format!("{h},{n}\n"));
    }
    out.push_str("\nmethod,logins\n");
    for (m, n) in &report.methods {
        out.push_str(&format!("{},{n}\n", crate::kit::csv::csv_field(m)));
    }
    out.push_str("\nrefusal,count\n");
    for (r, n) in &report.refusals {
        out.push_str(&format!("{},{n}\n", crate::kit::csv::csv_field(r)));
    }
    out.push_str("\nevent,detail,count\n");
    for (k, d, n) in &report.top {
        out.push_str(&format!("{},{},{n}\n", crate::kit::csv::csv_field(k), crate::kit::csv::csv_field(d)));
    }
    let f = &report.footfall;
    out.push_str("\nzone,visits,mean_minutes,new,returning\n");
    for z in &f.zones {
        let name = crate::kit::csv::csv_field(&z.name);
        out.push_str(&format!("{name},{},{:.1},{},{}\n", z.visits, z.mean_minutes, z.new, z.returning));
    }
    out.push_str("\nzone,hour,devices_present,minutes\n");
    for z in &f.zones {
        let name = crate::kit::csv::csv_field(&z.name);
        for h in 0..24 {
            out.push_str(&format!("{name},{h},{},{}\n", z.present[h], z.minutes[h]));
        }
    }
    out.push_str("\nfrom_zone,to_zone,moves\n");
    for (a, b, n) in &f.moves {
        out.push_str(&format!("{},{},{n}\n", crate::kit::csv::csv_field(a), crate::kit::csv::csv_field(b)));
    }
    out
}

/// The report as an XLSX workbook: a sheet a table.
pub fn xlsx(report: &Report, range: &Range) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::Workbook;
    let mut book = Workbook::new();
    let (from, to) = range.dates();
    let sheet = book.add_worksheet().set_name("days")?;
    for (c, h) in ["date", "guests", "logins", "new guests"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h)?;
    }
    for (r, d) in report.days.iter().enumerate() {
        let r = r as u32 + 1;
        sheet.write_string(r, 0, &d.date)?;
        sheet.write_number(r, 1, d.guests as f64)?;
        sheet.write_number(r, 2, d.logins as f64)?;
        sheet.write_number(r, 3, d.new_guests as f64)?;
    }
    let sheet = book.add_worksheet().set_name("summary")?;
    let rows: Vec<(&str, String)> = vec![
        ("from", from),
        ("to", to),
        ("portal views", report.views.to_string()),
        ("logins", report.logins.to_string()),
        ("conversion %", format!("{:.1}", report.conversion())),
        ("new guests", report.new_guests.to_string()),
        ("returning guests", report.returning.to_string()),
        ("mean dwell, minutes", format!("{:.1}", report.dwell_minutes)),
        ("peak hour", report.peak_hour().to_string()),
    ];
    for (r, (k, v)) in rows.iter().enumerate() {
        sheet.write_string(r as u32, 0, *k)?;
        sheet.write_string(r as u32, 1, v)?;
    }
    let sheet = book.add_worksheet().set_name("methods")?;
    sheet.write_string(0, 0, "method")?;
    sheet.write_string(0, 1, "logins")?;
    for (r, (m, n)) in report.methods.iter().enumerate() {
        sheet.write_string(r as u32 + 1, 0, m)?;
        sheet.write_number(r as u32 + 1, 1, *n as f64)?;
    }
    let sheet = book.add_worksheet().set_name("hours")?;
    sheet.write_string(0, 0, "hour")?;
    sheet.write_string(0, 1, "logins")?;
    for (h, n) in report.hours.iter().enumerate() {
        sheet.write_number(h as u32 + 1, 0, h as f64)?;
        sheet.write_number(h as u32 + 1, 1, *n as f64)?;
    }
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_axes_tick_at_whole_numbers_and_charts_label_each_once() {
        assert_eq!(count_axis(0), (5, 6));
        assert_eq!(count_axis(3), (5, 6));
        assert_eq!(count_axis(17), (20, 11));
        assert_eq!(count_axis(95), (120, 7));
        let svg = bar_chart("", &[("a".into(), 3), ("b".into(), 1)]);
        let labels: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .filter(|t| t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty())
            .collect();
        assert_eq!(labels, ["0", "1", "2", "3", "4", "5"], "whole ticks, each once: {svg}");
        assert!(svg.contains("viewBox"), "it scales to its column");
    }

    #[test]
    fn an_impression_of_several_slots_counts_for_each() {
        let rows = vec![
            ("dish_impression".to_string(), "a,b".to_string(), 3),
            ("dish_impression".to_string(), "a".to_string(), 2),
            ("ad_click".to_string(), "promotion:p1".to_string(), 1),
        ];
        let top = per_slot(rows);
        assert_eq!(top[0], ("dish_impression".into(), "a".into(), 5));
        assert_eq!(top[1], ("dish_impression".into(), "b".into(), 3));
        assert_eq!(top[2], ("ad_click".into(), "promotion:p1".into(), 1));
    }

    #[test]
    fn dates_are_read_in_the_sites_zone() {
        let r = Range::parse("2026-11-01", "2026-11-07", 8).unwrap();
        assert_eq!(r.dates(), ("2026-11-01".into(), "2026-11-07".into()));
        assert_eq!(r.end - r.start, 7 * DAY_MS);
        assert_eq!(r.date(r.start), "2026-11-01");
        assert_eq!(r.date(r.start - 1), "2026-10-31", "00:00 in Shanghai is 16:00 UTC the day before");
        assert!(Range::parse("2026-02-31", "2026-03-01", 8).is_none());
        assert!(Range::parse("2026-11-07", "2026-11-01", 8).is_none());
        assert!(Range::parse("yesterday", "2026-11-01", 8).is_none());
        assert_eq!(crate::kit::time::zone_offset("Asia/Shanghai"), 8);
        assert_eq!(crate::kit::time::zone_offset("UTC"), 0);
    }

    #[tokio::test]
    async fn a_day_of_logins_is_counted_by_day_hour_method_and_new_or_returning() {
        let db = crate::store::memory().await.unwrap();
        let r = Range::parse("2026-11-02", "2026-11-03", 8).unwrap();
        let at = |day: i64, hour: i64| r.start + day * DAY_MS + hour * 3_600_000;
        let rows = [
            ("02:00:00:00:00:01", "sms", at(-3, 12), Some(at(-3, 13))), // before the range
            ("02:00:00:00:00:01", "sms", at(0, 12), Some(at(0, 12) + 30 * 60_000)),
            ("02:00:00:00:00:02", "countdown", at(0, 12), Some(at(0, 12) + 90 * 60_000)),
            ("02:00:00:00:00:03", "countdown", at(1, 19), None),
            ("02:00:00:00:00:02", "voucher", at(1, 19), None),
        ];
        for (n, (mac, method, started, ended)) in rows.into_iter().enumerate() {
            sqlx::query("INSERT INTO sessions (mac, ip, method, started_at, expires_at, last_seen_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
                .bind(mac).bind(format!("192.0.2.{}", 10 + n)).bind(method).bind(started).bind(started + 3_600_000).bind(started).bind(ended)
                .execute(&db).await.unwrap();
        }
        for _ in 0..8 {
            sqlx::query("INSERT INTO portal_events (at, kind, mac) VALUES (?, 'portal_view', 'x')")
                .bind(at(0, 11))
                .execute(&db)
                .await
                .unwrap();
        }
        let report = report(&db, &r).await.unwrap();
        assert_eq!(report.days.len(), 2);
        assert_eq!((report.days[0].guests, report.days[0].logins, report.days[0].new_guests), (2, 2, 1));
        assert_eq!((report.days[1].guests, report.days[1].logins, report.days[1].new_guests), (2, 2, 1));
        assert_eq!((report.new_guests, report.returning), (2, 1));
        assert_eq!(report.hours[12], 2);
        assert_eq!(report.hours[19], 2);
        assert_eq!(report.peak_hour(), 12, "ties go to the earlier hour");
        assert_eq!(report.methods[0], ("countdown".to_string(), 2));
        assert_eq!(report.logins, 4);
        assert!((report.conversion() - 50.0).abs() < 1e-9);
        assert!((report.dwell_minutes - 60.0).abs() < 1e-9, "{}", report.dwell_minutes);
        let svg = bar_chart("logins", &report.days.iter().map(|d| (d.date.clone(), d.logins)).collect::<Vec<_>>());
        assert!(svg.starts_with("<svg") && svg.contains("2026-11-02") && svg.contains("<rect"), "{svg}");
        let book = xlsx(&report, &r).unwrap();
        assert_eq!(&book[..2], b"PK", "an XLSX is a zip");
        assert!(csv(&report, &r).contains("2026-11-03,2,2,1"));
        // No data at all (a new appliance, an empty range) is a chart too.
        let empty = bar_chart("logins", &[("a".into(), 0), ("b".into(), 0)]);
        assert!(empty.starts_with("<svg"));
        assert!(bar_chart("none", &[]).starts_with("<svg"));
    }
}
