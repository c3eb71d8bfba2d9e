//! Front-desk accounts (身份证开户): staff open a guest account from an ID
//! card; the guest logs in with its username and password. The ID number is
//! kept only as a keyed hash (key `id.key` in the data dir) and its last four
//! characters, so a stolen database does not leak ID numbers yet staff can
//! find a person's accounts. Passwords are argon2id. The online time runs
//! from the first login, within the account's expiry.

use super::{AuthError, Bandwidth, Grant, Identity, Method, Refusal};
use crate::kit::passwords::{hash_password, unusable_hash, verify_password};
use crate::kit::secrets::random_code;
use crate::kit::signer::Signer;
use crate::kit::time::now_ms;
use firewall::Client;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use std::time::Duration;

/// The key file for ID numbers.
pub const ID_KEY_FILE: &str = "id.key";

/// What staff fill in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewAccount {
    /// Wanted username; empty: one is made.
    #[serde(default)]
    pub username: String,
    /// The ID card's number (18 characters, checked), or a passport's.
    pub id_number: String,
    /// `id_card` (居民身份证, default) or `passport`.
    #[serde(default = "default_id_type")]
    pub id_type: String,
    /// The guest's name, as staff wrote it (optional).
    #[serde(default)]
    pub name: String,
    /// Online time from the first login, seconds.
    pub online_seconds: u64,
    /// Days the account lives.
    pub valid_days: u32,
    /// Devices it may log in at once.
    #[serde(default = "one")]
    pub devices: u32,
}

fn default_id_type() -> String {
    "id_card".into()
}
fn one() -> u32 {
    1
}

/// A made account: the only time its password is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Created {
    /// Username.
    pub username: String,
    /// Password, shown once.
    pub password: String,
    /// Last four of the ID.
    pub id_last4: String,
    /// The guest's name.
    pub name: String,
    /// Online time, seconds.
    pub online_seconds: u64,
    /// Expiry, UTC ms.
    pub expires_at: i64,
}

/// An account as listed (no password, no ID number).
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Account {
    /// Username.
    pub username: String,
    /// `id_card` or `passport`.
    pub id_type: String,
    /// Last four of the ID.
    pub id_last4: String,
    /// The guest's name.
    pub name: String,
    /// Online time, seconds.
    pub online_seconds: i64,
    /// Devices at once.
    pub devices: i64,
    /// UTC ms.
    pub created_at: i64,
    /// UTC ms.
    pub expires_at: i64,
    /// First login, UTC ms.
    pub first_login_at: Option<i64>,
    /// Revoked, UTC ms.
    pub revoked_at: Option<i64>,
}

/// What a login checks.
#[derive(sqlx::FromRow)]
struct Credentials {
    password_hash: String,
    online_seconds: i64,
    devices: i64,
    expires_at: i64,
    first_login_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// Why an account could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A value is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The username is taken.
    #[error("username {0:?} is taken")]
    Taken(String),
    /// The store failed.
    #[error("account store error")]
    Store(#[from] sqlx::Error),
}

/// The account method and its store.
#[derive(Clone)]
pub struct Accounts {
    db: SqlitePool,
    ids: Signer,
    bandwidth: Bandwidth,
}

const SELECT: &str = "SELECT username, id_type, id_last4, name, online_seconds, devices, created_at, expires_at, \
                      first_login_at, revoked_at FROM guest_accounts";

impl Accounts {
    /// Accounts in `db`, ID numbers hashed with `ids`.
    pub fn new(db: SqlitePool, ids: Signer, bandwidth: Bandwidth) -> Self {
        // Made now, not on the first unknown username's request.
        crate::kit::passwords::warm();
        Accounts { db, ids, bandwidth }
    }

    /// Opens an account; the password is in the answer and nowhere else.
    pub async fn create(&self, new: &NewAccount) -> Result<Created, AccountError> {
        let invalid = |m: &str| Err(AccountError::Invalid(m.to_string()));
        let id = match new.id_type.as_str() {
            "id_card" => check_id_card(&new.id_number).ok_or_else(|| {
                AccountError::Invalid("the ID card number is not 18 characters with a valid check digit".into())
            })?,
            "passport" => {
                let p = new.id_number.trim().to_ascii_uppercase();
                if !(5..=20).contains(&p.len()) || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return invalid("a passport number is 5 to 20 letters and digits");
                }
                p
            }
            _ => return invalid("id type is id_card or passport"),
        };
        if new.online_seconds < 60 || new.online_seconds > 400 * 86_400 {
            return invalid("online time must be 1 minute to 400 days");
        }
        if new.valid_days == 0 || new.valid_days > 400 {
            return invalid("valid days must be 1 to 400");
        }
        if new.devices == 0 || new.devices > 10 {
            return invalid("devices must be 1 to 10");
        }
        if new.name.chars().count() > 50 {
            return invalid("the name is longer than 50 characters");
        }
        let username = if new.username.trim().is_empty() {
            format!("g{}", random_code(6).to_ascii_lowercase())
        } else {
            let u = new.username.trim().to_ascii_lowercase();
            if !(3..=32).contains(&u.len()) || !u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return invalid("a username is 3 to 32 letters, digits, - and _");
            }
            u
        };
        let password = random_code(8).to_ascii_lowercase();
        let hash = hash_password(password.clone()).await.map_err(|e| AccountError::Invalid(e.to_string()))?;
        let now = now_ms();
        let expires_at = now + i64::from(new.valid_days) * 86_400_000;
        let last4 = id[id.len() - 4..].to_string();
        let inserted = sqlx::query(
            "INSERT INTO guest_accounts (username, password_hash, id_hash, id_last4, id_type, name, online_seconds, \
             devices, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING",
        )
        .bind(&username)
        .bind(&hash)
        .bind(self.id_hash(&id))
        .bind(&last4)
        .bind(&new.id_type)
        .bind(new.name.trim())
        .bind(new.online_seconds as i64)
        .bind(i64::from(new.devices))
        .bind(now)
        .bind(expires_at)
        .execute(&self.db)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(AccountError::Taken(username));
        }
        tracing::info!(%username, id_last4 = %last4, "front-desk account opened");
        Ok(Created {
            username,
            password,
            id_last4: last4,
            name: new.name.trim().to_string(),
            online_seconds: new.online_seconds,
            expires_at,
        })
    }

    /// Accounts, newest first; only those of one ID number when given.
    pub async fn list(&self, id_number: Option<&str>) -> Result<Vec<Account>, AccountError> {
        match id_number {
            None => Ok(sqlx::query_as(&format!("{SELECT} ORDER BY created_at DESC")).fetch_all(&self.db).await?),
            Some(number) => {
                let id = check_id_card(number).unwrap_or_else(|| number.trim().to_ascii_uppercase());
                Ok(sqlx::query_as(&format!("{SELECT} WHERE id_hash = ? ORDER BY created_at DESC"))
                    .bind(self.id_hash(&id))
                    .fetch_all(&self.db)
                    .await?)
            }
        }
    }

    /// Revokes an account; false if there is none.
    pub async fn revoke(&self, username: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("UPDATE guest_accounts SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(username.trim().to_ascii_lowercase())
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Checks a username and password: the grant. Unknown users cost as
    /// much time as wrong passwords, so usernames cannot be probed.
    pub async fn login(&self, username: &str, password: &str, client: Client) -> Result<Grant, AuthError> {
        let username = username.trim().to_ascii_lowercase();
        if username.len() > 32 || password.len() > 128 {
            return Err(Refusal::WrongCredentials.into());
        }
        let row: Option<Credentials> = sqlx::query_as(
            "SELECT password_hash, online_seconds, devices, expires_at, first_login_at, revoked_at \
             FROM guest_accounts WHERE username = ?",
        )
        .bind(&username)
        .fetch_optional(&self.db)
        .await?;
        let hash = row.as_ref().map_or_else(unusable_hash, |r| r.password_hash.clone());
        // No turn for the check: ask again soon (the caller gives the try back).
        let ok = verify_password(password.to_string(), hash)
            .await
            .map_err(|_| Refusal::Limited { retry_after: Duration::from_secs(1) })?;
        let (
            Some(Credentials {
                online_seconds: online,
                devices,
                expires_at,
                first_login_at: first,
                revoked_at: revoked,
                ..
            }),
            true,
        ) = (row, ok)
        else {
            return Err(Refusal::WrongCredentials.into());
        };
        let now = now_ms();
        if revoked.is_some() {
            return Err(Refusal::Revoked.into());
        }
        let first = first.unwrap_or(now);
        let end = (first + online * 1000).min(expires_at);
        if end <= now {
            return Err(Refusal::Expired.into());
        }
        let identity = Identity::Account(username.clone());
        let others: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND identity = ? AND mac != ? AND expires_at > ?",
        )
        .bind(identity.stored())
        .bind(client.mac.to_string())
        .bind(now)
        .fetch_one(&self.db)
        .await?;
        if others >= devices {
            return Err(Refusal::DeviceLimit.into());
        }
        sqlx::query("UPDATE guest_accounts SET first_login_at = ? WHERE username = ? AND first_login_at IS NULL")
            .bind(now)
            .bind(&username)
            .execute(&self.db)
            .await?;
        Ok(Grant {
            method: Method::Account,
            identity,
            duration: Duration::from_millis((end - now) as u64),
            bandwidth: self.bandwidth,
        })
    }

    fn id_hash(&self, id: &str) -> String {
        self.ids.sign(&["id", id])
    }
}

/// A PRC resident ID number (GB 11643): 17 digits and an ISO 7064 MOD 11-2
/// check character (0-9 or X). Returns it in upper case.
pub fn check_id_card(number: &str) -> Option<String> {
    let id = number.trim().to_ascii_uppercase();
    let bytes = id.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return None;
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = bytes[..17].iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    (bytes[17] == check).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "192.0.2.1".parse().unwrap() }
    }

    async fn accounts() -> Accounts {
        Accounts::new(crate::store::memory().await.unwrap(), Signer::with_key([3; 32]), Bandwidth::default())
    }

    fn new(id: &str) -> NewAccount {
        NewAccount {
            username: String::new(),
            id_number: id.into(),
            id_type: "id_card".into(),
            name: "张三".into(),
            online_seconds: 7200,
            valid_days: 1,
            devices: 1,
        }
    }

    // The example number of GB 11643's own annex.
    const ID: &str = "11010519491231002X";

    #[test]
    fn id_card_numbers_are_checked() {
        assert_eq!(check_id_card("11010519491231002x").as_deref(), Some(ID));
        assert_eq!(check_id_card("110105194912310021"), None, "wrong check digit");
        assert_eq!(check_id_card("1101051949"), None);
    }

    #[tokio::test]
    async fn an_account_logs_in_with_its_password_only_and_the_id_is_not_stored() {
        let a = accounts().await;
        let made = a.create(&new(ID)).await.unwrap();
        assert_eq!(made.id_last4, "002X");
        let stored: Vec<(String, String)> =
            sqlx::query_as("SELECT id_hash, password_hash FROM guest_accounts").fetch_all(&a.db).await.unwrap();
        assert!(!stored[0].0.contains("1101051949") && !stored[0].1.contains(&made.password));
        let grant = a.login(&made.username.to_uppercase(), &made.password, client()).await.unwrap();
        assert_eq!(grant.identity, Identity::Account(made.username.clone()));
        assert!(grant.duration <= Duration::from_secs(7200) && grant.duration > Duration::from_secs(7100));
        let wrong = a.login(&made.username, "nope", client()).await.unwrap_err();
        assert!(matches!(wrong, AuthError::Refused(Refusal::WrongCredentials)));
        let unknown = a.login("nobody", &made.password, client()).await.unwrap_err();
        assert!(matches!(unknown, AuthError::Refused(Refusal::WrongCredentials)));
        assert_eq!(a.list(Some(&ID.to_lowercase())).await.unwrap().len(), 1, "found by the ID number");
        assert!(a.revoke(&made.username).await.unwrap());
        let revoked = a.login(&made.username, &made.password, client()).await.unwrap_err();
        assert!(matches!(revoked, AuthError::Refused(Refusal::Revoked)));
    }

    #[tokio::test]
    async fn bad_input_is_named_and_a_taken_name_refused() {
        let a = accounts().await;
        assert!(matches!(a.create(&new("110105194912310021")).await, Err(AccountError::Invalid(_))));
        let mut named = new(ID);
        named.username = "table-7".into();
        a.create(&named).await.unwrap();
        assert!(matches!(a.create(&named).await, Err(AccountError::Taken(_))));
        named.username = "a b".into();
        assert!(matches!(a.create(&named).await, Err(AccountError::Invalid(_))));
    }
}
