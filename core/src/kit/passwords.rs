//! Passwords and PINs: argon2id hashes, made and checked off the async
//! threads (a hash takes tens of milliseconds on purpose).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::time::Duration;
use tokio::sync::Semaphore;

/// At most this many argon2 hashes run at once: each takes about 19 MiB, so
/// a flood of guesses cannot take the daemon's memory (the blocking pool
/// alone would run hundreds).
pub const AT_ONCE: usize = 4;
/// How long a check waits for its turn before it is refused as busy.
pub const WAIT: Duration = Duration::from_secs(2);

/// The turns every hash of the process takes: one memory budget for all.
static TURNS: Semaphore = Semaphore::const_new(AT_ONCE);

/// Every turn was taken for [`WAIT`]: the guest is asked to try again soon.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks at once")]
pub struct Busy;

/// An argon2id hash of a password that no one has: what an unknown username
/// is checked against.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes of salt");
    Argon2::default()
        .hash_password(super::secrets::random_code(16).as_bytes(), &salt)
        .expect("argon2 hashes")
        .to_string()
});

/// [`DUMMY_HASH`]: what an unknown card or username is checked against, so
/// it costs the same time as a wrong password.
pub fn unusable_hash() -> String {
    DUMMY_HASH.clone()
}

/// Has the C allocator hand every allocation of 4 MiB or more straight back
/// to the system when it is freed (called once at the daemon's start).
/// glibc otherwise raises its mmap threshold after the first argon2 buffer
/// (19 MiB) is freed, and every later one comes from the heap of whichever
/// blocking thread ran it and stays there: 128 guesses, four at a time,
/// still left about 580 MiB resident across the pool's threads.
pub fn return_large_allocations() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the allocator's tuning.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Makes [`DUMMY_HASH`] now, not on the first unknown username's request.
pub fn warm() {
    std::sync::LazyLock::force(&DUMMY_HASH);
}

/// Hashes off the async threads (argon2 takes tens of milliseconds on
/// purpose), in its turn (a staff action: it waits as long as it takes).
pub async fn hash_password(password: String) -> Result<String, argon2::password_hash::Error> {
    let _turn = TURNS.acquire().await.map_err(|_| argon2::password_hash::Error::Crypto)?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let salt = SaltString::encode_b64(&salt)?;
        Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
    })
    .await
    .unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

/// Checks a password against an argon2 hash, off the async threads, in its
/// turn; Err when no turn came within [`WAIT`] (nothing was checked).
pub async fn verify_password(password: String, hash: String) -> Result<bool, Busy> {
    verify_in_turn(&TURNS, WAIT, password, hash).await
}

async fn verify_in_turn(turns: &Semaphore, wait: Duration, password: String, hash: String) -> Result<bool, Busy> {
    let _turn = tokio::time::timeout(wait, turns.acquire()).await.map_err(|_| Busy)?.map_err(|_| Busy)?;
    Ok(tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_with_no_turn_left_is_refused_as_busy_and_checks_nothing() {
        let hash = hash_password("a long password".into()).await.unwrap();
        let turns = Semaphore::new(1);
        let held = turns.acquire().await.unwrap();
        let busy = verify_in_turn(&turns, Duration::from_millis(50), "a long password".into(), hash.clone()).await;
        assert!(busy.is_err(), "every turn taken for the whole wait");
        drop(held);
        assert!(verify_in_turn(&turns, Duration::from_millis(50), "a long password".into(), hash.clone())
            .await
            .unwrap());
        assert!(!verify_in_turn(&turns, Duration::from_millis(50), "wrong".into(), hash).await.unwrap());
    }
}
