//! Passwords and PINs: argon2id hashes, made and checked off the async
//! threads (a hash takes tens of milliseconds on purpose).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

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

/// Makes [`DUMMY_HASH`] now, not on the first unknown username's request.
pub fn warm() {
    std::sync::LazyLock::force(&DUMMY_HASH);
}

/// Hashes off the async threads (argon2 takes tens of milliseconds on purpose).
pub async fn hash_password(password: String) -> Result<String, argon2::password_hash::Error> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        let salt = SaltString::encode_b64(&salt)?;
        Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
    })
    .await
    .unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

/// Checks a password against an argon2 hash, off the async threads.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
    })
    .await
    .unwrap_or(false)
}
