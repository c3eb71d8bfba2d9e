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
    /// Writing the image failed.
    #[error("cannot store the image: {0}")]
    Io(String),
}

/// Checks `image` against the offer with `key_hex` (ed25519 public key).
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
    key.verify(image, &Signature::from_bytes(&signature)).map_err(|_| FirmwareError::Signature)
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
        crate::agent::write_private(&path, &self.bytes).map_err(|e| FirmwareError::Io(e.to_string()))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed(image: &[u8]) -> (FirmwareOffer, String) {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let offer = FirmwareOffer {
            version: "2.0.0".into(),
            size: image.len() as u64,
            sha256: hex::encode(&Sha256::digest(image)),
            signature: hex::encode(&key.sign(image).to_bytes()),
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
