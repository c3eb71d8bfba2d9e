//! The admin listener over HTTPS (`admin.https`): each connection's TLS
//! handshake, then HTTP/1.1 to the same router as the plain listener, each
//! request carrying its peer (`ConnectInfo`) for the audit log and the
//! login limits. Connections are capped, in all and per address, so a busy
//! LAN or one host holding idle sockets cannot exhaust it.

use crate::portal::server::{self, GuestRateLimit};
use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Serves `app` on `listener` over TLS until the task is stopped, through
/// the capped loop every listener uses (`ADMIN_LIMITS`).
pub async fn serve(listener: TcpListener, acceptor: TlsAcceptor, app: Router) -> Result<(), String> {
    let rate = GuestRateLimit::new(50, 200, None);
    server::serve(listener, Some(acceptor), app, server::ADMIN_LIMITS, rate, std::future::pending()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

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
