//! Firmware for the APs: an admin uploads an image, the version and model it
//! is for, and the ed25519 signature of its manifest (version, model, size,
//! SHA-256: `ap_protocol::trust::firmware_manifest`); the controller checks
//! it with the configured public key before keeping it, then rolls it out in
//! stages: one canary AP, then batches. An
//! AP that does not come back with the new version in time (or refuses the
//! image) halts the rollout and marks it failed.

use ap_protocol::{hex, trust, FirmwareOffer};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// Why an image was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum FirmwareError {
    /// No signing key is configured (`ac.firmware_public_key`).
    #[error("no firmware signing key is configured (ac.firmware_public_key)")]
    NoKey,
    /// The configured key is not 32 bytes of hex.
    #[error("ac.firmware_public_key is not an ed25519 public key in hex")]
    BadKey,
    /// The signature file is not 64 bytes (raw or hex).
    #[error("the signature is not an ed25519 signature")]
    BadSignature,
    /// The signature does not match the image's manifest.
    #[error("the signature does not match the image's manifest (version, model, size, sha256) and key")]
    Mismatch,
    /// A file could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// A verified image, ready to offer.
#[derive(Clone)]
pub struct Image {
    /// What APs will report once installed.
    pub offer: FirmwareOffer,
    /// The bytes.
    pub bytes: Arc<Vec<u8>>,
}

/// What an uploaded image says it is.
#[derive(Clone, Copy, Debug)]
pub struct Manifest<'a> {
    /// The version it installs.
    pub version: &'a str,
    /// The AP model it is built for.
    pub model: &'a str,
}

/// Verifies `signature` (64 raw bytes, or 128 hex digits) of the image's
/// manifest with `key_hex`, and keeps the image in `dir`.
pub fn upload(
    dir: &Path,
    manifest: Manifest<'_>,
    image: Vec<u8>,
    signature: &[u8],
    key_hex: Option<&str>,
) -> Result<Image, FirmwareError> {
    let Manifest { version, model } = manifest;
    let key_hex = key_hex.ok_or(FirmwareError::NoKey)?;
    let key: [u8; 32] = hex::decode(key_hex.trim()).and_then(|k| k.try_into().ok()).ok_or(FirmwareError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| FirmwareError::BadKey)?;
    let sig: [u8; 64] = match signature.len() {
        64 => signature.try_into().expect("64 bytes"),
        _ => std::str::from_utf8(signature)
            .ok()
            .and_then(|s| hex::decode(s.trim()))
            .and_then(|s| s.try_into().ok())
            .ok_or(FirmwareError::BadSignature)?,
    };
    let sha256 = hex::encode(&Sha256::digest(&image));
    let signed = trust::firmware_manifest(version, model, image.len() as u64, &sha256);
    key.verify(&signed, &Signature::from_bytes(&sig)).map_err(|_| FirmwareError::Mismatch)?;
    for (what, value) in [("version", version), ("model", model)] {
        if value.is_empty()
            || value.len() > 64
            || !value.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        {
            return Err(FirmwareError::Io(format!("{what} {value:?}: use letters, digits, '.', '-', '_'")));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| FirmwareError::Io(e.to_string()))?;
    std::fs::write(dir.join(format!("{version}.bin")), &image).map_err(|e| FirmwareError::Io(e.to_string()))?;
    let offer = FirmwareOffer {
        version: version.to_string(),
        model: model.to_string(),
        size: image.len() as u64,
        sha256,
        signature: hex::encode(&sig),
        allow_downgrade: false,
    };
    Ok(Image { offer, bytes: Arc::new(image) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn only_an_image_whose_manifest_is_signed_with_the_configured_key_is_kept() {
        let dir = std::env::temp_dir().join(format!("fw-upload-{}", std::process::id()));
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = hex::encode(&key.verifying_key().to_bytes());
        let image = b"image".to_vec();
        let sha = hex::encode(&Sha256::digest(&image));
        let sig = key.sign(&trust::firmware_manifest("2.0.0", "SIM-AP", 5, &sha)).to_bytes();
        let m = Manifest { version: "2.0.0", model: "SIM-AP" };
        assert!(upload(&dir, m, image.clone(), &sig, Some(&public)).is_ok());
        let hex_sig = hex::encode(&sig);
        assert!(upload(&dir, m, image.clone(), hex_sig.as_bytes(), Some(&public)).is_ok());
        // The same signed bytes offered as another version or model: refused.
        let newer = Manifest { version: "9.0.0", model: "SIM-AP" };
        assert!(matches!(upload(&dir, newer, image.clone(), &sig, Some(&public)), Err(FirmwareError::Mismatch)));
        let other = Manifest { version: "2.0.0", model: "OTHER" };
        assert!(matches!(upload(&dir, other, image.clone(), &sig, Some(&public)), Err(FirmwareError::Mismatch)));
        assert!(matches!(upload(&dir, m, b"imagf".to_vec(), &sig, Some(&public)), Err(FirmwareError::Mismatch)));
        assert!(matches!(upload(&dir, m, image, &sig, None), Err(FirmwareError::NoKey)));
        let _ = std::fs::remove_dir_all(dir);
    }
}
