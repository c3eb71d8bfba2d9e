//! TOTP secrets sealed at rest: a copy of the chain's database (a backup, a
//! replica's disk, an SQL injection somewhere) does not give anyone the
//! second factor of HQ's people. The sealing key is derived from HQ's ticket
//! key, which every replica already holds (mode 0600) and the database
//! never does; rotating the ticket key means every account enrols again.
//!
//! A sealed secret is `s1:` and the hex of a random 16-byte nonce, the
//! secret XORed with an HMAC-SHA256 keystream over the nonce and the
//! username, and a 16-byte HMAC tag over all of it: bound to its account
//! (a sealed secret copied to another row does not open) and to its bytes.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// What a sealed secret starts with.
const PREFIX: &str = "s1:";
const NONCE: usize = 16;
const TAG: usize = 16;

/// Seals and opens the TOTP secrets of HQ's people.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

impl Sealer {
    /// The sealer whose key HQ's ticket key (its seed) derives.
    pub fn from_ticket_key(key: &ed25519_dalek::SigningKey) -> Sealer {
        Sealer { key: hmac(key.as_bytes(), &[b"guestwifi hq totp seal v1"]) }
    }

    fn stream(&self, nonce: &[u8], username: &str, len: usize) -> Vec<u8> {
        (0u64..)
            .flat_map(|block| hmac(&self.key, &[b"stream", nonce, username.as_bytes(), &block.to_be_bytes()]))
            .take(len)
            .collect()
    }

    /// `secret` sealed for `username`'s row.
    pub fn seal(&self, username: &str, secret: &str) -> String {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let sealed: Vec<u8> =
            secret.bytes().zip(self.stream(&nonce, username, secret.len())).map(|(b, k)| b ^ k).collect();
        let tag = hmac(&self.key, &[b"tag", &nonce, username.as_bytes(), &sealed]);
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out.extend_from_slice(&tag[..TAG]);
        format!("{PREFIX}{}", ap_protocol::hex::encode(&out))
    }

    /// The secret `stored` in `username`'s row: opened when sealed (None when
    /// it was not sealed for that row with this key), as it is when it is a
    /// secret from before sealing.
    pub fn open(&self, username: &str, stored: &str) -> Option<String> {
        let Some(hex) = stored.strip_prefix(PREFIX) else { return Some(stored.to_string()) };
        let bytes = ap_protocol::hex::decode(hex)?;
        if bytes.len() < NONCE + TAG {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE);
        let (sealed, tag) = rest.split_at(rest.len() - TAG);
        let want = hmac(&self.key, &[b"tag", nonce, username.as_bytes(), sealed]);
        if !guestwifi_core::kit::secrets::same_secret(
            &ap_protocol::hex::encode(tag),
            &ap_protocol::hex::encode(&want[..TAG]),
        ) {
            return None;
        }
        let plain: Vec<u8> =
            sealed.iter().zip(self.stream(nonce, username, sealed.len())).map(|(b, k)| b ^ k).collect();
        String::from_utf8(plain).ok()
    }

    /// Whether `stored` is sealed.
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_row_with_its_key_and_unaltered() {
        let key = guestwifi_core::hq::tickets::new_key();
        let sealer = Sealer::from_ticket_key(&key);
        let secret = guestwifi_core::kit::totp::new_secret();
        let sealed = sealer.seal("mkt", &secret);
        assert!(Sealer::is_sealed(&sealed) && !sealed.contains(&secret));
        assert_ne!(sealer.seal("mkt", &secret), sealed, "a nonce each");
        assert_eq!(sealer.open("mkt", &sealed), Some(secret.clone()));
        assert_eq!(sealer.open("owner", &sealed), None, "copied to another account's row");
        let other = Sealer::from_ticket_key(&guestwifi_core::hq::tickets::new_key());
        assert_eq!(other.open("mkt", &sealed), None, "another HQ's key");
        let mut flipped = sealed.clone().into_bytes();
        let at = PREFIX.len() + 2 * NONCE + 1;
        flipped[at] = if flipped[at] == b'0' { b'1' } else { b'0' };
        assert_eq!(sealer.open("mkt", &String::from_utf8(flipped).unwrap()), None, "a changed byte");
        assert_eq!(sealer.open("mkt", "JBSWY3DPEHPK3PXP"), Some("JBSWY3DPEHPK3PXP".into()), "a secret from before");
    }
}
