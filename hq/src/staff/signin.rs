//! Signing in: the password, then the TOTP code or its enrolment, the
//! sessions, and the tries an account takes, each counted in its row
//! before it is checked.

use super::{
    Person, Role, Signed, Staff, StaffError, Stage, IDLE, LOCK, MAX_TRIES, MAX_USERNAME, RECOVERY_CODES,
    SECOND_FACTOR_WINDOW,
};
use guestwifi_core::kit::passwords::{unusable_hash, verify_password};
use guestwifi_core::kit::secrets::{normalize_code, random_code};
use guestwifi_core::kit::time::now_ms;
use guestwifi_core::kit::totp;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::time::Duration;

/// An account's row: username, brand, role, scope kind and id, TOTP secret,
/// enrolled at, last step, password hash.
type Account = (String, String, String, String, String, Option<String>, Option<i64>, i64, String);

fn person_of(a: &Account) -> Person {
    Person {
        username: a.0.clone(),
        brand: a.1.clone(),
        role: Role::parse(&a.2).unwrap_or(Role::Analyst),
        scope: crate::blocks::scope_of(&a.3, &a.4),
    }
}

/// `username`'s recovery codes become `codes` (kept as hashes), in `tx`.
pub(super) async fn replace_recovery_codes(
    tx: &mut sqlx::AnyConnection,
    username: &str,
    codes: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM hq_staff_recovery WHERE username = $1").bind(username).execute(&mut *tx).await?;
    for code in codes {
        sqlx::query("INSERT INTO hq_staff_recovery (username, code_hash) VALUES ($1, $2)")
            .bind(username)
            .bind(code_hash(code))
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// SHA-256, hex: how tokens and recovery codes are kept.
fn code_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

impl Staff {
    /// The password step: a session at [`Stage::Password`] (its cookie's
    /// token) when the password is right. The try is counted in the account
    /// before the check, and per address on this replica.
    pub async fn sign_in(&self, username: &str, password: &str, from: IpAddr) -> Result<(String, Signed), StaffError> {
        let locked = |retry_after| StaffError::LockedOut { retry_after };
        let by_address = self.by_address.reserve(from).map_err(locked)?;
        let username = username.trim().to_ascii_lowercase();
        if username.is_empty() || username.len() > MAX_USERNAME {
            by_address.keep();
            return Err(StaffError::WrongCredentials);
        }
        let account = match self.reserve_try(&username).await {
            Ok(account) => account,
            Err(err) => {
                by_address.give_back();
                return Err(err);
            }
        };
        let hash = account.as_ref().map_or_else(unusable_hash, |a| a.8.clone());
        let Ok(good) = verify_password(password.to_string(), hash).await else {
            by_address.give_back();
            self.give_back_try(&username).await;
            return Err(StaffError::LockedOut { retry_after: Duration::from_secs(1) });
        };
        let Some(account) = account.filter(|_| good) else {
            by_address.keep();
            self.failed_try(&username).await?;
            return Err(StaffError::WrongCredentials);
        };
        by_address.give_back();
        let person = person_of(&account);
        let enrolled = account.6.is_some();
        let (token, csrf) = self.new_session(&person.username, "password", from).await?;
        Ok((token, Signed { person, csrf, stage: Stage::Password { enrolled } }))
    }

    /// The second factor: a TOTP code of the account's (each step once), or
    /// one of its recovery codes (each once). A new session token for the
    /// signed-in session; the password step's token is gone.
    pub async fn second_factor(&self, token: &str, code: &str, from: IpAddr) -> Result<(String, Signed), StaffError> {
        let signed = self.session(token).await?.ok_or(StaffError::Expired)?;
        if signed.stage != (Stage::Password { enrolled: true }) {
            return Err(StaffError::Expired);
        }
        let username = signed.person.username.clone();
        let Some(account) = self.reserve_try(&username).await? else { return Err(StaffError::Expired) };
        let Some(secret) = account.5.as_deref().and_then(|stored| self.open(&username, stored)) else {
            tracing::error!(
                username,
                "a TOTP secret that does not open here (another ticket key?): the account enrols again after a reset"
            );
            self.give_back_try(&username).await;
            return Err(StaffError::Expired);
        };
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let good = if digits.len() == totp::DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()) {
            match totp::check(&secret, &digits, now_ms() / 1000, account.7) {
                Some(step) => self.take_step(&username, step).await?,
                None => false,
            }
        } else {
            self.take_recovery(&username, code).await?
        };
        if !good {
            self.failed_try(&username).await?;
            return Err(StaffError::WrongCode);
        }
        self.signed_in(token, signed, from).await
    }

    /// Enrolment's first step: the account's new secret (kept until it is
    /// confirmed; the same one while the page is reloaded).
    pub async fn enrolment_secret(&self, token: &str) -> Result<(Signed, String), StaffError> {
        let (signed, _, secret) = self.enrolling(token).await?;
        Ok((signed, secret))
    }

    /// The enrolling account's secret: as its row keeps it (sealed), and opened.
    async fn enrolling(&self, token: &str) -> Result<(Signed, String, String), StaffError> {
        let signed = self.session(token).await?.ok_or(StaffError::Expired)?;
        if signed.stage != (Stage::Password { enrolled: false }) {
            return Err(StaffError::Expired);
        }
        let username = &signed.person.username;
        let fresh = self.seal(username, &totp::new_secret());
        let stored: String = sqlx::query_scalar(
            "UPDATE hq_staff SET totp_secret = COALESCE(totp_secret, $2) WHERE username = $1 AND totp_enrolled_at IS NULL \
             RETURNING totp_secret",
        )
        .bind(username)
        .bind(fresh)
        .fetch_optional(&self.db)
        .await?
        .ok_or(StaffError::Expired)?;
        let secret = self.open(username, &stored).ok_or(StaffError::Expired)?;
        Ok((signed, stored, secret))
    }

    /// Enrolment confirmed by a code from the app: the second factor is on,
    /// the recovery codes (shown once) are made, and the session is signed in.
    pub async fn confirm_enrolment(
        &self,
        token: &str,
        code: &str,
        from: IpAddr,
    ) -> Result<(String, Signed, Vec<String>), StaffError> {
        let (signed, stored, secret) = self.enrolling(token).await?;
        let username = signed.person.username.clone();
        let Some(account) = self.reserve_try(&username).await? else { return Err(StaffError::Expired) };
        let Some(step) = totp::check(&secret, code, now_ms() / 1000, account.7) else {
            self.failed_try(&username).await?;
            return Err(StaffError::WrongCode);
        };
        let codes: Vec<String> =
            (0..RECOVERY_CODES).map(|_| format!("{}-{}", random_code(5), random_code(5))).collect();
        let mut tx = self.db.begin().await?;
        let confirmed = sqlx::query(
            "UPDATE hq_staff SET totp_enrolled_at = $2, totp_last_step = $3 \
             WHERE username = $1 AND totp_enrolled_at IS NULL AND totp_secret = $4",
        )
        .bind(&username)
        .bind(now_ms())
        .bind(step)
        .bind(&stored)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if confirmed == 0 {
            return Err(StaffError::Expired);
        }
        replace_recovery_codes(&mut tx, &username, &codes).await?;
        tx.commit().await?;
        let (token, signed) = self.signed_in(token, signed, from).await?;
        Ok((token, signed, codes))
    }

    /// The session behind a cookie's token, if it is live (a password-step
    /// one for [`SECOND_FACTOR_WINDOW`], a signed-in one until [`IDLE`]).
    pub async fn session(&self, token: &str) -> Result<Option<Signed>, StaffError> {
        if token.is_empty() || token.len() > 128 {
            return Ok(None);
        }
        let now = now_ms();
        type Row = (String, String, i64, i64, String, String, String, String, String, Option<String>, Option<i64>, i64);
        let row: Option<Row> = sqlx::query_as(
            "SELECT s.stage, s.csrf, s.created_at, s.seen_at, u.username, u.brand_id, u.role, u.scope_kind, u.scope_id, \
               u.totp_secret, u.totp_enrolled_at, u.totp_last_step \
             FROM hq_staff_sessions s JOIN hq_staff u ON u.username = s.username AND u.disabled_at IS NULL \
             WHERE s.token_hash = $1",
        )
        .bind(code_hash(token))
        .fetch_optional(&self.db)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let live = match r.0.as_str() {
            "full" => now - r.3 < IDLE.as_millis() as i64,
            _ => now - r.2 < SECOND_FACTOR_WINDOW.as_millis() as i64,
        };
        if !live {
            self.logout(token).await?;
            return Ok(None);
        }
        if r.0 == "full" && now - r.3 > 60_000 {
            sqlx::query("UPDATE hq_staff_sessions SET seen_at = $2 WHERE token_hash = $1")
                .bind(code_hash(token))
                .bind(now)
                .execute(&self.db)
                .await?;
        }
        let account: Account = (r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11, String::new());
        let stage = if r.0 == "full" { Stage::Full } else { Stage::Password { enrolled: account.6.is_some() } };
        Ok(Some(Signed { person: person_of(&account), csrf: r.1, stage }))
    }

    /// Ends the session behind `token`.
    pub async fn logout(&self, token: &str) -> Result<(), StaffError> {
        sqlx::query("DELETE FROM hq_staff_sessions WHERE token_hash = $1")
            .bind(code_hash(token))
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// The signed-in session that replaces the password step's `token`
    /// (a new token: the one seen before the second factor is worth nothing).
    async fn signed_in(&self, token: &str, mut signed: Signed, from: IpAddr) -> Result<(String, Signed), StaffError> {
        self.logout(token).await?;
        sqlx::query("UPDATE hq_staff SET tries = 0 WHERE username = $1")
            .bind(&signed.person.username)
            .execute(&self.db)
            .await?;
        let (token, csrf) = self.new_session(&signed.person.username, "full", from).await?;
        signed.csrf = csrf;
        signed.stage = Stage::Full;
        Ok((token, signed))
    }

    async fn new_session(&self, username: &str, stage: &str, from: IpAddr) -> Result<(String, String), StaffError> {
        let (token, csrf) = (guestwifi_core::staff::random_token(), guestwifi_core::staff::random_token());
        let now = now_ms();
        sqlx::query(
            "INSERT INTO hq_staff_sessions (token_hash, username, stage, csrf, created_at, seen_at, address) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(code_hash(&token))
        .bind(username)
        .bind(stage)
        .bind(&csrf)
        .bind(now)
        .bind(from.to_string())
        .execute(&self.db)
        .await?;
        // Sessions left half-way or idle go as new ones are made.
        sqlx::query(
            "DELETE FROM hq_staff_sessions WHERE (stage = 'password' AND created_at < $1) OR (stage = 'full' AND seen_at < $2)",
        )
        .bind(now - SECOND_FACTOR_WINDOW.as_millis() as i64)
        .bind(now - IDLE.as_millis() as i64)
        .execute(&self.db)
        .await?;
        Ok((token, csrf))
    }

    /// Counts a try at `username` before it is checked: the account (None if
    /// there is none), or locked out when its tries are spent.
    async fn reserve_try(&self, username: &str) -> Result<Option<Account>, StaffError> {
        let now = now_ms();
        let reserved: Option<Account> = sqlx::query_as(
            "UPDATE hq_staff SET tries = tries + 1 \
             WHERE username = $1 AND disabled_at IS NULL AND locked_until <= $2 AND tries < $3 \
             RETURNING username, brand_id, role, scope_kind, scope_id, totp_secret, totp_enrolled_at, totp_last_step, \
               password_hash",
        )
        .bind(username)
        .bind(now)
        .bind(MAX_TRIES)
        .fetch_optional(&self.db)
        .await?;
        if reserved.is_some() {
            return Ok(reserved);
        }
        let state: Option<(i64, String)> = sqlx::query_as(
            "SELECT locked_until, password_hash FROM hq_staff WHERE username = $1 AND disabled_at IS NULL",
        )
        .bind(username)
        .fetch_optional(&self.db)
        .await?;
        match state {
            None => Ok(None),
            Some((until, _)) if until > now => {
                Err(StaffError::LockedOut { retry_after: Duration::from_millis((until - now) as u64) })
            }
            // Every try taken by others at once: the account locks now.
            Some(_) => {
                self.lock(username).await?;
                Err(StaffError::LockedOut { retry_after: LOCK })
            }
        }
    }

    /// A wrong try: the account locks when its tries are spent.
    async fn failed_try(&self, username: &str) -> Result<(), StaffError> {
        let tries: Option<i64> = sqlx::query_scalar("SELECT tries FROM hq_staff WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.db)
            .await?;
        if tries.is_some_and(|t| t >= MAX_TRIES) {
            self.lock(username).await?;
            tracing::warn!(username, "HQ account locked after wrong tries");
        }
        Ok(())
    }

    async fn give_back_try(&self, username: &str) {
        let _ = sqlx::query("UPDATE hq_staff SET tries = tries - 1 WHERE username = $1 AND tries > 0")
            .bind(username)
            .execute(&self.db)
            .await;
    }

    async fn lock(&self, username: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE hq_staff SET locked_until = $2, tries = 0 WHERE username = $1")
            .bind(username)
            .bind(now_ms() + LOCK.as_millis() as i64)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Takes TOTP step `step` for the account: false if it (or a later one)
    /// was taken already, by a concurrent sign-in too.
    async fn take_step(&self, username: &str, step: i64) -> Result<bool, sqlx::Error> {
        let taken = sqlx::query("UPDATE hq_staff SET totp_last_step = $2 WHERE username = $1 AND totp_last_step < $2")
            .bind(username)
            .bind(step)
            .execute(&self.db)
            .await?
            .rows_affected();
        Ok(taken == 1)
    }

    /// Takes one of the account's recovery codes, once.
    async fn take_recovery(&self, username: &str, typed: &str) -> Result<bool, sqlx::Error> {
        let Some(code) = normalize_code(typed).filter(|c| c.len() == 10) else { return Ok(false) };
        let shown = format!("{}-{}", &code[..5], &code[5..]);
        let taken = sqlx::query(
            "UPDATE hq_staff_recovery SET used_at = $3 WHERE username = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(username)
        .bind(code_hash(&shown))
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }
}
