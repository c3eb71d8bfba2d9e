//! The portal's HTTPS certificate: the configured one, or in lab use a
//! self-signed pair generated once into the data dir.

use crate::config::Config;
use crate::kit::secrets::{write_secret, SecretError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not PEM, or a PEM block is damaged.
    #[error("{path}: not a readable PEM file")]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// The file holds no certificate or no private key.
    #[error("{0}: no PEM certificate or private key found")]
    Empty(PathBuf),
    /// rustls refused the pair.
    #[error("certificate and key do not make a TLS configuration")]
    Rustls(#[from] rustls::Error),
    /// The self-signed certificate could not be made.
    #[error("cannot generate a self-signed certificate")]
    Generate(#[from] rcgen::Error),
    /// The self-signed certificate's key could not be kept.
    #[error("cannot keep the key")]
    Secret(#[from] SecretError),
}

/// A TLS acceptor for the portal's HTTPS listener.
pub fn acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    let (cert_path, key_path) = match (&config.portal.tls_cert, &config.portal.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let mut names = vec![config.portal_host(), config.network.guest_address.addr.to_string()];
            names.dedup();
            self_signed(&config.data.dir, "portal", names)?
        }
    };
    from_files(&cert_path, &key_path)
}

/// A TLS acceptor for the console and the admin API (`admin.https`).
pub fn admin_acceptor(config: &Config) -> Result<TlsAcceptor, TlsError> {
    let (cert_path, key_path) = match (&config.admin.tls_cert, &config.admin.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let mut names = vec!["guestwifi".to_string(), "localhost".to_string()];
            if let Some(addr) = config.admin.listen.filter(|a| !a.ip().is_unspecified()) {
                names.push(addr.ip().to_string());
            }
            self_signed(&config.data.dir, "admin", names)?
        }
    };
    from_files(&cert_path, &key_path)
}

fn from_files(cert_path: &Path, key_path: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certs(cert_path)?;
    let key = read_key(key_path)?;
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// `{what}-selfsigned.crt`/`.key` in `dir`, made for `names` the first time.
fn self_signed(dir: &Path, what: &str, names: Vec<String>) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = (dir.join(format!("{what}-selfsigned.crt")), dir.join(format!("{what}-selfsigned.key")));
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    write_secret(&key, generated.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(&cert, generated.cert.pem()).map_err(|source| TlsError::File { path: cert.clone(), source })?;
    tracing::warn!(cert = %cert.display(), "generated a self-signed {what} certificate");
    Ok((cert, key))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::File { path: path.to_path_buf(), source })?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|source| TlsError::Pem { path: path.to_path_buf(), source })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(path.to_path_buf()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |source| TlsError::File { path: path.to_path_buf(), source };
    // A key others can read is made private before use.
    let meta = std::fs::metadata(path).map_err(err)?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "private key was readable by others; now mode 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
    }
    let pem = std::fs::read(path).map_err(err)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(TlsError::Empty(path.to_path_buf())),
        Err(source) => Err(TlsError::Pem { path: path.to_path_buf(), source }),
    }
}
