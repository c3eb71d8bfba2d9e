//! Time as the store keeps it (UTC milliseconds) and as a site shows it
//! (civil dates in the site's zone, the start of a day there).

use std::time::{SystemTime, UNIX_EPOCH};

/// A day, in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// Now, as stored: UTC milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The calendar date of Unix time `secs` at UTC+`offset_hours`, `2026-12-27`.
pub fn civil_date(secs: i64, offset_hours: i64) -> String {
    let days = (secs + offset_hours * 3600).div_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The hours a time zone is ahead of UTC: China's zones (no daylight
/// saving) and `UTC±N`; anything else is taken as China's.
pub fn zone_offset(zone: &str) -> i64 {
    match zone {
        "UTC" | "Etc/UTC" => 0,
        z => z.strip_prefix("UTC").and_then(|o| o.parse::<i64>().ok()).filter(|o| (-12..=14).contains(o)).unwrap_or(8),
    }
}

/// `YYYY-MM-DD` at 00:00 in the zone, as UTC ms; None: not a date.
pub fn day_start(date: &str, offset: i64) -> Option<i64> {
    let mut parts = date.trim().splitn(3, '-');
    let (y, m, d): (i64, i64, i64) =
        (parts.next()?.parse().ok()?, parts.next()?.parse().ok()?, parts.next()?.parse().ok()?);
    if !(2000..=2100).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = days * DAY_MS - offset * 3_600_000;
    // 2026-02-31 is not a date: it would come back as another.
    (civil_date((ms + offset * 3_600_000).div_euclid(1000), 0) == format!("{y:04}-{m:02}-{d:02}")).then_some(ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates_in_utc_and_china() {
        assert_eq!(super::civil_date(1_551_113_065, 0), "2019-02-25", "UTC, as request signatures want");
        assert_eq!(super::civil_date(1_551_113_065, 8), "2019-02-26", "00:44 in Shanghai");
    }
}
