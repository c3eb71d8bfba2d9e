//! The console's staff: accounts (argon2 passwords) with one role each,
//! server-side sessions behind an HttpOnly cookie (revocable: the row is
//! the session), login attempts limited per account and per address, the
//! one-time setup code of the first start, and the audit log of every
//! staff action (who, what, when, from where, before and after).

use crate::auth::lockout::Lockout;
use crate::kit::passwords::{hash_password, unusable_hash, verify_password};
use crate::kit::time::now_ms;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The setup code's file in the data dir (0600; gone once setup is done).
pub const SETUP_CODE_FILE: &str = "setup-code";
/// The longest username; a longer one is refused before anything keeps it.
pub const MAX_USERNAME: usize = 64;
/// A console session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(8 * 3600);

/// What a staff member may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// APs, SSIDs, firmware, settings, users; and everything else.
    Admin,
    /// Portal pages, ads, statistics.
    Marketer,
    /// Vouchers, front-desk accounts, members' cards, kicking a guest.
    FrontDesk,
    /// The compliance officer: the access log the police ask for, and
    /// nothing else (no marketing, no statistics, no guests' details).
    Officer,
}

impl Role {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Marketer => "marketer",
            Role::FrontDesk => "frontdesk",
            Role::Officer => "officer",
        }
    }

    /// From its stored name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "admin" => Some(Role::Admin),
            "marketer" => Some(Role::Marketer),
            "frontdesk" => Some(Role::FrontDesk),
            "officer" => Some(Role::Officer),
            _ => None,
        }
    }
}

/// Why a staff operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StaffError {
    /// Wrong username or password (which one is not said).
    #[error("wrong username or password")]
    WrongCredentials,
    /// Too many wrong tries for this account or from this address.
    #[error("too many tries")]
    LockedOut {
        /// When to try again.
        retry_after: Duration,
    },
    /// The setup code is wrong, or setup is already done.
    #[error("setup code wrong or setup already done")]
    Setup,
    /// A username or password that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The username is taken.
    #[error("username {0} is taken")]
    Taken(String),
    /// The store failed.
    #[error("staff store error")]
    Store(#[from] sqlx::Error),
    /// The setup code's file.
    #[error("setup code file")]
    File(#[source] std::io::Error),
}

/// A signed-in staff member, as each request sees them.
#[derive(Clone, Debug)]
pub struct Signed {
    /// Their id.
    pub user_id: i64,
    /// Their name.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl Signed {
    /// This member acting through the console from `from`.
    pub fn actor(&self, from: IpAddr) -> Actor {
        Actor { name: self.username.clone(), role: self.role, door: Door::Console, from: from.to_string() }
    }
}

/// Who asks for a staff action, and by which door: what the role table
/// checks and the audit row names.
#[derive(Clone, Debug)]
pub struct Actor {
    /// A staff member's username, `admin.token` (the appliance's API token)
    /// or `root` (the CLI on the appliance).
    pub name: String,
    /// The role it acts with.
    pub role: Role,
    /// The door.
    pub door: Door,
    /// The peer address, or `local` (the control socket).
    pub from: String,
}

impl Actor {
    /// The CLI: root on the appliance, over the 0600 control socket.
    pub fn cli() -> Actor {
        Actor { name: "root".into(), role: Role::Admin, door: Door::Cli, from: "local".into() }
    }

    /// The JSON API, with a staff member's token or the appliance's (`admin.token`).
    pub fn api(name: &str, role: Role, from: IpAddr) -> Actor {
        Actor { name: name.to_string(), role, door: Door::Api, from: from.to_string() }
    }
}

/// How a staff action arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// The staff web console.
    Console,
    /// The JSON API (`Authorization: Bearer`).
    Api,
    /// The CLI over the control socket.
    Cli,
}

impl Door {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Console => "console",
            Door::Api => "api",
            Door::Cli => "cli",
        }
    }
}

/// A staff account, as listed.
#[derive(Clone, Debug, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Name.
    pub username: String,
    /// Role.
    pub role: String,
    /// UTC ms.
    pub created_at: i64,
    /// UTC ms, when disabled.
    pub disabled_at: Option<i64>,
}

/// An API token, as listed (never the token itself).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Token {
    /// Id.
    pub id: i64,
    /// What its owner called it.
    pub name: String,
    /// UTC ms.
    pub created_at: i64,
    /// UTC ms.
    pub last_used_at: Option<i64>,
    /// UTC ms, when revoked.
    pub revoked_at: Option<i64>,
}

/// One audit entry.
#[derive(Clone, Debug, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// UTC ms.
    pub at: i64,
    /// Who.
    pub username: String,
    /// Their role then.
    pub role: String,
    /// What (`voucher.create`, `guest.kick`, `user.create`, `login`...).
    pub action: String,
    /// On what.
    pub target: String,
    /// Before (JSON or text; empty when nothing was there).
    pub before: String,
    /// After.
    pub after: String,
    /// From where (the peer address).
    pub from_addr: String,
    /// By which door (`console`, `api`, `cli`).
    pub door: String,
}

/// The staff service.
pub struct Staff {
    db: SqlitePool,
    dir: PathBuf,
    /// Wrong tries at one account from one address: that address is locked
    /// out of that account (the owner elsewhere is not).
    by_account: Lockout<(String, IpAddr)>,
    /// Wrong tries at one account from anywhere: past the ceiling, every try
    /// at it waits its turn, one at a time and [`SLOW_TRY`] each (slowed,
    /// never blocked: guessing from many addresses cannot lock the owner out).
    account_ceiling: Lockout<String>,
    turns: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    by_address: Lockout<IpAddr>,
}

/// Wrong tries at one account, from every address, before its tries are slowed.
const ACCOUNT_CEILING: usize = 20;
/// How long a try at an account past its ceiling takes at least.
pub const SLOW_TRY: Duration = Duration::from_secs(2);

fn token_hash(token: &str) -> String {
    ap_protocol::hex::encode(&Sha256::digest(token.as_bytes()))
}

/// 32 random bytes as hex: session tokens and CSRF tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    ap_protocol::hex::encode(&bytes)
}

fn check_new(username: &str, password: &str) -> Result<(), StaffError> {
    if username.is_empty()
        || username.len() > 32
        || !username.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(StaffError::Invalid("a username is 1 to 32 letters, digits, . - _".into()));
    }
    if password.chars().count() < 10 || password.len() > 128 {
        return Err(StaffError::Invalid("a password is 10 to 128 characters".into()));
    }
    Ok(())
}

impl Staff {
    /// Staff in `db`; the setup code lives in `dir`.
    pub fn new(db: SqlitePool, dir: &Path) -> Self {
        Staff {
            db,
            dir: dir.to_path_buf(),
            by_account: Lockout::new(5, Duration::from_secs(15 * 60)),
            account_ceiling: Lockout::new(ACCOUNT_CEILING, Duration::from_secs(15 * 60)),
            turns: std::sync::Mutex::default(),
            by_address: Lockout::new(20, Duration::from_secs(15 * 60)),
        }
    }

    /// Whether any account exists (else the console shows first-run setup).
    pub async fn has_users(&self) -> Result<bool, StaffError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff_users").fetch_one(&self.db).await?;
        Ok(n > 0)
    }

    /// At start: with no account yet, makes the one-time setup code (a 0600
    /// file; `controller setup-code` prints it). True when setup is pending.
    pub async fn prepare_setup(&self) -> Result<bool, StaffError> {
        if self.has_users().await? {
            let _ = std::fs::remove_file(self.dir.join(SETUP_CODE_FILE));
            return Ok(false);
        }
        let path = self.dir.join(SETUP_CODE_FILE);
        if !path.exists() {
            let code = crate::kit::secrets::random_code(12);
            crate::kit::secrets::write_secret(&path, code.as_bytes())
                .map_err(|e| StaffError::File(std::io::Error::other(e)))?;
        }
        Ok(true)
    }

    /// First-run setup: the code from the file makes the first admin; the
    /// code is then gone. Refused once any account exists.
    pub async fn setup(&self, code: &str, username: &str, password: &str) -> Result<(), StaffError> {
        let path = self.dir.join(SETUP_CODE_FILE);
        let expected = std::fs::read_to_string(&path).map_err(|_| StaffError::Setup)?;
        let typed = crate::kit::secrets::normalize_code(code).unwrap_or_default();
        if !crate::kit::secrets::same_secret(&typed, expected.trim()) {
            return Err(StaffError::Setup);
        }
        check_new(username, password)?;
        // The code is claimed before the slow hash, by one rename: of two
        // setups at once only one gets it, the other is refused.
        let claimed = self.dir.join(format!("{SETUP_CODE_FILE}.claimed"));
        std::fs::rename(&path, &claimed).map_err(|_| StaffError::Setup)?;
        let made = async {
            if self.has_users().await? {
                return Err(StaffError::Setup);
            }
            self.insert(username, password, Role::Admin).await
        };
        match made.await {
            Ok(_) => {
                let _ = std::fs::remove_file(&claimed);
                tracing::info!(username, "first-run setup done: the first admin exists");
                Ok(())
            }
            Err(err) => {
                // Nobody was made: the code is the next try's again.
                let _ = std::fs::rename(&claimed, &path);
                Err(err)
            }
        }
    }

    /// A new account (an admin's action).
    pub async fn create_user(&self, username: &str, password: &str, role: Role) -> Result<User, StaffError> {
        check_new(username, password)?;
        self.insert(username, password, role).await
    }

    async fn insert(&self, username: &str, password: &str, role: Role) -> Result<User, StaffError> {
        let hash = hash_password(password.to_string())
            .await
            .map_err(|_| StaffError::Invalid("cannot hash the password".into()))?;
        let result = sqlx::query_as::<_, User>(
            "INSERT INTO staff_users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?) \
             RETURNING id, username, role, created_at, disabled_at",
        )
        .bind(username)
        .bind(hash)
        .bind(role.as_str())
        .bind(now_ms())
        .fetch_one(&self.db)
        .await;
        match result {
            Ok(user) => Ok(user),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StaffError::Taken(username.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Every account.
    pub async fn users(&self) -> Result<Vec<User>, StaffError> {
        Ok(sqlx::query_as("SELECT id, username, role, created_at, disabled_at FROM staff_users ORDER BY username")
            .fetch_all(&self.db)
            .await?)
    }

    /// Disables an account and ends its sessions; false when no such account.
    pub async fn disable(&self, username: &str) -> Result<bool, StaffError> {
        let mut tx = self.db.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE staff_users SET disabled_at = ? WHERE username = ? AND disabled_at IS NULL RETURNING id",
        )
        .bind(now_ms())
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            sqlx::query("DELETE FROM staff_sessions WHERE user_id = ?").bind(id).execute(&mut *tx).await?;
            sqlx::query("UPDATE staff_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id.is_some())
    }

    /// Checks a username and password from `from`; a new session's cookie
    /// token and the session. Limited per address, per account from that
    /// address, and slowed per account past a ceiling.
    pub async fn login(&self, username: &str, password: &str, from: IpAddr) -> Result<(String, Signed), StaffError> {
        let locked = |retry_after| StaffError::LockedOut { retry_after };
        // The address's try first: a name too long to be anyone's is kept
        // nowhere (a 2 MB name is no lock-out key), but costs its sender a try.
        let by_address = self.by_address.reserve(from).map_err(locked)?;
        let account = username.trim().to_ascii_lowercase();
        if account.len() > MAX_USERNAME {
            by_address.keep();
            return Err(StaffError::WrongCredentials);
        }
        // Counted before the slow check: tries at once cannot all be checked.
        let by_account = match self.by_account.reserve((account.clone(), from)) {
            Ok(reserved) => reserved,
            Err(retry_after) => {
                by_address.give_back();
                return Err(locked(retry_after));
            }
        };
        // Past the account's ceiling, tries at it take turns, each at least SLOW_TRY.
        let turn = match self.account_ceiling.check(account.clone()) {
            None => None,
            Some(_) => {
                let turn = self.turns.lock().unwrap().entry(account.clone()).or_default().clone();
                let held = turn.lock_owned().await;
                Some((held, tokio::time::sleep(SLOW_TRY)))
            }
        };
        let row: Result<Option<(i64, String, String, String)>, sqlx::Error> = sqlx::query_as(
            "SELECT id, username, password_hash, role FROM staff_users WHERE lower(username) = ? AND disabled_at IS NULL",
        )
        .bind(&account)
        .fetch_optional(&self.db)
        .await;
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                by_account.give_back();
                by_address.give_back();
                return Err(err.into());
            }
        };
        let hash = row.as_ref().map_or_else(unusable_hash, |r| r.2.clone());
        let Ok(good) = verify_password(password.to_string(), hash).await else {
            // No turn for the check: nothing was tried; ask again in a second.
            by_account.give_back();
            by_address.give_back();
            return Err(StaffError::LockedOut { retry_after: Duration::from_secs(1) });
        };
        let slowed = turn.is_some();
        if let Some((held, pause)) = turn {
            pause.await;
            drop(held);
        }
        let Some((user_id, username, _, role)) = row.filter(|_| good) else {
            by_account.keep();
            by_address.keep();
            self.account_ceiling.fail(account.clone());
            if !slowed {
                self.forget_turns();
            }
            return Err(StaffError::WrongCredentials);
        };
        // The account's count is cleared; the address's earlier wrong tries stay.
        by_account.clear();
        by_address.give_back();
        let role = Role::parse(&role).unwrap_or(Role::FrontDesk);
        let (token, csrf) = (random_token(), random_token());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, user_id, csrf, created_at, last_seen_at, from_addr) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(token_hash(&token))
        .bind(user_id)
        .bind(&csrf)
        .bind(now)
        .bind(now)
        .bind(from.to_string())
        .execute(&self.db)
        .await?;
        Ok((token, Signed { user_id, username, role, csrf }))
    }

    /// Turns of accounts no longer past their ceiling are let go.
    fn forget_turns(&self) {
        let mut turns = self.turns.lock().unwrap();
        if !turns.is_empty() {
            turns.retain(|account, _| self.account_ceiling.check(account.clone()).is_some());
        }
    }

    /// The session a cookie's token opens, if it is live (and touches it).
    pub async fn session(&self, token: &str) -> Result<Option<Signed>, StaffError> {
        let now = now_ms();
        let row: Option<(i64, String, String, String)> = sqlx::query_as(
            "UPDATE staff_sessions SET last_seen_at = ?1 WHERE token_hash = ?2 AND last_seen_at > ?3 \
             RETURNING user_id, csrf, \
               (SELECT username FROM staff_users u WHERE u.id = user_id AND u.disabled_at IS NULL), \
               (SELECT role FROM staff_users u WHERE u.id = user_id)",
        )
        .bind(now)
        .bind(token_hash(token))
        .bind(now - IDLE.as_millis() as i64)
        .fetch_optional(&self.db)
        .await
        .or_else(|e| match e {
            // A disabled user's username is NULL: no session.
            sqlx::Error::ColumnDecode { .. } => Ok(None),
            e => Err(e),
        })?;
        Ok(row.and_then(|(user_id, csrf, username, role)| {
            Some(Signed { user_id, username, role: Role::parse(&role)?, csrf })
        }))
    }

    /// Ends a session.
    pub async fn logout(&self, token: &str) -> Result<(), StaffError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = ?")
            .bind(token_hash(token))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// A new API token for `user` named `name`: the token, shown once.
    pub async fn create_token(&self, user: &Signed, name: &str) -> Result<String, StaffError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 40 {
            return Err(StaffError::Invalid("a token needs a name of 1 to 40 characters".into()));
        }
        let token = format!("gwt_{}", random_token());
        sqlx::query("INSERT INTO staff_tokens (token_hash, user_id, name, created_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash(&token))
            .bind(user.user_id)
            .bind(name)
            .bind(now_ms())
            .execute(&self.db)
            .await?;
        Ok(token)
    }

    /// A staff member's tokens.
    pub async fn tokens(&self, user: &Signed) -> Result<Vec<Token>, StaffError> {
        Ok(sqlx::query_as(
            "SELECT id, name, created_at, last_used_at, revoked_at FROM staff_tokens WHERE user_id = ? ORDER BY id DESC",
        )
        .bind(user.user_id)
        .fetch_all(&self.db)
        .await?)
    }

    /// Revokes one of `user`'s tokens; false when they have no such live token.
    pub async fn revoke_token(&self, user: &Signed, id: i64) -> Result<bool, StaffError> {
        let done =
            sqlx::query("UPDATE staff_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL")
                .bind(now_ms())
                .bind(id)
                .bind(user.user_id)
                .execute(&self.db)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The staff member an API token acts as: live token, enabled account.
    pub async fn token_user(&self, token: &str) -> Result<Option<Signed>, StaffError> {
        let row: Option<(i64, String, String)> = sqlx::query_as(
            "UPDATE staff_tokens SET last_used_at = ?1 WHERE token_hash = ?2 AND revoked_at IS NULL \
             AND user_id IN (SELECT id FROM staff_users WHERE disabled_at IS NULL) \
             RETURNING user_id, (SELECT username FROM staff_users u WHERE u.id = user_id), \
                       (SELECT role FROM staff_users u WHERE u.id = user_id)",
        )
        .bind(now_ms())
        .bind(token_hash(token))
        .fetch_optional(&self.db)
        .await?;
        Ok(row.and_then(|(user_id, username, role)| {
            Some(Signed { user_id, username, role: Role::parse(&role)?, csrf: String::new() })
        }))
    }

    /// Records a staff action. A failure to write is logged (the action has
    /// happened; the log line keeps it).
    pub async fn audit(&self, actor: &Actor, action: &str, target: &str, before: &str, after: &str) {
        let result = sqlx::query(
            "INSERT INTO staff_audit (at, username, role, action, target, before, after, from_addr, door) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now_ms())
        .bind(&actor.name)
        .bind(actor.role.as_str())
        .bind(action)
        .bind(target)
        .bind(before)
        .bind(after)
        .bind(&actor.from)
        .bind(actor.door.as_str())
        .execute(&self.db)
        .await;
        if let Err(err) = result {
            tracing::error!(user = %actor.name, action, target, error = %crate::error_chain(&err), "staff audit row not written");
        }
    }

    /// The newest `limit` audit entries, those matching `filter` (user,
    /// action or target containing it) when given.
    pub async fn audit_log(&self, filter: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StaffError> {
        let like = format!("%{}%", filter.unwrap_or("").replace(['%', '_'], ""));
        Ok(sqlx::query_as(
            "SELECT at, username, role, action, target, before, after, from_addr, door FROM staff_audit \
             WHERE username LIKE ?1 OR action LIKE ?1 OR target LIKE ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(like)
        .bind(limit)
        .fetch_all(&self.db)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn staff() -> (Staff, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (Staff::new(crate::store::memory().await.unwrap(), dir.path()), dir)
    }

    fn addr(n: u8) -> IpAddr {
        IpAddr::from([198, 51, 100, n])
    }

    #[tokio::test]
    async fn sixty_four_wrong_logins_at_once_get_five_answers_and_a_huge_name_is_kept_nowhere() {
        let (s, _dir) = staff().await;
        s.create_user("owner", "a long password", Role::Admin).await.unwrap();
        let s = std::sync::Arc::new(s);
        let tries = (0..64).map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.login("owner", "not the password", addr(9)).await })
        });
        let mut wrong = 0;
        for t in tries {
            match t.await.unwrap() {
                Err(StaffError::WrongCredentials) => wrong += 1,
                Err(StaffError::LockedOut { .. }) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(wrong, 5, "five checked, however fast they came");
        // A 2 MB name: refused before anything keeps it; it does not lock the owner.
        let huge = "x".repeat(2 * 1024 * 1024);
        assert!(matches!(s.login(&huge, "x", addr(10)).await, Err(StaffError::WrongCredentials)));
        assert!(s.account_ceiling.check(huge.clone()).is_none(), "no lock-out entry for it");
        assert!(s.by_account.check((huge, addr(10))).is_none());
    }

    #[tokio::test]
    async fn two_setups_at_once_with_the_one_code_make_one_admin() {
        let (s, dir) = staff().await;
        assert!(s.prepare_setup().await.unwrap());
        let code = std::fs::read_to_string(dir.path().join(SETUP_CODE_FILE)).unwrap();
        let (a, b) =
            tokio::join!(s.setup(&code, "first", "a long password"), s.setup(&code, "second", "a long password"));
        assert!(a.is_ok() != b.is_ok(), "one of them: {a:?} {b:?}");
        assert_eq!(s.users().await.unwrap().len(), 1, "one admin");
        assert!(!dir.path().join(SETUP_CODE_FILE).exists(), "the code is spent");
    }

    #[tokio::test]
    async fn the_setup_code_makes_one_admin_once() {
        let (s, dir) = staff().await;
        assert!(s.prepare_setup().await.unwrap());
        let code = std::fs::read_to_string(dir.path().join(SETUP_CODE_FILE)).unwrap();
        assert!(matches!(s.setup("WRONGCODE22", "owner", "a long password").await, Err(StaffError::Setup)));
        assert!(matches!(s.setup(&code, "owner", "short").await, Err(StaffError::Invalid(_))));
        s.setup(&code.to_lowercase(), "owner", "a long password").await.unwrap();
        assert!(!dir.path().join(SETUP_CODE_FILE).exists(), "the code is spent");
        assert!(matches!(s.setup(&code, "thief", "a long password").await, Err(StaffError::Setup)));
        assert!(!s.prepare_setup().await.unwrap());
        let (token, signed) = s.login("Owner", "a long password", addr(1)).await.unwrap();
        assert_eq!(signed.role, Role::Admin);
        assert_eq!(s.session(&token).await.unwrap().unwrap().username, "owner");
        s.logout(&token).await.unwrap();
        assert!(s.session(&token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn wrong_passwords_lock_out_their_address_slow_the_account_and_a_disabled_account_loses_its_sessions() {
        let (s, _dir) = staff().await;
        s.create_user("desk", "front desk pass", Role::FrontDesk).await.unwrap();
        assert!(matches!(s.create_user("desk", "front desk pass", Role::Admin).await, Err(StaffError::Taken(_))));
        let (token, _) = s.login("desk", "front desk pass", addr(1)).await.unwrap();
        for _ in 0..5 {
            assert!(matches!(s.login("desk", "guess", addr(2)).await, Err(StaffError::WrongCredentials)));
        }
        assert!(
            matches!(s.login("desk", "front desk pass", addr(2)).await, Err(StaffError::LockedOut { .. })),
            "the guessing address is locked out of the account, even with the password"
        );
        let quick = std::time::Instant::now();
        s.login("desk", "front desk pass", addr(9)).await.expect("the owner at her own desk is not");
        assert!(quick.elapsed() < SLOW_TRY, "and not slowed: five wrong tries are under the ceiling");
        // Guessing from many addresses (5 each) passes the account's ceiling:
        // every try at it is slowed, the owner's too, but she still gets in.
        for n in 3..7 {
            for _ in 0..5 {
                assert!(matches!(s.login("desk", "guess", addr(n)).await, Err(StaffError::WrongCredentials)));
            }
        }
        let slowed = std::time::Instant::now();
        s.login("desk", "front desk pass", addr(10)).await.expect("slowed, never locked out");
        assert!(slowed.elapsed() >= SLOW_TRY, "a try past the ceiling takes its time: {:?}", slowed.elapsed());
        assert!(s.session(&token).await.unwrap().is_some(), "a live session is not ended by someone guessing");
        assert!(s.disable("desk").await.unwrap());
        assert!(s.session(&token).await.unwrap().is_none());
    }
}
