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
        .busy_timeout(BUSY_TIMEOUT)
        // No commit copies the log back into the database itself (a login
        // that did waited for it: most of the p99): see `checkpoints`.
        .pragma("wal_autocheckpoint", "0")
        // What the log is cut back to when it starts over (see `checkpoints`).
        .pragma("journal_size_limit", (WAL_LIMIT_FRAMES * 4096).to_string());
    // A connection to a file cannot go stale: no ping before each use (a
    // trip to the connection's thread that every query paid, and a login
    // waited for three times).
    let pool = SqlitePoolOptions::new().max_connections(4).test_before_acquire(false).connect_with(options).await?;
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

/// How long a statement waits for a lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a restart checkpoint waits for readers (see `restart`).
const RESTART_WAIT: Duration = Duration::from_millis(100);

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
            Ok((_, log, _)) if log > WAL_LIMIT_FRAMES => restart(&pool).await,
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

/// A restart checkpoint that waits at most [`RESTART_WAIT`] for readers,
/// then gives up until the next tick. While it waits, new writers wait
/// too: under the pool's busy timeout, one reader holding an old snapshot
/// (a long report) held a write for the full 5 s, where a login would fail.
async fn restart(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let pragma = |ms: u128| format!("PRAGMA busy_timeout = {ms}");
    sqlx::query(&pragma(RESTART_WAIT.as_millis())).execute(&mut *conn).await?;
    let done = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await;
    if sqlx::query(&pragma(BUSY_TIMEOUT.as_millis())).execute(&mut *conn).await.is_err() {
        // Never hand the pool a connection that gives up after 100 ms.
        conn.close_on_drop();
    }
    done.map(drop)
}

/// An in-memory database for unit tests, migrated.
pub async fn memory() -> Result<SqlitePool, StoreError> {
    let options = SqliteConnectOptions::new().in_memory(true);
    // One connection: every connection to :memory: is its own database.
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_restart_held_up_by_a_reader_gives_up_and_every_connection_keeps_its_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(dir.path()).await.unwrap();
        sqlx::query("CREATE TABLE t (x BLOB)").execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (randomblob(4000))").execute(&pool).await.unwrap();
        // A reader on its own connection holds the snapshot from before the next write.
        let reader = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().filename(dir.path().join("guestwifi.db")))
            .await
            .unwrap();
        let mut held = reader.begin().await.unwrap();
        let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *held).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (randomblob(4000))").execute(&pool).await.unwrap();

        restart(&pool).await.expect("a restart that cannot finish is no error");

        let mut conns = Vec::new();
        for _ in 0..4 {
            conns.push(pool.acquire().await.unwrap());
        }
        for conn in &mut conns {
            let ms: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(&mut **conn).await.unwrap();
            assert_eq!(ms, 5_000, "a connection back in the pool waits the full busy timeout");
        }
        held.rollback().await.unwrap();
    }
}
