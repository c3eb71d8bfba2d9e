//! The AP listener: TLS 1.3, an AP's certificate optional until it is
//! adopted, required (and bound to its device id) after. Pending APs wait
//! on their connection until an admin adopts them; adopted ones get their
//! configuration, echoes every interval, and are offline after three missed.

use super::ca::Ca;
use super::registry::{AccessPoint, Registry, RegistryError};
use ap_protocol::{negotiate, AgentMessage, Connection, ControllerMessage, Hello, Ssid, Welcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};
use tokio_rustls::TlsAcceptor;

/// How long a new connection has for TLS and Hello.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Echoes missed before an AP is offline.
const MISSED_ECHOES: u32 = 3;

type Conn = Connection<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, ControllerMessage, AgentMessage>;

/// The AC: registry, CA and who is connected.
#[derive(Clone)]
pub struct Ac {
    registry: Registry,
    ca: Arc<Ca>,
    echo_every: Duration,
    online: Arc<Mutex<HashMap<String, Instant>>>,
    adopted: broadcast::Sender<String>,
    config: Arc<watch::Sender<u64>>,
}

/// Why an admin action failed.
#[derive(Debug, thiserror::Error)]
pub enum AcError {
    /// The registry refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl Ac {
    /// An AC over `registry`, echoing every `echo_every` (10 s in production).
    pub async fn new(registry: Registry, ca: Ca, echo_every: Duration) -> Result<Self, RegistryError> {
        let version = registry.version().await?;
        Ok(Ac {
            registry,
            ca: Arc::new(ca),
            echo_every,
            online: Arc::default(),
            adopted: broadcast::channel(64).0,
            config: Arc::new(watch::channel(version).0),
        })
    }

    /// Every AP, with whether it is connected.
    pub async fn list(&self) -> Result<Vec<AccessPoint>, AcError> {
        let online = self.online.lock().unwrap().clone();
        let mut aps = self.registry.list().await?;
        for ap in &mut aps {
            ap.online = online.contains_key(&ap.device_id);
        }
        Ok(aps)
    }

    /// Adopts a pending AP; if it is connected it gets its certificate now.
    pub async fn adopt(&self, device_id: &str) -> Result<(), AcError> {
        self.registry.adopt(device_id).await?;
        let _ = self.adopted.send(device_id.to_string());
        tracing::info!(device_id, "access point adopted");
        Ok(())
    }

    /// Forgets an AP; its connection ends and its certificate opens nothing.
    pub async fn forget(&self, device_id: &str) -> Result<(), AcError> {
        self.registry.forget(device_id).await?;
        let _ = self.adopted.send(device_id.to_string());
        tracing::info!(device_id, "access point forgotten");
        Ok(())
    }

    /// Adds or replaces an SSID and pushes the new config to every AP.
    pub async fn put_ssid(&self, ssid: &Ssid) -> Result<u64, AcError> {
        let version = self.registry.put_ssid(ssid).await?;
        self.config.send_replace(version);
        Ok(version)
    }

    /// Removes an SSID and pushes the new config to every AP.
    pub async fn remove_ssid(&self, name: &str) -> Result<u64, AcError> {
        let version = self.registry.remove_ssid(name).await?;
        self.config.send_replace(version);
        Ok(version)
    }

    /// The registry underneath.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves APs on `listener` until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.ca.roots()),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .allow_unauthenticated()
        .build()
        .expect("verifier over our own CA");
        let (chain, key) = self.ca.server_identity();
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("TLS 1.3")
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .expect("our own certificate");
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "AP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (ac, acceptor) = (self.clone(), acceptor.clone());
            tokio::spawn(async move {
                if let Err(err) = ac.connection(acceptor, stream).await {
                    tracing::debug!(%peer, %err, "AP connection ended");
                }
            });
        }
    }

    async fn connection(&self, acceptor: TlsAcceptor, stream: tokio::net::TcpStream) -> anyhow::Result<()> {
        let tls = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await??;
        let presented = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
        let mut conn: Conn = Connection::new(tls);
        let hello = match tokio::time::timeout(HANDSHAKE, conn.recv()).await?? {
            Some(AgentMessage::Hello(hello)) => hello,
            _ => anyhow::bail!("no hello"),
        };
        let Some(version) = negotiate(hello.min_version, hello.max_version) else {
            conn.send(&ControllerMessage::Refused { reason: "no common protocol version".into() }).await?;
            anyhow::bail!("no common protocol version with {}", hello.device_id);
        };
        match presented {
            Some(cert) => {
                let known = self.registry.known(&hello.device_id).await?;
                if !known.as_ref().is_some_and(|k| k.adopted && k.cert_der.as_deref() == Some(&cert[..])) {
                    conn.send(&ControllerMessage::Refused { reason: "unknown certificate".into() }).await?;
                    anyhow::bail!("{} presented a certificate that is not its own", hello.device_id);
                }
                self.registry.hello(&hello).await?;
                self.adopted_session(conn, hello, version).await
            }
            None => self.pending_session(conn, hello, version).await,
        }
    }

    /// Without a certificate: pending until adopted; then the certificate,
    /// issued for the key it said hello with, and the agent reconnects.
    async fn pending_session(&self, mut conn: Conn, hello: Hello, version: u16) -> anyhow::Result<()> {
        let mut adoptions = self.adopted.subscribe();
        let known = self.registry.hello(&hello).await?;
        conn.send(&ControllerMessage::Welcome(Welcome { version, adopted: false })).await?;
        tracing::info!(device_id = %hello.device_id, model = %hello.model, "access point waiting for adoption");
        let mut known = Some(known);
        let mut echo = tokio::time::interval(self.echo_every);
        let mut seq = 0u64;
        loop {
            if let Some(k) = known.take() {
                // Only the key it was adopted with gets a certificate.
                if k.adopted && k.public_key_pem == hello.public_key_pem {
                    let cert = self.ca.issue(&hello.device_id, &hello.public_key_pem)?;
                    self.registry.set_certificate(&hello.device_id, cert.der()).await?;
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
                    if matches!(&id, Ok(id) if *id == hello.device_id) || id.is_err() {
                        known = self.registry.known(&hello.device_id).await?;
                    }
                }
                msg = conn.recv() => if msg?.is_none() { return Ok(()) },
                _ = echo.tick() => {
                    seq += 1;
                    conn.send(&ControllerMessage::Echo { seq }).await?;
                }
            }
        }
    }

    async fn adopted_session(&self, mut conn: Conn, hello: Hello, version: u16) -> anyhow::Result<()> {
        let id = hello.device_id.clone();
        conn.send(&ControllerMessage::Welcome(Welcome { version, adopted: true })).await?;
        self.online.lock().unwrap().insert(id.clone(), Instant::now());
        tracing::info!(device_id = %id, "access point online");
        let result = self.serve_adopted(&mut conn, &hello).await;
        self.online.lock().unwrap().remove(&id);
        tracing::info!(device_id = %id, "access point offline");
        result
    }

    async fn serve_adopted(&self, conn: &mut Conn, hello: &Hello) -> anyhow::Result<()> {
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
                let wanted = self.registry.config_for(id).await?;
                if wanted.version != running {
                    running = wanted.version;
                    conn.send(&ControllerMessage::Config(wanted)).await?;
                }
            }
            tokio::select! {
                _ = config.changed() => push = true,
                gone = forgotten.recv() => {
                    if matches!(&gone, Ok(g) if g == id) && self.registry.known(id).await?.is_none() {
                        conn.send(&ControllerMessage::Refused { reason: "forgotten by the admin".into() }).await?;
                        return Ok(());
                    }
                }
                _ = echo.tick() => {
                    if seq.saturating_sub(answered) >= u64::from(MISSED_ECHOES) {
                        anyhow::bail!("{id} missed {MISSED_ECHOES} echoes");
                    }
                    seq += 1;
                    conn.send(&ControllerMessage::Echo { seq }).await?;
                }
                msg = conn.recv() => match msg? {
                    None => return Ok(()),
                    Some(AgentMessage::EchoReply { seq: s }) => {
                        answered = answered.max(s);
                        self.online.lock().unwrap().insert(id.clone(), Instant::now());
                    }
                    Some(AgentMessage::ConfigApplied { version }) => {
                        self.registry.applied(id, version).await?;
                        tracing::info!(device_id = %id, version, "configuration applied");
                    }
                    Some(AgentMessage::ConfigRejected { version, reason }) => {
                        tracing::error!(device_id = %id, version, %reason, "access point rejected its configuration");
                    }
                    Some(AgentMessage::StationJoined(e)) => {
                        self.registry.station(id, &e.interface, &e.station, true, e.at_ms).await?;
                    }
                    Some(AgentMessage::StationLeft(e)) => {
                        self.registry.station(id, &e.interface, &e.station, false, e.at_ms).await?;
                    }
                    Some(_) => {}
                },
            }
        }
    }
}
