//! The sites' HTTPS listener: TLS with the client certificate asked for
//! (required by every route but the CA and the enrolment), HTTP/1.1 to one
//! router. Connections are capped in all and per address, a handshake and
//! a request's headers have a deadline, and a connection has a life, so
//! idle sockets cannot hold the listener.

use crate::api::{self, Peer};
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

const HANDSHAKE: Duration = Duration::from_secs(10);
const HEADERS: Duration = Duration::from_secs(15);
/// Longer than a bundle long-poll.
const REQUEST: Duration = Duration::from_secs(60);
const LIFE: Duration = Duration::from_secs(3600);

/// The TLS acceptor: HQ's server certificate for `names`; a client
/// certificate from HQ's CA asked for, not required at the handshake (the
/// enrolment has none yet; the routes that need one check it).
pub fn acceptor(ca: &crate::ca::Ca, names: &[String]) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(ca.roots()), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let (chain, key) = ca.server_identity(names)?;
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(tls)))
}

/// A TLS acceptor that asks for no client certificate (the console: a
/// browser must not be offered a certificate picker).
pub fn plain_acceptor(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(tls)))
}

/// A certificate chain and its key from PEM files (the key mode 0600).
pub fn identity_from_files(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<(Vec<rustls::pki_types::CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>)> {
    use rustls::pki_types::pem::PemObject;
    let chain = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
    let pem = guestwifi_core::kit::secrets::read_private(key).map_err(anyhow::Error::msg)?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
    Ok((chain, key))
}

/// Connections held per address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct Slot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut held = self.0.lock().unwrap();
        let n = held.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.0 .0.lock().unwrap();
        if let Some(n) = held.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.1);
            }
        }
    }
}

/// Serves `app` on `listener` until the task is stopped.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router, max: usize, per_address: usize) {
    let permits = Arc::new(Semaphore::new(max));
    let held = Arc::new(PerAddress::default());
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = permits.clone().acquire_owned().await.expect("semaphore never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(err) => {
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Some(slot) = held.take(peer.ip(), per_address) else {
            tracing::debug!(%peer, "address over its connection cap; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, acceptor) = (app.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _held = (permit, slot);
            if let Err(err) = connection(stream, peer, acceptor, app).await {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
) -> Result<(), String> {
    let tls = match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => return Err(err.to_string()),
        Err(_) => return Err("TLS handshake timed out".into()),
    };
    let cert = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| guestwifi_core::hq::protocol::cert_fingerprint(c));
    let who = Peer { addr: peer, cert };
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        let app = app.clone();
        request.extensions_mut().insert(who.clone());
        async move {
            match tokio::time::timeout(REQUEST, app.oneshot(request.map(axum::body::Body::new))).await {
                Ok(response) => response,
                Err(_) => Ok(api::status(hyper::StatusCode::REQUEST_TIMEOUT, "the request took too long")),
            }
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADERS).max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result.map_err(|e| e.to_string()),
        () = tokio::time::sleep(LIFE) => Err("connection lived too long".into()),
    }
}
