//! WeChat official account (微信公众号): a diner follows the restaurant's
//! account and sends the keyword (default 我要上网); the account answers with
//! a one-time login link, valid 10 minutes; opening it on the phone, on the
//! guest Wi-Fi, logs that phone in. The openid is the identity.
//!
//! The callback is WeChat's "服务器配置" protocol: a GET with `echostr`
//! verifies the URL; POSTed messages come in plaintext or, in safe mode
//! (安全模式), AES-256-CBC encrypted with the EncodingAESKey (IV = the key's
//! first 16 bytes, PKCS#7 padding to 32 bytes, body = 16 random bytes, the
//! length, the message, the appid). Signatures are SHA1 of the sorted
//! token, timestamp, nonce (and the ciphertext), compared in constant time;
//! a timestamp more than 5 minutes off, or a nonce seen before, is refused.

use super::{Bandwidth, Grant, Identity, Method, Refusal};
use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use rand::RngCore;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How far a message's timestamp may be from our clock.
const CLOCK_SKEW: u64 = 300;
/// Most nonces remembered (10 minutes' worth at any sane rate).
const MAX_NONCES: usize = 100_000;
/// Most open login links.
const MAX_LINKS: usize = 50_000;

/// Why a callback was refused (WeChat gets a 403; nothing changes).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
    /// The timestamp is too far off.
    #[error("stale timestamp")]
    Stale,
    /// This nonce was seen before.
    #[error("replayed nonce")]
    Replayed,
    /// The ciphertext does not decrypt, pad or parse.
    #[error("cannot decrypt: {0}")]
    Decrypt(&'static str),
    /// The message is for another account.
    #[error("message for another appid")]
    AppId,
    /// The XML lacks what a message has.
    #[error("malformed message")]
    Malformed,
}

/// SHA1 of the sorted parts, lower-case hex: WeChat's signature.
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    ap_protocol::hex::encode(&Sha1::digest(sorted.concat().as_bytes()))
}

/// The safe-mode cipher of one account.
#[derive(Clone)]
pub struct Cipher {
    key: [u8; 32],
    appid: String,
}

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

impl Cipher {
    /// From the 43-character EncodingAESKey and the account's appid.
    pub fn new(encoding_aes_key: &str, appid: &str) -> Option<Self> {
        // WeChat's keys often carry set bits past the 256th: decode leniently.
        let lenient = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        let bytes = lenient.decode(format!("{}=", encoding_aes_key.trim())).ok()?;
        Some(Cipher { key: bytes.try_into().ok()?, appid: appid.to_string() })
    }

    /// Encrypts `message` with the 16 `random` bytes in front, base64.
    pub fn encrypt_with(&self, message: &str, random: &[u8; 16]) -> String {
        let mut plain = random.to_vec();
        plain.extend((message.len() as u32).to_be_bytes());
        plain.extend(message.as_bytes());
        plain.extend(self.appid.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.extend(std::iter::repeat_n(pad as u8, pad));
        let cipher = Enc::new(&self.key.into(), self.key[..16].into()).encrypt_padded_vec_mut::<NoPadding>(&plain);
        base64::engine::general_purpose::STANDARD.encode(cipher)
    }

    /// Encrypts `message` with fresh random bytes.
    pub fn encrypt(&self, message: &str) -> String {
        let mut random = [0u8; 16];
        rand::rng().fill_bytes(&mut random);
        self.encrypt_with(message, &random)
    }

    /// Decrypts a base64 ciphertext; checks the padding and the appid.
    pub fn decrypt(&self, encrypted: &str) -> Result<String, CallbackError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encrypted.trim())
            .map_err(|_| CallbackError::Decrypt("base64"))?;
        if bytes.is_empty() || bytes.len() % 16 != 0 {
            return Err(CallbackError::Decrypt("length"));
        }
        let plain = Dec::new(&self.key.into(), self.key[..16].into())
            .decrypt_padded_vec_mut::<NoPadding>(&bytes)
            .map_err(|_| CallbackError::Decrypt("cipher"))?;
        let pad = *plain.last().ok_or(CallbackError::Decrypt("empty"))? as usize;
        if !(1..=32).contains(&pad) || pad > plain.len() {
            return Err(CallbackError::Decrypt("padding"));
        }
        let body = &plain[..plain.len() - pad];
        if body.len() < 20 {
            return Err(CallbackError::Decrypt("short"));
        }
        let len = u32::from_be_bytes(body[16..20].try_into().expect("4 bytes")) as usize;
        let rest = &body[20..];
        if len > rest.len() {
            return Err(CallbackError::Decrypt("length field"));
        }
        let (message, appid) = rest.split_at(len);
        if appid != self.appid.as_bytes() {
            return Err(CallbackError::AppId);
        }
        String::from_utf8(message.to_vec()).map_err(|_| CallbackError::Decrypt("utf-8"))
    }
}

/// The text of `<tag>…</tag>` (CDATA or plain) in a flat WeChat XML message.
pub fn xml_field<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let inner = xml[start..end].trim();
    Some(inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner))
}

/// A CDATA section that cannot be broken out of.
fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// What the callback asks of the account: the query WeChat sends.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackQuery {
    /// SHA1(token, timestamp, nonce).
    #[serde(default)]
    pub signature: String,
    /// Seconds since the epoch, as text.
    #[serde(default)]
    pub timestamp: String,
    /// A random string.
    #[serde(default)]
    pub nonce: String,
    /// The URL check's echo.
    #[serde(default)]
    pub echostr: Option<String>,
    /// `aes` in safe mode.
    #[serde(default)]
    pub encrypt_type: Option<String>,
    /// SHA1(token, timestamp, nonce, Encrypt) in safe mode.
    #[serde(default)]
    pub msg_signature: Option<String>,
}

struct Link {
    openid: String,
    issued: Instant,
    used: bool,
}

/// The WeChat method: the account's secrets, the nonces seen, the open links.
pub struct WeChat {
    /// None at a site whose account is at headquarters: no callback is taken.
    token: Option<String>,
    cipher: Option<Cipher>,
    keyword: String,
    reply: String,
    link_ttl: Duration,
    session: Duration,
    bandwidth: Bandwidth,
    portal_url: String,
    nonces: Mutex<HashMap<String, Instant>>,
    links: Mutex<HashMap<String, Link>>,
    /// At headquarters: links are tickets signed with this key, for this brand.
    tickets: Option<(ed25519_dalek::SigningKey, String)>,
    /// At a site of a chain: headquarters' ticket key and the brand, from the bundle.
    hq: std::sync::RwLock<Option<(String, ed25519_dalek::VerifyingKey)>>,
}

/// The WeChat method's settings.
pub struct Settings {
    /// The token set in the account's 服务器配置 (None: the account is at
    /// headquarters, which signs the links; this side takes no callback).
    pub token: Option<String>,
    /// Safe mode's cipher (None: plaintext mode).
    pub cipher: Option<Cipher>,
    /// The keyword a diner sends.
    pub keyword: String,
    /// The answer; `{link}` is the login link.
    pub reply: String,
    /// How long a link is good for.
    pub link_ttl: Duration,
    /// Session length.
    pub session: Duration,
    /// Its limits.
    pub bandwidth: Bandwidth,
    /// The portal's base URL.
    pub portal_url: String,
    /// At headquarters: the ticket key and the brand whose links it signs.
    pub tickets: Option<(ed25519_dalek::SigningKey, String)>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

impl WeChat {
    /// The method with `settings`.
    pub fn new(s: Settings) -> Self {
        WeChat {
            token: s.token,
            cipher: s.cipher,
            keyword: s.keyword,
            reply: s.reply,
            link_ttl: s.link_ttl,
            session: s.session,
            bandwidth: s.bandwidth,
            portal_url: s.portal_url,
            nonces: Mutex::default(),
            links: Mutex::default(),
            tickets: s.tickets,
            hq: std::sync::RwLock::default(),
        }
    }

    /// Takes headquarters' links for `brand`, signed by `key` (a bundle's).
    pub fn trust_hq(&self, brand: &str, key: ed25519_dalek::VerifyingKey) {
        let mut hq = self.hq.write().unwrap();
        if hq.as_ref().is_none_or(|(b, k)| b != brand || k != &key) {
            tracing::info!(brand, "WeChat links signed by headquarters are taken");
        }
        *hq = Some((brand.to_string(), key));
    }

    /// Whether the account's callback is at headquarters (this side has no Token).
    pub fn at_headquarters(&self) -> bool {
        self.token.is_none()
    }

    /// Checks the signature, the clock and the nonce of a callback.
    fn check(&self, q: &CallbackQuery) -> Result<(), CallbackError> {
        let token = self.token.as_deref().ok_or(CallbackError::Signature)?;
        if !crate::kit::secrets::same_secret(&signature(&[token, &q.timestamp, &q.nonce]), &q.signature) {
            return Err(CallbackError::Signature);
        }
        let ts: u64 = q.timestamp.parse().map_err(|_| CallbackError::Stale)?;
        if now_secs().abs_diff(ts) > CLOCK_SKEW {
            return Err(CallbackError::Stale);
        }
        let mut nonces = self.nonces.lock().unwrap();
        let window = Duration::from_secs(2 * CLOCK_SKEW);
        if nonces.len() >= MAX_NONCES {
            nonces.retain(|_, seen| seen.elapsed() < window);
        }
        let key = format!("{}:{}", q.timestamp, q.nonce);
        if nonces.get(&key).is_some_and(|seen| seen.elapsed() < window) {
            return Err(CallbackError::Replayed);
        }
        if nonces.len() < MAX_NONCES {
            nonces.insert(key, Instant::now());
        }
        Ok(())
    }

    /// A callback's HTTP answer: its status and body. `message` None is the
    /// URL check (GET, the echo), else a message (POST). A refusal is a 403
    /// with nothing in it, logged, and changes nothing.
    pub fn answer(&self, q: &CallbackQuery, message: Option<&str>) -> (u16, String) {
        let result = match message {
            None => self.verify_url(q),
            Some(body) => self.message(q, body),
        };
        match result {
            Ok(text) => (200, text),
            Err(err) => {
                tracing::warn!(%err, "WeChat callback refused");
                (403, String::new())
            }
        }
    }

    /// The URL check (GET): the echo, if the signature is ours.
    pub fn verify_url(&self, q: &CallbackQuery) -> Result<String, CallbackError> {
        self.check(q)?;
        q.echostr.clone().ok_or(CallbackError::Malformed)
    }

    /// A message (POST): the XML to answer with (`success` when there is
    /// nothing to say, as WeChat wants).
    pub fn message(&self, q: &CallbackQuery, body: &str) -> Result<String, CallbackError> {
        self.check(q)?;
        let safe = q.encrypt_type.as_deref() == Some("aes");
        let xml = if safe {
            let cipher = self.cipher.as_ref().ok_or(CallbackError::Decrypt("no EncodingAESKey configured"))?;
            let encrypted = xml_field(body, "Encrypt").ok_or(CallbackError::Malformed)?;
            let msg_signature = q.msg_signature.as_deref().unwrap_or_default();
            let expected = signature(&[self.token.as_deref().unwrap_or_default(), &q.timestamp, &q.nonce, encrypted]);
            if !crate::kit::secrets::same_secret(&expected, msg_signature) {
                return Err(CallbackError::Signature);
            }
            cipher.decrypt(encrypted)?
        } else {
            if self.cipher.is_some() {
                // Safe mode configured: plaintext messages are not taken.
                return Err(CallbackError::Decrypt("plaintext message while safe mode is on"));
            }
            body.to_string()
        };
        let from = xml_field(&xml, "FromUserName").ok_or(CallbackError::Malformed)?;
        let to = xml_field(&xml, "ToUserName").ok_or(CallbackError::Malformed)?;
        let kind = xml_field(&xml, "MsgType").unwrap_or_default();
        let content = xml_field(&xml, "Content").unwrap_or_default().trim();
        if kind != "text" || content != self.keyword || from.is_empty() || from.len() > 64 {
            return Ok("success".into());
        }
        let link = self.issue(from);
        let text = self.reply.replace("{link}", &link);
        let reply = format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>{}</CreateTime>\
             <MsgType><![CDATA[text]]></MsgType><Content>{}</Content></xml>",
            cdata(from),
            cdata(to),
            now_secs(),
            cdata(&text)
        );
        match (&self.cipher, safe) {
            (Some(cipher), true) => {
                let encrypted = cipher.encrypt(&reply);
                let timestamp = now_secs().to_string();
                let mut nonce_bytes = [0u8; 8];
                rand::rng().fill_bytes(&mut nonce_bytes);
                let nonce = u64::from_be_bytes(nonce_bytes).to_string();
                let sig = signature(&[self.token.as_deref().unwrap_or_default(), &timestamp, &nonce, &encrypted]);
                Ok(format!(
                    "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature><TimeStamp>{timestamp}</TimeStamp>\
                     <Nonce>{}</Nonce></xml>",
                    cdata(&encrypted),
                    cdata(&sig),
                    cdata(&nonce)
                ))
            }
            _ => Ok(reply),
        }
    }

    /// A one-time link for `openid`: at headquarters a signed ticket any
    /// site of the brand takes, else a token this side remembers.
    fn issue(&self, openid: &str) -> String {
        if let Some((key, brand)) = &self.tickets {
            tracing::info!(brand = %brand, "WeChat login ticket issued");
            return format!("{}/wx?t={}", self.portal_url, crate::hq::tickets::sign(key, brand, openid, now_secs()));
        }
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let token = ap_protocol::hex::encode(&bytes);
        let mut links = self.links.lock().unwrap();
        links.retain(|_, l| l.issued.elapsed() < self.link_ttl);
        if links.len() >= MAX_LINKS {
            if let Some(oldest) = links.iter().min_by_key(|(_, l)| l.issued).map(|(k, _)| k.clone()) {
                links.remove(&oldest);
            }
        }
        links.insert(token.clone(), Link { openid: openid.to_string(), issued: Instant::now(), used: false });
        tracing::info!("WeChat login link issued");
        format!("{}/wx?t={token}", self.portal_url)
    }

    /// Uses a link: the grant for its openid. A ticket of headquarters'
    /// is checked with its key and then remembered like a link of ours.
    pub fn login(&self, token: &str) -> Result<Grant, Refusal> {
        let mut links = self.links.lock().unwrap();
        if token.starts_with(crate::hq::tickets::PREFIX) && !links.contains_key(token) {
            let hq = self.hq.read().unwrap().clone().ok_or(Refusal::Invalid)?;
            let openid =
                crate::hq::tickets::verify(&hq.1, token, &hq.0, now_secs(), self.link_ttl.as_secs()).map_err(|e| {
                    match e {
                        crate::hq::tickets::TicketError::Expired => Refusal::Expired,
                        crate::hq::tickets::TicketError::Invalid => Refusal::Invalid,
                    }
                })?;
            links.retain(|_, l| l.issued.elapsed() < self.link_ttl);
            if links.len() >= MAX_LINKS {
                if let Some(oldest) = links.iter().min_by_key(|(_, l)| l.issued).map(|(k, _)| k.clone()) {
                    links.remove(&oldest);
                }
            }
            links.insert(token.to_string(), Link { openid: openid.clone(), issued: Instant::now(), used: true });
            return Ok(self.grant_for(openid));
        }
        let link = links.get_mut(token).ok_or(Refusal::Invalid)?;
        if link.issued.elapsed() >= self.link_ttl {
            return Err(Refusal::Expired);
        }
        if link.used {
            return Err(Refusal::Replayed);
        }
        link.used = true;
        Ok(self.grant_for(link.openid.clone()))
    }

    /// What a WeChat login of `openid` is worth (also a member's one-tap
    /// return at another site).
    pub fn grant_for(&self, openid: String) -> Grant {
        Grant {
            method: Method::WeChat,
            identity: Identity::OpenId(openid),
            duration: self.session,
            bandwidth: self.bandwidth,
        }
    }

    /// Gives a used link back (the login behind it failed).
    pub fn restore(&self, token: &str) {
        if let Some(l) = self.links.lock().unwrap().get_mut(token) {
            l.used = false;
        }
    }
}

/// The method `[auth.wechat]` describes, its secrets read from their 0600
/// files; None when it is off.
pub fn from_config(config: &crate::config::Config) -> Result<Option<std::sync::Arc<WeChat>>, String> {
    let w = &config.auth.wechat;
    if !w.enabled {
        return Ok(None);
    }
    let token = match &w.token_file {
        Some(file) => Some(crate::kit::secrets::read_private(file)?),
        None if w.at_headquarters => None,
        None => return Err("auth.wechat.token_file is not set".into()),
    };
    let cipher = match &w.encoding_aes_key_file {
        None => None,
        Some(path) => {
            let key = crate::kit::secrets::read_private(path)?;
            Some(Cipher::new(&key, &w.appid).ok_or("auth.wechat: the EncodingAESKey is not 43 base64 characters")?)
        }
    };
    Ok(Some(std::sync::Arc::new(WeChat::new(Settings {
        token,
        cipher,
        keyword: w.keyword.trim().to_string(),
        reply: w.reply.clone(),
        link_ttl: Duration::from_secs(w.link_minutes * 60),
        session: config.session.length_or(w.session_minutes),
        bandwidth: Bandwidth { down_kbps: w.down_kbps, up_kbps: w.up_kbps, ..Bandwidth::default() },
        portal_url: config.portal_url(),
        tickets: None,
    }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    /// The encryption example of WeChat's message-encryption sample code
    /// (Java, WXBizMsgCryptTest): fixed random "aaaabbbbccccdddd".
    #[test]
    fn encryption_matches_wechats_sample() {
        let cipher = Cipher::new(KEY, "wxb11529c136998cb6").unwrap();
        let encrypted = cipher.encrypt_with("我是中文abcd123", b"aaaabbbbccccdddd");
        assert_eq!(
            encrypted,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(cipher.decrypt(&encrypted).unwrap(), "我是中文abcd123");
        let other = Cipher::new(KEY, "wx0000000000000000").unwrap();
        assert_eq!(other.decrypt(&encrypted), Err(CallbackError::AppId), "the appid is checked");
    }

    /// The decryption example of WeChat's sample code (Python, Sample.py):
    /// its msg_signature checks and its ciphertext opens for its appid.
    #[test]
    fn decryption_matches_wechats_sample() {
        let token = "spamtest";
        let (timestamp, nonce) = ("1409735669", "1320562132");
        let encrypted = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
        assert_eq!(signature(&[token, timestamp, nonce, encrypted]), "5d197aaffba7e9b25a30732f161a50dee96bd5fa");
        let xml = Cipher::new(KEY, "wx2c2769f8efd9abc2").unwrap().decrypt(encrypted).unwrap();
        assert!(xml_field(&xml, "ToUserName").is_some() && xml_field(&xml, "MsgType").is_some(), "{xml}");
    }

    fn wechat(cipher: Option<Cipher>) -> WeChat {
        wechat_with(Some("tok"), cipher, None)
    }

    fn wechat_with(
        token: Option<&str>,
        cipher: Option<Cipher>,
        tickets: Option<(ed25519_dalek::SigningKey, String)>,
    ) -> WeChat {
        WeChat::new(Settings {
            token: token.map(str::to_string),
            tickets,
            cipher,
            keyword: "我要上网".into(),
            reply: "点此上网 {link}".into(),
            link_ttl: Duration::from_secs(600),
            session: Duration::from_secs(3600),
            bandwidth: Bandwidth::default(),
            portal_url: "http://portal.test".into(),
        })
    }

    fn query(nonce: &str, ts: u64) -> CallbackQuery {
        let timestamp = ts.to_string();
        CallbackQuery {
            signature: signature(&["tok", &timestamp, nonce]),
            timestamp,
            nonce: nonce.into(),
            echostr: Some("echo-me".into()),
            ..Default::default()
        }
    }

    fn text(from: &str, content: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName>\
             <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content></xml>"
        )
    }

    fn link_token(reply: &str) -> String {
        let content = xml_field(reply, "Content").unwrap();
        content.split("t=").nth(1).unwrap().to_string()
    }

    #[test]
    fn the_url_check_echoes_only_for_our_token_and_a_fresh_nonce() {
        let w = wechat(None);
        assert_eq!(w.verify_url(&query("n1", now_secs())).unwrap(), "echo-me");
        assert_eq!(w.verify_url(&query("n1", now_secs())), Err(CallbackError::Replayed));
        assert_eq!(w.verify_url(&query("n2", now_secs() - 600)), Err(CallbackError::Stale));
        let mut forged = query("n3", now_secs());
        forged.signature = signature(&["not-tok", &forged.timestamp, "n3"]);
        assert_eq!(w.verify_url(&forged), Err(CallbackError::Signature));
    }

    #[test]
    fn headquarters_signs_the_link_and_any_site_of_the_brand_takes_it_once() {
        let key = crate::hq::tickets::new_key();
        let hq = wechat_with(Some("tok"), None, Some((key.clone(), "chain".into())));
        let reply = hq.message(&query("a", now_secs()), &text("oOPENID1", "我要上网")).unwrap();
        let ticket = link_token(&reply);
        assert!(ticket.starts_with(crate::hq::tickets::PREFIX), "{reply}");
        // A site holds no token: it takes no callback, even one signed with an empty token.
        let site = wechat_with(None, None, None);
        let mut empty = query("b", now_secs());
        empty.signature = signature(&["", &empty.timestamp, "b"]);
        assert_eq!(site.verify_url(&empty), Err(CallbackError::Signature));
        assert_eq!(site.login(&ticket), Err(Refusal::Invalid), "HQ's key not known yet");
        site.trust_hq("chain", key.verifying_key());
        assert_eq!(site.login(&ticket).unwrap().identity, Identity::OpenId("oOPENID1".into()));
        assert_eq!(site.login(&ticket), Err(Refusal::Replayed), "once at this site");
        site.restore(&ticket);
        assert!(site.login(&ticket).is_ok(), "given back after a failed login");
        let other = wechat_with(None, None, None);
        other.trust_hq("other-brand", key.verifying_key());
        assert_eq!(other.login(&ticket), Err(Refusal::Invalid), "another brand's site");
        let stranger = crate::hq::tickets::sign(&crate::hq::tickets::new_key(), "chain", "oX", now_secs());
        assert_eq!(site.login(&stranger), Err(Refusal::Invalid), "not HQ's key");
    }

    #[test]
    fn the_keyword_gets_a_one_time_link_for_the_openid() {
        let w = wechat(None);
        let reply = w.message(&query("a", now_secs()), &text("oOPENID1", "我要上网")).unwrap();
        assert_eq!(xml_field(&reply, "ToUserName"), Some("oOPENID1"));
        let token = link_token(&reply);
        let grant = w.login(&token).unwrap();
        assert_eq!(grant.identity, Identity::OpenId("oOPENID1".into()));
        assert_eq!(w.login(&token), Err(Refusal::Replayed));
        assert_eq!(w.login("forged"), Err(Refusal::Invalid));
        assert_eq!(w.message(&query("b", now_secs()), &text("o2", "菜单")).unwrap(), "success", "other words: no link");
    }

    #[test]
    fn safe_mode_round_trips_and_refuses_plaintext() {
        let cipher = Cipher::new(KEY, "wxAPPID").unwrap();
        let w = wechat(Some(cipher.clone()));
        let encrypted = cipher.encrypt(&text("oSAFE", "我要上网"));
        let mut q = query("s1", now_secs());
        q.encrypt_type = Some("aes".into());
        q.msg_signature = Some(signature(&["tok", &q.timestamp, &q.nonce, &encrypted]));
        let body =
            format!("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
        let reply = w.message(&q, &body).unwrap();
        let sealed = xml_field(&reply, "Encrypt").unwrap();
        let (ts, nonce) = (xml_field(&reply, "TimeStamp").unwrap(), xml_field(&reply, "Nonce").unwrap());
        assert_eq!(xml_field(&reply, "MsgSignature").unwrap(), signature(&["tok", ts, nonce, sealed]));
        let inner = cipher.decrypt(sealed).unwrap();
        assert!(w.login(&link_token(&inner)).is_ok());

        let mut bad = query("s2", now_secs());
        bad.encrypt_type = Some("aes".into());
        bad.msg_signature = Some("0".repeat(40));
        assert_eq!(w.message(&bad, &body), Err(CallbackError::Signature));
        assert!(w.message(&query("s3", now_secs()), &text("o", "我要上网")).is_err(), "plaintext refused in safe mode");
    }

    #[test]
    fn cdata_cannot_be_broken_out_of() {
        assert_eq!(cdata("a]]>b"), "<![CDATA[a]]]]><![CDATA[>b]]>");
    }
}
