//! What the portal signs so that nobody else can forge it: the original URL
//! a redirect carries (no open redirect: a crafted portal link cannot send a
//! diner to a phishing page after logging in), and the device-bound token of
//! every state-changing form but the login's own ticket (no cross-site
//! logout). The key is made at first start and kept in the data dir (0600).

use firewall::Client;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::path::Path;

/// The key file in the data dir.
pub const KEY_FILE: &str = "portal.key";
/// Bytes of the MAC that are kept (128 bits), as 32 hex digits.
const KEPT: usize = 16;

/// Signs and checks with the portal's key.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    /// The key in `dir`, made if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, super::secrets::SecretError> {
        Self::load_or_create_file(dir, KEY_FILE)
    }

    /// The key in `dir/file`, made if missing (each use has its own file).
    pub fn load_or_create_file(dir: &Path, file: &str) -> Result<Self, super::secrets::SecretError> {
        let path = dir.join(file);
        if let Ok(hex) = std::fs::read_to_string(&path) {
            if let Some(key) = ap_protocol::hex::decode(hex.trim()).and_then(|k| <[u8; 32]>::try_from(k).ok()) {
                return Ok(Signer { key });
            }
            tracing::warn!(path = %path.display(), "key unreadable; making a new one");
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        super::secrets::write_secret(&path, ap_protocol::hex::encode(&key).as_bytes())?;
        Ok(Signer { key })
    }

    /// A signer with a fixed key, for tests.
    pub fn with_key(key: [u8; 32]) -> Self {
        Signer { key }
    }

    /// The signature of an original URL for `client` until `until` (Unix
    /// seconds): `until.hex`. A link minted on one device (a QR sticker
    /// carrying a portal link) is worth nothing on another, nor later.
    pub fn sign_url(&self, url: &str, client: Client, until: u64) -> String {
        let until = until.to_string();
        let sig = self.sign(&["url", url, &client.mac.to_string(), &client.ip.to_string(), &until]);
        format!("{until}.{sig}")
    }

    /// Whether `signature` is this portal's for `url`, `client`, and not
    /// past its time at `now` (Unix seconds).
    pub fn url_ok(&self, url: &str, client: Client, signature: &str, now: u64) -> bool {
        let Some((until, sig)) = signature.split_once('.') else {
            return false;
        };
        match until.parse::<u64>() {
            Ok(time) if time >= now && until == time.to_string() => {
                self.verify(&["url", url, &client.mac.to_string(), &client.ip.to_string(), until], sig)
            }
            _ => false,
        }
    }

    /// The token of `client`'s forms (logout): valid for that device only.
    pub fn device_token(&self, client: Client) -> String {
        self.sign(&["device", &client.mac.to_string(), &client.ip.to_string()])
    }

    /// Whether `token` is `client`'s.
    pub fn device_token_ok(&self, client: Client, token: &str) -> bool {
        self.verify(&["device", &client.mac.to_string(), &client.ip.to_string()], token)
    }

    fn mac(&self, parts: &[&str]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// The 128-bit MAC of `parts` (length-prefixed), hex; callers put a
    /// domain tag of their own first.
    pub fn sign(&self, parts: &[&str]) -> String {
        ap_protocol::hex::encode(&self.mac(parts).finalize().into_bytes()[..KEPT])
    }

    /// Whether `signature` is [`Signer::sign`] of `parts`, in constant time.
    pub fn verify(&self, parts: &[&str], signature: &str) -> bool {
        match ap_protocol::hex::decode(signature) {
            Some(bytes) if bytes.len() == KEPT => self.mac(parts).verify_truncated_left(&bytes).is_ok(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    #[test]
    fn a_signed_url_checks_for_its_device_until_its_time_and_a_changed_one_does_not() {
        let s = Signer::with_key([7; 32]);
        let sig = s.sign_url("http://example.test/menu", client(1), 1_000);
        assert!(s.url_ok("http://example.test/menu", client(1), &sig, 1_000));
        assert!(!s.url_ok("http://example.test/menu", client(1), &sig, 1_001), "past its time");
        assert!(!s.url_ok("http://example.test/menu", client(2), &sig, 900), "another device");
        let mut same_ip = client(2);
        same_ip.ip = client(1).ip;
        assert!(!s.url_ok("http://example.test/menu", same_ip, &sig, 900), "another MAC at the same address");
        assert!(!s.url_ok("http://phish.test/menu", client(1), &sig, 900));
        let later = sig.replacen("1000.", "9000.", 1);
        assert!(!s.url_ok("http://example.test/menu", client(1), &later, 900), "its time is signed");
        assert!(!s.url_ok("http://example.test/menu", client(1), "", 900));
        assert!(!s.url_ok("http://example.test/menu", client(1), "zz", 900));
        assert!(!Signer::with_key([8; 32]).url_ok("http://example.test/menu", client(1), &sig, 900), "another key");
    }

    #[test]
    fn a_device_token_is_good_for_its_device_only() {
        let s = Signer::with_key([7; 32]);
        let token = s.device_token(client(1));
        assert!(s.device_token_ok(client(1), &token));
        assert!(!s.device_token_ok(client(2), &token));
        assert!(!s.url_ok("device", client(1), &token, 0), "a token is not a URL signature");
    }

    #[test]
    fn the_key_is_kept_private_and_survives_a_restart() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Signer::load_or_create(dir.path()).unwrap();
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert_eq!(first.sign_url("http://a.test/", client(1), 5), again.sign_url("http://a.test/", client(1), 5));
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
