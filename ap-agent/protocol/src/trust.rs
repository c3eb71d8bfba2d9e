//! What both sides check the same way: key and CA fingerprints, the bounds
//! of a hello (it arrives before anything is authenticated), the signed
//! firmware manifest and the order of firmware versions.

use crate::Hello;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::cmp::Ordering;

/// Most radios an AP may report.
pub const MAX_RADIOS: usize = 8;

/// SHA-256 of the DER inside a PEM block (a public key or a certificate),
/// lower-case hex: what an admin compares on the AP's label or log and in
/// `aps list`. None if it is not PEM.
pub fn pem_fingerprint(pem: &str) -> Option<String> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).map(str::trim).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    (!der.is_empty()).then(|| crate::hex::encode(&Sha256::digest(der)))
}

/// SHA-256 of DER bytes, lower-case hex.
pub fn der_fingerprint(der: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(der))
}

/// Why a hello was refused before anything else was looked at.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// A field is empty, too long or has characters it may not.
    #[error("hello field {0} is malformed")]
    Field(&'static str),
}

/// Checks a hello's fields: ids of 1-64 characters from `A-Z a-z 0-9 . _ : -`,
/// printable text of at most 64 characters, a PEM key of at most 4 KiB, a
/// few radios. Nothing from an unauthenticated AP is stored or shown before
/// this passes.
pub fn check_hello(hello: &Hello) -> Result<(), HelloError> {
    let id =
        |s: &str| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    let text = |s: &str| s.len() <= 64 && s.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !id(&hello.device_id) {
        return Err(HelloError::Field("device_id"));
    }
    if !text(&hello.model) || hello.model.is_empty() {
        return Err(HelloError::Field("model"));
    }
    if !id(&hello.mac) {
        return Err(HelloError::Field("mac"));
    }
    if !text(&hello.firmware) || hello.firmware.is_empty() {
        return Err(HelloError::Field("firmware"));
    }
    if hello.public_key_pem.len() > 4096 || pem_fingerprint(&hello.public_key_pem).is_none() {
        return Err(HelloError::Field("public_key_pem"));
    }
    if hello.radios.len() > MAX_RADIOS
        || hello.radios.iter().any(|r| !id(&r.interface) || r.interface.len() > 15)
        || hello.radios.iter().any(|r| r.bssid.as_deref().is_some_and(|b| !id(b)))
    {
        return Err(HelloError::Field("radios"));
    }
    Ok(())
}

/// The bytes a firmware signature covers: the version, the model, the size
/// and the SHA-256, so a signed older image cannot be offered as a newer one,
/// nor one model's image to another.
pub fn firmware_manifest(version: &str, model: &str, size: u64, sha256: &str) -> Vec<u8> {
    format!("guestwifi-firmware-v1\nversion={version}\nmodel={model}\nsize={size}\nsha256={}\n", sha256.to_lowercase())
        .into_bytes()
}

/// Orders firmware versions by their dotted numbers (`1.10.0` > `1.9.2`);
/// a part that is not a number compares as text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let parts = |v: &str| v.split(['.', '-']).map(str::to_string).collect::<Vec<_>>();
    let (a, b) = (parts(a), parts(b));
    for (x, y) in a.iter().zip(&b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Band, RadioInfo};

    const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";

    fn hello() -> Hello {
        Hello {
            min_version: 1,
            max_version: 1,
            device_id: "AP-0001".into(),
            model: "SIM-AX1800".into(),
            mac: "02:00:00:00:aa:01".into(),
            firmware: "1.0.0".into(),
            radios: vec![RadioInfo { interface: "wlan0".into(), band: Band::G2_4, bssid: None }],
            public_key_pem: KEY.into(),
            config_version: 0,
            controller_pinned: false,
        }
    }

    #[test]
    fn a_fingerprint_is_the_digest_of_the_der() {
        let fp = pem_fingerprint(KEY).unwrap();
        assert_eq!(fp.len(), 64);
        assert_eq!(pem_fingerprint("not pem at all!"), None);
    }

    #[test]
    fn a_hello_with_a_long_or_strange_field_is_refused() {
        assert_eq!(check_hello(&hello()), Ok(()));
        let mut h = hello();
        h.device_id = "A".repeat(65);
        assert_eq!(check_hello(&h), Err(HelloError::Field("device_id")));
        let mut h = hello();
        h.model = "\u{1b}[2J evil".into();
        assert_eq!(check_hello(&h), Err(HelloError::Field("model")));
        let mut h = hello();
        h.radios = vec![h.radios[0].clone(); MAX_RADIOS + 1];
        assert_eq!(check_hello(&h), Err(HelloError::Field("radios")));
        let mut h = hello();
        h.public_key_pem = "x".repeat(5000);
        assert_eq!(check_hello(&h), Err(HelloError::Field("public_key_pem")));
    }

    #[test]
    fn versions_order_by_their_numbers() {
        assert_eq!(compare_versions("1.10.0", "1.9.2"), Ordering::Greater);
        assert_eq!(compare_versions("1.0.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("1.0", "1.0.1"), Ordering::Less);
        assert_eq!(compare_versions("2.0.0", "10.0.0"), Ordering::Less);
    }

    #[test]
    fn the_manifest_names_everything_the_signature_vouches_for() {
        let m = String::from_utf8(firmware_manifest("1.2.0", "SIM-AX1800", 42, "ABCD")).unwrap();
        assert!(m.contains("version=1.2.0") && m.contains("model=SIM-AX1800") && m.contains("sha256=abcd"));
    }
}
