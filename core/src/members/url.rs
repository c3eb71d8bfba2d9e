//! The member store's PostgreSQL URL as the appliance connects with it: the
//! password from its file, and TLS that checks the server's certificate.
//! libpq's (and sqlx's) `sslmode=require` encrypts but accepts any
//! certificate, so anyone on the path could pose as the store and collect
//! the chain's members; `require`, `prefer` and `allow` become
//! `verify-full` (the system's CA store, or `members.ca_file` for the
//! chain's own CA, which asks for verification by itself).

use std::path::Path;

/// `members.url` is not a URL a password can be put in.
#[derive(Debug, thiserror::Error)]
#[error("members.url is not a database URL")]
pub struct NotAUrl;

/// Modes that would take any certificate: each is checked in full instead.
const UNCHECKED: &[&str] = &["require", "prefer", "allow"];

/// The URL to connect with, from `url` (`postgres://user@host/db?…`), the
/// password and a CA file; the store's location for logs (no secret) too.
pub fn connect_url(url: &str, password: Option<&str>, ca_file: Option<&Path>) -> Result<(String, String), NotAUrl> {
    let mut url = url::Url::parse(url).map_err(|_| NotAUrl)?;
    let location = format!(
        "postgres://{}@{}:{}{}",
        url.username(),
        url.host_str().unwrap_or(""),
        url.port().unwrap_or(5432),
        url.path()
    );
    let mode = url.query_pairs().find(|(k, _)| k == "sslmode").map(|(_, v)| v.to_ascii_lowercase());
    let checked = match mode.as_deref() {
        Some(m) if UNCHECKED.contains(&m) => Some("verify-full"),
        None if ca_file.is_some() => Some("verify-full"),
        _ => None,
    };
    if checked.is_some() || ca_file.is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !(checked.is_some() && k == "sslmode" || ca_file.is_some() && k == "sslrootcert"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut query = url.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        if let Some(mode) = checked {
            query.append_pair("sslmode", mode);
        }
        if let Some(ca) = ca_file {
            query.append_pair("sslrootcert", &ca.display().to_string());
        }
    }
    if in_clear(&url) {
        tracing::warn!(store = %location, "the member store is reached without TLS (no sslmode in members.url): only on a private link; say sslmode=verify-full otherwise");
    }
    if let Some(password) = password {
        url.set_password(Some(password)).map_err(|()| NotAUrl)?;
    }
    Ok((url.to_string(), location))
}

/// Whether `url` reaches a store on another host without TLS (no sslmode,
/// or `disable`); a Unix socket or loopback is no link to listen on.
fn in_clear(url: &url::Url) -> bool {
    let mode = url.query_pairs().find(|(k, _)| k == "sslmode").map(|(_, v)| v.to_ascii_lowercase());
    let socket = url.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
    let local = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => true,
    };
    matches!(mode.as_deref(), None | Some("disable")) && !socket && !local
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_that_trusts_anyone_is_checked_in_full() {
        let (url, location) =
            connect_url("postgres://gw@db.example.test/members?sslmode=require", Some("pw"), None).unwrap();
        assert_eq!(url, "postgres://gw:pw@db.example.test/members?sslmode=verify-full");
        assert_eq!(location, "postgres://gw@db.example.test:5432/members", "no secret in the location");
        let (url, _) =
            connect_url("postgres://gw@db/m?sslmode=prefer&application_name=x", None, Some(Path::new("/etc/ca.pem")))
                .unwrap();
        assert_eq!(url, "postgres://gw@db/m?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem");
        let (url, _) = connect_url("postgres://gw@db/m?sslmode=verify-ca", None, None).unwrap();
        assert!(url.ends_with("sslmode=verify-ca"), "a mode that checks stays: {url}");
        let (url, _) = connect_url("postgres://gw@10.0.0.5/m", None, None).unwrap();
        assert!(!url.contains("sslmode"), "no TLS asked, none added (a warning at start says so): {url}");
        assert!(in_clear(&url::Url::parse(&url).unwrap()));
        assert!(!in_clear(&url::Url::parse("postgres://gw@localhost/m").unwrap()), "loopback is no link");
        assert!(!in_clear(&url::Url::parse("postgres://gw@x/m?host=/run/postgresql").unwrap()), "nor a socket");
    }

    /// A server that answers PostgreSQL's SSLRequest and shows a certificate
    /// no CA signed: with `sslmode=require` asked for, the store refuses it.
    #[tokio::test]
    async fn a_store_posing_with_a_self_signed_certificate_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handshake = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            stream.read_exact(&mut request).await.unwrap();
            stream.write_all(b"S").await.unwrap();
            acceptor.accept(stream).await.is_ok()
        });
        let (url, _) =
            connect_url(&format!("postgres://gw@localhost:{port}/m?sslmode=require"), Some("pw"), None).unwrap();
        sqlx::any::install_default_drivers();
        let tried = <sqlx::AnyConnection as sqlx::Connection>::connect(&url).await;
        assert!(tried.is_err());
        assert!(!handshake.await.unwrap(), "the TLS handshake is refused by the store's side: {:?}", tried.err());
    }
}
