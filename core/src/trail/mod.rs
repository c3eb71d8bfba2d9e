//! The public Wi-Fi access log (上网日志) the local police ask for: one row
//! a guest session, appended by the store in the transaction that ends the
//! session (a trigger on `sessions`), never changed after (another trigger
//! refuses it). Each row is sealed in order with a SHA-256 chained to the
//! row before, a daily digest keeps the chain's head, and [`verify`] names
//! the first row that does not match. Rows older than the retention the
//! police set are pruned. Searches are by time, public address and port
//! (each session's source-port block), MAC and identity, and each search is
//! itself logged. Nothing here feeds marketing or statistics.

pub mod domains;

use crate::kit::time::now_ms;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;

/// The hash a chain starts from.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One session in the log (a live one has no logout yet and no seal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Row {
    /// Its place in the log (0: a live session, not in the log yet).
    pub seq: i64,
    /// The session's row id.
    pub session_id: i64,
    /// The real-name identifier: `phone:...`, `account:...`, `card:...`,
    /// `wechat:...`, `voucher:...`, or `device:...` for the countdown.
    pub identity: String,
    /// How it logged in.
    pub method: String,
    /// The device's MAC.
    pub mac: String,
    /// Its private address.
    pub ip: String,
    /// The AP it was on (its device id), if the AC saw it.
    pub ap: String,
    /// That AP's radio.
    pub radio: String,
    /// The guest SSID(s).
    pub ssid: String,
    /// The public address its traffic left by ("": the uplink's, shared).
    pub public_addr: String,
    /// Its source ports there, first and last (0: shared).
    pub port_lo: i64,
    /// Last port.
    pub port_hi: i64,
    /// UTC ms.
    pub login_at: i64,
    /// UTC ms (None: still online).
    pub logout_at: Option<i64>,
    /// Why it ended.
    pub end_reason: String,
}

/// What an officer searches by; every part given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Query {
    /// Sessions online at some time in `[from, to]` (UTC ms).
    pub from: Option<i64>,
    /// End of the window.
    pub to: Option<i64>,
    /// The public address a connection came from.
    pub public_addr: Option<String>,
    /// Its source port.
    pub port: Option<u16>,
    /// The device.
    pub mac: Option<String>,
    /// The identity, or part of it.
    pub identity: Option<String>,
}

impl Query {
    /// The query in words, as the search log keeps it.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(f) = self.from {
            parts.push(format!("from {f}"));
        }
        if let Some(t) = self.to {
            parts.push(format!("to {t}"));
        }
        if let Some(a) = &self.public_addr {
            parts.push(format!("address {a}"));
        }
        if let Some(p) = self.port {
            parts.push(format!("port {p}"));
        }
        if let Some(m) = &self.mac {
            parts.push(format!("mac {m}"));
        }
        if let Some(i) = &self.identity {
            parts.push(format!("identity {i}"));
        }
        if parts.is_empty() {
            "everything".into()
        } else {
            parts.join(", ")
        }
    }
}

/// Most rows a search answers.
pub const MAX_ROWS: i64 = 5000;

const COLUMNS: &str = "seq, session_id, identity, method, mac, ip, ap, radio, ssid, public_addr, port_lo, port_hi, \
                       login_at, logout_at, end_reason";

/// The sessions `q` finds, the log's and the live ones, newest first; the
/// search is logged with `actor` and how many rows it gave.
pub async fn search(db: &SqlitePool, q: &Query, actor: &str) -> Result<Vec<Row>, sqlx::Error> {
    let mut rows = Vec::new();
    for live in [false, true] {
        let (table, cols, end) = match live {
            false => ("access_trail", COLUMNS.to_string(), "logout_at"),
            true => (
                "sessions",
                "0 AS seq, id AS session_id, identity, method, mac, ip, '' AS ap, '' AS radio, '' AS ssid, public_addr, \
                 port_lo, port_hi, started_at AS login_at, NULL AS logout_at, '' AS end_reason"
                    .to_string(),
                "expires_at",
            ),
        };
        let login = if live { "started_at" } else { "login_at" };
        let mut sql = format!("SELECT {cols} FROM {table} WHERE 1 = 1");
        if live {
            sql.push_str(" AND ended_at IS NULL");
        }
        let mut binds: Vec<Bind> = Vec::new();
        if let Some(from) = q.from {
            sql.push_str(&format!(" AND {end} >= ?"));
            binds.push(Bind::I(from));
        }
        if let Some(to) = q.to {
            sql.push_str(&format!(" AND {login} <= ?"));
            binds.push(Bind::I(to));
        }
        if let Some(addr) = &q.public_addr {
            // A session that spanned a renumbered uplink names both addresses (`old|new`).
            sql.push_str(" AND '|' || public_addr || '|' LIKE '%|' || ? || '|%'");
            binds.push(Bind::S(addr.clone()));
        }
        if let Some(port) = q.port {
            sql.push_str(" AND port_lo <= ? AND port_hi >= ?");
            binds.push(Bind::I(i64::from(port)));
            binds.push(Bind::I(i64::from(port)));
        }
        if let Some(mac) = &q.mac {
            sql.push_str(" AND mac = ?");
            binds.push(Bind::S(mac.to_ascii_lowercase()));
        }
        if let Some(who) = &q.identity {
            sql.push_str(" AND instr(identity, ?) > 0");
            binds.push(Bind::S(who.clone()));
        }
        sql.push_str(&format!(" ORDER BY {login} DESC LIMIT {MAX_ROWS}"));
        let mut query = sqlx::query_as::<_, Row>(&sql);
        for b in binds {
            query = match b {
                Bind::I(i) => query.bind(i),
                Bind::S(s) => query.bind(s),
            };
        }
        rows.extend(query.fetch_all(db).await?);
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.login_at));
    rows.truncate(MAX_ROWS as usize);
    sqlx::query("INSERT INTO access_trail_searches (at, actor, query, results) VALUES (?, ?, ?, ?)")
        .bind(now_ms())
        .bind(actor)
        .bind(q.describe())
        .bind(rows.len() as i64)
        .execute(db)
        .await?;
    Ok(rows)
}

enum Bind {
    I(i64),
    S(String),
}

/// A row's hash: SHA-256 over the previous row's hash and every field.
fn hash(prev: &str, row: &Row) -> String {
    let mut h = Sha256::new();
    let fields = [
        prev.to_string(),
        row.seq.to_string(),
        row.session_id.to_string(),
        row.identity.clone(),
        row.method.clone(),
        row.mac.clone(),
        row.ip.clone(),
        row.ap.clone(),
        row.radio.clone(),
        row.ssid.clone(),
        row.public_addr.clone(),
        row.port_lo.to_string(),
        row.port_hi.to_string(),
        row.login_at.to_string(),
        row.logout_at.unwrap_or(0).to_string(),
        row.end_reason.clone(),
    ];
    for f in fields {
        h.update(f.as_bytes());
        h.update([0x1f]);
    }
    ap_protocol::hex::encode(&h.finalize())
}

/// Seals the rows appended since the last seal, in order; how many.
pub async fn seal(db: &SqlitePool) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin().await?;
    let head: Option<String> =
        sqlx::query_scalar("SELECT hash FROM access_trail WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let mut prev = match head {
        Some(h) => h,
        // The first row after a prune of everything: the last digest's head.
        None => sqlx::query_scalar("SELECT hash FROM access_trail_digests ORDER BY last_seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_else(|| GENESIS.to_string()),
    };
    let rows: Vec<Row> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM access_trail WHERE hash IS NULL ORDER BY seq LIMIT 10000"))
            .fetch_all(&mut *tx)
            .await?;
    for row in &rows {
        let h = hash(&prev, row);
        sqlx::query("UPDATE access_trail SET prev_hash = ?, hash = ? WHERE seq = ?")
            .bind(&prev)
            .bind(&h)
            .bind(row.seq)
            .execute(&mut *tx)
            .await?;
        prev = h;
    }
    tx.commit().await?;
    Ok(rows.len())
}

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Verdict {
    /// Rows checked.
    pub rows: u64,
    /// Rows not sealed yet (the newest, appended since the last seal).
    pub pending: u64,
    /// The first row that does not match, and why.
    pub broken: Option<(i64, String)>,
}

/// Checks the chain: each sealed row's hash over its fields and the row
/// before, the rows in an unbroken order, the daily digests against the
/// rows they name, and unsealed rows only at the end.
pub async fn verify(db: &SqlitePool) -> Result<Verdict, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Sealed {
        #[sqlx(flatten)]
        row: Row,
        prev_hash: Option<String>,
        hash: Option<String>,
    }
    let rows: Vec<Sealed> =
        sqlx::query_as(&format!("SELECT {COLUMNS}, prev_hash, hash FROM access_trail ORDER BY seq"))
            .fetch_all(db)
            .await?;
    let digests: Vec<(i64, String)> =
        sqlx::query_as("SELECT last_seq, hash FROM access_trail_digests ORDER BY last_seq").fetch_all(db).await?;
    let mut verdict = Verdict { rows: rows.len() as u64, pending: 0, broken: None };
    let mut prev: Option<(i64, String)> = None;
    for r in &rows {
        let seq = r.row.seq;
        let broken = |why: &str| Some((seq, why.to_string()));
        let (Some(p), Some(h)) = (&r.prev_hash, &r.hash) else {
            verdict.pending += 1;
            continue;
        };
        if verdict.pending > 0 {
            verdict.broken = broken("a sealed row after an unsealed one");
            break;
        }
        match &prev {
            Some((last, last_hash)) => {
                if seq != last + 1 {
                    verdict.broken = broken(&format!("rows {} to {} are missing", last + 1, seq - 1));
                    break;
                }
                if p != last_hash {
                    verdict.broken = broken("its link to the row before does not match");
                    break;
                }
            }
            None => {
                // The oldest row kept: its link must be the genesis, or the
                // head of the digest of the rows pruned before it.
                let pruned = digests.iter().rev().find(|(last, _)| *last < seq);
                let ok = match pruned {
                    Some((last, head)) => *last == seq - 1 && p == head,
                    None => seq == 1 && p == GENESIS,
                };
                if !ok {
                    verdict.broken = broken("the oldest row does not follow the rows pruned before it");
                    break;
                }
            }
        }
        if hash(p, &r.row) != *h {
            verdict.broken = broken("its fields do not match its hash (edited)");
            break;
        }
        prev = Some((seq, h.clone()));
    }
    if verdict.broken.is_none() {
        let first = rows.first().map_or(i64::MAX, |r| r.row.seq);
        for (last, head) in &digests {
            if *last < first {
                continue;
            }
            let kept = rows.iter().find(|r| r.row.seq == *last).and_then(|r| r.hash.as_ref());
            if kept != Some(head) {
                verdict.broken = Some((*last, "a daily digest names a row that is missing or changed".into()));
                break;
            }
        }
    }
    Ok(verdict)
}

/// A daily digest: the log's head at the end of a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct DayDigest {
    /// The day, in the site's zone.
    pub day: String,
    /// The last row sealed then.
    pub last_seq: i64,
    /// Its hash.
    pub hash: String,
    /// Rows in the log then.
    pub rows: i64,
}

/// What a site tells headquarters of its access log: the last check of the
/// chain and the newest daily digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct State {
    /// When the chain was last checked (UTC ms; 0: never).
    pub checked_at: i64,
    /// What that check found.
    pub verdict: Option<Verdict>,
    /// The newest daily digests, newest first (at most a week).
    pub digests: Vec<DayDigest>,
}

/// Checks the chain and keeps what it found for [`state`].
pub async fn check(db: &SqlitePool) -> Result<Verdict, sqlx::Error> {
    let verdict = verify(db).await?;
    let (seq, why) = verdict.broken.clone().unzip();
    sqlx::query(
        "INSERT INTO access_trail_checks (id, at, rows, pending, broken_seq, why) VALUES (1, ?, ?, ?, ?, ?) \
         ON CONFLICT (id) DO UPDATE SET at = excluded.at, rows = excluded.rows, pending = excluded.pending, \
         broken_seq = excluded.broken_seq, why = excluded.why",
    )
    .bind(now_ms())
    .bind(verdict.rows as i64)
    .bind(verdict.pending as i64)
    .bind(seq)
    .bind(why)
    .execute(db)
    .await?;
    Ok(verdict)
}

/// The last check and the newest digests, as the heartbeat carries them.
pub async fn state(db: &SqlitePool) -> Result<State, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Last {
        at: i64,
        rows: i64,
        pending: i64,
        broken_seq: Option<i64>,
        why: Option<String>,
    }
    let last: Option<Last> =
        sqlx::query_as("SELECT at, rows, pending, broken_seq, why FROM access_trail_checks WHERE id = 1")
            .fetch_optional(db)
            .await?;
    let digests = sqlx::query_as(
        "SELECT day, last_seq, hash, rows FROM access_trail_digests WHERE day NOT LIKE 'pruned-%' ORDER BY day DESC LIMIT 7",
    )
    .fetch_all(db)
    .await?;
    Ok(match last {
        Some(Last { at, rows, pending, broken_seq, why }) => State {
            checked_at: at,
            verdict: Some(Verdict {
                rows: rows as u64,
                pending: pending as u64,
                broken: broken_seq.map(|s| (s, why.unwrap_or_default())),
            }),
            digests,
        },
        None => State { checked_at: 0, verdict: None, digests },
    })
}

/// Records the digest of `day` (the log's head now) if it has none yet.
pub async fn digest(db: &SqlitePool, day: &str) -> Result<bool, sqlx::Error> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM access_trail WHERE hash IS NOT NULL ORDER BY seq DESC LIMIT 1")
            .fetch_optional(db)
            .await?;
    let Some((last, hash)) = head else { return Ok(false) };
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_trail").fetch_one(db).await?;
    let made = sqlx::query(
        "INSERT INTO access_trail_digests (day, last_seq, hash, rows, made_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (day) DO NOTHING",
    )
    .bind(day)
    .bind(last)
    .bind(hash)
    .bind(rows)
    .bind(now_ms())
    .execute(db)
    .await?
    .rows_affected();
    Ok(made > 0)
}

/// Deletes the sealed rows that ended more than `days` ago, keeping a
/// digest of the head just before them (so [`verify`] can still start from
/// the oldest row kept); how many.
pub async fn prune(db: &SqlitePool, days: u32, now: i64) -> Result<u64, sqlx::Error> {
    let cutoff = now - i64::from(days) * 86_400_000;
    domains::prune(db, cutoff).await?;
    let mut tx = db.begin().await?;
    // Only a prefix of the chain can go: the rows before the first one kept.
    let first_kept: Option<i64> =
        sqlx::query_scalar("SELECT MIN(seq) FROM access_trail WHERE logout_at >= ? OR hash IS NULL")
            .bind(cutoff)
            .fetch_one(&mut *tx)
            .await?;
    let last_gone: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM access_trail WHERE seq < COALESCE(?, 9223372036854775807) AND hash IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .bind(first_kept)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((last, head)) = last_gone else { return Ok(0) };
    sqlx::query(
        "INSERT INTO access_trail_digests (day, last_seq, hash, rows, made_at) VALUES (?, ?, ?, 0, ?) \
         ON CONFLICT (day) DO UPDATE SET last_seq = excluded.last_seq, hash = excluded.hash",
    )
    .bind(format!("pruned-{last}"))
    .bind(last)
    .bind(&head)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let gone =
        sqlx::query("DELETE FROM access_trail WHERE seq <= ?").bind(last).execute(&mut *tx).await?.rows_affected();
    // Digests of rows long gone are kept only as far back as the oldest prune's.
    sqlx::query("DELETE FROM access_trail_digests WHERE last_seq < ? AND day NOT LIKE 'pruned-%'")
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(gone)
}

/// `YYYY-MM-DD HH:MM` (or `YYYY-MM-DDTHH:MM`, a browser's local time) in
/// a zone `offset` hours ahead of UTC, or UTC ms, as UTC ms.
pub fn parse_time(text: &str, offset: i64) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let (day, time) = text.split_once([' ', 'T']).unwrap_or((text, "00:00"));
    let start = crate::kit::time::day_start(day, offset)?;
    let mut hm = time.splitn(3, ':');
    let h: i64 = hm.next()?.parse().ok().filter(|h| (0..24).contains(h))?;
    let m: i64 = hm.next().unwrap_or("0").parse().ok().filter(|m| (0..60).contains(m))?;
    Some(start + (h * 3600 + m * 60) * 1000)
}

/// UTC ms as `YYYY-MM-DD HH:MM:SS` in a zone `zone_offset` hours ahead of UTC.
pub fn csv_time(ms: i64, zone_offset: i64) -> String {
    let secs = ms.div_euclid(1000) + zone_offset * 3600;
    let day = crate::kit::time::civil_date(secs, 0);
    let s = secs.rem_euclid(86_400);
    format!("{day} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The rows as CSV (UTF-8), for the police.
pub fn csv(rows: &[Row], zone_offset: i64) -> String {
    let when = |ms: i64| csv_time(ms, zone_offset);
    let field = |s: &str| {
        // A cell a spreadsheet would run as a formula is quoted as text.
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
        format!("\"{}\"", s.replace('"', "\"\""))
    };
    let mut out = String::from(
        "seq,identity,method,mac,ip,ap,radio,ssid,public_address,first_port,last_port,login,logout,end_reason\n",
    );
    for r in rows {
        let cells = [
            r.seq.to_string(),
            field(&r.identity),
            field(&r.method),
            field(&r.mac),
            field(&r.ip),
            field(&r.ap),
            field(&r.radio),
            field(&r.ssid),
            field(&r.public_addr),
            r.port_lo.to_string(),
            r.port_hi.to_string(),
            when(r.login_at),
            r.logout_at.map(when).unwrap_or_default(),
            field(&r.end_reason),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The file in the data dir that holds the key exports are signed with.
pub const KEY_FILE: &str = "trail.key";

/// The key the appliance signs access-log exports with (Ed25519), made
/// on first use and kept 0600 in `dir`.
pub fn signing_key(dir: &std::path::Path) -> Result<ed25519_dalek::SigningKey, String> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes =
                ap_protocol::hex::decode(text.trim()).ok_or_else(|| format!("{}: not a key", path.display()))?;
            let seed: [u8; 32] = bytes.try_into().map_err(|_| format!("{}: not a key", path.display()))?;
            Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
            crate::kit::secrets::write_secret(&path, ap_protocol::hex::encode(&seed).as_bytes())
                .map_err(|e| e.to_string())?;
            Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The last line of a signed export: `# ed25519 <public key> <signature>`,
/// the signature over every byte before the line.
const SIGNED: &str = "# ed25519 ";

/// `text` with its signature line.
pub fn sign(text: &str, key: &ed25519_dalek::SigningKey) -> String {
    use ed25519_dalek::Signer;
    let signature = key.sign(text.as_bytes());
    let public = ap_protocol::hex::encode(key.verifying_key().as_bytes());
    format!("{text}{SIGNED}{public} {}\n", ap_protocol::hex::encode(&signature.to_bytes()))
}

/// Checks a signed export: the public key that signed it (compare it with
/// the appliance's, `controller trail key`), or why it does not hold.
pub fn check_signed(text: &str) -> Result<String, String> {
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let (body, last) = text.split_at(body_end);
    let rest = last.trim_end().strip_prefix(SIGNED).ok_or("no signature line")?;
    let (public, signature) = rest.split_once(' ').ok_or("a signature line is `# ed25519 KEY SIGNATURE`")?;
    let key: [u8; 32] = ap_protocol::hex::decode(public).and_then(|b| b.try_into().ok()).ok_or("not a public key")?;
    let sig: [u8; 64] = ap_protocol::hex::decode(signature).and_then(|b| b.try_into().ok()).ok_or("not a signature")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|_| "not a public key")?;
    key.verify_strict(body.as_bytes(), &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not match: the file was changed".to_string())?;
    Ok(public.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session of `mac` at `ip` from `at` (ms), ended `len` ms later.
    async fn session(db: &SqlitePool, mac: &str, ip: &str, identity: &str, at: i64, len: i64) -> i64 {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sessions (mac, ip, method, identity, granted_seconds, down_kbps, up_kbps, started_at, expires_at, \
             last_seen_at, visit_id, public_addr, port_lo, port_hi) \
             VALUES (?, ?, 'sms', ?, 3600, 0, 0, ?, ?, ?, '', '203.0.113.1', 6496, 6735) RETURNING id",
        )
        .bind(mac)
        .bind(ip)
        .bind(identity)
        .bind(at)
        .bind(at + 3_600_000)
        .bind(at)
        .fetch_one(db)
        .await
        .unwrap();
        if len > 0 {
            sqlx::query("UPDATE sessions SET ended_at = ?, end_reason = 'logout' WHERE id = ?")
                .bind(at + len)
                .bind(id)
                .execute(db)
                .await
                .unwrap();
        }
        id
    }

    #[tokio::test]
    async fn a_session_s_end_appends_its_row_and_a_search_by_public_port_finds_it_and_is_logged() {
        let db = crate::store::memory().await.unwrap();
        session(&db, "02:00:00:00:00:0a", "192.0.2.10", "phone:13800138000", 1_000_000, 60_000).await;
        session(&db, "02:00:00:00:00:0b", "192.0.2.11", "account:desk-1", 1_010_000, 0).await;
        let by_port = Query { public_addr: Some("203.0.113.1".into()), port: Some(6500), ..Default::default() };
        let found = search(&db, &by_port, "officer").await.unwrap();
        assert_eq!(found.len(), 2, "the ended session and the live one share this test's block");
        let ended = found.iter().find(|r| r.seq > 0).unwrap();
        assert_eq!((ended.identity.as_str(), ended.logout_at), ("phone:13800138000", Some(1_060_000)));
        let outside = Query { port: Some(6736), ..Default::default() };
        assert!(search(&db, &outside, "officer").await.unwrap().is_empty());
        let window = Query { from: Some(1_070_000), to: Some(1_080_000), ..Default::default() };
        let online = search(&db, &window, "officer").await.unwrap();
        assert_eq!(online.iter().map(|r| r.identity.as_str()).collect::<Vec<_>>(), ["account:desk-1"]);
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_trail_searches WHERE actor = 'officer'")
            .fetch_one(&db)
            .await
            .unwrap();
        assert_eq!(logged, 3, "every search is logged");
        let refused = sqlx::query("UPDATE access_trail SET identity = 'x'").execute(&db).await;
        assert!(refused.is_err(), "the log is append-only");
    }

    #[tokio::test]
    async fn an_edited_or_missing_row_is_named_and_a_pruned_prefix_still_verifies() {
        let db = crate::store::memory().await.unwrap();
        let day = 86_400_000;
        for i in 0..6 {
            session(&db, &format!("02:00:00:00:00:{i:02x}"), "192.0.2.10", "phone:1", i * day, 1000).await;
        }
        assert_eq!(verify(&db).await.unwrap().pending, 6, "not sealed yet");
        assert_eq!(seal(&db).await.unwrap(), 6);
        assert!(digest(&db, "1970-01-06").await.unwrap());
        let ok = verify(&db).await.unwrap();
        assert_eq!((ok.rows, ok.pending, ok.broken), (6, 0, None));

        // Retention: the first three days go; what is left still verifies.
        assert_eq!(prune(&db, 3, 6 * day).await.unwrap(), 3);
        session(&db, "02:00:00:00:00:99", "192.0.2.10", "phone:2", 6 * day, 1000).await;
        seal(&db).await.unwrap();
        let kept = verify(&db).await.unwrap();
        assert_eq!((kept.rows, kept.broken), (4, None));

        // Someone with the database's file changes a row: named.
        sqlx::query("DROP TRIGGER access_trail_append_only").execute(&db).await.unwrap();
        sqlx::query("UPDATE access_trail SET mac = '02:00:00:00:00:ff' WHERE seq = 5").execute(&db).await.unwrap();
        assert_eq!(verify(&db).await.unwrap().broken.map(|b| b.0), Some(5));
        // Or deletes one.
        let db2 = crate::store::memory().await.unwrap();
        for i in 0..3 {
            session(&db2, "02:00:00:00:00:01", "192.0.2.10", "phone:1", i * day, 1000).await;
        }
        seal(&db2).await.unwrap();
        sqlx::query("DELETE FROM access_trail WHERE seq = 2").execute(&db2).await.unwrap();
        let gap = verify(&db2).await.unwrap().broken.unwrap();
        assert_eq!(gap.0, 3, "{gap:?}");
    }

    #[test]
    fn the_csv_quotes_what_a_spreadsheet_would_run() {
        let row = Row {
            seq: 1,
            session_id: 1,
            identity: "=cmd()".into(),
            method: "account".into(),
            mac: "02:00:00:00:00:01".into(),
            ip: "192.0.2.10".into(),
            ap: String::new(),
            radio: String::new(),
            ssid: "Guest".into(),
            public_addr: "203.0.113.1".into(),
            port_lo: 6496,
            port_hi: 6735,
            login_at: 0,
            logout_at: Some(60_000),
            end_reason: "logout".into(),
        };
        let text = csv(&[row], 8);
        assert!(text.contains("\"'=cmd()\"") && text.contains("1970-01-01 08:01:00"), "{text}");
        let dir = std::env::temp_dir().join(format!("trail-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = signing_key(&dir).unwrap();
        assert_eq!(signing_key(&dir).unwrap().to_bytes(), key.to_bytes(), "made once, then read");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        let signed = sign(&text, &key);
        assert_eq!(check_signed(&signed).unwrap(), ap_protocol::hex::encode(key.verifying_key().as_bytes()));
        assert!(check_signed(&signed.replace("6496", "6497")).is_err(), "a changed export is caught");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
