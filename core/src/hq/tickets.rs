//! Tickets headquarters signs and every site of the brand checks offline:
//! the login link HQ's WeChat official account answers a diner with, good
//! at whichever site of the brand the diner's phone is on. HQ's ticket key
//! (Ed25519, `ca.ticket_key` in hq.toml) never leaves HQ; its public half
//! rides in every bundle, so a stolen appliance holds nothing that signs.
//!
//! A ticket is `h1.` + base64url(JSON claims) + `.` + base64url(signature
//! over the claims' bytes); the claims name the brand, the subject (the
//! openid), when it was issued and a random nonce, so two tickets are never
//! the same string and a site can remember the ones it took.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;

/// What every ticket starts with (and what tells it from a site's own link).
pub const PREFIX: &str = "h1.";
/// The longest ticket a site reads.
pub const MAX_LEN: usize = 600;

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    /// Brand id.
    b: String,
    /// The subject: an openid.
    s: String,
    /// Issued at, Unix seconds.
    t: u64,
    /// A random nonce.
    n: String,
}

/// Why a ticket does not let anyone in.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not a ticket, a bad signature, another brand's.
    #[error("not a ticket of this brand's headquarters")]
    Invalid,
    /// Older than its lifetime (or from the future).
    #[error("the ticket has expired")]
    Expired,
}

/// A new ticket key (what `guestwifi-hq init` writes).
pub fn new_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    SigningKey::from_bytes(&seed)
}

/// The key in `text` (64 hex digits, its seed), as the key file holds it.
pub fn parse_key(text: &str) -> Option<SigningKey> {
    let bytes: [u8; 32] = ap_protocol::hex::decode(text.trim())?.try_into().ok()?;
    Some(SigningKey::from_bytes(&bytes))
}

/// A public key as the bundle carries it (64 hex digits).
pub fn public_hex(key: &SigningKey) -> String {
    ap_protocol::hex::encode(key.verifying_key().as_bytes())
}

/// The public key in `text` (64 hex digits).
pub fn parse_public(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = ap_protocol::hex::decode(text.trim())?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// A ticket for `subject` of `brand`, issued at `now` (Unix seconds).
pub fn sign(key: &SigningKey, brand: &str, subject: &str, now: u64) -> String {
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let claims = Claims { b: brand.into(), s: subject.into(), t: now, n: B64.encode(nonce) };
    let body = serde_json::to_vec(&claims).expect("claims serialise");
    let signature = key.sign(&body);
    format!("{PREFIX}{}.{}", B64.encode(&body), B64.encode(signature.to_bytes()))
}

/// The subject of `ticket` if `key` signed it for `brand` less than
/// `lifetime_secs` before `now`.
pub fn verify(
    key: &VerifyingKey,
    ticket: &str,
    brand: &str,
    now: u64,
    lifetime_secs: u64,
) -> Result<String, TicketError> {
    if ticket.len() > MAX_LEN {
        return Err(TicketError::Invalid);
    }
    let rest = ticket.strip_prefix(PREFIX).ok_or(TicketError::Invalid)?;
    let (body, signature) = rest.split_once('.').ok_or(TicketError::Invalid)?;
    let body = B64.decode(body).map_err(|_| TicketError::Invalid)?;
    let signature: [u8; 64] = B64.decode(signature).ok().and_then(|s| s.try_into().ok()).ok_or(TicketError::Invalid)?;
    key.verify(&body, &Signature::from_bytes(&signature)).map_err(|_| TicketError::Invalid)?;
    let claims: Claims = serde_json::from_slice(&body).map_err(|_| TicketError::Invalid)?;
    if claims.b != brand || claims.s.is_empty() {
        return Err(TicketError::Invalid);
    }
    // A minute of clock difference between HQ and the site is forgiven.
    if claims.t > now + 60 || now.saturating_sub(claims.t) >= lifetime_secs {
        return Err(TicketError::Expired);
    }
    Ok(claims.s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_for_its_brand_within_its_life_only() {
        let key = new_key();
        let public = parse_public(&public_hex(&key)).unwrap();
        let ticket = sign(&key, "chain", "oOPENID", 1_000);
        assert_eq!(verify(&public, &ticket, "chain", 1_100, 600), Ok("oOPENID".into()));
        assert_ne!(sign(&key, "chain", "oOPENID", 1_000), ticket, "a nonce each");
        assert_eq!(verify(&public, &ticket, "other", 1_100, 600), Err(TicketError::Invalid));
        assert_eq!(verify(&public, &ticket, "chain", 1_600, 600), Err(TicketError::Expired));
        assert_eq!(verify(&public, &ticket, "chain", 800, 600), Err(TicketError::Expired));
        let stranger = parse_public(&public_hex(&new_key())).unwrap();
        assert_eq!(verify(&stranger, &ticket, "chain", 1_100, 600), Err(TicketError::Invalid));
        // The claims changed (another openid) under the same signature.
        let (_, signature) = ticket.rsplit_once('.').unwrap();
        let forged_claims = B64.encode(br#"{"b":"chain","s":"oOTHER","t":1000,"n":"x"}"#);
        let forged = format!("{PREFIX}{forged_claims}.{signature}");
        assert_eq!(verify(&public, &forged, "chain", 1_100, 600), Err(TicketError::Invalid));
        assert_eq!(parse_key(&ap_protocol::hex::encode(key.as_bytes())).unwrap().to_bytes(), key.to_bytes());
    }
}
