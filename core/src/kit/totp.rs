//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): the
//! second factor of HQ's staff, as every authenticator app computes it
//! (HMAC-SHA1, 30-second steps, 6 digits). A code is good in the step it
//! was made for and the one either side (a phone's clock a little off);
//! the caller keeps the last step used so a code works once.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds a code lives.
pub const STEP_SECONDS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
pub const SECRET_BYTES: usize = 20;

/// A new random secret, as its base32 text (what an app is given).
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base32(&bytes)
}

/// The code for `secret` (raw bytes) at step `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:0width$}", value % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The step a Unix time (seconds) falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECONDS)
}

/// The step whose code `typed` is, within one step of `now_secs`, and above
/// `after` (the last step this secret was used in): None when it is no code
/// of this secret now, or was used already. `secret_b32` as [`new_secret`] gives it.
pub fn check(secret_b32: &str, typed: &str, now_secs: i64, after: i64) -> Option<i64> {
    let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
    if typed.len() != DIGITS as usize || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = from_base32(secret_b32)?;
    let now = step_of(now_secs);
    // Every candidate is computed and compared in constant time: which step
    // matched is not told by how long a refusal takes.
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        if crate::kit::secrets::same_secret(&code_at(&secret, step), &typed) && step > after {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app scans: `issuer:account`.
pub fn uri(secret_b32: &str, issuer: &str, account: &str) -> String {
    let enc = |s: &str| url_encode(s);
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what authenticator apps take).
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            out.push(B32[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(B32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Base32 back to bytes (case, spaces and padding forgiven); None if not base32.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let v = B32.iter().position(|&x| x as char == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1, truncated to 6 digits (the last six of
    /// the RFC's eight).
    #[test]
    fn codes_are_rfc_6238_s() {
        let secret = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(code_at(secret, step_of(time)), eight[2..], "at {time}");
        }
    }

    #[test]
    fn a_code_is_good_one_step_either_side_and_once() {
        let secret = new_secret();
        let raw = from_base32(&secret).unwrap();
        assert_eq!(raw.len(), SECRET_BYTES);
        let now = 1_800_000_000;
        let code = code_at(&raw, step_of(now));
        assert_eq!(check(&secret, &code, now, 0), Some(step_of(now)));
        assert_eq!(check(&secret, &format!("{} {}", &code[..3], &code[3..]), now + 30, 0), Some(step_of(now)));
        assert_eq!(check(&secret, &code, now + 90, 0), None, "two steps later");
        assert_eq!(check(&secret, &code, now, step_of(now)), None, "used already");
        assert_eq!(check(&secret, "12345", now, 0), None);
        assert_eq!(check(&secret, "abcdef", now, 0), None);
        assert_eq!(check("not base32!", &code, now, 0), None);
    }

    #[test]
    fn base32_round_trips_and_the_uri_names_issuer_and_account() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(from_base32("mzxw 6ytb oi======").unwrap(), b"foobar");
        let uri = uri("MZXW6YTBOI", "Chain HQ", "li.lei");
        assert_eq!(
            uri,
            "otpauth://totp/Chain%20HQ:li.lei?secret=MZXW6YTBOI&issuer=Chain%20HQ&algorithm=SHA1&digits=6&period=30"
        );
    }
}
