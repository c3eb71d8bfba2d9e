//! The controller's own CA, made at first start: it signs the controller's
//! AP-listener certificate and each adopted AP's client certificate.

use crate::kit::secrets::{write_secret, SecretError};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SubjectPublicKeyInfo,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;

/// The name every AP-listener certificate carries; agents check it against
/// the pinned CA whatever address they dialled.
pub const SERVER_NAME: &str = "guestwifi-controller";

/// Why the CA could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A CA file could not be read or written.
    #[error("CA file")]
    Io(#[from] std::io::Error),
    /// A key or certificate could not be made or parsed.
    #[error("certificate")]
    Cert(#[from] rcgen::Error),
    /// Writing the secret key failed.
    #[error("CA key")]
    Secret(#[from] SecretError),
}

/// The CA with its key, and the AP listener's certificate.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    /// PEM of the CA certificate, sent to agents to pin.
    pub cert_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl Ca {
    /// Loads `dir/ac-ca.{crt,key}`, creating them at first start.
    pub fn load_or_create(dir: &Path) -> Result<Ca, CaError> {
        let (cert_path, key_path) = (dir.join("ac-ca.crt"), dir.join("ac-ca.key"));
        let (cert, key, cert_pem) = if cert_path.exists() && key_path.exists() {
            let key = KeyPair::from_pem(&std::fs::read_to_string(&key_path)?)?;
            let cert_pem = std::fs::read_to_string(&cert_path)?;
            // Same name and key as the stored certificate: signs identically.
            let cert = CertificateParams::from_ca_cert_pem(&cert_pem)?.self_signed(&key)?;
            (cert, key, cert_pem)
        } else {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(Vec::<String>::new())?;
            params.distinguished_name = name("Guest Wi-Fi controller CA");
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            params.not_after = rcgen::date_time_ymd(2099, 12, 31);
            let cert = params.self_signed(&key)?;
            let cert_pem = cert.pem();
            write_secret(&key_path, key.serialize_pem().as_bytes())?;
            std::fs::write(&cert_path, &cert_pem)?;
            (cert, key, cert_pem)
        };
        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![SERVER_NAME.to_string()])?;
        params.distinguished_name = name(SERVER_NAME);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server = params.signed_by(&server_key, &cert, &key)?;
        let server_chain = vec![server.der().clone(), CertificateDer::from(cert_pem_der(&cert_pem))];
        Ok(Ca { cert, key, cert_pem, server_chain, server_key: server_key.serialize_der() })
    }

    /// A client certificate for an adopted AP's own public key.
    pub fn issue(&self, device_id: &str, public_key_pem: &str) -> Result<Certificate, CaError> {
        let public_key = SubjectPublicKeyInfo::from_pem(public_key_pem)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(device_id);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
        Ok(params.signed_by(&public_key, &self.cert, &self.key)?)
    }

    /// The CA as a rustls root store.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(cert_pem_der(&self.cert_pem))).expect("our own CA parses");
        roots
    }

    /// SHA-256 of the CA certificate: what an AP is provisioned with
    /// (`controller_ca_sha256`, or DHCP option 43 sub-option 2) to trust
    /// only this controller.
    pub fn fingerprint(&self) -> String {
        ap_protocol::trust::pem_fingerprint(&self.cert_pem).unwrap_or_default()
    }

    /// The fingerprint of the CA in `dir`, without loading its key.
    pub fn fingerprint_in(dir: &Path) -> Option<String> {
        ap_protocol::trust::pem_fingerprint(&std::fs::read_to_string(dir.join("ac-ca.crt")).ok()?)
    }

    /// The listener's certificate chain and key.
    pub fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (self.server_chain.clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone())))
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn cert_pem_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes()).next().and_then(Result::ok).map(|c| c.to_vec()).unwrap_or_default()
}
