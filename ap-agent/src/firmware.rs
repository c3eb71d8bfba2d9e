//! Firmware from the controller: received in chunks into the state dir,
//! checked (size, SHA-256, ed25519 signature with the key the AP was
//! configured with) before the updater hook ever sees it.

use ap_protocol::{hex, FirmwareOffer};
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Why an image was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    /// The AP has no signing key configured, so it installs nothing.
    #[error("no firmware signing key is configured")]
    NoKey,
    /// The configured key is not 32 bytes of hex.
    #[error("the configured firmware key is malformed")]
    BadKey,
    /// A chunk came out of order or past the end.
    #[error("chunk at {0} does not fit")]
    Chunk(u64),
    /// The bytes do not hash to the offered SHA-256.
    #[error("SHA-256 mismatch")]
    Digest,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// The image is for another model.
    #[error("the image is for model {0}")]
    Model(String),
    /// The version is not above the running one and no downgrade was allowed.
    #[error("version {offered} is not newer than the running {running}")]
    Downgrade {
        /// What was offered.
        offered: String,
        /// What runs.
        running: String,
    },
    /// Writing the image failed.
    #[error("cannot store the image: {0}")]
    Io(String),
}

/// What the AP is and runs, for checking an offer against.
#[derive(Clone, Copy, Debug)]
pub struct Running<'a> {
    /// Its model.
    pub model: &'a str,
    /// Its firmware version.
    pub version: &'a str,
}

/// Whether the AP may take the offer at all (before any byte arrives): its
/// own model, and a newer version unless the rollout allows a downgrade.
pub fn acceptable(offer: &FirmwareOffer, running: Running<'_>) -> Result<(), FirmwareError> {
    if offer.model != running.model {
        return Err(FirmwareError::Model(offer.model.clone()));
    }
    let newer = ap_protocol::trust::compare_versions(&offer.version, running.version).is_gt();
    if !newer && !offer.allow_downgrade {
        return Err(FirmwareError::Downgrade { offered: offer.version.clone(), running: running.version.to_string() });
    }
    Ok(())
}

/// Checks `image` against the offer with `key_hex` (ed25519 public key): the
/// bytes' SHA-256 and size, and the signature of the manifest naming them.
pub fn verify(image: &[u8], offer: &FirmwareOffer, key_hex: Option<&str>) -> Result<(), FirmwareError> {
    let key_hex = key_hex.ok_or(FirmwareError::NoKey)?;
    let key: [u8; 32] = hex::decode(key_hex).and_then(|k| k.try_into().ok()).ok_or(FirmwareError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| FirmwareError::BadKey)?;
    if image.len() as u64 != offer.size {
        return Err(FirmwareError::Digest);
    }
    let digest = hex::encode(&Sha256::digest(image));
    if !digest.eq_ignore_ascii_case(&offer.sha256) {
        return Err(FirmwareError::Digest);
    }
    let signature: [u8; 64] =
        hex::decode(&offer.signature).and_then(|s| s.try_into().ok()).ok_or(FirmwareError::Signature)?;
    let manifest = ap_protocol::trust::firmware_manifest(&offer.version, &offer.model, offer.size, &offer.sha256);
    key.verify(&manifest, &Signature::from_bytes(&signature)).map_err(|_| FirmwareError::Signature)
}

/// An image being received.
pub struct Download {
    /// The offer.
    pub offer: FirmwareOffer,
    /// Bytes so far.
    pub bytes: Vec<u8>,
}

impl Download {
    /// Starts receiving `offer` (capped: no AP firmware is over 256 MiB).
    pub fn new(offer: FirmwareOffer) -> Result<Self, FirmwareError> {
        if offer.size > 256 << 20 {
            return Err(FirmwareError::Chunk(offer.size));
        }
        Ok(Download { offer, bytes: Vec::new() })
    }

    /// Adds a chunk; true when the image is complete.
    pub fn add(&mut self, offset: u64, data: &str) -> Result<bool, FirmwareError> {
        let data = base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| FirmwareError::Chunk(offset))?;
        if offset != self.bytes.len() as u64 || offset + data.len() as u64 > self.offer.size {
            return Err(FirmwareError::Chunk(offset));
        }
        self.bytes.extend_from_slice(&data);
        Ok(self.bytes.len() as u64 == self.offer.size)
    }

    /// Verifies and stores the image for the updater hook; returns its path.
    pub fn finish(&self, dir: &Path, key_hex: Option<&str>) -> Result<PathBuf, FirmwareError> {
        verify(&self.bytes, &self.offer, key_hex)?;
        std::fs::create_dir_all(dir).map_err(|e| FirmwareError::Io(e.to_string()))?;
        let name: String =
            self.offer.version.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect();
        let path = dir.join(format!("firmware-{name}.bin"));
        crate::files::write_private(&path, &self.bytes).map_err(|e| FirmwareError::Io(e.to_string()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(image: &[u8]) -> (FirmwareOffer, String) {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let sha256 = hex::encode(&Sha256::digest(image));
        let manifest = ap_protocol::trust::firmware_manifest("2.0.0", "SIM-AP", image.len() as u64, &sha256);
        let offer = FirmwareOffer {
            version: "2.0.0".into(),
            model: "SIM-AP".into(),
            size: image.len() as u64,
            sha256,
            signature: hex::encode(&key.sign(&manifest).to_bytes()),
            allow_downgrade: false,
        };
        let public: String = hex::encode(&key.verifying_key().to_bytes());
        (offer, public)
    }

    #[test]
    fn a_signed_image_passes_and_a_tampered_one_is_refused() {
        let image = b"firmware image bytes".to_vec();
        let (offer, key) = signed(&image);
        assert_eq!(verify(&image, &offer, Some(&key)), Ok(()));
        let mut tampered = image.clone();
        tampered[0] ^= 1;
        assert_eq!(verify(&tampered, &offer, Some(&key)), Err(FirmwareError::Digest));
        // Tampered with a matching digest: only the signature catches it.
        let mut forged = offer.clone();
        forged.sha256 = hex::encode(&Sha256::digest(&tampered));
        assert_eq!(verify(&tampered, &forged, Some(&key)), Err(FirmwareError::Signature));
        assert_eq!(verify(&image, &offer, None), Err(FirmwareError::NoKey));
        // A signed 2.0.0 relabelled as 9.0.0: the manifest no longer matches.
        let mut relabelled = offer.clone();
        relabelled.version = "9.0.0".into();
        assert_eq!(verify(&image, &relabelled, Some(&key)), Err(FirmwareError::Signature));
    }

    #[test]
    fn an_older_or_foreign_image_is_refused_unless_a_downgrade_is_allowed() {
        let (mut offer, _) = signed(b"x");
        let running = |version| Running { model: "SIM-AP", version };
        assert_eq!(acceptable(&offer, running("1.9.9")), Ok(()));
        assert!(matches!(acceptable(&offer, running("2.0.0")), Err(FirmwareError::Downgrade { .. })));
        assert!(matches!(acceptable(&offer, running("2.10.0")), Err(FirmwareError::Downgrade { .. })));
        offer.allow_downgrade = true;
        assert_eq!(acceptable(&offer, running("2.10.0")), Ok(()));
        assert!(matches!(acceptable(&offer, Running { model: "OTHER", version: "1.0" }), Err(FirmwareError::Model(_))));
    }

    #[test]
    fn chunks_must_arrive_in_order() {
        let (offer, _) = signed(b"abcdef");
        let mut d = Download::new(offer).unwrap();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(d.add(3, &b64(b"def")), Err(FirmwareError::Chunk(3)));
        assert_eq!(d.add(0, &b64(b"abc")), Ok(false));
        assert_eq!(d.add(3, &b64(b"def")), Ok(true));
    }
}
