//! One-tap return: a secret the device holds. A real login by phone,
//! WeChat or card issues a pass, a random 256-bit id the browser keeps in an
//! HttpOnly cookie (`gw_pass`). Coming back, the browser shows the pass and
//! the device must be the one it was issued to: a copied MAC without the
//! pass gets nothing and sees nothing (no masked phone on the login page).
//!
//! Here the pass is kept as its SHA-256, and who it logs in as is sealed
//! (AES-256-CBC) with a key made from the pass itself, so the table alone
//! names nobody. The member store learns each pass (hash, identity, device)
//! through the outbox, which is how another site of the brand lets the same
//! device back in with one tap. Staff revoke a phone's passes with
//! `sms forget`; erasing a member takes theirs everywhere.

use crate::kit::signer::Signer;
use crate::kit::time::now_ms;
use crate::members::outbox::{self, Fact};
use crate::members::Who;
use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use firewall::MacAddr;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use std::time::Duration;

/// The cookie that holds a device's pass.
pub const COOKIE: &str = "gw_pass";
/// What a pass id looks like: 32 random bytes, base64url (43 characters).
const ID_LEN: usize = 43;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// The passes of this site, and the member store's for the brand's others.
pub struct Passes {
    db: SqlitePool,
    members: crate::members::Store,
    /// Tags identities for revoking by identity (a keyed hash).
    signer: Signer,
    /// How long a pass is good for; None: one-tap return is off.
    lifetime: Option<Duration>,
}

/// A pass newly issued: the cookie's value and how long it lasts.
pub struct Issued {
    /// The pass id (the cookie's value).
    pub id: String,
    /// Its lifetime (the cookie's Max-Age).
    pub lifetime: Duration,
}

fn hash(id: &str) -> String {
    ap_protocol::hex::encode(&Sha256::digest(format!("guestwifi pass id\0{id}").as_bytes()))
}

fn seal_key(id: &str) -> [u8; 32] {
    Sha256::digest(format!("guestwifi pass seal\0{id}").as_bytes()).into()
}

fn seal(id: &str, value: &str) -> String {
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    let sealed = Enc::new(&seal_key(id).into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(value.as_bytes());
    format!("{}.{}", ap_protocol::hex::encode(&iv), ap_protocol::hex::encode(&sealed))
}

fn unseal(id: &str, sealed: &str) -> Option<String> {
    let (iv, body) = sealed.split_once('.')?;
    let iv: [u8; 16] = ap_protocol::hex::decode(iv)?.try_into().ok()?;
    let body = ap_protocol::hex::decode(body)?;
    let plain = Dec::new(&seal_key(id).into(), &iv.into()).decrypt_padded_vec_mut::<Pkcs7>(&body).ok()?;
    String::from_utf8(plain).ok()
}

/// Whether `id` is shaped like a pass (anything else is not looked up).
fn well_formed(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Passes {
    /// Passes in `db` (this site) and `members` (the brand), good for `lifetime`.
    pub fn new(db: SqlitePool, members: crate::members::Store, signer: Signer, lifetime: Option<Duration>) -> Self {
        Passes { db, members, signer, lifetime }
    }

    /// Whether one-tap return is on.
    pub fn on(&self) -> bool {
        self.lifetime.is_some()
    }

    fn tag(&self, who: &Who) -> String {
        self.signer.sign(&["pass-who", &who.kind, &who.value])
    }

    /// Issues a pass for `who` on the device `mac` (a real login just
    /// happened), and files it for the member store. None when return is off
    /// or `who` names nobody a return can log in as.
    pub async fn issue(&self, who: &Who, mac: MacAddr) -> Result<Option<Issued>, sqlx::Error> {
        let Some(lifetime) = self.lifetime else { return Ok(None) };
        if !who.is_personal() {
            return Ok(None);
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let (now, hash) = (now_ms(), hash(&id));
        let expires_at = now + lifetime.as_millis() as i64;
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO return_passes (hash, kind, sealed, mac, who_tag, issued_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&hash)
        .bind(&who.kind)
        .bind(seal(&id, &who.value))
        .bind(mac.to_string())
        .bind(self.tag(who))
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        let fact = Fact::Pass { hash, who: who.clone(), mac: mac.to_string(), expires_at };
        outbox::push(&mut tx, now, &format!("{}:{}", who.kind, who.value), &fact).await?;
        tx.commit().await?;
        Ok(Some(Issued { id, lifetime }))
    }

    /// Who the pass `id` logs in as on the device `mac`: this site's passes
    /// first, then (within `glance`) the brand's. None for no pass, another
    /// device's, one past its time or revoked.
    pub async fn holder(&self, id: Option<&str>, mac: MacAddr, glance: Duration) -> Result<Option<Who>, sqlx::Error> {
        let Some(id) = id.filter(|id| self.on() && well_formed(id)) else { return Ok(None) };
        let (now, hash) = (now_ms(), hash(id));
        let row: Option<(String, String, String, Option<i64>, i64)> =
            sqlx::query_as("SELECT kind, sealed, mac, revoked_at, expires_at FROM return_passes WHERE hash = ?")
                .bind(&hash)
                .fetch_optional(&self.db)
                .await?;
        if let Some((kind, sealed, issued_to, revoked, expires_at)) = row {
            // Known here: the answer is this site's, revoked or not.
            if revoked.is_some() || expires_at <= now || issued_to != mac.to_string() {
                return Ok(None);
            }
            return Ok(unseal(id, &sealed).map(|value| Who { kind, value }));
        }
        match tokio::time::timeout(glance, self.members.pass_holder(&hash, &mac.to_string())).await {
            Ok(Ok(who)) => Ok(who),
            Ok(Err(err)) => {
                tracing::warn!(error = %crate::error_chain(&err), "member store: pass not looked up");
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    /// Revokes every pass this site issued to `who`; returns how many.
    pub async fn revoke(&self, who: &Who) -> Result<u64, sqlx::Error> {
        let done = sqlx::query("UPDATE return_passes SET revoked_at = ? WHERE who_tag = ? AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(self.tag(who))
            .execute(&self.db)
            .await?;
        Ok(done.rows_affected())
    }

    /// Drops passes past their time; returns how many.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        let done =
            sqlx::query("DELETE FROM return_passes WHERE expires_at <= ?").bind(now_ms()).execute(&self.db).await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn passes(days: u64) -> (Passes, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::store::memory().await.unwrap();
        let settings = crate::config::MembersSettings::default();
        let members = crate::members::Store::connect(&settings, dir.path()).unwrap();
        members.prepare("", "test", "").await.unwrap();
        let lifetime = (days > 0).then(|| Duration::from_secs(days * 86_400));
        (Passes::new(db, members, Signer::with_key([3; 32]), lifetime), dir)
    }

    fn phone() -> Who {
        Who { kind: "phone".into(), value: "+8613800138000".into() }
    }

    fn mac(n: u8) -> MacAddr {
        format!("02:00:00:00:00:{n:02x}").parse().unwrap()
    }

    #[tokio::test]
    async fn a_pass_is_good_on_its_device_only_and_names_nobody_without_its_id() {
        let (p, _dir) = passes(30).await;
        let glance = Duration::from_millis(200);
        let pass = p.issue(&phone(), mac(1)).await.unwrap().unwrap();
        assert_eq!(pass.id.len(), ID_LEN);
        assert_eq!(p.holder(Some(&pass.id), mac(1), glance).await.unwrap(), Some(phone()));
        assert_eq!(p.holder(Some(&pass.id), mac(2), glance).await.unwrap(), None, "a copied cookie, another MAC");
        assert_eq!(p.holder(None, mac(1), glance).await.unwrap(), None, "a copied MAC, no cookie");
        let mut forged = pass.id.clone();
        forged.replace_range(..1, if forged.starts_with('A') { "B" } else { "A" });
        assert_eq!(p.holder(Some(&forged), mac(1), glance).await.unwrap(), None);
        let kept: Vec<(String, String)> =
            sqlx::query_as("SELECT hash, sealed FROM return_passes").fetch_all(&p.db).await.unwrap();
        assert!(!kept[0].0.contains(&pass.id) && !kept[0].1.contains("13800138000"), "the table names nobody");
        assert_eq!(p.revoke(&phone()).await.unwrap(), 1);
        assert_eq!(p.holder(Some(&pass.id), mac(1), glance).await.unwrap(), None, "revoked");
    }

    #[tokio::test]
    async fn no_pass_when_return_is_off_or_for_a_device_only_login() {
        let (off, _dir) = passes(0).await;
        assert!(off.issue(&phone(), mac(1)).await.unwrap().is_none());
        let (on, _dir) = passes(30).await;
        assert!(on.issue(&Who::device(mac(1)), mac(1)).await.unwrap().is_none());
    }
}
