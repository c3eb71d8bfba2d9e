//! The control socket: a Unix socket in the data dir (mode 0600, so root
//! only), one JSON request and one JSON reply per line. It reaches the daemon
//! from any network namespace, which `ip netns exec` in the lab needs.

use crate::ac::registry::AccessPoint;
use crate::ac::rollout::RolloutStatus;
use crate::ac::Ac;
use crate::auth::account::{Account, Accounts, Created, NewAccount};
use crate::auth::voucher::{NewBatch, Voucher, Vouchers};
use crate::auth::{Audit, AuditRow};
use crate::sessions::{Session, Sessions};
use ap_protocol::{ApConfig, Ssid};
use firewall::MacAddr;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// What a staff command asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Live sessions with counters.
    SessionsList,
    /// End every session of a device.
    SessionsKick {
        /// The device.
        mac: String,
    },
    /// Put the nftables table back with every live session.
    FirewallReload,
    /// Every AP.
    ApsList,
    /// Adopt a pending AP.
    ApsAdopt {
        /// Its device id.
        device_id: String,
        /// The start (8+ characters) of its key's fingerprint; None adopts
        /// any key (`--any-key`).
        #[serde(default)]
        fingerprint: Option<String>,
    },
    /// Forget an AP.
    ApsForget {
        /// Its device id.
        device_id: String,
    },
    /// One AP with the configuration it should run.
    ApsShow {
        /// Its device id.
        device_id: String,
    },
    /// Guest devices associated now, and to which AP.
    StationsList,
    /// Plan channels and power from the APs' scans and push it.
    ApsPlan,
    /// An AP's floor, or a radio's fixed channel / TX power (0 clears).
    ApsSet {
        /// Its device id.
        device_id: String,
        /// Floor for the planner.
        floor: Option<i64>,
        /// The radio the next two apply to.
        radio: Option<String>,
        /// Fixed channel.
        channel: Option<u16>,
        /// Fixed TX power, dBm.
        tx_power_dbm: Option<u8>,
    },
    /// Check and keep a firmware image (files on this machine).
    FirmwareUpload {
        /// Version it installs.
        version: String,
        /// The AP model it is for.
        model: String,
        /// The image file.
        image: PathBuf,
        /// The ed25519 signature of its manifest (raw or hex).
        signature: PathBuf,
    },
    /// Start a staged rollout.
    FirmwareRollout {
        /// The uploaded version.
        version: String,
        /// Let APs go to an older version.
        #[serde(default)]
        allow_downgrade: bool,
    },
    /// Where the rollout is.
    FirmwareStatus,
    /// The SSIDs.
    SsidsList,
    /// Add or replace an SSID (pushed to every AP).
    SsidsPut {
        /// The SSID.
        ssid: Ssid,
    },
    /// Remove an SSID (pushed to every AP).
    SsidsRemove {
        /// Its name.
        name: String,
    },
    /// Make a batch of voucher cards.
    VouchersCreate {
        /// What the batch is worth.
        batch: NewBatch,
    },
    /// Cards, all or one batch's.
    VouchersList {
        /// The batch.
        #[serde(default)]
        batch: Option<String>,
    },
    /// Revoke a card (by code) or a batch.
    VouchersRevoke {
        /// A code or a batch id.
        code_or_batch: String,
    },
    /// A printable A4 sheet (HTML) of a batch's cards, each with its QR code.
    VouchersSheet {
        /// The batch.
        batch: String,
    },
    /// Cards as CSV, all or one batch's.
    VouchersCsv {
        /// The batch.
        #[serde(default)]
        batch: Option<String>,
    },
    /// Open a front-desk account.
    AccountsCreate {
        /// What staff filled in.
        account: NewAccount,
    },
    /// Accounts, all or one ID number's.
    AccountsList {
        /// The ID number to look for.
        #[serde(default)]
        id_number: Option<String>,
    },
    /// Revoke an account.
    AccountsRevoke {
        /// Its username.
        username: String,
    },
    /// The newest logins and refusals.
    AuthLog {
        /// How many.
        #[serde(default = "default_log")]
        limit: u32,
    },
    /// The counter tablet's URL (it holds the display key).
    CounterUrl,
    /// Revoke a phone's one-tap return cookies.
    SmsForget {
        /// The phone number.
        phone: String,
    },
    /// Import members from CSV (phone,name,card,tier,pin).
    MembersImport {
        /// The file's text.
        csv: String,
    },
    /// One member: by phone, card number or member id.
    MembersShow {
        /// Phone, card or id.
        key: String,
        /// The phone and identities unmasked.
        #[serde(default)]
        full: bool,
    },
    /// Erase a member on request.
    MembersErase {
        /// Phone, card or id.
        key: String,
    },
    /// Set a tier's Wi-Fi worth.
    MembersTier {
        /// The tier.
        tier: String,
        /// Session minutes (0: the card method's).
        minutes: i64,
        /// kbit/s down (0: the card method's).
        down_kbps: i64,
        /// kbit/s up.
        up_kbps: i64,
    },
    /// Freeze, report lost or reactivate a card.
    CardsState {
        /// The card number.
        card: String,
        /// `active`, `frozen` or `lost`.
        state: String,
    },
    /// The member feed's backlog and lag.
    FeedStatus,
}

fn default_log() -> u32 {
    50
}

/// The daemon's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// Live sessions.
    Sessions {
        /// Newest first.
        sessions: Vec<Session>,
    },
    /// Sessions ended by a kick.
    Kicked {
        /// How many.
        count: usize,
    },
    /// The table is back.
    Reloaded {
        /// Sessions put back.
        sessions: usize,
    },
    /// Access points.
    Aps {
        /// By device id.
        aps: Vec<AccessPoint>,
    },
    /// One AP and its configuration (keys shown as `***`).
    Ap {
        /// The AP.
        ap: Box<AccessPoint>,
        /// What it should run.
        config: Box<ApConfig>,
    },
    /// SSIDs (keys shown as `***`).
    Ssids {
        /// By name.
        ssids: Vec<Ssid>,
    },
    /// Done; the configuration version APs will now be pushed.
    ConfigVersion {
        /// The version.
        version: u64,
    },
    /// Associated guest devices: (station, AP, radio, joined at UTC ms).
    Stations {
        /// By station.
        stations: Vec<(String, String, String, i64)>,
    },
    /// A channel plan, explained.
    Plan {
        /// One line per radio, and the score.
        text: String,
    },
    /// A rollout's state.
    Rollout {
        /// None: no rollout yet.
        status: Option<RolloutStatus>,
    },
    /// Voucher cards.
    Vouchers {
        /// Newest first.
        vouchers: Vec<Voucher>,
    },
    /// Cards revoked.
    Revoked {
        /// How many.
        count: u64,
    },
    /// A document (HTML sheet, CSV, URL).
    Text {
        /// Its text.
        text: String,
    },
    /// An account was opened: its password, shown this once, and its slip.
    AccountCreated {
        /// The account.
        account: Created,
        /// A printable slip (HTML).
        slip: String,
    },
    /// Front-desk accounts.
    Accounts {
        /// Newest first.
        accounts: Vec<Account>,
    },
    /// Logins and refusals.
    AuthLog {
        /// Newest first.
        rows: Vec<AuditRow>,
    },
    /// One member.
    Member {
        /// What the store knows.
        member: Box<crate::members::MemberView>,
    },
    /// What an import did.
    Imported {
        /// Counts.
        imported: crate::members::Imported,
    },
    /// What an erase removed.
    Erased {
        /// From the store.
        erased: crate::members::Erased,
        /// Facts still waiting in the outbox, dropped.
        waiting: u64,
    },
    /// The feed.
    Feed {
        /// Backlog, lag, last error.
        status: Box<crate::members::feed::FeedStatus>,
    },
    /// Done.
    Done,
    /// The request failed.
    Error {
        /// What kind of failure (the API's HTTP status comes from it).
        #[serde(default)]
        kind: ErrorKind,
        /// Why, for the operator.
        message: String,
    },
}

/// What kind of failure a request met; chosen once, from the typed error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself is wrong (a bad value, a signature that does not match).
    #[default]
    Invalid,
    /// What it names does not exist (an AP, or the AC when it is off).
    NotFound,
    /// It clashes with the state (a rollout already running, an address in use).
    Conflict,
    /// The store or the kernel failed; trying again later may work.
    Unavailable,
}

/// A typed error's kind, so no one has to guess it from the message.
pub trait Failure: std::error::Error {
    /// Its kind.
    fn kind(&self) -> ErrorKind;
}

impl Failure for crate::sessions::SessionError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(_) | Self::Firewall(_) => ErrorKind::Unavailable,
            Self::AddressInUse { .. } => ErrorKind::Conflict,
        }
    }
}

impl Failure for crate::ac::registry::RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(_) => ErrorKind::Unavailable,
            Self::UnknownAp(_) => ErrorKind::NotFound,
            Self::BadSsid(_) | Self::Fingerprint { .. } | Self::FingerprintNeeded { .. } => ErrorKind::Invalid,
        }
    }
}

impl Failure for crate::ac::server::AcError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Registry(e) => e.kind(),
            Self::Firmware(_) => ErrorKind::Invalid,
            Self::Rollout(_) => ErrorKind::Conflict,
        }
    }
}

impl Failure for sqlx::Error {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable
    }
}

impl Failure for crate::members::MembersError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Store(_) | Self::Migrate(_) | Self::Local(_) => ErrorKind::Unavailable,
            Self::Password(_) | Self::Url | Self::Invalid(_) => ErrorKind::Invalid,
            Self::NotFound => ErrorKind::NotFound,
        }
    }
}

impl Failure for crate::auth::voucher::VoucherError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Store(_) => ErrorKind::Unavailable,
        }
    }
}

impl Failure for crate::auth::account::AccountError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Taken(_) => ErrorKind::Conflict,
            Self::Store(_) => ErrorKind::Unavailable,
        }
    }
}

impl Failure for std::io::Error {
    fn kind(&self) -> ErrorKind {
        match std::io::Error::kind(self) {
            std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            _ => ErrorKind::Invalid,
        }
    }
}

impl Failure for firewall::ParseMacError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

/// The reply for a failed request.
fn failed<E: Failure>(err: &E) -> Reply {
    Reply::Error { kind: err.kind(), message: crate::error_chain(err) }
}

fn refused(kind: ErrorKind, message: impl Into<String>) -> Reply {
    Reply::Error { kind, message: message.into() }
}

/// What the control socket acts on.
#[derive(Clone)]
pub struct Handles {
    /// Guest sessions.
    pub sessions: Sessions,
    /// The metrics `/metrics` shows.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The AC, when it runs.
    pub ac: Option<Ac>,
    /// What front-desk staff use: vouchers, accounts, the audit trail.
    pub staff: Staff,
    /// APs upgraded at once after the canary.
    pub firmware_batch: usize,
    /// How long an AP has to rejoin with new firmware.
    pub firmware_wait: std::time::Duration,
}

/// The login methods' staff side.
#[derive(Clone)]
pub struct Staff {
    /// Voucher cards.
    pub vouchers: Vouchers,
    /// Front-desk accounts.
    pub accounts: Accounts,
    /// Logins and refusals.
    pub audit: Audit,
    /// The counter tablet's URL.
    pub counter_url: String,
    /// The portal's base URL (what the cards' QR codes open).
    pub portal_url: String,
    /// SMS codes.
    pub sms: std::sync::Arc<crate::auth::sms::Sms>,
    /// The member store.
    pub members: crate::members::Store,
    /// Its feed.
    pub feed: crate::members::feed::Feed,
    /// The appliance's own store (an erased member's waiting facts, statistics).
    pub db: sqlx::SqlitePool,
    /// The card login's local copy of the cards.
    pub cards: std::sync::Arc<crate::auth::card::Cards>,
    /// The printed voucher sheet and account slip.
    pub printer: std::sync::Arc<dyn Printer>,
}

/// What a staff member prints (HTML pages): rendered by the web side's
/// templates, so this crate needs no template engine.
pub trait Printer: Send + Sync {
    /// A batch's A4 sheet of cards, each with the QR code that logs a phone in.
    fn voucher_sheet(&self, cards: &[Voucher], portal_url: &str) -> String;
    /// A new front-desk account's slip (its password shown this once).
    fn account_slip(&self, account: &Created) -> String;
}

/// Serves the control socket until the task is dropped.
pub async fn serve(path: PathBuf, handles: Handles) -> std::io::Result<()> {
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let handles = handles.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).take(64 * 1024).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(request) => handle(request, &handles).await,
                Err(err) => refused(ErrorKind::Invalid, format!("bad request: {err}")),
            };
            let mut out = serde_json::to_vec(&reply).expect("serialisable");
            out.push(b'\n');
            let _ = write.write_all(&out).await;
        });
    }
}

/// Carries out one request: the control socket and the HTTP admin API share it.
pub async fn handle(request: Request, handles: &Handles) -> Reply {
    let Handles { sessions, ac, .. } = handles;
    match request {
        Request::SessionsList => match sessions.list().await {
            Ok(sessions) => Reply::Sessions { sessions },
            Err(e) => failed(&e),
        },
        Request::SessionsKick { mac } => match mac.parse::<MacAddr>() {
            Err(e) => failed(&e),
            Ok(mac) => match sessions.kick(mac).await {
                Ok(count) => Reply::Kicked { count },
                Err(e) => failed(&e),
            },
        },
        Request::FirewallReload => match sessions.restore_filter().await {
            Ok(sessions) => Reply::Reloaded { sessions },
            Err(e) => failed(&e),
        },
        staff @ (Request::VouchersCreate { .. }
        | Request::VouchersList { .. }
        | Request::VouchersRevoke { .. }
        | Request::VouchersSheet { .. }
        | Request::VouchersCsv { .. }
        | Request::AccountsCreate { .. }
        | Request::AccountsList { .. }
        | Request::AccountsRevoke { .. }
        | Request::AuthLog { .. }
        | Request::CounterUrl
        | Request::SmsForget { .. }) => handle_staff(staff, &handles.staff).await,
        members @ (Request::MembersImport { .. }
        | Request::MembersShow { .. }
        | Request::MembersErase { .. }
        | Request::MembersTier { .. }
        | Request::CardsState { .. }
        | Request::FeedStatus) => handle_members(members, &handles.staff).await,
        ac_request => match ac {
            Some(ac) => handle_ac(ac_request, ac, handles).await,
            None => refused(ErrorKind::NotFound, "the AC is off (ac.listen is empty)"),
        },
    }
}

/// Vouchers, accounts and the audit trail.
async fn handle_staff(request: Request, staff: &Staff) -> Reply {
    match request {
        Request::VouchersCreate { batch } => match staff.vouchers.create(&batch).await {
            Ok(vouchers) => Reply::Vouchers { vouchers },
            Err(e) => failed(&e),
        },
        Request::VouchersList { batch } => match staff.vouchers.list(batch.as_deref()).await {
            Ok(vouchers) => Reply::Vouchers { vouchers },
            Err(e) => failed(&e),
        },
        Request::VouchersRevoke { code_or_batch } => match staff.vouchers.revoke(&code_or_batch).await {
            Ok(0) => refused(ErrorKind::NotFound, format!("no card or batch {code_or_batch:?} to revoke")),
            Ok(count) => Reply::Revoked { count },
            Err(e) => failed(&e),
        },
        Request::VouchersSheet { batch } => match staff.vouchers.list(Some(&batch)).await {
            Ok(cards) if cards.is_empty() => refused(ErrorKind::NotFound, format!("no batch {batch:?}")),
            Ok(cards) => Reply::Text { text: staff.printer.voucher_sheet(&cards, &staff.portal_url) },
            Err(e) => failed(&e),
        },
        Request::VouchersCsv { batch } => match staff.vouchers.list(batch.as_deref()).await {
            Ok(cards) => Reply::Text { text: crate::auth::voucher::csv(&cards) },
            Err(e) => failed(&e),
        },
        Request::AccountsCreate { account } => match staff.accounts.create(&account).await {
            Ok(account) => {
                let slip = staff.printer.account_slip(&account);
                Reply::AccountCreated { account, slip }
            }
            Err(e) => failed(&e),
        },
        Request::AccountsList { id_number } => match staff.accounts.list(id_number.as_deref()).await {
            Ok(accounts) => Reply::Accounts { accounts },
            Err(e) => failed(&e),
        },
        Request::AccountsRevoke { username } => match staff.accounts.revoke(&username).await {
            Ok(true) => Reply::Done,
            Ok(false) => refused(ErrorKind::NotFound, format!("no live account {username:?}")),
            Err(e) => failed(&e),
        },
        Request::AuthLog { limit } => match staff.audit.recent(limit.min(10_000)).await {
            Ok(rows) => Reply::AuthLog { rows },
            Err(e) => failed(&e),
        },
        Request::CounterUrl => Reply::Text { text: staff.counter_url.clone() },
        Request::SmsForget { phone } => match staff.sms.forget(&phone).await {
            Ok(Some(phone)) => Reply::Text { text: crate::kit::phones::mask_phone(&phone) },
            Ok(None) => refused(ErrorKind::Invalid, format!("{phone:?} is not a phone number we send to")),
            Err(e) => failed(&e),
        },
        _ => refused(ErrorKind::Invalid, "not a staff request"),
    }
}

/// The member store: import, look up, erase, tiers, cards, the feed.
async fn handle_members(request: Request, staff: &Staff) -> Reply {
    let store = &staff.members;
    let find = |key: String| async move {
        match store.find(&key).await {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(refused(ErrorKind::NotFound, format!("no member with phone, card or id {key:?}"))),
            Err(e) => Err(failed(&e)),
        }
    };
    match request {
        Request::MembersImport { csv } => match store.import(&csv).await {
            Ok(imported) => Reply::Imported { imported },
            Err(e) => failed(&e),
        },
        Request::MembersShow { key, full } => match find(key).await {
            Ok(id) => match store.show(&id, full).await {
                Ok(member) => Reply::Member { member: Box::new(member) },
                Err(e) => failed(&e),
            },
            Err(reply) => reply,
        },
        Request::MembersErase { key } => match find(key).await {
            Ok(id) => match store.erase(&id).await {
                Ok((erased, who)) => {
                    let waiting = crate::members::outbox::forget(&staff.db, &who).await.unwrap_or_else(|err| {
                        tracing::error!(error = %crate::error_chain(&err), "an erased member's waiting facts not dropped");
                        0
                    });
                    if let Err(err) = staff.cards.forget_member(&id).await {
                        tracing::error!(error = %crate::error_chain(&err), "an erased member's cards left in the card cache");
                    }
                    Reply::Erased { erased, waiting }
                }
                Err(e) => failed(&e),
            },
            Err(reply) => reply,
        },
        Request::MembersTier { tier, minutes, down_kbps, up_kbps } => {
            if tier.is_empty() || minutes < 0 || down_kbps < 0 || up_kbps < 0 {
                return refused(ErrorKind::Invalid, "a tier name, and minutes and kbit/s of 0 or more");
            }
            match store.set_tier(&tier, minutes, down_kbps, up_kbps).await {
                Ok(()) => Reply::Done,
                Err(e) => failed(&e),
            }
        }
        Request::CardsState { card, state } => {
            let Some(card_no) = crate::auth::card::Cards::normalize(&card) else {
                return refused(ErrorKind::Invalid, format!("{card:?} is not a card number"));
            };
            match store.set_card_state(&card_no, &state).await {
                Ok(true) => {
                    if let Err(err) = staff.cards.cache_state(&card_no, &state).await {
                        tracing::error!(card = %card_no, error = %crate::error_chain(&err), "card cache not updated: the next refresh will");
                    }
                    Reply::Done
                }
                Ok(false) => refused(ErrorKind::NotFound, format!("no card {card_no}")),
                Err(e) => failed(&e),
            }
        }
        Request::FeedStatus => match staff.feed.status().await {
            Ok(status) => Reply::Feed { status: Box::new(status) },
            Err(e) => failed(&e),
        },
        _ => refused(ErrorKind::Invalid, "not a member store request"),
    }
}

/// The AC's requests, once it is known to run.
async fn handle_ac(request: Request, ac: &Ac, handles: &Handles) -> Reply {
    match request {
        Request::ApsList => match ac.list().await {
            Ok(aps) => Reply::Aps { aps },
            Err(e) => failed(&e),
        },
        Request::ApsAdopt { device_id, fingerprint } => {
            ac.adopt(&device_id, fingerprint.as_deref()).await.map_or_else(|e| failed(&e), |()| Reply::Done)
        }
        Request::ApsForget { device_id } => ac.forget(&device_id).await.map_or_else(|e| failed(&e), |()| Reply::Done),
        Request::ApsShow { device_id } => {
            let found = ac.list().await.map(|aps| aps.into_iter().find(|a| a.device_id == device_id));
            match (found, ac.config_for(&device_id).await) {
                (Ok(Some(ap)), Ok(mut config)) => {
                    config.ssids.iter_mut().for_each(mask);
                    config.roaming.ft_key = "***".into();
                    Reply::Ap { ap: Box::new(ap), config: Box::new(config) }
                }
                (Err(e), _) => failed(&e),
                (_, Err(e)) => failed(&e),
                (Ok(None), _) => refused(ErrorKind::NotFound, format!("no access point {device_id:?}")),
            }
        }
        Request::FirmwareUpload { version, model, image, signature } => {
            match (std::fs::read(&image), std::fs::read(&signature)) {
                (Ok(image), Ok(signature)) => ac
                    .upload_firmware(&version, &model, image, &signature)
                    .map_or_else(|e| failed(&e), |()| Reply::Done),
                (Err(e), _) | (_, Err(e)) => failed(&e),
            }
        }
        Request::FirmwareRollout { version, allow_downgrade } => {
            match ac.start_rollout(&version, handles.firmware_batch, handles.firmware_wait, allow_downgrade).await {
                Ok(status) => Reply::Rollout { status: Some(status) },
                Err(e) => failed(&e),
            }
        }
        Request::FirmwareStatus => Reply::Rollout { status: ac.rollout_status() },
        Request::ApsPlan => ac.plan().await.map_or_else(|e| failed(&e), |plan| Reply::Plan { text: plan.to_string() }),
        Request::ApsSet { device_id, floor, radio, channel, tx_power_dbm } => {
            let radio = radio.as_deref().map(|r| (r, channel, tx_power_dbm));
            if radio.is_none() && (channel.is_some() || tx_power_dbm.is_some()) {
                refused(ErrorKind::Invalid, "--channel and --tx-power need --radio")
            } else {
                ac.set_ap(&device_id, floor, radio)
                    .await
                    .map_or_else(|e| failed(&e), |version| Reply::ConfigVersion { version })
            }
        }
        Request::StationsList => {
            ac.stations().await.map_or_else(|e| failed(&e), |stations| Reply::Stations { stations })
        }
        Request::SsidsList => match ac.ssids().await {
            Ok(mut ssids) => {
                ssids.iter_mut().for_each(mask);
                Reply::Ssids { ssids }
            }
            Err(e) => failed(&e),
        },
        Request::SsidsPut { ssid } => {
            ac.put_ssid(&ssid).await.map_or_else(|e| failed(&e), |version| Reply::ConfigVersion { version })
        }
        Request::SsidsRemove { name } => {
            ac.remove_ssid(&name).await.map_or_else(|e| failed(&e), |version| Reply::ConfigVersion { version })
        }
        _ => refused(ErrorKind::Invalid, "not an AC request"),
    }
}

/// Keys never leave the daemon through the control socket.
fn mask(ssid: &mut Ssid) {
    if !ssid.key.is_empty() {
        ssid.key = "***".into();
    }
}

/// Sends one request to the daemon whose data dir is `dir`.
pub async fn call(path: &Path, request: &Request) -> Result<Reply, std::io::Error> {
    let stream = UnixStream::connect(&path).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot reach the controller at {} (is it running?): {e}", path.display()),
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut out = serde_json::to_vec(request).expect("serialisable");
    out.push(b'\n');
    write.write_all(&out).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ac::registry::RegistryError;

    #[test]
    fn each_failure_has_its_kind_from_its_type_not_its_words() {
        let kind = |r: Reply| match r {
            Reply::Error { kind, .. } => kind,
            other => panic!("{other:?}"),
        };
        assert_eq!(kind(failed(&RegistryError::UnknownAp("X".into()))), ErrorKind::NotFound);
        let needed = RegistryError::FingerprintNeeded { device_id: "X".into(), actual: "ab".into() };
        assert_eq!(kind(failed(&needed)), ErrorKind::Invalid);
        let busy = crate::ac::server::AcError::Rollout("a rollout is already running".into());
        assert_eq!(kind(failed(&busy)), ErrorKind::Conflict);
        let in_use = crate::sessions::SessionError::AddressInUse {
            ip: "192.0.2.5".parse().unwrap(),
            holder: "02:00:00:00:00:05".parse().unwrap(),
        };
        assert_eq!(kind(failed(&in_use)), ErrorKind::Conflict);
    }
}
