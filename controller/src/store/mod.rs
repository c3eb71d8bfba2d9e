//! The appliance's own database: SQLite (WAL) in the data dir, migrated at start.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused to open or query.
    #[error("database error")]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database file's mode could not be set.
    #[error("cannot make the database private")]
    Mode(#[from] std::io::Error),
}

/// Opens (creating if needed) `dir/guestwifi.db` and applies migrations.
pub async fn open(dir: &Path) -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(dir.join("guestwifi.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    // It holds SSID keys and the roaming key: owner only.
    for name in ["guestwifi.db", "guestwifi.db-wal", "guestwifi.db-shm"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(pool)
}

/// An in-memory database for unit tests, migrated.
pub async fn memory() -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::new().in_memory(true);
    // One connection: every connection to :memory: is its own database.
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates_in_utc_and_china() {
        assert_eq!(super::civil_date(1_551_113_065, 0), "2019-02-25", "UTC, as request signatures want");
        assert_eq!(super::civil_date(1_551_113_065, 8), "2019-02-26", "00:44 in Shanghai");
    }
}
