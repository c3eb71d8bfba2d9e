//! The one door for staff actions. The CLI (over the control socket), the
//! JSON API (a staff member's token or the appliance's `admin.token`) and
//! the staff console all turn what a person asks into a [`Request`] and
//! give it to [`handle`] with its [`Actor`]: the role table (`roles`)
//! decides, the request is carried out (`perform`), and every request that
//! changes something leaves one staff audit row naming its actor and door
//! (`audit`). An [`ErrorKind`] becomes an HTTP status in one place.
//!
//! The control socket is a Unix socket in the data dir (mode 0600, so root
//! only), one JSON request and one JSON reply per line. It reaches the daemon
//! from any network namespace, which `ip netns exec` in the lab needs.

mod audit;
mod perform;
pub mod roles;

use crate::ac::registry::AccessPoint;
use crate::ac::rollout::RolloutStatus;
use crate::ac::Ac;
use crate::auth::account::{Account, Accounts, Created, NewAccount};
use crate::auth::voucher::{NewBatch, Voucher, Vouchers};
use crate::auth::{Audit, AuditRow};
use crate::sessions::{Session, Sessions};
use crate::staff::Actor;
use ap_protocol::{ApConfig, Ssid};
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
    /// Adopt many pending APs at once (a site rolling out hundreds), each
    /// with the start of its key's fingerprint, in one transaction.
    ApsAdoptMany {
        /// (device id, fingerprint start) pairs.
        aps: Vec<(String, String)>,
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
        /// The zone of the restaurant it serves, for footfall (empty: none).
        #[serde(default)]
        zone: Option<String>,
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
    /// Check and keep a firmware image (the console's upload).
    FirmwareImage {
        /// Version it installs.
        version: String,
        /// The AP model it is for.
        model: String,
        /// The image.
        image: Vec<u8>,
        /// The ed25519 signature of its manifest (raw or hex).
        signature: Vec<u8>,
    },
    /// Where the rollout is.
    FirmwareStatus,
    /// Stop the rollout before its next AP.
    FirmwareHalt,
    /// Every adopted AP's radios as the channel plan sees them.
    Radios,
    /// The home page's figures: guests and APs online, the feed's backlog, the newest logins.
    Dashboard,
    /// Statistics for a date range in the site's zone (both empty: the last 7 days).
    StatsReport {
        /// First day, `YYYY-MM-DD`.
        #[serde(default)]
        from: String,
        /// Last day.
        #[serde(default)]
        to: String,
    },
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
    /// Headquarters' chain voucher batches good here (read only: HQ makes and revokes them).
    ChainVouchers,
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
    /// The access log's sessions a query finds (the search is logged).
    AccessLogSearch {
        /// What to find.
        query: crate::trail::Query,
    },
    /// The access log's sessions a query finds, as CSV signed with the
    /// appliance's key (the search is logged).
    AccessLogCsv {
        /// What to find.
        query: crate::trail::Query,
    },
    /// The access log's chain checked: the first row that does not match.
    AccessLogVerify,
    /// The names a session resolved (the optional domain log; the look is logged).
    AccessLogDomains {
        /// The session's id.
        session: i64,
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
        /// Data a member of the tier may move a day, MB (0: no allowance).
        #[serde(default)]
        data_mb: i64,
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
    /// Staff accounts.
    UsersList,
    /// Open a staff account.
    UsersCreate {
        /// Its username (lower case).
        username: String,
        /// Its first password (never logged or audited).
        password: String,
        /// Its role.
        role: crate::staff::Role,
    },
    /// Disable a staff account (its sessions and tokens end).
    UsersDisable {
        /// Its username.
        username: String,
    },
    /// A change to the marketer's draft, or a publish or rollback.
    Marketing {
        /// What changes.
        change: MarketingChange,
    },
    /// The staff audit log, newest first.
    StaffLog {
        /// Only rows whose user, action or target hold this.
        #[serde(default)]
        filter: String,
        /// How many.
        #[serde(default = "default_log")]
        limit: u32,
    },
}

/// A marketer's change, as the editor sends it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum MarketingChange {
    /// A dish, promotion or product added to the draft.
    Add {
        /// `dishes`, `promotions` or `products`.
        kind: String,
        /// The editor's fields.
        fields: crate::marketing::Fields,
        /// Its photo (sniffed and re-encoded before anything keeps it).
        photo: Option<Vec<u8>>,
    },
    /// One taken out.
    Remove {
        /// Its kind.
        kind: String,
        /// Its id.
        id: String,
    },
    /// One moved up the list.
    Up {
        /// Its kind.
        kind: String,
        /// Its id.
        id: String,
    },
    /// The brand: colour, story, member day, logo and background photos.
    Brand {
        /// The editor's fields.
        fields: crate::marketing::Fields,
        /// A new logo.
        logo: Option<Vec<u8>>,
        /// A new header photo.
        background: Option<Vec<u8>>,
    },
    /// The countdown page's ad.
    Ad {
        /// The editor's fields.
        fields: crate::marketing::Fields,
        /// Its photo.
        photo: Option<Vec<u8>>,
    },
    /// Where a guest lands after logging in.
    Landing {
        /// `original`, `promotions` or `venue`.
        landing: String,
    },
    /// The draft becomes the version guests see.
    Publish,
    /// An earlier version comes back (0: nothing published).
    Rollback {
        /// Its id.
        version: i64,
    },
    /// A block headquarters lets the site replace: the site's own (`own`) or HQ's again.
    KeepOwn {
        /// The block.
        block: String,
        /// The site's own.
        own: bool,
    },
}

impl MarketingChange {
    /// The portal block it changes (None: publish and rollback, the site's own versions).
    pub fn block(&self) -> Option<&str> {
        match self {
            MarketingChange::Add { kind, .. }
            | MarketingChange::Remove { kind, .. }
            | MarketingChange::Up { kind, .. } => Some(kind),
            MarketingChange::Brand { .. } => Some("brand"),
            MarketingChange::Ad { .. } => Some("ad"),
            MarketingChange::Landing { .. } => Some("landing"),
            MarketingChange::Publish | MarketingChange::Rollback { .. } | MarketingChange::KeepOwn { .. } => None,
        }
    }
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
    /// What a bulk adoption did, AP by AP.
    Adopted {
        /// (device id, None when adopted or why not).
        results: Vec<(String, Option<String>)>,
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
    /// Headquarters' chain voucher batches good here.
    ChainVouchers {
        /// Newest first.
        batches: Vec<crate::auth::voucher::ChainBatch>,
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
    /// The access log's sessions found.
    AccessLog {
        /// Newest first.
        rows: Vec<crate::trail::Row>,
    },
    /// The names a session resolved, with when each was first asked (UTC ms).
    Domains {
        /// First asked first.
        names: Vec<(String, i64)>,
    },
    /// The access log's chain, checked.
    AccessLogVerdict {
        /// What was found.
        verdict: crate::trail::Verdict,
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
    /// Radios and their plan.
    Radios {
        /// By id (`ap-07/wlan1`).
        radios: Vec<crate::ac::registry::RadioView>,
    },
    /// The home page's figures.
    Dashboard {
        /// Guests online.
        guests: usize,
        /// APs online.
        aps_online: usize,
        /// Facts waiting for the member store.
        waiting: i64,
        /// The newest logins and refusals.
        recent: Vec<AuditRow>,
        /// Today so far against the same weekday last week.
        #[serde(default)]
        glance: crate::stats::Glance,
        /// SMS codes sent in the last hour, and the site's hourly budget.
        #[serde(default)]
        sms_hour: (usize, usize),
        /// Adopted APs, and the ids of those offline now.
        #[serde(default)]
        aps: (usize, Vec<String>),
        /// The link to headquarters (an enrolled site).
        #[serde(default)]
        hq: Option<Box<crate::members::feed::LinkState>>,
        /// The oldest fact waiting, its age in ms.
        #[serde(default)]
        lag_ms: i64,
    },
    /// Statistics.
    Report {
        /// The figures.
        report: Box<crate::stats::Report>,
        /// The range they cover.
        range: crate::stats::Range,
        /// Guest devices associated now, by AP.
        per_ap: Vec<(String, i64)>,
    },
    /// Staff accounts.
    Users {
        /// By name.
        users: Vec<crate::staff::User>,
    },
    /// A staff account was opened.
    UserCreated {
        /// It.
        user: crate::staff::User,
    },
    /// The staff audit log.
    StaffLog {
        /// Newest first.
        entries: Vec<crate::staff::AuditEntry>,
    },
    /// The draft changed: what, in the editor's words.
    Changed {
        /// What.
        what: String,
    },
    /// A version guests now see.
    Published {
        /// Its id.
        version: i64,
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
    /// The actor's role may not ask it.
    Forbidden,
    /// What it carries is too large (an upload).
    TooLarge,
    /// What it carries is of a kind that is not taken (an upload that is no picture).
    Unsupported,
}

impl ErrorKind {
    /// Its HTTP status: the one map every door uses.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unsupported => 415,
            ErrorKind::Unavailable => 503,
        }
    }
}

impl Reply {
    /// Whether the request failed (and so changed nothing worth a row).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error { .. })
    }
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
            Self::AddressInUse { .. } | Self::DataUsedUp { .. } => ErrorKind::Conflict,
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
            Self::Store(_) | Self::Migrate(_) | Self::Local(_) | Self::Hq(_) => ErrorKind::Unavailable,
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

impl Failure for crate::staff::StaffError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) | Self::WrongCredentials | Self::Setup => ErrorKind::Invalid,
            Self::Taken(_) => ErrorKind::Conflict,
            Self::LockedOut { .. } => ErrorKind::Conflict,
            Self::Store(_) | Self::File(_) => ErrorKind::Unavailable,
        }
    }
}

impl Failure for crate::marketing::MarketingError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotAnImage => ErrorKind::Unsupported,
            Self::TooLarge => ErrorKind::TooLarge,
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::NotFound => ErrorKind::NotFound,
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
pub fn failed<E: Failure>(err: &E) -> Reply {
    Reply::Error { kind: err.kind(), message: crate::error_chain(err) }
}

/// The reply refusing a request, of `kind`.
pub fn refused(kind: ErrorKind, message: impl Into<String>) -> Reply {
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
    /// Staff accounts and their audit log (every changing request's row).
    pub people: std::sync::Arc<crate::staff::Staff>,
    /// The marketer's content (statistics name their slots from it).
    pub marketing: std::sync::Arc<crate::marketing::Marketing>,
    /// The site's time zone, hours ahead of UTC (statistics by local day).
    pub zone_offset: i64,
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
    /// One-tap return passes (revoked by `sms forget` and an erasure).
    pub passes: std::sync::Arc<crate::auth::passes::Passes>,
    /// The printed voucher sheet and account slip.
    pub printer: std::sync::Arc<dyn Printer>,
    /// What signs access-log exports.
    pub trail_key: std::sync::Arc<ed25519_dalek::SigningKey>,
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
    let mut backoff = std::time::Duration::from_millis(10);
    loop {
        // Out of descriptors and the like end nothing: log, wait, go on.
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff = std::time::Duration::from_millis(10);
                stream
            }
            Err(err) => {
                tracing::warn!(%err, "control socket accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let handles = handles.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).take(64 * 1024).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(request) => handle(&Actor::cli(), request, &handles).await,
                Err(err) => refused(ErrorKind::Invalid, format!("bad request: {err}")),
            };
            let mut out = serde_json::to_vec(&reply).expect("serialisable");
            out.push(b'\n');
            let _ = write.write_all(&out).await;
        });
    }
}

/// The one door: checks `actor`'s role against the request in the role
/// table, carries it out, and writes the staff audit row of every request
/// that changes something, naming the actor and its door.
pub async fn handle(actor: &Actor, request: Request, handles: &Handles) -> Reply {
    let task = request.task();
    // Root on the appliance keeps the access log (its searches are logged as root's).
    let root_reads_the_log = task == roles::Task::AccessLog && actor.door == crate::staff::Door::Cli;
    if !task.allows(actor.role) && !root_reads_the_log {
        tracing::warn!(actor = %actor.name, role = actor.role.as_str(), door = actor.door.as_str(), ?task, "staff request refused to this role");
        return refused(ErrorKind::Forbidden, format!("the {} role may not {}", actor.role.as_str(), task.describe()));
    }
    let record = audit::Record::of(&request, handles).await;
    let reply = perform::perform(actor, request, handles).await;
    if let (Some(record), false) = (record, reply.is_error()) {
        let (action, target, before, after) = record.finish(&reply, handles).await;
        handles.people.audit(actor, &action, &target, &before, &after).await;
    }
    reply
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
