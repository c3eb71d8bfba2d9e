//! Chain voucher cards: printed at headquarters, good at every site of a
//! scope (the brand, a region, one site), checked at a site with no link to
//! HQ at all.
//!
//! A batch travels in the bundle as a *manifest* signed with HQ's ticket
//! key (whose public half every bundle carries): the batch's terms and, for
//! each card, a key derived from its code with argon2id under the batch's
//! salt. A site that is handed a code derives its key and finds it in a
//! manifest it has checked; the codes themselves never leave HQ, and the
//! slow derivation keeps a stolen appliance from searching the ~59-bit code
//! space for them. Revocations are in the manifest too (HQ signs it again),
//! so nothing but HQ's key can take a card back or add one.
//!
//! A card's first use and the devices it served are reconciled through the
//! facts: a site's login fact names the code, HQ records the use and every
//! bundle of the scope carries each live card's first use and its devices
//! (as [`device_key`]s, not MACs), so a card's clock and device limit hold
//! across sites as soon as both have spoken to HQ. A site that has not heard
//! from HQ for longer than the batch's `offline_hours` refuses its cards:
//! that bounds how long one card can be used at two sites at once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
/// HQ's public key, as a site checks a manifest with it.
pub use ed25519_dalek::VerifyingKey;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::protocol::Scope;

/// Symbols in a chain card's code: a 2-symbol batch tag (which batch to
/// look in) and 10 random symbols (~49.5 bits; ~59 with the tag unknown).
pub const CODE_LEN: usize = 12;
/// Symbols of the tag.
pub const TAG_LEN: usize = 2;
/// Most cards in a chain batch.
pub const MAX_BATCH: usize = 1000;
/// What a signature covers before the manifest's bytes: a signature made
/// for anything else (a ticket) is never a manifest's.
const DOMAIN: &[u8] = b"guestwifi chain voucher batch v1\0";
/// Bytes of a derived key.
const KEY_BYTES: usize = 12;

/// A batch's terms and cards, as HQ signs them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Brand id.
    pub brand: String,
    /// The batch's id.
    pub batch: String,
    /// The first [`TAG_LEN`] symbols of every code of the batch.
    pub tag: String,
    /// The batch's salt, hex.
    pub salt: String,
    /// Where the cards are good.
    pub scope: Scope,
    /// Online time a card gives from its first use, seconds.
    pub duration_seconds: i64,
    /// Devices one card may log in.
    pub devices: i64,
    /// Download limit, kbit/s (0: the site's default).
    pub down_kbps: i64,
    /// Upload limit, kbit/s (0: the site's default).
    pub up_kbps: i64,
    /// A card must be first used before this, UTC ms.
    pub valid_until: i64,
    /// A site that has not heard from HQ for this long refuses the cards.
    pub offline_hours: i64,
    /// What HQ wrote on the batch.
    pub note: String,
    /// UTC ms the batch was made.
    pub created_at: i64,
    /// Each card's [`card_key`], hex.
    pub keys: Vec<String>,
    /// The keys of cards HQ revoked.
    pub revoked: Vec<String>,
    /// When HQ revoked the whole batch, UTC ms.
    pub revoked_at: Option<i64>,
    /// When HQ signed this manifest, UTC ms (a revocation signs it again).
    pub signed_at: i64,
}

/// A manifest and HQ's signature, as the bundle carries them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedBatch {
    /// The manifest's JSON, exactly as signed.
    pub manifest: String,
    /// Base64url of the Ed25519 signature over [`DOMAIN`] and the manifest.
    pub signature: String,
}

/// What HQ knows of one card's use at every site (not signed: it comes in
/// the bundle over the site's mutual TLS, and can only tighten a card).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardUse {
    /// The batch.
    pub batch: String,
    /// The card's key.
    pub key: String,
    /// Its first use anywhere, UTC ms.
    pub first_used_at: i64,
    /// The devices it served anywhere ([`device_key`]s).
    pub devices: Vec<String>,
}

/// Why a manifest is not taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Not signed by this brand's HQ, or not a manifest.
    #[error("a chain voucher batch not signed by headquarters' key")]
    Signature,
    /// Signed, but for another brand or for sites other than this one.
    #[error("chain voucher batch {0}: {1}")]
    NotHere(String, String),
}

/// Signs `manifest` with HQ's ticket key.
pub fn sign(key: &SigningKey, manifest: &Manifest) -> SignedBatch {
    let text = serde_json::to_string(manifest).expect("a manifest serialises");
    let mut signed = DOMAIN.to_vec();
    signed.extend_from_slice(text.as_bytes());
    SignedBatch { manifest: text, signature: B64.encode(key.sign(&signed).to_bytes()) }
}

/// The manifest of `batch` if HQ's `key` signed it, for `brand`, and its
/// scope covers `site` in `region`.
pub fn verify(
    key: &VerifyingKey,
    batch: &SignedBatch,
    brand: &str,
    site: &str,
    region: &str,
) -> Result<Manifest, BatchError> {
    let unsigned = || BatchError::Signature;
    let signature: [u8; 64] = B64.decode(&batch.signature).ok().and_then(|s| s.try_into().ok()).ok_or_else(unsigned)?;
    let mut signed = DOMAIN.to_vec();
    signed.extend_from_slice(batch.manifest.as_bytes());
    key.verify(&signed, &Signature::from_bytes(&signature)).map_err(|_| unsigned())?;
    let manifest: Manifest = serde_json::from_str(&batch.manifest).map_err(|_| unsigned())?;
    let not_here = |why: &str| BatchError::NotHere(manifest.batch.clone(), why.into());
    if manifest.brand != brand {
        return Err(not_here("another brand's"));
    }
    let covers = match &manifest.scope {
        Scope::Brand => true,
        Scope::Region(r) => r == region,
        Scope::Site(s) => s == site,
    };
    if !covers {
        return Err(not_here("for other sites"));
    }
    if manifest.tag.len() != TAG_LEN || manifest.keys.len() > MAX_BATCH || manifest.devices < 1 {
        return Err(not_here("malformed"));
    }
    Ok(manifest)
}

/// A new code for a batch tagged `tag`.
pub fn new_code(tag: &str) -> String {
    format!("{tag}{}", crate::kit::secrets::random_code(CODE_LEN - TAG_LEN))
}

/// A new batch tag.
pub fn new_tag() -> String {
    crate::kit::secrets::random_code(TAG_LEN)
}

/// A new salt, hex.
pub fn new_salt() -> String {
    use rand::RngCore;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    super::protocol::hex(&salt)
}

/// Whether `code` (normalized) has a chain card's shape.
pub fn is_chain_code(code: &str) -> bool {
    code.len() == CODE_LEN
}

/// `ABCDEFGHJKLM` -> `ABCD-EFGH-JKLM`.
pub fn display_code(code: &str) -> String {
    match code.len() == CODE_LEN {
        true => format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]),
        false => code.to_string(),
    }
}

/// A card's key: argon2id of the code under the batch's salt (2 MiB, one
/// pass: a few milliseconds a try here, and a search of the code space out
/// of reach). Slow: call it off the async threads.
pub fn card_key(salt_hex: &str, code: &str) -> String {
    use argon2::{Algorithm, Argon2, Params, Version};
    let salt = ap_protocol::hex::decode(salt_hex).unwrap_or_default();
    let params = Params::new(2048, 1, 1, Some(KEY_BYTES)).expect("fixed argon2 parameters are valid");
    let mut out = [0u8; KEY_BYTES];
    // A salt too short for argon2 (never HQ's) derives no key: the code matches nothing.
    if Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(code.as_bytes(), &salt, &mut out)
        .is_err()
    {
        return String::new();
    }
    super::protocol::hex(&out)
}

/// How a device is named in a card's use across sites: SHA-256 of the brand
/// and the MAC, so bundles carry no device's address.
pub fn device_key(brand: &str, mac: &str) -> String {
    super::protocol::hex(
        &Sha256::digest(format!("guestwifi chain voucher device {brand} {}", mac.to_ascii_lowercase()))[..16],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(scope: Scope, codes: &[String], salt: &str) -> Manifest {
        Manifest {
            brand: "chain".into(),
            batch: "CB1".into(),
            tag: codes[0][..TAG_LEN].into(),
            salt: salt.into(),
            scope,
            duration_seconds: 3600,
            devices: 1,
            down_kbps: 0,
            up_kbps: 0,
            valid_until: 2_000_000_000_000,
            offline_hours: 12,
            note: String::new(),
            created_at: 1,
            keys: codes.iter().map(|c| card_key(salt, c)).collect(),
            revoked: vec![],
            revoked_at: None,
            signed_at: 1,
        }
    }

    #[test]
    fn a_signed_batch_opens_only_where_its_scope_says_and_only_unaltered() {
        let key = crate::hq::tickets::new_key();
        let public = key.verifying_key();
        let tag = new_tag();
        let codes: Vec<String> = (0..3).map(|_| new_code(&tag)).collect();
        let salt = new_salt();
        let signed = sign(&key, &manifest(Scope::Region("east".into()), &codes, &salt));
        let opened = verify(&public, &signed, "chain", "sh-01", "east").unwrap();
        assert!(opened.keys.contains(&card_key(&salt, &codes[1])), "a code finds its card");
        assert!(!opened.keys.contains(&card_key(&salt, &new_code(&tag))), "another code finds none");
        assert!(matches!(verify(&public, &signed, "chain", "bj-01", "north"), Err(BatchError::NotHere(..))));
        assert!(matches!(verify(&public, &signed, "other", "sh-01", "east"), Err(BatchError::NotHere(..))));
        // A card added (or a revocation dropped) under the same signature.
        let mut forged = signed.clone();
        forged.manifest = forged.manifest.replace("\"devices\":1", "\"devices\":9");
        assert!(matches!(verify(&public, &forged, "chain", "sh-01", "east"), Err(BatchError::Signature)));
        let stranger = crate::hq::tickets::new_key().verifying_key();
        assert!(matches!(verify(&stranger, &signed, "chain", "sh-01", "east"), Err(BatchError::Signature)));
        // A ticket's signature is never a manifest's.
        let bare = SignedBatch {
            manifest: signed.manifest.clone(),
            signature: B64.encode(key.sign(signed.manifest.as_bytes()).to_bytes()),
        };
        assert!(matches!(verify(&public, &bare, "chain", "sh-01", "east"), Err(BatchError::Signature)));
    }

    #[test]
    fn codes_are_twelve_typeable_symbols_with_their_batch_tag() {
        let tag = new_tag();
        let code = new_code(&tag);
        assert!(is_chain_code(&code) && code.starts_with(&tag));
        let shown = display_code(&code);
        assert_eq!(crate::kit::secrets::normalize_code(&shown.to_lowercase()), Some(code));
        let bits = (CODE_LEN - TAG_LEN) as f64 * (crate::kit::secrets::CODE_ALPHABET.len() as f64).log2();
        assert!(bits >= 49.0, "{bits}");
        assert_ne!(device_key("chain", "02:00:00:00:00:01"), device_key("other", "02:00:00:00:00:01"));
        assert_eq!(device_key("chain", "02:00:00:00:00:AB"), device_key("chain", "02:00:00:00:00:ab"));
    }
}
