//! The admin listener over HTTPS (`admin.https`): each connection's TLS
//! handshake, then HTTP/1.1 to the same router as the plain listener, each
//! request carrying its peer (`ConnectInfo`) for the audit log and the
//! login limits. Connections are capped so a busy LAN cannot exhaust it.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 256;
/// Time for a TLS handshake, and for a request's headers.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` over TLS until the task is stopped.
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) -> Result<(), String> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = permits.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let stream = match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => return tracing::debug!(%peer, %err, "admin TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "admin TLS handshake timed out"),
            };
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.oneshot(request).await.unwrap_or_else(|never| match never {})) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(HANDSHAKE);
            if let Err(err) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, %err, "admin connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_admin_listener_over_https_serves_with_the_peer_and_plain_http_gets_nothing() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let example = include_str!("../../../image/controller.example.toml")
            .replace("/var/lib/guestwifi", &dir.path().display().to_string())
            .replace("https = false", "https = true");
        let config = crate::config::Config::parse(&example, "example", Vec::new()).unwrap();
        let acceptor = crate::tls::admin_acceptor(&config).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("admin-selfsigned.key")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
        let app = Router::new().route(
            "/whoami",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, acceptor, app));
        let client = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let body = client.get(format!("https://{addr}/whoami")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "127.0.0.1");
        let plain = reqwest::Client::new().get(format!("http://{addr}/whoami")).send().await;
        assert!(plain.is_err(), "plain HTTP gets nothing");
    }
}
