//! The appliance's own database: SQLite (WAL) in the data dir, migrated at start.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

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
        .busy_timeout(Duration::from_secs(5))
        // No commit copies the log back into the database itself (a login
        // that did waited for it: most of the p99): see `checkpoints`.
        .pragma("wal_autocheckpoint", "0")
        // What the log is cut back to when it starts over (see `checkpoints`).
        .pragma("journal_size_limit", (WAL_LIMIT_FRAMES * 4096).to_string());
    let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    tokio::spawn(checkpoints(pool.clone()));
    // It holds SSID keys and the roaming key: owner only.
    for name in ["guestwifi.db", "guestwifi.db-wal", "guestwifi.db-shm"] {
        let path = dir.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(pool)
}

/// How often the log is copied back into the database.
const CHECKPOINT: Duration = Duration::from_secs(1);

/// A log longer than this (pages of 4 KiB: 64 MiB) is made to start over.
const WAL_LIMIT_FRAMES: i64 = 16_384;

/// Copies the write-ahead log back into the database every [`CHECKPOINT`],
/// beside the writers (a passive checkpoint waits for no one and no one
/// waits for it), until the pool closes. The last connection to close
/// checkpoints what is left.
///
/// A passive checkpoint never makes the log start over while writes keep
/// coming (each one appends past what it copied), so under steady logins
/// the log grew without end: 3.8 GB in a minute of the benchmark's logins
/// at 100,000 guests, every write extending the file and every read
/// searching a larger index. When the log is past [`WAL_LIMIT_FRAMES`], a
/// restart checkpoint follows the passive one: it holds the writers only
/// while it copies what came since, and the next write starts the log over
/// in the space it already has.
async fn checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
        let restart = match passive {
            Ok((_, log, _)) if log > WAL_LIMIT_FRAMES => {
                sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)").fetch_one(&pool).await.map(drop)
            }
            other => other.map(drop),
        };
        if let Err(err) = restart {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "write-ahead log not checkpointed");
        }
    }
}

/// An in-memory database for unit tests, migrated.
pub async fn memory() -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::new().in_memory(true);
    // One connection: every connection to :memory: is its own database.
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}
