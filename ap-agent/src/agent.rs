//! The agent's connection to the controller: Hello, wait for adoption, keep
//! the certificate it is given (mode 0600), reconnect with mutual TLS, then
//! answer echoes and apply each pushed configuration, acking its version.
//! Reconnects with exponential backoff and jitter.

use crate::files::write_private;
use crate::firmware::Download;
use crate::hostapd::{self, ApIdentity};
use crate::hostapd_ctrl;
use crate::stations::{SimulatedRadio, StationChange};
use ap_protocol::{
    AgentMessage, ApConfig, Connection, ControllerMessage, Hello, RadioInfo, StationEvent, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
use rand::Rng;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

/// The name the controller's certificate carries (checked against the pinned CA).
const CONTROLLER_NAME: &str = "guestwifi-controller";

/// The agent's settings (one TOML file on the AP).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// The controller's AP listener, `host:port` (a DNS name works). Empty:
    /// found by DHCP option 43 in `dhcp_lease_file`.
    #[serde(default)]
    pub controller: String,
    /// dhclient's lease file, read for option 43 when `controller` is empty.
    #[serde(default)]
    pub dhcp_lease_file: Option<PathBuf>,
    /// Where the agent keeps its key, certificate and pinned CA.
    pub state_dir: PathBuf,
    /// Stable device id.
    pub device_id: String,
    /// Hardware model.
    pub model: String,
    /// Base MAC address.
    pub mac: String,
    /// Running firmware version.
    pub firmware: String,
    /// The AP's radios.
    pub radios: Vec<RadioInfo>,
    /// Where rendered `hostapd-<radio>.conf` files go.
    pub hostapd_dir: PathBuf,
    /// Program run after the files are written (e.g. one that tells hostapd
    /// to reload); it gets the config version as its only argument.
    #[serde(default)]
    pub apply_hook: Option<PathBuf>,
    /// Lab and tests: a bridge standing in for the radios (see `stations`).
    #[serde(default)]
    pub simulated_radio: Option<String>,
    /// Silence from the controller for this long means the link is dead:
    /// reconnect (a bit over three of the controller's echo intervals).
    #[serde(default = "default_silence")]
    pub silence_seconds: u64,
    /// The ed25519 public key (hex) firmware images must be signed with;
    /// without it the AP installs no firmware.
    #[serde(default)]
    pub firmware_public_key: Option<String>,
    /// The updater (sysupgrade on OpenWrt, a script elsewhere), run with the
    /// verified image's path; it installs and reboots.
    #[serde(default)]
    pub firmware_hook: Option<PathBuf>,
    /// Lab and tests: the simulated radios' neighbour scans (JSON list of
    /// `{interface, neighbours: [{bssid, channel, rssi}]}`), reported at
    /// every connection and every minute, as a real radio's scans would be.
    #[serde(default)]
    pub simulated_scan: Option<PathBuf>,
    /// hostapd's control sockets (`ctrl_interface` in the rendered files):
    /// RELOAD after each new configuration, station events from ATTACH.
    #[serde(default = "default_ctrl_dir")]
    pub hostapd_ctrl_dir: PathBuf,
    /// SHA-256 (hex) of the controller CA's certificate, as `controller ca`
    /// prints it. When set (here or by DHCP option 43 sub-option 2), the AP
    /// talks to no other controller, even before adoption; without it, it
    /// trusts the first controller that adopts it (logged loudly).
    #[serde(default)]
    pub controller_ca_sha256: Option<String>,
    /// Keep guests of isolated guest SSIDs to the gateway on the wire too
    /// (an nftables bridge table, see `bridge`): guests behind two APs, or
    /// on two SSIDs of one AP, cannot reach each other. Needs `nft`; turn
    /// off only on an AP without nftables.
    #[serde(default = "yes")]
    pub wired_isolation: bool,
}

fn yes() -> bool {
    true
}

/// How often the agent checks its bridge table is still in the kernel.
const BRIDGE_CHECK: Duration = Duration::from_secs(5);

fn default_ctrl_dir() -> PathBuf {
    PathBuf::from("/run/hostapd")
}

fn default_silence() -> u64 {
    35
}

/// Why a connection to the controller, or applying what it sent, failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A file or socket.
    #[error("I/O")]
    Io(#[from] std::io::Error),
    /// TLS (our certificate, the controller's, the handshake).
    #[error("TLS")]
    Tls(#[from] rustls::Error),
    /// A stored certificate is not PEM.
    #[error("a stored certificate is not readable PEM")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// The agent's key could not be made or read.
    #[error("the agent's key")]
    Key(#[from] rcgen::Error),
    /// The agent's key is not a usable private key.
    #[error("the agent's key: {0}")]
    KeyDer(&'static str),
    /// A message could not be read or written.
    #[error("a message could not be read or written")]
    Frame(#[from] ap_protocol::FrameError),
    /// Connecting took too long.
    #[error("the controller did not answer in time")]
    Timeout(#[from] tokio::time::error::Elapsed),
    /// No controller address configured, and none in DHCP option 43.
    #[error("no controller configured and none in DHCP option 43")]
    NoController,
    /// The controller's name is not a valid TLS name.
    #[error("the controller's certificate name is not valid")]
    Name(#[from] rustls::pki_types::InvalidDnsNameError),
    /// The controller went silent (a half-open link).
    #[error("no word from the controller for {0:?}")]
    Silent(Duration),
    /// A hook (apply, firmware updater) failed or is missing.
    #[error("{0}")]
    Hook(String),
    /// A pushed configuration cannot become hostapd files.
    #[error(transparent)]
    Render(#[from] hostapd::RenderError),
    /// hostapd's control socket refused.
    #[error("hostapd's control socket")]
    Ctrl(#[from] hostapd_ctrl::CtrlError),
    /// A firmware image was refused.
    #[error(transparent)]
    Firmware(#[from] crate::firmware::FirmwareError),
    /// The bridge rules keeping guests apart could not be installed.
    #[error(transparent)]
    Bridge(#[from] crate::bridge::BridgeError),
}

/// Runs until `stop` turns true.
pub async fn run(config: AgentConfig, mut stop: watch::Receiver<bool>) -> Result<(), AgentError> {
    std::fs::create_dir_all(&config.state_dir)?;
    std::fs::set_permissions(&config.state_dir, std::fs::Permissions::from_mode(0o700))?;
    std::fs::create_dir_all(&config.hostapd_dir)?;
    let key = load_or_create_key(&config.state_dir)?;
    tracing::info!(
        device_id = %config.device_id,
        fingerprint = %ap_protocol::trust::pem_fingerprint(&key.public_key_pem()).unwrap_or_default(),
        "this AP's key: the admin adopts it with the first 8 characters of this fingerprint"
    );
    let mut radio = config.simulated_radio.as_deref().map(SimulatedRadio::new);
    // Guests stay apart on the wire whether or not the controller is reachable.
    let _keeper = config.wired_isolation.then(|| AbortOnDrop(tokio::spawn(keep_bridge(config.hostapd_dir.clone()))));
    let mut backoff = Duration::from_millis(200);
    loop {
        let outcome = tokio::select! {
            r = session(&config, &key, radio.as_mut()) => r,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        match outcome {
            Ok(Next::ReconnectNow) => {
                backoff = Duration::from_millis(200);
                continue;
            }
            Ok(Next::Backoff) => {}
            Err(err) => tracing::warn!(error = %err, "controller connection failed"),
        }
        // Jitter, so a restarted controller is not hit by every AP at once.
        let wait = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Puts the bridge table back within [`BRIDGE_CHECK`] of it vanishing.
async fn keep_bridge(hostapd_dir: PathBuf) {
    let mut tick = tokio::time::interval(BRIDGE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match crate::bridge::keep(&hostapd_dir).await {
            Ok(true) => tracing::warn!("the bridge rules keeping guests apart were removed behind our back; restored"),
            Ok(false) => {}
            Err(err) => tracing::error!(error = %err, "cannot restore the bridge rules keeping guests apart"),
        }
    }
}

/// Ends a task when its owner ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Next {
    ReconnectNow,
    Backoff,
}

/// One connection to the controller: connect, say hello, then serve its
/// messages until it ends (the caller reconnects).
async fn session(
    config: &AgentConfig,
    key: &rcgen::KeyPair,
    radio: Option<&mut SimulatedRadio>,
) -> Result<Next, AgentError> {
    let mut link = connect(config, key).await?;
    hello(&mut link, config, key).await?;
    serve(config, link, radio).await
}

/// A TLS connection to the controller and what this AP trusted to make it.
struct Link {
    conn: Connection<tokio_rustls::client::TlsStream<TcpStream>, AgentMessage, ControllerMessage>,
    /// This AP holds a certificate from the controller's CA.
    adopted: bool,
    /// The controller CA's fingerprint this AP was provisioned with, if any.
    pinned_ca: Option<String>,
    cert_path: PathBuf,
    ca_path: PathBuf,
}

/// Finds the controller and connects: with our certificate once adopted,
/// else checking the provisioned CA (or trusting on first use).
async fn connect(config: &AgentConfig, key: &rcgen::KeyPair) -> Result<Link, AgentError> {
    let cert_path = config.state_dir.join("agent.crt");
    let ca_path = config.state_dir.join("controller-ca.crt");
    let adopted = cert_path.exists() && ca_path.exists();
    let pinned_ca = config
        .controller_ca_sha256
        .clone()
        .or_else(|| config.dhcp_lease_file.as_deref().and_then(crate::discovery::ca_fingerprint_from_lease_file))
        .map(|f| f.trim().to_ascii_lowercase().replace(':', ""));
    let address = if config.controller.is_empty() {
        let found = config.dhcp_lease_file.as_deref().map(crate::discovery::from_lease_file).unwrap_or_default();
        found.into_iter().next().ok_or(AgentError::NoController)?
    } else {
        config.controller.clone()
    };
    let tls = if adopted {
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(&ca_path)? {
            roots.add(ca?)?;
        }
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&cert_path)?.collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::try_from(key.serialize_der()).map_err(AgentError::KeyDer)?;
        client_builder()?.with_root_certificates(roots).with_client_auth_cert(chain, key)?
    } else {
        let verifier = BeforeAdoption { pinned: pinned_ca.clone() };
        client_builder()?.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
    };
    let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(&address)).await??;
    tcp.set_nodelay(true)?;
    let stream = TlsConnector::from(Arc::new(tls)).connect(ServerName::try_from(CONTROLLER_NAME)?, tcp).await?;
    Ok(Link { conn: Connection::new(stream), adopted, pinned_ca, cert_path, ca_path })
}

/// Says who this AP is, what it runs and whether it is pinned.
async fn hello(link: &mut Link, config: &AgentConfig, key: &rcgen::KeyPair) -> Result<(), AgentError> {
    link.conn
        .send(&AgentMessage::Hello(Hello {
            min_version: MIN_PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            device_id: config.device_id.clone(),
            model: config.model.clone(),
            mac: config.mac.clone(),
            firmware: running_firmware(config),
            radios: config.radios.clone(),
            public_key_pem: key.public_key_pem(),
            config_version: running_version(&config.hostapd_dir),
            controller_pinned: link.adopted || link.pinned_ca.is_some(),
        }))
        .await?;
    Ok(())
}

/// The message loop: the controller's messages, station events, scans.
async fn serve(config: &AgentConfig, link: Link, mut radio: Option<&mut SimulatedRadio>) -> Result<Next, AgentError> {
    let Link { mut conn, adopted, pinned_ca, cert_path, ca_path } = link;
    let mut poll = tokio::time::interval(Duration::from_millis(200));
    let mut scan_timer = tokio::time::interval(Duration::from_secs(60));
    let mut welcomed_adopted = false;
    let mut download: Option<Download> = None;
    let (hostapd_events, mut from_hostapd) = tokio::sync::mpsc::unbounded_channel();
    // Silence is counted from the controller's last message, not from our
    // own last activity: station events must not hide a half-open link.
    let silence = Duration::from_secs(config.silence_seconds);
    let mut deadline = tokio::time::Instant::now() + silence;
    loop {
        let msg = tokio::select! {
            msg = conn.recv() => {
                deadline = tokio::time::Instant::now() + silence;
                msg?
            }
            _ = tokio::time::sleep_until(deadline) => return Err(AgentError::Silent(silence)),
            Some(change) = from_hostapd.recv() => {
                conn.send(&station_message(change)).await?;
                continue;
            }
            _ = scan_timer.tick(), if welcomed_adopted && config.simulated_scan.is_some() => {
                for scan in read_scans(config.simulated_scan.as_deref().expect("checked")) {
                    conn.send(&AgentMessage::NeighbourScan(scan)).await?;
                }
                continue;
            }
            _ = poll.tick(), if welcomed_adopted && radio.is_some() => {
                let radio = radio.as_deref_mut().expect("checked");
                for change in radio.poll() {
                    conn.send(&station_message(change)).await?;
                }
                continue;
            }
        };
        match msg {
            None => return Ok(Next::Backoff),
            Some(ControllerMessage::Welcome(w)) => {
                tracing::info!(version = w.version, adopted = w.adopted, "connected to the controller");
                if w.adopted {
                    welcomed_adopted = true;
                    scan_timer.reset_immediately();
                    if radio.is_none() {
                        for r in &config.radios {
                            if config.hostapd_ctrl_dir.join(&r.interface).exists() {
                                if let Err(err) =
                                    hostapd_ctrl::watch(&config.hostapd_ctrl_dir, &r.interface, hostapd_events.clone())
                                        .await
                                {
                                    tracing::warn!(interface = %r.interface, %err, "no station events from hostapd");
                                }
                            }
                        }
                    }
                    // The controller may have missed changes while we were away.
                    if let Some(radio) = radio.as_deref_mut() {
                        radio.poll();
                        for change in radio.current() {
                            conn.send(&station_message(change)).await?;
                        }
                    }
                }
            }
            Some(ControllerMessage::Refused { reason }) => {
                tracing::warn!(%reason, "the controller refused us");
                if adopted && reason.contains("forgotten") {
                    // Start over as a new, pending device.
                    let _ = std::fs::remove_file(&cert_path);
                    let _ = std::fs::remove_file(&ca_path);
                }
                return Ok(Next::Backoff);
            }
            Some(ControllerMessage::Adopted { certificate_pem, ca_pem }) => {
                let ca = ap_protocol::trust::pem_fingerprint(&ca_pem).unwrap_or_default();
                match &pinned_ca {
                    Some(pinned) if *pinned != ca => {
                        tracing::error!(%ca, %pinned, "adoption by a controller with another CA refused");
                        return Ok(Next::Backoff);
                    }
                    Some(_) => tracing::info!(%ca, "adopted by the provisioned controller"),
                    None => tracing::warn!(
                        %ca,
                        "TRUST ON FIRST USE: adopted by a controller nobody vouched for; from now on only this CA \
                         is trusted. Provision controller_ca_sha256 (or DHCP option 43 sub-option 2) to pin it"
                    ),
                }
                write_private(&cert_path, certificate_pem.as_bytes())?;
                write_private(&ca_path, ca_pem.as_bytes())?;
                tracing::info!("adopted: reconnecting with our certificate");
                return Ok(Next::ReconnectNow);
            }
            Some(ControllerMessage::Echo { seq }) => conn.send(&AgentMessage::EchoReply { seq }).await?,
            // Before adoption nothing is applied: a rogue controller (a rogue
            // DHCP server's) could otherwise take a fresh AP.
            Some(
                ControllerMessage::Config(_)
                | ControllerMessage::FirmwareOffer(_)
                | ControllerMessage::FirmwareChunk { .. },
            ) if !adopted => {
                tracing::warn!("ignored a configuration or firmware from a controller that has not adopted us");
            }
            Some(ControllerMessage::Config(cfg)) => {
                let reply = match apply(config, &cfg).await {
                    Ok(()) => AgentMessage::ConfigApplied { version: cfg.version },
                    Err(err) => AgentMessage::ConfigRejected {
                        version: cfg.version,
                        reason: ap_protocol::logging::error_chain(&err),
                    },
                };
                conn.send(&reply).await?;
            }
            Some(ControllerMessage::FirmwareOffer(offer)) => {
                tracing::info!(version = %offer.version, size = offer.size, "firmware offered");
                let running = running_firmware(config);
                let check = crate::firmware::Running { model: &config.model, version: &running };
                match crate::firmware::acceptable(&offer, check).and_then(|()| Download::new(offer.clone())) {
                    Ok(d) => download = Some(d),
                    Err(err) => conn.send(&firmware_result(&offer.version, Err(err.to_string()))).await?,
                }
            }
            Some(ControllerMessage::FirmwareChunk { offset, data }) => {
                let Some(d) = download.as_mut() else { continue };
                let version = d.offer.version.clone();
                let done = match d.add(offset, &data) {
                    Ok(done) => done,
                    Err(err) => {
                        download = None;
                        conn.send(&firmware_result(&version, Err(err.to_string()))).await?;
                        continue;
                    }
                };
                if done {
                    let d = download.take().expect("present");
                    match install(config, &d).await {
                        Ok(()) => {
                            conn.send(&firmware_result(&version, Ok(()))).await?;
                            tracing::info!(%version, "firmware installed: rebooting");
                            // The hook reboots a real AP; here we rejoin with the new version.
                            return Ok(Next::ReconnectNow);
                        }
                        Err(err) => {
                            tracing::error!(%version, error = %err, "firmware refused");
                            conn.send(&firmware_result(&version, Err(ap_protocol::logging::error_chain(&err)))).await?;
                        }
                    }
                }
            }
            Some(ControllerMessage::Unknown) => {}
        }
    }
}

/// hostapd has no TX power setting: `iw` sets it (mBm), or back to automatic.
async fn set_tx_power(interface: &str, dbm: Option<u8>) {
    if !Path::new("/sys/class/net").join(interface).exists() {
        return;
    }
    let mut command = tokio::process::Command::new("iw");
    command.args(["dev", interface, "set", "txpower"]);
    match dbm {
        Some(dbm) => command.args(["fixed", &(u32::from(dbm) * 100).to_string()]),
        None => command.arg("auto"),
    };
    match command.status().await {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(interface, %status, "iw could not set the TX power"),
        Err(err) => tracing::warn!(interface, %err, "cannot run iw to set the TX power"),
    }
}

fn read_scans(path: &Path) -> Vec<ap_protocol::NeighbourScan> {
    match std::fs::read_to_string(path).map(|t| serde_json::from_str(&t)) {
        Ok(Ok(scans)) => scans,
        Ok(Err(err)) => {
            tracing::warn!(path = %path.display(), %err, "scan file is not valid");
            Vec::new()
        }
        Err(_) => Vec::new(),
    }
}

async fn install(config: &AgentConfig, download: &Download) -> Result<(), AgentError> {
    let path = download.finish(&config.state_dir.join("firmware"), config.firmware_public_key.as_deref())?;
    let hook =
        config.firmware_hook.as_ref().ok_or_else(|| AgentError::Hook("no firmware hook is configured".into()))?;
    let status = tokio::process::Command::new(hook).arg(&path).status().await?;
    if !status.success() {
        return Err(AgentError::Hook(format!("firmware hook {} failed: {status}", hook.display())));
    }
    write_private(&config.state_dir.join("firmware-version"), download.offer.version.as_bytes())?;
    let _ = std::fs::remove_file(path);
    Ok(())
}

fn firmware_result(version: &str, result: Result<(), String>) -> AgentMessage {
    AgentMessage::FirmwareResult {
        version: version.to_string(),
        installed: result.is_ok(),
        reason: result.err().unwrap_or_default(),
    }
}

fn station_message(change: StationChange) -> AgentMessage {
    let at_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    match change {
        StationChange::Joined { interface, station } => {
            AgentMessage::StationJoined(StationEvent { interface, station, at_ms })
        }
        StationChange::Left { interface, station } => {
            AgentMessage::StationLeft(StationEvent { interface, station, at_ms })
        }
    }
}

/// Renders every radio's file, then runs the hook. All files are checked
/// before any is written, so a bad config leaves the running one in place.
async fn apply(config: &AgentConfig, cfg: &ApConfig) -> Result<(), AgentError> {
    let ap = ApIdentity { mac: config.mac.clone() };
    let mut files = Vec::new();
    for radio in &cfg.radios {
        if cfg.ssids.iter().any(|s| s.bands.contains(&radio.band)) {
            files.push((
                config.hostapd_dir.join(format!("hostapd-{}.conf", radio.interface)),
                hostapd::render(cfg, radio, &ap)?,
            ));
        }
    }
    // The bridge rules first: a new isolated SSID never runs unguarded, and
    // if they cannot be installed the running configuration stays as it is.
    if config.wired_isolation {
        crate::bridge::apply(&config.hostapd_dir, cfg, config.simulated_radio.is_some()).await?;
    }
    for (path, text) in &files {
        write_private(path, text.as_bytes())?;
    }
    // Running hostapds re-read their files; a radio without one is started by the hook.
    if config.simulated_radio.is_none() {
        for radio in &cfg.radios {
            if config.hostapd_ctrl_dir.join(&radio.interface).exists() {
                hostapd_ctrl::reload(&config.hostapd_ctrl_dir, &radio.interface).await?;
            }
            set_tx_power(&radio.interface, radio.tx_power_dbm).await;
        }
    }
    write_private(&config.hostapd_dir.join("version"), cfg.version.to_string().as_bytes())?;
    if let Some(hook) = &config.apply_hook {
        let status = tokio::process::Command::new(hook).arg(cfg.version.to_string()).status().await?;
        if !status.success() {
            return Err(AgentError::Hook(format!("apply hook {} failed: {status}", hook.display())));
        }
    }
    tracing::info!(version = cfg.version, ssids = cfg.ssids.len(), "configuration applied");
    Ok(())
}

/// The firmware version this AP runs (as installed, else as configured).
fn running_firmware(config: &AgentConfig) -> String {
    std::fs::read_to_string(config.state_dir.join("firmware-version"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|_| config.firmware.clone())
}

fn running_version(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("version")).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn client_builder() -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, AgentError> {
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])?)
}

fn load_or_create_key(dir: &Path) -> Result<rcgen::KeyPair, AgentError> {
    let path = dir.join("agent.key");
    if path.exists() {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        return Ok(rcgen::KeyPair::from_pem(&std::fs::read_to_string(&path)?)?);
    }
    let key = rcgen::KeyPair::generate()?;
    write_private(&path, key.serialize_pem().as_bytes())?;
    Ok(key)
}

/// The controller's certificate before adoption (there is no CA file yet).
/// With the CA's fingerprint provisioned, the server's chain must carry that
/// CA and its certificate be signed by it; without, trust on first use: the
/// certificate we are then given pins the controller (see `session`).
#[derive(Debug)]
struct BeforeAdoption {
    pinned: Option<String>,
}

impl ServerCertVerifier for BeforeAdoption {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pinned) = &self.pinned else {
            return Ok(ServerCertVerified::assertion());
        };
        let ca = intermediates
            .iter()
            .find(|c| ap_protocol::trust::der_fingerprint(c) == *pinned)
            .ok_or_else(|| rustls::Error::General("the controller's CA is not the provisioned one".into()))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
            .verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not used".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_configuration_loads_and_a_typo_is_named() {
        let text = include_str!("../../image/ap-agent.example.toml");
        let config: AgentConfig = toml::from_str(text).unwrap();
        assert_eq!(config.radios.len(), 2);
        assert_eq!(config.hostapd_ctrl_dir, PathBuf::from("/run/hostapd"));
        let err = toml::from_str::<AgentConfig>(&text.replace("state_dir", "state_dri")).unwrap_err();
        assert!(err.to_string().contains("state_dri"), "{err}");
    }
}
