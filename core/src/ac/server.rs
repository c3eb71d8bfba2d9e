//! The AP listener: TLS 1.3, an AP's certificate optional until it is
//! adopted, required (and bound to its device id) after. Pending APs wait
//! on their connection until an admin adopts them; adopted ones get their
//! configuration, echoes every interval, and are offline after three missed.

use super::ca::Ca;
use super::firmware::{FirmwareError, Image};
use super::registry::{AccessPoint, PendingHello, Registry, RegistryError};
use super::rollout::{FirmwareEvent, RolloutStatus};
use ap_protocol::{negotiate, AgentMessage, Connection, ControllerMessage, Hello, Ssid, Welcome, FIRMWARE_CHUNK};
use base64::Engine;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

/// How long a new connection has for TLS and Hello.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Echoes missed before an AP is offline.
const MISSED_ECHOES: u32 = 3;

type Conn = Connection<super::stream::LeanTls, ControllerMessage, AgentMessage>;

/// A rollout stage's firmware offer: the APs it names (every adopted
/// session looks itself up, so a set) and the image.
pub(super) type Offer = Arc<(std::collections::HashSet<String>, Arc<Image>)>;

/// The AC: registry, CA and who is connected.
#[derive(Clone)]
pub struct Ac {
    registry: Registry,
    ca: Arc<Ca>,
    echo_every: Duration,
    /// Connected APs (pending or adopted), one entry per AP's newest connection.
    pub(super) connected: Arc<Mutex<HashMap<String, Connected>>>,
    /// APs just adopted or forgotten, a batch at a time.
    adopted: broadcast::Sender<Arc<[String]>>,
    /// Each version's shared configuration, and the acks' writer.
    pushes: super::pushes::Pushes,
    config: Arc<watch::Sender<u64>>,
    pub(super) firmware_results: broadcast::Sender<FirmwareEvent>,
    /// Firmware offers, a rollout stage at a time: the APs it names and
    /// the image. One channel every adopted session listens on (a channel
    /// of its own took ~0.8 KiB at every AP for a message a year).
    pub(super) offers: broadcast::Sender<Offer>,
    pub(super) firmware_key: Option<String>,
    pub(super) firmware_dir: Option<PathBuf>,
    pub(super) images: Arc<Mutex<HashMap<String, Image>>>,
    pub(super) rollout: Arc<Mutex<Option<RolloutStatus>>>,
    channels: Arc<(Vec<u16>, Vec<u16>)>,
    /// Connections one address may hold to the AP port.
    per_address: crate::kit::limits::PerDevice,
    /// Connections and pushes, after which freed memory goes back.
    churn: crate::kit::memory::Churn,
}

/// What a connection's handshake and hello lead to. The connection is
/// boxed: a session's future keeps its arguments apart from its locals, so
/// a `Conn` (1.2 KiB with its TLS state) passed by value is held twice.
enum Opened {
    /// An adopted AP with its certificate.
    Adopted(Box<Conn>, Box<Hello>, u16),
    /// A pending AP, waiting for adoption.
    Pending(Box<Conn>, Box<Hello>, u16, Box<super::registry::Known>),
    /// Adopted, its certificate to collect.
    Collect(Box<Conn>, Box<Hello>, u16, Box<super::registry::Known>),
}

/// One AP's current connection.
pub(super) struct Connected {
    since: Instant,
    /// Adopted (its session takes firmware offers), not pending.
    pub(super) adopted: bool,
}

/// A connection's entry in `Ac::connected`: removed when the connection
/// ends, unless a newer connection of the same AP has replaced it.
struct Presence {
    map: Arc<Mutex<HashMap<String, Connected>>>,
    id: String,
    since: Instant,
}

impl Drop for Presence {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap();
        if map.get(&self.id).is_some_and(|c| c.since == self.since) {
            map.remove(&self.id);
        }
    }
}

/// Aborts a task when the owner is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why an AP's connection ended (logged at debug level: APs reconnect).
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The TLS handshake or the hello took too long.
    #[error("the TLS handshake or the hello took too long")]
    Timeout(#[from] tokio::time::error::Elapsed),
    /// The socket failed (TLS included).
    #[error("the connection failed")]
    Io(#[from] std::io::Error),
    /// A message could not be read or written.
    #[error("a message could not be read or written")]
    Frame(#[from] ap_protocol::FrameError),
    /// The first message was not a hello.
    #[error("no hello")]
    NoHello,
    /// The AP was refused or went silent (the reason says which).
    #[error("{0}")]
    Refused(String),
    /// The registry failed.
    #[error("registry")]
    Registry(#[from] RegistryError),
    /// The CA could not issue the AP's certificate.
    #[error("cannot issue the certificate")]
    Ca(#[from] super::ca::CaError),
}

/// Why an admin action failed.
#[derive(Debug, thiserror::Error)]
pub enum AcError {
    /// The registry refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A firmware image was refused.
    #[error(transparent)]
    Firmware(#[from] FirmwareError),
    /// A rollout cannot start.
    #[error("{0}")]
    Rollout(String),
}

impl Ac {
    /// An AC over `registry`, echoing every `echo_every` (10 s in production).
    pub async fn new(registry: Registry, ca: Ca, echo_every: Duration) -> Result<Self, RegistryError> {
        let version = registry.version().await?;
        Ok(Ac {
            ca: Arc::new(ca),
            echo_every,
            connected: Arc::default(),
            adopted: broadcast::channel(64).0,
            pushes: super::pushes::Pushes::new(registry.clone()),
            registry,
            config: Arc::new(watch::channel(version).0),
            firmware_results: broadcast::channel(1024).0,
            offers: broadcast::channel(16).0,
            firmware_key: None,
            firmware_dir: None,
            images: Arc::default(),
            rollout: Arc::default(),
            channels: Arc::new((crate::config::CHANNELS_2G.to_vec(), crate::config::CHANNELS_5G.to_vec())),
            per_address: crate::kit::limits::PerDevice::new(usize::MAX),
            churn: crate::kit::memory::Churn::default(),
        })
    }

    /// Caps the connections one address may hold to the AP port (an AP
    /// needs one; a reconnecting one briefly two).
    pub fn with_connection_cap(mut self, per_address: usize) -> Self {
        self.per_address = crate::kit::limits::PerDevice::new(per_address);
        self
    }

    /// The channels the planner may use on 2.4 and 5 GHz.
    pub fn with_channels(mut self, list_2g: Vec<u16>, list_5g: Vec<u16>) -> Self {
        self.channels = Arc::new((list_2g, list_5g));
        self
    }

    /// Accepts firmware signed with `public_key_hex`, kept in `dir`.
    pub fn with_firmware(mut self, public_key_hex: Option<String>, dir: PathBuf) -> Self {
        self.firmware_key = public_key_hex.filter(|k| !k.is_empty());
        self.firmware_dir = Some(dir);
        self
    }

    /// Every AP, with whether it is connected.
    pub async fn list(&self) -> Result<Vec<AccessPoint>, AcError> {
        let online: std::collections::HashSet<String> = self.connected.lock().unwrap().keys().cloned().collect();
        let mut aps = self.registry.list().await?;
        let current = self.registry.version().await? as i64;
        for ap in &mut aps {
            ap.online = online.contains(&ap.device_id);
            ap.wants_version = (ap.state == "adopted" && ap.applied_version != current).then_some(current);
        }
        // Every AP's row, read and soon dropped: at 5,000 APs a burst of its own.
        self.churn.note_many(aps.len());
        Ok(aps)
    }

    /// Adopts a pending AP whose key's fingerprint starts with
    /// `fingerprint` (None: any key, `--any-key`); if it is connected it
    /// gets its certificate now.
    pub async fn adopt(&self, device_id: &str, fingerprint: Option<&str>) -> Result<(), AcError> {
        let mut done = self.adopt_many(&[(device_id.to_string(), fingerprint.map(str::to_string))]).await?;
        Ok(done.pop().expect("one answer for one AP")?)
    }

    /// Adopts many pending APs at once (a site rolling out hundreds), each
    /// with its fingerprint as [`Ac::adopt`]; each answer says whether that
    /// AP was adopted. The connected ones get their certificates now.
    pub async fn adopt_many(
        &self,
        aps: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), RegistryError>>, AcError> {
        let done = self.registry.adopt_many(aps).await?;
        let mut adopted = Vec::new();
        for ((device_id, fingerprint), result) in aps.iter().zip(&done) {
            if result.is_ok() {
                if fingerprint.is_none() {
                    tracing::warn!(%device_id, "adopted without checking the key's fingerprint (--any-key)");
                }
                tracing::info!(%device_id, "access point adopted");
                adopted.push(device_id.clone());
            }
        }
        if !adopted.is_empty() {
            let _ = self.adopted.send(adopted.into());
        }
        Ok(done)
    }

    /// Every ack of a configuration from now on, once it is stored.
    pub fn applied_events(&self) -> broadcast::Receiver<super::Applied> {
        self.pushes.subscribe()
    }

    /// Forgets an AP; its connection ends and its certificate opens nothing.
    pub async fn forget(&self, device_id: &str) -> Result<(), AcError> {
        self.registry.forget(device_id).await?;
        let _ = self.adopted.send(Arc::from([device_id.to_string()]));
        tracing::info!(device_id, "access point forgotten");
        Ok(())
    }

    /// Adds or replaces an SSID and pushes the new config to every AP.
    pub async fn put_ssid(&self, ssid: &Ssid) -> Result<u64, AcError> {
        let version = self.registry.put_ssid(ssid).await?;
        self.config.send_replace(version);
        Ok(version)
    }

    /// Plans channels and power from the APs' scans and pushes the result.
    pub async fn plan(&self) -> Result<super::plan::Plan, AcError> {
        let (plan, version) = self.registry.plan(&self.channels.0, &self.channels.1).await?;
        self.config.send_replace(version);
        tracing::info!(score = plan.score, version, "channel plan applied");
        Ok(plan)
    }

    /// An admin's per-AP settings (floor, zone, fixed channel or power), pushed.
    pub async fn set_ap(
        &self,
        device_id: &str,
        floor: Option<i64>,
        zone: Option<&str>,
        radio: Option<(&str, Option<u16>, Option<u8>)>,
    ) -> Result<u64, AcError> {
        let version = self.registry.set_ap(device_id, floor, zone, radio).await?;
        self.config.send_replace(version);
        Ok(version)
    }

    /// The guest gateway's MAC changed: stored, and pushed to every AP
    /// (`Some(version)`) when it differs from the one they have.
    pub async fn set_gateway_mac(&self, mac: Option<&str>) -> Result<Option<u64>, AcError> {
        let version = self.registry.set_gateway_mac(mac).await?;
        if let Some(v) = version {
            self.config.send_replace(v);
        }
        Ok(version)
    }

    /// Removes an SSID and pushes the new config to every AP.
    pub async fn remove_ssid(&self, name: &str) -> Result<u64, AcError> {
        let version = self.registry.remove_ssid(name).await?;
        self.config.send_replace(version);
        Ok(version)
    }

    /// The configuration `device_id` should run (keys included: callers
    /// that show it hide them).
    pub async fn config_for(&self, device_id: &str) -> Result<ap_protocol::ApConfig, AcError> {
        Ok(self.registry.config_for(device_id).await?)
    }

    /// Every adopted AP's radios as they run, with what each hears.
    pub async fn radios(&self) -> Result<Vec<crate::ac::registry::RadioView>, AcError> {
        Ok(self.registry.radios().await?)
    }

    /// Guest devices associated now: (station, AP, radio, since UTC ms).
    pub async fn stations(&self) -> Result<Vec<(String, String, String, i64)>, AcError> {
        Ok(self.registry.stations().await?)
    }

    /// The SSIDs (keys included: callers that show them hide them).
    pub async fn ssids(&self) -> Result<Vec<Ssid>, AcError> {
        Ok(self.registry.ssids().await?)
    }

    /// The registry underneath (tests and benchmarks; staff requests go
    /// through the methods above).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves APs on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let tls = super::stream::server_config(&self.ca);
        // Shared by every connection's task (a copy of the AC is 200 B, at every AP).
        let this = Arc::new(self);
        // Ended with this listener: the task that gives back what bursts of
        // handshakes and pushes freed (16 MiB at 5,000 APs).
        let trimmer = tokio::spawn(this.churn.clone().give_back_after_bursts(Duration::from_secs(10)));
        let _trimmer = AbortOnDrop(trimmer);
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "AP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(slot) = this.per_address.take(crate::kit::limits::Device::Address(peer.ip())) else {
                tracing::debug!(%peer, "too many connections from this address to the AP port");
                continue;
            };
            this.churn.note();
            let (ac, tls) = (this.clone(), tls.clone());
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(err) = ac.connection(tls, stream).await {
                    tracing::debug!(%peer, %err, "AP connection ended");
                }
            });
        }
    }

    /// One AP's connection. It lives as long as the AP is up, thousands at
    /// once, so its task is small: the handshake and the hello run in a box
    /// freed when they are done, and the session that follows in a box of
    /// its own sized for what the long wait needs (a task was 9 KiB, most of
    /// it room for the handshake's and the store's calls).
    async fn connection(
        &self,
        tls: Arc<rustls::ServerConfig>,
        stream: tokio::net::TcpStream,
    ) -> Result<(), ConnectionError> {
        match Box::pin(self.open(tls, stream)).await? {
            Opened::Adopted(conn, hello, version) => Box::pin(self.adopted_session(conn, hello, version)).await,
            Opened::Pending(conn, hello, version, known) => {
                Box::pin(self.pending_session(conn, hello, version, known, false)).await
            }
            Opened::Collect(conn, hello, version, known) => {
                Box::pin(self.pending_session(conn, hello, version, known, true)).await
            }
        }
    }

    /// The handshake and the hello: which session follows, or why none does.
    async fn open(
        &self,
        tls: Arc<rustls::ServerConfig>,
        stream: tokio::net::TcpStream,
    ) -> Result<Opened, ConnectionError> {
        let tls = tokio::time::timeout(HANDSHAKE, Box::pin(super::stream::LeanTls::accept(stream, tls))).await??;
        let presented = tls.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
        let mut conn: Conn = Connection::new(tls);
        let hello = match tokio::time::timeout(HANDSHAKE, conn.recv()).await?? {
            Some(AgentMessage::Hello(hello)) => hello,
            _ => return Err(ConnectionError::NoHello),
        };
        if let Err(err) = ap_protocol::trust::check_hello(&hello) {
            conn.send(&ControllerMessage::Refused { reason: err.to_string() }).await?;
            return Err(ConnectionError::Refused(format!("refused a malformed hello: {err}")));
        }
        let Some(version) = negotiate(hello.min_version, hello.max_version) else {
            conn.send(&ControllerMessage::Refused { reason: "no common protocol version".into() }).await?;
            return Err(ConnectionError::Refused(format!("no common protocol version with {}", hello.device_id)));
        };
        match presented {
            Some(cert) => {
                let known = Box::pin(self.registry.known(&hello.device_id)).await?;
                if !known.as_ref().is_some_and(|k| k.adopted && k.cert_der.as_deref() == Some(&cert[..])) {
                    conn.send(&ControllerMessage::Refused { reason: "unknown certificate".into() }).await?;
                    return Err(ConnectionError::Refused(format!(
                        "{} presented a certificate that is not its own",
                        hello.device_id
                    )));
                }
                Box::pin(self.registry.authenticated_hello(&hello)).await?;
                // The key goes: from here on only the id, the radios and the
                // running version are asked of the hello.
                let empty = String::new;
                let hello = Hello { model: empty(), mac: empty(), firmware: empty(), public_key_pem: empty(), ..hello };
                Ok(Opened::Adopted(Box::new(conn), Box::new(hello), version))
            }
            None => {
                let refuse = |reason: &str| ControllerMessage::Refused { reason: reason.into() };
                match Box::pin(self.registry.pending_hello(&hello)).await? {
                    PendingHello::Waiting(known) => {
                        Ok(Opened::Pending(Box::new(conn), Box::new(hello), version, Box::new(known)))
                    }
                    PendingHello::Collect(known) => {
                        Ok(Opened::Collect(Box::new(conn), Box::new(hello), version, Box::new(known)))
                    }
                    PendingHello::KeyConflict => {
                        conn.send(&refuse("another key is known for this device id")).await?;
                        Err(ConnectionError::Refused(format!(
                            "{}: hello with a key it is not known by",
                            hello.device_id
                        )))
                    }
                    PendingHello::NeedsCertificate => {
                        conn.send(&refuse("adopted: connect with your certificate")).await?;
                        Err(ConnectionError::Refused(format!(
                            "{}: adopted, but no certificate presented",
                            hello.device_id
                        )))
                    }
                    PendingHello::Full => {
                        conn.send(&refuse("too many access points wait for adoption")).await?;
                        Err(ConnectionError::Refused(format!("{}: too many pending access points", hello.device_id)))
                    }
                }
            }
        }
    }

    /// Without a certificate: pending until adopted; then the certificate,
    /// issued for the key it said hello with, and the agent reconnects.
    /// An adopted AP that has not collected its certificate (`collecting`)
    /// gets it at once.
    async fn pending_session(
        &self,
        mut conn: Box<Conn>,
        hello: Box<Hello>,
        version: u16,
        known: Box<super::registry::Known>,
        collecting: bool,
    ) -> Result<(), ConnectionError> {
        let mut adoptions = self.adopted.subscribe();
        conn.send(&ControllerMessage::Welcome(Welcome { version, adopted: false })).await?;
        // Connected and waiting: shown online, so the admin knows it can be adopted now.
        let _presence = (!collecting).then(|| {
            tracing::info!(device_id = %hello.device_id, model = %hello.model, "access point waiting for adoption");
            self.present(&hello.device_id, false)
        });
        self.wait_for_adoption(&mut conn, &hello, *known, &mut adoptions).await
    }

    async fn wait_for_adoption(
        &self,
        conn: &mut Conn,
        hello: &Hello,
        known: super::registry::Known,
        adoptions: &mut broadcast::Receiver<Arc<[String]>>,
    ) -> Result<(), ConnectionError> {
        let mut known = Some(known);
        let mut echo = tokio::time::interval(self.echo_every);
        let (mut seq, mut answered) = (0u64, 0u64);
        loop {
            if let Some(k) = known.take() {
                // Only the key it was adopted with gets a certificate.
                if k.adopted && k.public_key_pem == hello.public_key_pem {
                    let cert = self.ca.issue(&hello.device_id, &hello.public_key_pem)?;
                    Box::pin(self.registry.set_certificate(&hello.device_id, cert.der())).await?;
                    conn.send(&ControllerMessage::Adopted {
                        certificate_pem: cert.pem(),
                        ca_pem: self.ca.cert_pem.clone(),
                    })
                    .await?;
                    return Ok(());
                }
            }
            tokio::select! {
                id = adoptions.recv() => {
                    if matches!(&id, Ok(ids) if ids.contains(&hello.device_id)) || id.is_err() {
                        known = Box::pin(self.registry.known(&hello.device_id)).await?;
                    }
                }
                msg = conn.recv() => match msg? {
                    None => return Ok(()),
                    Some(AgentMessage::EchoReply { seq: s }) => answered = answered.max(s),
                    // A pending AP has nothing else to say yet.
                    Some(_) => {}
                },
                _ = echo.tick() => {
                    // A pending connection that stops answering is closed.
                    if seq.saturating_sub(answered) >= u64::from(MISSED_ECHOES) {
                        return Err(ConnectionError::Refused(format!("pending {} missed {MISSED_ECHOES} echoes", hello.device_id)));
                    }
                    seq += 1;
                    conn.send(&ControllerMessage::Echo { seq }).await?;
                }
            }
        }
    }

    /// Boxed arguments: a session's future keeps its arguments for its whole life.
    async fn adopted_session(
        &self,
        mut conn: Box<Conn>,
        hello: Box<Hello>,
        version: u16,
    ) -> Result<(), ConnectionError> {
        let id = hello.device_id.clone();
        conn.send(&ControllerMessage::Welcome(Welcome { version, adopted: true })).await?;
        let mut offers = self.offers.subscribe();
        let presence = self.present(&id, true);
        tracing::info!(device_id = %id, "access point online");
        let result = self.serve_adopted(&mut conn, &hello, &mut offers).await;
        drop(presence);
        tracing::info!(device_id = %id, "access point offline");
        result
    }

    /// Marks `id` connected until the returned guard drops.
    fn present(&self, id: &str, adopted: bool) -> Presence {
        let since = Instant::now();
        self.connected.lock().unwrap().insert(id.to_string(), Connected { since, adopted });
        Presence { map: self.connected.clone(), id: id.to_string(), since }
    }

    /// An adopted AP's session: what it waits on is small (the channels'
    /// futures and a few counters), and what an event asks for runs in a
    /// box of its own. Handled inside the wait, an event's messages and
    /// sends sat beside every channel's future: 1.6 KiB at every AP.
    async fn serve_adopted(
        &self,
        conn: &mut Conn,
        hello: &Hello,
        offers: &mut broadcast::Receiver<Offer>,
    ) -> Result<(), ConnectionError> {
        let id = &hello.device_id;
        let mut config = self.config.subscribe();
        let mut running = hello.config_version;
        let mut forgotten = self.adopted.subscribe();
        let mut push = true;
        let mut echo = tokio::time::interval(self.echo_every);
        let (mut seq, mut answered) = (0u64, 0u64);
        loop {
            if push {
                push = false;
                let at_least = *config.borrow_and_update();
                Box::pin(self.push_config(conn, hello, at_least, &mut running)).await?;
            }
            let event = tokio::select! {
                Ok(offer) = offers.recv() => Event::Offer(offer),
                _ = config.changed() => Event::Changed,
                gone = forgotten.recv() => Event::Forgotten(gone),
                _ = echo.tick() => Event::Echo,
                msg = conn.recv() => Event::Message(msg),
            };
            match event {
                Event::Changed => push = true,
                Event::Echo => {
                    if seq.saturating_sub(answered) >= u64::from(MISSED_ECHOES) {
                        return Err(ConnectionError::Refused(format!("{id} missed {MISSED_ECHOES} echoes")));
                    }
                    seq += 1;
                    Box::pin(conn.send(&ControllerMessage::Echo { seq })).await?;
                }
                event => {
                    if Box::pin(self.on_event(conn, id, event, &mut answered)).await? == Flow::End {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Sends the configuration of the newest version (at least `at_least`)
    /// if the AP does not run it.
    async fn push_config(
        &self,
        conn: &mut Conn,
        hello: &Hello,
        at_least: u64,
        running: &mut u64,
    ) -> Result<(), ConnectionError> {
        let snapshot = Box::pin(self.pushes.snapshot(at_least)).await?;
        if snapshot.version() != *running {
            *running = snapshot.version();
            self.churn.note();
            conn.send(&ControllerMessage::Config(snapshot.config_for(&hello.device_id, &hello.radios))).await?;
        }
        Ok(())
    }

    /// A firmware offer, a forgotten AP or a message from the AP.
    async fn on_event(
        &self,
        conn: &mut Conn,
        id: &String,
        event: Event,
        answered: &mut u64,
    ) -> Result<Flow, ConnectionError> {
        match event {
            Event::Offer(offer) => {
                let (ids, image) = &*offer;
                if ids.contains(id) {
                    tracing::info!(device_id = %id, version = %image.offer.version, "offering firmware");
                    conn.send(&ControllerMessage::FirmwareOffer(image.offer.clone())).await?;
                    for (i, chunk) in image.bytes.chunks(FIRMWARE_CHUNK).enumerate() {
                        let data = base64::engine::general_purpose::STANDARD.encode(chunk);
                        conn.send(&ControllerMessage::FirmwareChunk { offset: (i * FIRMWARE_CHUNK) as u64, data })
                            .await?;
                    }
                }
            }
            Event::Forgotten(gone) => {
                let mentioned = matches!(&gone, Ok(ids) if ids.contains(id)) || gone.is_err();
                if mentioned && Box::pin(self.registry.known(id)).await?.is_none() {
                    conn.send(&ControllerMessage::Refused { reason: "forgotten by the admin".into() }).await?;
                    return Ok(Flow::End);
                }
            }
            Event::Message(msg) => match msg? {
                None => return Ok(Flow::End),
                Some(AgentMessage::EchoReply { seq: s }) => *answered = (*answered).max(s),
                Some(AgentMessage::ConfigApplied { version }) => Box::pin(self.pushes.ack(id, version)).await,
                Some(AgentMessage::ConfigRejected { version, reason }) => {
                    tracing::error!(device_id = %id, version, %reason, "access point rejected its configuration");
                }
                Some(AgentMessage::FirmwareResult { version, installed, reason }) => {
                    tracing::info!(device_id = %id, %version, installed, %reason, "firmware result");
                    let _ = self.firmware_results.send(FirmwareEvent { ap: id.clone(), version, installed, reason });
                }
                Some(AgentMessage::NeighbourScan(scan)) => {
                    Box::pin(self.registry.scan(id, &scan.interface, &scan.neighbours)).await?;
                }
                Some(AgentMessage::StationJoined(e)) => {
                    Box::pin(self.registry.station(id, &e.interface, &e.station, true, e.at_ms)).await?;
                }
                Some(AgentMessage::StationLeft(e)) => {
                    Box::pin(self.registry.station(id, &e.interface, &e.station, false, e.at_ms)).await?;
                }
                Some(_) => {}
            },
            Event::Changed | Event::Echo => {}
        }
        Ok(Flow::Continue)
    }
}

/// What an adopted session's wait ended with.
enum Event {
    Offer(Offer),
    Changed,
    Forgotten(Result<Arc<[String]>, broadcast::error::RecvError>),
    Echo,
    Message(Result<Option<AgentMessage>, ap_protocol::FrameError>),
}

/// Whether a session goes on after an event.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    End,
}
