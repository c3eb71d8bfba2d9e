//! `controller hq join URL CODE`: a key pair made here, the claim code
//! proved without sending it (see [`super::protocol`]), a certificate for
//! the site from HQ's CA, and that CA pinned from then on.

use super::client::{http, link, provider, refused, tls_config, HqError};
use super::protocol::{self, Claim, EnrolRequest, EnrolResponse};
use super::site::{Enrolment, Identity};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a join failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The code is not a claim code.
    #[error("that is not a claim code (it looks like ABC234-DEFGH-JKMNP-QRSTU-VWXYZ)")]
    Code,
    /// HQ's URL.
    #[error("HQ's URL must be https://host[:port]")]
    Url,
    /// Already enrolled.
    #[error("this site is already enrolled with {0}; `controller hq leave` first")]
    Enrolled(String),
    /// HQ said no: a used, expired or wrong code, or a throttle.
    #[error("HQ refused the code ({0}): {1}")]
    Refused(u16, String),
    /// HQ's answer does not prove it knows the code: someone in between.
    #[error("HQ's answer does not prove it knows the code: the connection is not to your HQ (CA {0})")]
    NotHq(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<HqError> for JoinError {
    fn from(err: HqError) -> Self {
        match err {
            HqError::Refused(status, text) => JoinError::Refused(status, text),
            other => JoinError::Other(other.to_string()),
        }
    }
}

/// What a join did.
#[derive(Clone, Debug)]
pub struct Joined {
    /// The enrolment saved.
    pub enrolment: Enrolment,
}

/// Trusts any server: only for reading HQ's CA before it is pinned (what
/// it returns is checked by the proofs, never trusted as such).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The SHA-256 of the first certificate in `pem`.
pub fn pem_fingerprint(pem: &str) -> Option<String> {
    let der = CertificateDer::pem_slice_iter(pem.as_bytes()).next()?.ok()?;
    Some(protocol::cert_fingerprint(&der))
}

/// Joins HQ at `url` with the claim code `code`, and saves the enrolment
/// in `data_dir` (`force`: over an existing one).
pub async fn join(url: &str, code: &str, data_dir: &Path, force: bool) -> Result<Joined, JoinError> {
    let claim = Claim::parse(code).ok_or(JoinError::Code)?;
    let parsed = url::Url::parse(url).map_err(|_| JoinError::Url)?;
    if parsed.scheme() != "https" || parsed.host_str().is_none() || parsed.path().len() > 1 {
        return Err(JoinError::Url);
    }
    let base = url.trim_end_matches('/').to_string();
    if !force {
        if let Ok(Some(existing)) = Identity::load(data_dir) {
            return Err(JoinError::Enrolled(existing.enrolment.url));
        }
    }
    // HQ's CA, as whoever answers presents it.
    let provider = provider();
    let unpinned = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| JoinError::Other(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    let response = http(unpinned, Duration::from_secs(15))?
        .get(format!("{base}{}", protocol::PATH_CA))
        .send()
        .await
        .map_err(link)?;
    if !response.status().is_success() {
        return Err(refused(response).await.into());
    }
    let ca_pem = response.text().await.map_err(link)?;
    let fingerprint = pem_fingerprint(&ca_pem).ok_or_else(|| JoinError::Other("HQ's CA does not parse".into()))?;
    // From here on only that CA is trusted; the proof binds it.
    let key = rcgen::KeyPair::generate().map_err(|e| JoinError::Other(e.to_string()))?;
    let public_key_pem = key.public_key_pem();
    let claim_key = claim.key();
    let request = EnrolRequest {
        claim: claim.id.clone(),
        proof: protocol::enrol_proof(&claim_key, &claim.id, &fingerprint, &public_key_pem),
        public_key_pem,
    };
    let pinned = http(tls_config(&ca_pem, None)?, Duration::from_secs(15))?;
    let response = pinned.post(format!("{base}{}", protocol::PATH_ENROL)).json(&request).send().await.map_err(link)?;
    if !response.status().is_success() {
        return Err(refused(response).await.into());
    }
    let answer: EnrolResponse = response.json().await.map_err(link)?;
    let expected = protocol::issued_proof(&claim_key, &claim.id, &answer.cert_pem);
    if !crate::kit::secrets::same_secret(&answer.proof, &expected) {
        return Err(JoinError::NotHq(fingerprint));
    }
    let enrolment = Enrolment {
        url: base,
        brand: answer.brand,
        site: answer.site,
        region: answer.region,
        name: answer.name,
        ca_fingerprint: fingerprint,
        enrolled_at: crate::kit::time::now_ms(),
    };
    let identity =
        Identity { enrolment: enrolment.clone(), ca_pem, cert_pem: answer.cert_pem, key_pem: key.serialize_pem() };
    // The client must build from what is saved: a certificate for another key fails here.
    super::client::Client::new(&identity).map_err(|e| JoinError::Other(e.to_string()))?;
    identity.save(data_dir).map_err(JoinError::Other)?;
    tracing::info!(hq = %enrolment.url, brand = %enrolment.brand, site = %enrolment.site, ca = %enrolment.ca_fingerprint, "joined headquarters");
    Ok(Joined { enrolment })
}
