//! SMS code login (手机号 + 验证码). A guest gives a phone number; a 6-digit
//! code from a CSPRNG goes out by the configured gateway; the guest types it
//! on the same device within 5 minutes. 5 wrong tries burn a code; a new one
//! is sent no sooner than 60 s after the last.
//!
//! SMS pumping (bots sending codes to premium numbers at the restaurant's
//! cost) meets four limits, checked before anything is sent: per phone (3 in
//! 10 minutes, 10 a day), per device (an hour), and the site's hourly
//! budget. They are sliding windows of sends that happened: a send the
//! gateway failed is taken back, so a provider's outage never locks a guest
//! out. The sends are kept in the store too (a day's worth, the phone
//! hashed) and the windows are read back at the first send after a start,
//! so a restart does not refill a spent budget. `governor` limits how fast
//! one device may ask at all.
//!
//! A guest who logged in by SMS gets a one-tap return pass (`super::passes`):
//! on the same device within `returning_days` one tap logs in again,
//! without an SMS. Staff revoke it with `controller sms forget`.

pub mod gateway;

/// The gateway `[auth.sms]` names, its secrets read from their files (each
/// must be mode 0600: they are money).
pub fn gateway_from(config: &crate::config::SmsAuth, data_dir: &std::path::Path) -> Result<Arc<dyn Gateway>, String> {
    let secret = |path: &Option<std::path::PathBuf>, what: &str| -> Result<String, String> {
        let path = path.as_ref().ok_or_else(|| format!("auth.sms: {what} is not set"))?;
        crate::kit::secrets::read_private(path).map_err(|e| format!("auth.sms: {what}: {e}"))
    };
    Ok(match config.gateway.as_str() {
        "webhook" => {
            let w = &config.webhook;
            let authorization = match &w.authorization_file {
                Some(_) => Some(secret(&w.authorization_file, "webhook.authorization_file")?),
                None => None,
            };
            Arc::new(gateway::WebhookGateway::new(
                w.url.clone(),
                w.method.parse().map_err(|_| format!("auth.sms.webhook.method: {:?}", w.method))?,
                w.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                authorization,
                w.body.clone(),
            ))
        }
        "aliyun" => {
            let a = &config.aliyun;
            Arc::new(gateway::AliyunGateway::new(
                a.endpoint.clone(),
                a.access_key_id.clone(),
                secret(&a.access_key_secret_file, "aliyun.access_key_secret_file")?,
                a.sign_name.clone(),
                a.template_code.clone(),
            ))
        }
        "tencent" => {
            let t = &config.tencent;
            Arc::new(gateway::TencentGateway::new(
                t.endpoint.clone(),
                t.region.clone(),
                t.secret_id.clone(),
                secret(&t.secret_key_file, "tencent.secret_key_file")?,
                t.sdk_app_id.clone(),
                t.sign_name.clone(),
                t.template_id.clone(),
            ))
        }
        _ => Arc::new(gateway::LogGateway { path: data_dir.join("sms-outbox.log") }),
    })
}

use super::{AuthError, Bandwidth, Grant, Identity, Method, Refusal};
use crate::kit::phones::mask_phone as mask;
use crate::kit::signer::Signer;
use crate::kit::time::now_ms;
use firewall::{Client, MacAddr};
use gateway::{Gateway, GatewayError};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::SqlitePool;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The limits and lengths of the SMS method.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Calling codes we send to ("86", "852", ...).
    pub countries: Vec<String>,
    /// How long a code is good for.
    pub code_ttl: Duration,
    /// Least time between two codes to one phone.
    pub resend: Duration,
    /// Wrong tries that burn a code.
    pub tries: u32,
    /// Codes one phone may get in 10 minutes.
    pub per_phone_10min: usize,
    /// Codes one phone may get in a day.
    pub per_phone_day: usize,
    /// Codes one device may ask for in an hour.
    pub per_device_hour: usize,
    /// Codes the site sends in an hour, at most.
    pub site_per_hour: usize,
    /// Codes to one number block (the first 7 digits, a 号段 H-code) in an
    /// hour: pumping rings own whole blocks, diners do not.
    pub per_block_hour: usize,
    /// Number prefixes never sent to (E.164 digits without `+`: "86170" is
    /// the 170 virtual-operator range, a favourite of pumping rings).
    pub blocked_prefixes: Vec<String>,
    /// One-tap return on the same browser for this long (None: off).
    pub returning: Option<Duration>,
}

/// Why a code was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The guest was refused (bad number, a limit).
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// The gateway failed; nothing counts against the guest.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The store failed.
    #[error("sms store error")]
    Store(#[from] sqlx::Error),
}

/// A sent code: where it went (masked) and when another may be asked for.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The phone, E.164.
    pub phone: String,
    /// Least wait before another code.
    pub resend_after: Duration,
}

const TEN_MINUTES: Duration = Duration::from_secs(600);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// Most phones and devices the windows remember; the quietest go first.
const MAX_KEYS: usize = 100_000;

/// Sends that happened, by phone, device and site.
#[derive(Default)]
struct Windows {
    phones: HashMap<String, VecDeque<Instant>>,
    blocks: HashMap<String, VecDeque<Instant>>,
    devices: HashMap<MacAddr, VecDeque<Instant>>,
    site: VecDeque<Instant>,
}

/// Wait until `queue` holds fewer than `max` sends within `window`.
fn wait(queue: Option<&VecDeque<Instant>>, max: usize, window: Duration) -> Option<Duration> {
    let queue = queue?;
    let recent: Vec<&Instant> = queue.iter().filter(|t| t.elapsed() < window).collect();
    if recent.len() < max {
        return None;
    }
    // The oldest send that must leave the window before another fits.
    let oldest = recent[recent.len() - max];
    Some(window.saturating_sub(oldest.elapsed()).max(Duration::from_secs(1)))
}

fn prune(queue: &mut VecDeque<Instant>) {
    while queue.front().is_some_and(|t| t.elapsed() >= DAY) {
        queue.pop_front();
    }
}

fn bound<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, VecDeque<Instant>>) {
    if map.len() < MAX_KEYS {
        return;
    }
    map.retain(|_, q| {
        prune(q);
        !q.is_empty()
    });
    while map.len() >= MAX_KEYS {
        let quietest = map.iter().min_by_key(|(_, q)| q.back().copied()).map(|(k, _)| k.clone());
        match quietest {
            Some(k) => map.remove(&k),
            None => break,
        };
    }
}

/// The SMS method.
pub struct Sms {
    db: SqlitePool,
    gateway: Arc<dyn Gateway>,
    limits: Limits,
    text: String,
    signer: Signer,
    session: Duration,
    bandwidth: Bandwidth,
    windows: Mutex<Windows>,
    /// Whether the windows were read back from the store since the start.
    loaded: tokio::sync::OnceCell<()>,
    asking: DefaultKeyedRateLimiter<MacAddr>,
}

/// The windows' key of a phone: a keyed hash (they only need to tell
/// phones apart, and a plain hash of an 11-digit number whose block is
/// beside it is no secret).
fn phone_key(signer: &Signer, phone: &str) -> String {
    signer.sign(&["sms send", phone])
}

impl Sms {
    /// The method, sending by `gateway`; `text` is the message with `{code}`.
    pub fn new(
        db: SqlitePool,
        gateway: Arc<dyn Gateway>,
        limits: Limits,
        text: String,
        signer: Signer,
        session: Duration,
        bandwidth: Bandwidth,
    ) -> Self {
        // Asking at all: 1 every 2 s, 3 at once, per device.
        let quota =
            Quota::with_period(Duration::from_secs(2)).expect("non-zero").allow_burst(NonZeroU32::new(3).expect("3"));
        Sms {
            db,
            gateway,
            limits,
            text,
            signer,
            session,
            bandwidth,
            windows: Mutex::default(),
            loaded: tokio::sync::OnceCell::new(),
            asking: RateLimiter::keyed(quota),
        }
    }

    /// Codes sent in the last hour and the site's hourly budget (the home
    /// page says when it is spent: guests asking for a code are refused).
    pub async fn site_hour(&self) -> Result<(usize, usize), sqlx::Error> {
        self.load_windows().await?;
        let sent = self.windows.lock().unwrap().site.iter().filter(|t| t.elapsed() < HOUR).count();
        Ok((sent, self.limits.site_per_hour))
    }

    /// The one-tap return's length, if on.
    pub fn returning(&self) -> Option<Duration> {
        self.limits.returning
    }

    /// Parses what a guest typed as a phone number we send to: E.164 (`+`
    /// and the country code), or a mainland mobile (11 digits, 1[3-9]…,
    /// with or without 86 / 0086 in front).
    pub fn parse_phone(&self, typed: &str) -> Option<String> {
        crate::kit::phones::parse_phone(typed, &self.limits.countries)
    }

    /// Sends a code to `phone` for `client`, if every limit allows.
    pub async fn send(&self, typed_phone: &str, client: Client) -> Result<Sent, SendError> {
        if let Err(not_until) = self.asking.check_key(&client.mac) {
            let retry_after =
                not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(Refusal::Limited { retry_after: retry_after.max(Duration::from_secs(1)) }.into());
        }
        let phone = self.parse_phone(typed_phone).ok_or(Refusal::BadPhone)?;
        if self.limits.blocked_prefixes.iter().any(|p| phone[1..].starts_with(p.as_str())) {
            tracing::info!(phone = %mask(&phone), "SMS to a blocked number range refused");
            return Err(Refusal::BadPhone.into());
        }
        let now = now_ms();
        let last: Option<i64> = sqlx::query_scalar("SELECT sent_at FROM sms_codes WHERE phone = ?")
            .bind(&phone)
            .fetch_optional(&self.db)
            .await?;
        if let Some(sent_at) = last {
            let next = sent_at + self.limits.resend.as_millis() as i64;
            if next > now {
                return Err(Refusal::Limited { retry_after: Duration::from_millis((next - now) as u64) }.into());
            }
        }
        self.load_windows().await?;
        let stamp = self.reserve(&phone, client.mac)?;
        let at_ms = now_ms() - stamp.elapsed().as_millis() as i64;
        let kept = sqlx::query("INSERT INTO sms_sends (at_ms, phone_key, block, mac) VALUES (?, ?, ?, ?)")
            .bind(at_ms)
            .bind(phone_key(&self.signer, &phone))
            .bind(number_block(&phone))
            .bind(client.mac.to_string())
            .execute(&self.db)
            .await;
        if let Err(err) = kept {
            // Not kept, not sent: a send the store cannot count would escape the budget at the next start.
            self.give_back(&phone, client.mac, stamp);
            return Err(err.into());
        }
        let code = six_digits();
        let text = self.text.replace("{code}", &code);
        if let Err(err) = self.gateway.send(&phone, &code, &text).await {
            self.give_back(&phone, client.mac, stamp);
            let _ = sqlx::query("DELETE FROM sms_sends WHERE at_ms = ? AND phone_key = ? AND mac = ?")
                .bind(at_ms)
                .bind(phone_key(&self.signer, &phone))
                .bind(client.mac.to_string())
                .execute(&self.db)
                .await;
            tracing::warn!(phone = %mask(&phone), error = %err, "SMS not sent");
            return Err(err.into());
        }
        let expires = now + self.limits.code_ttl.as_millis() as i64;
        let stored = sqlx::query(
            "INSERT INTO sms_codes (phone, code_hash, mac, sent_at, expires_at, tries_left) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (phone) DO UPDATE SET code_hash = excluded.code_hash, mac = excluded.mac, \
             sent_at = excluded.sent_at, expires_at = excluded.expires_at, tries_left = excluded.tries_left",
        )
        .bind(&phone)
        .bind(self.code_hash(&phone, &code))
        .bind(client.mac.to_string())
        .bind(now)
        .bind(expires)
        .bind(i64::from(self.limits.tries))
        .execute(&self.db)
        .await;
        if let Err(err) = stored {
            // Sent but not kept: the guest cannot use it; the send still counts (it cost money).
            return Err(err.into());
        }
        tracing::info!(phone = %mask(&phone), %client, "SMS code sent");
        Ok(Sent { phone, resend_after: self.limits.resend })
    }

    /// Reads the last day's sends back into the windows, once a start (and
    /// drops older rows).
    async fn load_windows(&self) -> Result<(), sqlx::Error> {
        self.loaded
            .get_or_try_init(|| async {
                let now = now_ms();
                sqlx::query("DELETE FROM sms_sends WHERE at_ms < ?")
                    .bind(now - DAY.as_millis() as i64)
                    .execute(&self.db)
                    .await?;
                let rows: Vec<(i64, String, String, String)> =
                    sqlx::query_as("SELECT at_ms, phone_key, block, mac FROM sms_sends ORDER BY at_ms")
                        .fetch_all(&self.db)
                        .await?;
                let mut w = self.windows.lock().unwrap();
                let started = Instant::now();
                for (at_ms, phone, block, mac) in rows {
                    let ago = Duration::from_millis(now.saturating_sub(at_ms).max(0) as u64);
                    let (Some(at), Ok(mac)) = (started.checked_sub(ago), mac.parse::<MacAddr>()) else { continue };
                    w.phones.entry(phone).or_default().push_back(at);
                    w.blocks.entry(block).or_default().push_back(at);
                    w.devices.entry(mac).or_default().push_back(at);
                    if ago < HOUR {
                        w.site.push_back(at);
                    }
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Checks every window and, if all allow, records the send: all under
    /// one lock, so concurrent asks cannot both take the last place.
    fn reserve(&self, phone: &str, mac: MacAddr) -> Result<Instant, Refusal> {
        let l = &self.limits;
        let mut guard = self.windows.lock().unwrap();
        let w = &mut *guard;
        let block = number_block(phone);
        let phone = &phone_key(&self.signer, phone);
        let waits = [
            // One code a phone per resend period, checked here under the lock:
            // a double tap on "send" must not send (and pay for) two.
            (!l.resend.is_zero()).then(|| wait(w.phones.get(phone), 1, l.resend)).flatten(),
            wait(w.phones.get(phone), l.per_phone_10min, TEN_MINUTES),
            wait(w.blocks.get(&block), l.per_block_hour, HOUR),
            wait(w.phones.get(phone), l.per_phone_day, DAY),
            wait(w.devices.get(&mac), l.per_device_hour, HOUR),
            wait(Some(&w.site), l.site_per_hour, HOUR),
        ];
        if let Some(retry_after) = waits.into_iter().flatten().max() {
            return Err(Refusal::Limited { retry_after });
        }
        let now = Instant::now();
        bound(&mut w.phones);
        bound(&mut w.blocks);
        bound(&mut w.devices);
        for queue in [
            w.phones.entry(phone.to_string()).or_default(),
            w.blocks.entry(block).or_default(),
            w.devices.entry(mac).or_default(),
        ] {
            prune(queue);
            queue.push_back(now);
        }
        while w.site.front().is_some_and(|t| t.elapsed() >= HOUR) {
            w.site.pop_front();
        }
        w.site.push_back(now);
        Ok(now)
    }

    /// Takes a reserved send back (the gateway failed).
    fn give_back(&self, phone: &str, mac: MacAddr, stamp: Instant) {
        let mut w = self.windows.lock().unwrap();
        let key = phone_key(&self.signer, phone);
        let drop = |q: &mut VecDeque<Instant>| {
            if let Some(i) = q.iter().rposition(|t| *t == stamp) {
                q.remove(i);
            }
        };
        if let Some(q) = w.phones.get_mut(&key) {
            drop(q);
        }
        if let Some(q) = w.devices.get_mut(&mac) {
            drop(q);
        }
        if let Some(q) = w.blocks.get_mut(&number_block(phone)) {
            drop(q);
        }
        drop(&mut w.site);
    }

    /// Checks a typed code for `client`: the grant.
    pub async fn verify(&self, typed_phone: &str, typed_code: &str, client: Client) -> Result<Grant, AuthError> {
        let phone = self.parse_phone(typed_phone).ok_or(Refusal::BadPhone)?;
        let code: String = typed_code.chars().filter(|c| !c.is_whitespace()).collect();
        // The try is taken before the code is compared, in one statement:
        // guesses at once cannot all be compared (tries_left is no read-then-write).
        // Only the device that asked for the code spends its tries.
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "UPDATE sms_codes SET tries_left = tries_left - 1 WHERE phone = ? AND mac = ? AND tries_left > 0 \
             RETURNING code_hash, expires_at, tries_left",
        )
        .bind(&phone)
        .bind(client.mac.to_string())
        .fetch_optional(&self.db)
        .await?;
        let Some((hash, expires_at, left)) = row else {
            let other: Option<(String, i64)> = sqlx::query_as("SELECT mac, tries_left FROM sms_codes WHERE phone = ?")
                .bind(&phone)
                .fetch_optional(&self.db)
                .await?;
            return Err(match other {
                None => Refusal::Expired,
                // Another device asked for this code.
                Some((mac, _)) if mac != client.mac.to_string() => Refusal::OtherDevice,
                Some(_) => Refusal::CodeBurnt,
            }
            .into());
        };
        if expires_at <= now_ms() {
            return Err(Refusal::Expired.into());
        }
        let right = code.len() == 6 && self.signer.verify(&["sms", &phone, &code], &hash);
        if !right {
            if left <= 0 {
                sqlx::query("DELETE FROM sms_codes WHERE phone = ?").bind(&phone).execute(&self.db).await?;
                return Err(Refusal::CodeBurnt.into());
            }
            return Err(Refusal::WrongCode.into());
        }
        // Used once: a second submit of the same code finds nothing.
        let taken = sqlx::query("DELETE FROM sms_codes WHERE phone = ? AND code_hash = ?")
            .bind(&phone)
            .bind(&hash)
            .execute(&self.db)
            .await?;
        if taken.rows_affected() == 0 {
            return Err(Refusal::Replayed.into());
        }
        Ok(self.grant(phone))
    }

    /// What an SMS login of `phone` is worth (also a member's one-tap return).
    pub fn grant(&self, phone: String) -> Grant {
        Grant {
            method: Method::Sms,
            identity: Identity::Phone(phone),
            duration: self.session,
            bandwidth: self.bandwidth,
        }
    }

    fn code_hash(&self, phone: &str, code: &str) -> String {
        self.signer.sign(&["sms", phone, code])
    }
}

/// The number block a phone is in: its country code and the next 7 digits
/// (a mainland mobile's 号段 and H-code), or all but the last 4 digits.
fn number_block(phone: &str) -> String {
    let digits = phone.trim_start_matches('+');
    match digits.strip_prefix("86") {
        Some(local) if local.len() == 11 => format!("86{}", &local[..7]),
        _ => digits[..digits.len().saturating_sub(4)].to_string(),
    }
}

/// A uniform 6-digit code from the CSPRNG.
fn six_digits() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// A gateway that remembers what it sent, or fails on demand.
    #[derive(Default)]
    struct Recorder {
        sent: Mutex<Vec<(String, String)>>,
        fail: AtomicBool,
        calls: AtomicUsize,
    }

    impl Gateway for Recorder {
        fn send<'a>(&'a self, phone: &'a str, code: &'a str, _text: &'a str) -> gateway::Sending<'a> {
            Box::pin(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                if self.fail.load(Ordering::SeqCst) {
                    return Err(GatewayError { gateway: "test", message: "down".into() });
                }
                self.sent.lock().unwrap().push((phone.to_string(), code.to_string()));
                Ok(())
            })
        }
    }

    fn limits() -> Limits {
        Limits {
            countries: vec!["86".into(), "852".into()],
            code_ttl: Duration::from_secs(300),
            resend: Duration::ZERO,
            tries: 5,
            per_phone_10min: 3,
            per_phone_day: 10,
            per_device_hour: 100,
            site_per_hour: 1000,
            per_block_hour: 1000,
            blocked_prefixes: vec!["86170".into()],
            returning: Some(Duration::from_secs(30 * 86_400)),
        }
    }

    async fn sms(limits: Limits) -> (Sms, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let db = crate::store::memory().await.unwrap();
        let sms = Sms::new(
            db,
            recorder.clone(),
            limits,
            "验证码 {code}".into(),
            Signer::with_key([4; 32]),
            Duration::from_secs(3600),
            Bandwidth::default(),
        );
        (sms, recorder)
    }

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    fn refusal<T: std::fmt::Debug>(r: Result<T, SendError>) -> Refusal {
        match r {
            Err(SendError::Refused(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_code_logs_in_once_on_its_device_and_wrong_ones_burn_it() {
        let (s, rec) = sms(limits()).await;
        s.send("13800138000", client(1)).await.unwrap();
        let code = rec.sent.lock().unwrap()[0].1.clone();
        assert_eq!(code.len(), 6);
        let stored: String = sqlx::query_scalar("SELECT code_hash FROM sms_codes").fetch_one(&s.db).await.unwrap();
        assert!(!stored.contains(&code), "stored hashed");
        let other = s.verify("13800138000", &code, client(2)).await.unwrap_err();
        assert!(matches!(other, AuthError::Refused(Refusal::OtherDevice)), "{other:?}");
        let grant = s.verify("+86 13800138000", &code, client(1)).await.unwrap();
        assert_eq!(grant.identity, Identity::Phone("+8613800138000".into()));
        assert!(matches!(s.verify("13800138000", &code, client(1)).await, Err(AuthError::Refused(Refusal::Expired))));

        s.send("13800138000", client(1)).await.unwrap();
        for _ in 0..4 {
            assert!(matches!(
                s.verify("13800138000", "000000", client(1)).await,
                Err(AuthError::Refused(Refusal::WrongCode))
            ));
        }
        assert!(matches!(
            s.verify("13800138000", "000000", client(1)).await,
            Err(AuthError::Refused(Refusal::CodeBurnt))
        ));
        let code = rec.sent.lock().unwrap()[1].1.clone();
        assert!(s.verify("13800138000", &code, client(1)).await.is_err(), "burnt, even the right code");
    }

    #[tokio::test]
    async fn sixty_guesses_at_once_at_one_code_get_its_five_tries() {
        let (s, rec) = sms(limits()).await;
        s.send("13800138000", client(1)).await.unwrap();
        let s = Arc::new(s);
        let guesses = (0..60).map(|n| {
            let s = s.clone();
            tokio::spawn(async move { s.verify("13800138000", &format!("{:06}", 100_000 + n), client(1)).await })
        });
        let mut wrong = 0;
        for g in guesses {
            match g.await.unwrap() {
                Err(AuthError::Refused(Refusal::WrongCode)) => wrong += 1,
                Err(AuthError::Refused(Refusal::CodeBurnt | Refusal::Expired)) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(wrong, 4, "five tries: four wrong answers, then the code is burnt");
        let code = rec.sent.lock().unwrap()[0].1.clone();
        assert!(s.verify("13800138000", &code, client(1)).await.is_err(), "burnt, even the right code");
    }

    #[tokio::test]
    async fn per_phone_limits_hold_and_say_when_to_try_again() {
        let (s, rec) = sms(limits()).await;
        for n in 1..=3 {
            s.send("13800138000", client(n)).await.unwrap();
        }
        let Refusal::Limited { retry_after } = refusal(s.send("13800138000", client(4)).await) else { panic!() };
        assert!(retry_after > Duration::from_secs(590), "{retry_after:?}");
        assert_eq!(rec.calls.load(Ordering::SeqCst), 3, "nothing sent past the limit");
        s.send("13900139000", client(4)).await.unwrap();
    }

    #[tokio::test]
    async fn blocked_ranges_and_busy_number_blocks_get_nothing() {
        let (s, rec) = sms(Limits { per_block_hour: 2, ..limits() }).await;
        assert_eq!(refusal(s.send("17012345678", client(1)).await), Refusal::BadPhone, "a virtual-operator range");
        s.send("13800000001", client(2)).await.unwrap();
        s.send("13800000002", client(3)).await.unwrap();
        let third = refusal(s.send("13800000003", client(4)).await);
        assert!(matches!(third, Refusal::Limited { .. }), "the block 1380000 had its two");
        s.send("13900000001", client(5)).await.unwrap();
        assert_eq!(rec.calls.load(Ordering::SeqCst), 3);
        assert_eq!(number_block("+8613800000003"), "861380000");
    }

    #[tokio::test]
    async fn the_resend_wait_and_the_site_budget_hold() {
        let (s, _) = sms(Limits { resend: Duration::from_secs(60), site_per_hour: 2, ..limits() }).await;
        s.send("13800138000", client(1)).await.unwrap();
        assert!(
            matches!(refusal(s.send("13800138000", client(2)).await), Refusal::Limited { .. }),
            "60 s between codes"
        );
        assert_eq!(s.site_hour().await.unwrap(), (1, 2), "the home page's count");
        s.send("13900139000", client(3)).await.unwrap();
        assert!(matches!(refusal(s.send("13700137000", client(4)).await), Refusal::Limited { .. }), "site budget");
        assert_eq!(s.site_hour().await.unwrap(), (2, 2), "spent: the home page says so");
    }

    #[tokio::test]
    async fn a_restart_does_not_refill_a_spent_budget() {
        let limits = Limits { resend: Duration::ZERO, site_per_hour: 2, ..limits() };
        let (s, rec) = sms(limits.clone()).await;
        s.send("13800138000", client(1)).await.unwrap();
        s.send("13900139000", client(2)).await.unwrap();
        // The daemon restarts (a settings save does): a new method on the same store.
        let again = Sms::new(
            s.db.clone(),
            rec.clone(),
            limits,
            "验证码 {code}".into(),
            Signer::with_key([4; 32]),
            Duration::from_secs(3600),
            Bandwidth::default(),
        );
        let Refusal::Limited { retry_after } = refusal(again.send("13700137000", client(3)).await) else {
            panic!("the hour's budget of two is spent")
        };
        assert!(retry_after > Duration::from_secs(3500), "{retry_after:?}");
        assert_eq!(rec.calls.load(Ordering::SeqCst), 2, "nothing sent past the budget");
        let kept: Vec<String> = sqlx::query_scalar("SELECT phone_key FROM sms_sends").fetch_all(&s.db).await.unwrap();
        assert!(kept.len() == 2 && kept.iter().all(|k| !k.contains("138")), "kept hashed: {kept:?}");
    }

    #[tokio::test]
    async fn a_double_tap_sends_one_code() {
        let (s, rec) = sms(Limits { resend: Duration::from_secs(60), ..limits() }).await;
        let s = Arc::new(s);
        let taps: Vec<_> = (0..2)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.send("13800138000", client(1)).await.is_ok() })
            })
            .collect();
        let mut sent = 0;
        for t in taps {
            sent += usize::from(t.await.unwrap());
        }
        assert_eq!((sent, rec.calls.load(Ordering::SeqCst)), (1, 1));
    }

    #[tokio::test]
    async fn a_gateway_failure_does_not_count_against_the_guest() {
        let (s, rec) = sms(Limits { per_phone_10min: 1, ..limits() }).await;
        rec.fail.store(true, Ordering::SeqCst);
        for _ in 0..2 {
            assert!(matches!(s.send("13800138000", client(1)).await, Err(SendError::Gateway(_))));
        }
        rec.fail.store(false, Ordering::SeqCst);
        s.send("13800138000", client(1)).await.expect("one a 10 minutes, and none went out yet");
        assert_eq!(rec.sent.lock().unwrap().len(), 1);
    }
}
