//! HQ's own CA: it signs each replica's server certificate (made at start
//! for `server.names`, so replicas share nothing but the two CA files) and
//! each enrolled site's client certificate, whose fingerprint is what names
//! the site on every call.

use guestwifi_core::hq::join::pem_fingerprint;
use guestwifi_core::hq::protocol;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SubjectPublicKeyInfo,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;

/// HQ's CA with its key.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
    /// The CA certificate, PEM (what `/v1/ca` serves).
    pub cert_pem: String,
    /// Its SHA-256.
    pub fingerprint: String,
}

impl Ca {
    /// Makes a new CA in `cert`/`key`; refuses to overwrite one.
    pub fn init(cert: &Path, key: &Path, name: &str) -> anyhow::Result<Ca> {
        anyhow::ensure!(!cert.exists() && !key.exists(), "{} or {} exists already", cert.display(), key.display());
        let pair = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = dn(&format!("{name} Guest Wi-Fi headquarters CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
        let made = params.self_signed(&pair)?;
        if let Some(dir) = key.parent() {
            std::fs::create_dir_all(dir)?;
        }
        guestwifi_core::kit::secrets::write_secret(key, pair.serialize_pem().as_bytes())?;
        std::fs::write(cert, made.pem())?;
        Self::load(cert, key)
    }

    /// Loads the CA every replica shares.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Ca> {
        let key_pem = guestwifi_core::kit::secrets::read_private(key).map_err(anyhow::Error::msg)?;
        let pair = KeyPair::from_pem(&key_pem)?;
        let cert_pem = std::fs::read_to_string(cert).map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
        // Same name and key as the stored certificate: signs identically.
        let cert = CertificateParams::from_ca_cert_pem(&cert_pem)?.self_signed(&pair)?;
        let fingerprint =
            pem_fingerprint(&cert_pem).ok_or_else(|| anyhow::anyhow!("the CA certificate does not parse"))?;
        Ok(Ca { cert, key: pair, cert_pem, fingerprint })
    }

    /// A server certificate for `names`, with the CA after it.
    pub fn server_identity(
        &self,
        names: &[String],
    ) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let pair = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.to_vec())?;
        params.distinguished_name = dn(&names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&pair, &self.cert, &self.key)?;
        let ca = CertificateDer::from_pem_slice(self.cert_pem.as_bytes())?;
        Ok((vec![leaf.der().clone(), ca], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pair.serialize_der()))))
    }

    /// A client certificate for site `site` of `brand` on the site's own
    /// public key; returns it as PEM with its fingerprint.
    pub fn issue_site(&self, brand: &str, site: &str, public_key_pem: &str) -> anyhow::Result<(String, String)> {
        let public_key = SubjectPublicKeyInfo::from_pem(public_key_pem)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut name = dn(site);
        name.push(DnType::OrganizationName, brand);
        params.distinguished_name = name;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_after = rcgen::date_time_ymd(2099, 12, 31);
        let cert = params.signed_by(&public_key, &self.cert, &self.key)?;
        Ok((cert.pem(), protocol::cert_fingerprint(cert.der())))
    }

    /// The CA as the only root of client certificates.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.cert_pem.as_bytes()).flatten() {
            roots.add(cert).expect("our own CA parses");
        }
        roots
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}
