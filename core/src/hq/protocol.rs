//! What a site and headquarters say to each other over HTTPS, and the
//! enrolment's proofs. Both sides use these types and functions, so the
//! wire cannot drift between them.
//!
//! Enrolment binds the claim code to the TLS channel: the site first reads
//! HQ's CA (over a connection it does not yet trust), then sends, over a
//! connection that trusts only that CA, an HMAC under a key made from the
//! code's secret of the CA's fingerprint and its own public key. HQ checks
//! it against its own CA, and answers with an HMAC of the certificate it
//! issued. A man in the middle with another CA cannot pass either check
//! without the secret, and never sees the secret itself.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Paths, relative to HQ's URL.
pub const PATH_CA: &str = "/v1/ca";
/// Enrolment (no client certificate).
pub const PATH_ENROL: &str = "/v1/enrol";
/// Facts up (mutual TLS from here on).
pub const PATH_FACTS: &str = "/v1/facts";
/// The site's bundle (long-poll with `If-None-Match`).
pub const PATH_BUNDLE: &str = "/v1/bundle";
/// What the site did with a bundle.
pub const PATH_APPLIED: &str = "/v1/bundle/applied";
/// Health up.
pub const PATH_HEARTBEAT: &str = "/v1/heartbeat";
/// A brand's photo by id (its bytes' hash), as uploaded.
pub const PATH_PHOTOS: &str = "/v1/photos";
/// A card and PIN, checked at HQ.
pub const PATH_CARD_CHECK: &str = "/v1/cards/check";
/// A card's state and tier, without its PIN (a one-tap return).
pub const PATH_CARD: &str = "/v1/cards/get";
/// The cards seen at the site, for its offline copy.
pub const PATH_CARDS: &str = "/v1/cards/seen";
/// Who a one-tap return pass (from any site of the brand) logs in as.
pub const PATH_PASS: &str = "/v1/passes/holder";
/// Revoke a guest's passes at every site.
pub const PATH_PASS_REVOKE: &str = "/v1/passes/revoke";
/// Whether a member holds a coupon of a rule.
pub const PATH_COUPON: &str = "/v1/coupons/held";
/// An SMS code sent by HQ's gateway, with the chain's keys.
pub const PATH_SMS: &str = "/v1/sms";
/// A QQ or Weibo code, traded at HQ with the chain's app secret.
pub const PATH_OAUTH: &str = "/v1/oauth";
/// A brand's WeChat official account's callback (WeChat's servers call it, no certificate).
pub const PATH_WECHAT: &str = "/v1/wechat/{brand}";

/// `POST /v1/sms`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sms {
    /// E.164.
    pub phone: String,
    /// The code (templated gateways take it alone).
    pub code: String,
    /// The whole message (free-text gateways).
    pub text: String,
}

/// The most cards one refresh asks for.
pub const MAX_CARDS: usize = 5000;

/// `POST /v1/cards/check`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardCheck {
    /// The card's number, normalized.
    pub card_no: String,
    /// The PIN as typed.
    pub pin: String,
}

/// HQ's verdict on a card and PIN.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum CardVerdict {
    /// The PIN is right: the card, with its hash for the site's offline
    /// copy (a card that logs in here may be kept here).
    Good {
        /// The card and its tier.
        card: crate::members::CardRecord,
    },
    /// No such card, no PIN, or a wrong PIN (one answer for all three).
    Wrong,
}

/// `POST /v1/cards/get`, `/v1/cards/seen`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cards {
    /// Card numbers.
    pub card_nos: Vec<String>,
}

/// `POST /v1/passes/holder`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassAsk {
    /// SHA-256 of the pass id, hex.
    pub hash: String,
    /// The device presenting it.
    pub mac: String,
}

/// `POST /v1/coupons/held`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CouponAsk {
    /// Who.
    pub who: crate::members::Who,
    /// The rule.
    pub rule: String,
}

/// Characters of a claim code's id, then of its secret (the kit's code
/// alphabet: ~5 bits a character, so ~99 bits of secret).
pub const CLAIM_ID_LEN: usize = 6;
/// See [`CLAIM_ID_LEN`].
pub const CLAIM_SECRET_LEN: usize = 20;

/// The most facts in one delivery.
pub const MAX_FACTS: usize = 1000;
/// The longest a bundle long-poll waits, seconds.
pub const MAX_WAIT_SECONDS: u64 = 30;

/// A claim code split into its id (which claim) and its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Names the claim at HQ.
    pub id: String,
    /// Never leaves the site.
    pub secret: String,
}

impl Claim {
    /// From what an admin typed (case, spaces and dashes as they come).
    pub fn parse(typed: &str) -> Option<Claim> {
        let code = crate::kit::secrets::normalize_code(typed)?;
        if code.len() != CLAIM_ID_LEN + CLAIM_SECRET_LEN {
            return None;
        }
        let (id, secret) = code.split_at(CLAIM_ID_LEN);
        Some(Claim { id: id.into(), secret: secret.into() })
    }

    /// A new random claim.
    pub fn generate() -> Claim {
        Claim {
            id: crate::kit::secrets::random_code(CLAIM_ID_LEN),
            secret: crate::kit::secrets::random_code(CLAIM_SECRET_LEN),
        }
    }

    /// As an admin reads it out: `ID-XXXXX-XXXXX-XXXXX-XXXXX`.
    pub fn display(&self) -> String {
        let groups: Vec<&str> = (0..CLAIM_SECRET_LEN / 5).map(|i| &self.secret[i * 5..i * 5 + 5]).collect();
        format!("{}-{}", self.id, groups.join("-"))
    }

    /// The key both proofs are made with (what HQ keeps of the secret).
    pub fn key(&self) -> String {
        hex(&Sha256::digest(format!("guestwifi-hq claim {}", self.secret)))
    }
}

fn mac(key_hex: &str, parts: &[&str]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key_hex.as_bytes()).expect("any key length");
    for p in parts {
        m.update(p.as_bytes());
        m.update(&[0]);
    }
    hex(&m.finalize().into_bytes())
}

/// The site's proof: it knows the secret, saw this CA, and holds this key.
pub fn enrol_proof(key_hex: &str, claim_id: &str, ca_fingerprint: &str, public_key_pem: &str) -> String {
    mac(key_hex, &["enrol", claim_id, ca_fingerprint, public_key_pem])
}

/// HQ's proof: it knows the secret and issued this certificate.
pub fn issued_proof(key_hex: &str, claim_id: &str, cert_pem: &str) -> String {
    mac(key_hex, &["issued", claim_id, cert_pem])
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /v1/enrol`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The claim's id.
    pub claim: String,
    /// The site's new public key (SubjectPublicKeyInfo PEM).
    pub public_key_pem: String,
    /// [`enrol_proof`].
    pub proof: String,
}

/// What enrolment gives the site.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrolResponse {
    /// Its certificate, from HQ's CA.
    pub cert_pem: String,
    /// Brand id.
    pub brand: String,
    /// Site id.
    pub site: String,
    /// Region id (may be empty).
    pub region: String,
    /// Site name.
    pub name: String,
    /// [`issued_proof`].
    pub proof: String,
}

/// One fact as the outbox holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFact {
    /// Its UUID: HQ's dedup key.
    pub id: String,
    /// When it happened, UTC ms.
    pub at: i64,
    /// The fact (`members::outbox::Fact`) as JSON.
    pub body: String,
}

/// `POST /v1/facts`: a batch, in outbox order, about the sending site.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactBatch {
    /// The brand the site believes it is in (checked against its certificate).
    pub brand: String,
    /// The site (checked against its certificate).
    pub site: String,
    /// The facts.
    pub facts: Vec<WireFact>,
}

/// HQ's answer to a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FactsAnswer {
    /// Facts in the batch now filed (new or already there).
    pub landed: usize,
    /// A fact HQ refused on its own (not the link): its id and why.
    pub refused: Option<(String, String)>,
}

/// Which scope a block comes from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "id")]
pub enum Scope {
    /// Every site of the brand.
    Brand,
    /// The sites of one region.
    Region(String),
    /// One site.
    Site(String),
}

impl Scope {
    /// `brand`, `region:ID`, `site:ID`.
    pub fn parse(text: &str) -> Option<Scope> {
        match text.split_once(':') {
            None if text == "brand" => Some(Scope::Brand),
            Some(("region", id)) if !id.is_empty() => Some(Scope::Region(id.into())),
            Some(("site", id)) if !id.is_empty() => Some(Scope::Site(id.into())),
            _ => None,
        }
    }

    /// The stored kind and id.
    pub fn parts(&self) -> (&'static str, &str) {
        match self {
            Scope::Brand => ("brand", ""),
            Scope::Region(id) => ("region", id),
            Scope::Site(id) => ("site", id),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Brand => write!(f, "brand"),
            Scope::Region(id) => write!(f, "region:{id}"),
            Scope::Site(id) => write!(f, "site:{id}"),
        }
    }
}

/// The marketing blocks a bundle may carry (`marketing::Content`'s fields).
pub const BLOCKS: [&str; 6] = ["brand", "dishes", "promotions", "products", "ad", "landing"];

/// A block as HQ publishes it for a scope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Where it comes from.
    pub scope: Scope,
    /// Its version at that scope.
    pub version: i64,
    /// The block (as `marketing::Content` holds it).
    pub value: serde_json::Value,
    /// HQ lets the site show its own block instead (the site's choice).
    #[serde(default)]
    pub overridable: bool,
}

/// What a site takes from HQ: checked whole, applied at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// The bundle's version: its content's hash (the `ETag`).
    pub version: String,
    /// Brand id.
    pub brand: String,
    /// Site id.
    pub site: String,
    /// Region id.
    pub region: String,
    /// The marketing blocks HQ manages for the site, by name (the nearest
    /// scope's of each); a block not named stays the site's own.
    pub blocks: BTreeMap<String, Block>,
    /// The settings HQ manages for the site (dotted keys, the nearest
    /// scope's of each key; see `hq::settings`); a key not named stays the
    /// site's own.
    #[serde(default)]
    pub settings: BTreeMap<String, serde_json::Value>,
    /// HQ's ticket key, public half (64 hex digits): what the site checks
    /// HQ's signed links with (`hq::tickets`), offline.
    #[serde(default)]
    pub ticket_key: Option<String>,
    /// The chain voucher batches good at this site, each signed with the
    /// ticket key (`hq::vouchers`).
    #[serde(default)]
    pub vouchers: Vec<super::vouchers::SignedBatch>,
    /// What HQ knows of those batches' cards' use at every site.
    #[serde(default)]
    pub voucher_uses: Vec<super::vouchers::CardUse>,
}

impl Bundle {
    /// The version a bundle's content makes (what the `ETag` carries): the
    /// hash of everything in it but the version.
    pub fn version_of(&self) -> String {
        let text = serde_json::to_string(&(
            &self.brand,
            &self.site,
            &self.region,
            &self.blocks,
            &self.settings,
            &self.ticket_key,
            &self.vouchers,
            &self.voucher_uses,
        ))
        .expect("bundle serialises");
        hex(&Sha256::digest(text.as_bytes())[..12])
    }
}

/// `POST /v1/bundle/applied`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// The bundle's version.
    pub version: String,
    /// None: applied; Some: refused, and why.
    pub refused: Option<String>,
}

/// `POST /v1/heartbeat`, once a minute.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The controller's version.
    pub software: String,
    /// The bundle applied (empty: none yet).
    pub bundle: String,
    /// Guests online now.
    pub guests_online: i64,
    /// Adopted APs online.
    pub aps_online: i64,
    /// Adopted APs.
    pub aps_total: i64,
    /// Facts waiting in the outbox.
    pub backlog: i64,
    /// Age of the oldest waiting fact, ms.
    pub lag_ms: i64,
    /// The blocks HQ offers that the site shows its own of instead.
    #[serde(default)]
    pub own_blocks: Vec<String>,
    /// The access log's state: its last check and daily digests (hashes
    /// only; its rows never leave the site).
    #[serde(default)]
    pub access_log: Option<crate::trail::State>,
    /// Footfall by zone for yesterday and today (aggregates only).
    #[serde(default)]
    pub footfall: Vec<crate::stats::footfall::Cell>,
}

/// SHA-256 of a certificate's DER, hex: how HQ names a site's certificate.
pub fn cert_fingerprint(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_code_reads_back_whatever_its_case_and_dashes() {
        let claim = Claim::generate();
        let shown = claim.display();
        assert_eq!(shown.len(), CLAIM_ID_LEN + CLAIM_SECRET_LEN + 4);
        assert_eq!(Claim::parse(&shown.to_lowercase().replace('-', " ")), Some(claim.clone()));
        assert_eq!(Claim::parse(&shown[..shown.len() - 1]), None, "a short code is no code");
    }

    #[test]
    fn a_proof_binds_the_ca_and_the_key() {
        let claim = Claim::generate();
        let key = claim.key();
        let proof = enrol_proof(&key, &claim.id, "ca-1", "pk-1");
        assert_eq!(proof, enrol_proof(&key, &claim.id, "ca-1", "pk-1"));
        assert_ne!(proof, enrol_proof(&key, &claim.id, "ca-2", "pk-1"), "another CA: another proof");
        assert_ne!(proof, enrol_proof(&key, &claim.id, "ca-1", "pk-2"), "another key: another proof");
        assert_ne!(proof, enrol_proof(&Claim::generate().key(), &claim.id, "ca-1", "pk-1"));
    }

    #[test]
    fn scopes_read_and_print_alike() {
        for text in ["brand", "region:east", "site:sh-01"] {
            assert_eq!(Scope::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Scope::parse("region:"), None);
        assert_eq!(Scope::parse("city:x"), None);
    }
}

/// A QQ or Weibo login's code, for HQ to trade (`PATH_OAUTH`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OAuthTrade {
    /// `qq` or `weibo`.
    pub provider: String,
    /// The code the provider gave the guest's browser.
    pub code: String,
    /// The redirect URI the login was started with.
    pub redirect_uri: String,
}

/// Who the traded code says the guest is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OAuthIdentity {
    /// The provider's id for the guest (QQ openid, Weibo uid).
    pub id: String,
}
