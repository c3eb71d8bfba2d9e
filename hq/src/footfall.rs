//! The chain's footfall by zone: each site's heartbeat carries its recent
//! days' aggregates (`core::stats::footfall`, no device in them); HQ keeps
//! the last word per site and day and sums a scope's sites for a range.

use guestwifi_core::stats::footfall::{Cell, Footfall};
use guestwifi_core::stats::Range;

/// Cells a heartbeat may carry (two days of 24 hours, a few dozen zones).
pub const MOST_CELLS: usize = 8_000;

/// What a cell may count.
const WHATS: [&str; 7] = ["present", "dwell_ms", "visits", "dwell", "new", "returning", "move"];

/// Whether a cell from a site is one HQ keeps.
fn sane(c: &Cell) -> bool {
    let date = c.day.len() == 10
        && c.day.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    date && !c.zone.is_empty()
        && c.zone.chars().count() <= 24
        && c.key.chars().count() <= 24
        && WHATS.contains(&c.what.as_str())
        && c.n >= 0
}

/// Files a site's cells: each day they name replaces what HQ had of that day.
pub async fn file_in(tx: &mut sqlx::AnyConnection, brand: &str, site: &str, cells: &[Cell]) -> Result<(), sqlx::Error> {
    let cells: Vec<&Cell> = cells.iter().take(MOST_CELLS).filter(|c| sane(c)).collect();
    let mut days: Vec<&str> = cells.iter().map(|c| c.day.as_str()).collect();
    days.sort_unstable();
    days.dedup();
    for day in days.iter().take(7) {
        sqlx::query("DELETE FROM hq_footfall WHERE brand_id = $1 AND site_id = $2 AND day = $3")
            .bind(brand)
            .bind(site)
            .bind(*day)
            .execute(&mut *tx)
            .await?;
    }
    for chunk in cells.chunks(500) {
        let sql = format!(
            "INSERT INTO hq_footfall (brand_id, site_id, day, zone, what, key, n) VALUES {} ON CONFLICT DO NOTHING",
            guestwifi_core::members::feed::placeholders(chunk.len(), 7)
        );
        let mut insert = sqlx::query(&sql);
        for c in chunk {
            insert = insert.bind(brand).bind(site).bind(&c.day).bind(&c.zone).bind(&c.what).bind(&c.key).bind(c.n);
        }
        insert.execute(&mut *tx).await?;
    }
    Ok(())
}

/// A scope's footfall (`brand`, `region:ID`, `site:ID`) over `range`: its
/// sites' cells summed by zone.
pub async fn of_scope(pool: &sqlx::AnyPool, brand: &str, scope: &str, range: &Range) -> Result<Footfall, sqlx::Error> {
    let (from, to) = range.dates();
    let (filter, id) = match scope.split_once(':') {
        Some(("region", id)) => {
            ("AND site_id IN (SELECT site_id FROM sites WHERE brand_id = $1 AND region_id = $4)", id)
        }
        Some(("site", id)) => ("AND site_id = $4", id),
        _ => ("AND $4 = ''", ""),
    };
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(&format!(
        "SELECT zone, what, key, SUM(n)::BIGINT FROM hq_footfall WHERE brand_id = $1 AND day >= $2 AND day <= $3 {filter} \
         GROUP BY zone, what, key"
    ))
    .bind(brand)
    .bind(from)
    .bind(to)
    .bind(id)
    .fetch_all(pool)
    .await?;
    let cells: Vec<Cell> =
        rows.into_iter().map(|(zone, what, key, n)| Cell { day: String::new(), zone, what, key, n }).collect();
    Ok(Footfall::of(&cells))
}
