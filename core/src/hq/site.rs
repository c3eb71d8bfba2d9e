//! What a site keeps of its enrolment, in `hq/` in the data dir: HQ's URL,
//! the identity HQ gave it, HQ's CA (pinned: the only one trusted for HQ),
//! the site's certificate and its key (mode 0600, never logged).

use crate::kit::secrets::write_secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The directory, in the data dir.
pub const DIR: &str = "hq";

/// The enrolment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// HQ's URL (`https://hq.example.com:8443`).
    pub url: String,
    /// Brand id.
    pub brand: String,
    /// Site id.
    pub site: String,
    /// Region id.
    pub region: String,
    /// Site name as HQ knows it.
    pub name: String,
    /// SHA-256 of HQ's CA certificate.
    pub ca_fingerprint: String,
    /// UTC ms.
    pub enrolled_at: i64,
}

/// The enrolment with its certificates and key, as the client uses them.
#[derive(Clone)]
pub struct Identity {
    /// Who and where.
    pub enrolment: Enrolment,
    /// HQ's CA, PEM.
    pub ca_pem: String,
    /// The site's certificate, PEM.
    pub cert_pem: String,
    /// The site's key, PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("enrolment", &self.enrolment).finish_non_exhaustive()
    }
}

fn paths(data_dir: &Path) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let dir = data_dir.join(DIR);
    (dir.join("enrolment.json"), dir.join("ca.crt"), dir.join("site.crt"), dir.join("site.key"))
}

impl Identity {
    /// The data dir's enrolment; None when the site never joined.
    pub fn load(data_dir: &Path) -> Result<Option<Identity>, String> {
        let (enrolment, ca, cert, key) = paths(data_dir);
        if !enrolment.exists() {
            return Ok(None);
        }
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let parsed: Enrolment =
            serde_json::from_str(&read(&enrolment)?).map_err(|e| format!("{}: {e}", enrolment.display()))?;
        Ok(Some(Identity {
            enrolment: parsed,
            ca_pem: read(&ca)?,
            cert_pem: read(&cert)?,
            key_pem: crate::kit::secrets::read_private(&key)?,
        }))
    }

    /// Writes the enrolment, the key last-but-one and the enrolment file
    /// last, so a half-written join is no join.
    pub fn save(&self, data_dir: &Path) -> Result<(), String> {
        let (enrolment, ca, cert, key) = paths(data_dir);
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let _ = std::fs::remove_file(&enrolment);
        let write = |p: &Path, text: &str| std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display()));
        write(&ca, &self.ca_pem)?;
        write(&cert, &self.cert_pem)?;
        write_secret(&key, self.key_pem.as_bytes()).map_err(|e| format!("{}: {e}", key.display()))?;
        let text = serde_json::to_string_pretty(&self.enrolment).expect("enrolment serialises");
        let tmp = dir.join("enrolment.json.tmp");
        write(&tmp, &text)?;
        std::fs::rename(&tmp, &enrolment).map_err(|e| format!("{}: {e}", enrolment.display()))
    }

    /// Forgets the enrolment (`controller hq leave`).
    pub fn remove(data_dir: &Path) -> std::io::Result<()> {
        let dir = data_dir.join(DIR);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

/// HQ's public ticket key as the last good bundle brought it (public; the
/// site checks HQ's signed links with it, offline).
pub fn ticket_key(data_dir: &Path) -> Option<ed25519_dalek::VerifyingKey> {
    let text = std::fs::read_to_string(data_dir.join(DIR).join("ticket-key")).ok()?;
    crate::hq::tickets::parse_public(&text)
}

/// Keeps `hex`, HQ's public ticket key, for the next start.
pub fn save_ticket_key(data_dir: &Path, hex: &str) -> Result<(), String> {
    let (path, tmp) = (data_dir.join(DIR).join("ticket-key"), data_dir.join(DIR).join("ticket-key.tmp"));
    std::fs::write(&tmp, hex)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// What the link to HQ last saw (kept with the feed, which shows it).
pub use crate::members::feed::LinkState;
