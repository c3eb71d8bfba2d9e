//! Access points, SSIDs and the shared roaming settings, in the store.

mod aps;
mod radio;
pub use radio::RadioView;
mod snapshot;
mod ssids;
pub use snapshot::Snapshot;

use crate::kit::time::now_ms;
use ap_protocol::{ApConfig, Hello, RadioInfo, Ssid};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

/// Why a registry call failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store failed.
    #[error("store error")]
    Store(#[from] sqlx::Error),
    /// No AP with that id.
    #[error("no access point {0:?}")]
    UnknownAp(String),
    /// An SSID setting is not acceptable.
    #[error("{0}")]
    BadSsid(String),
    /// The fingerprint given with an adoption is not the AP's key's.
    #[error("{device_id}: key fingerprint {given:?} does not match the key it said hello with ({actual})")]
    Fingerprint {
        /// The AP.
        device_id: String,
        /// What the admin gave.
        given: String,
        /// The key's fingerprint.
        actual: String,
    },
    /// An adoption needs the key's fingerprint (or an explicit any-key).
    #[error(
        "give the first 8 characters (or more) of {device_id}'s key fingerprint ({actual}), or adopt with --any-key"
    )]
    FingerprintNeeded {
        /// The AP.
        device_id: String,
        /// The key's fingerprint, to compare with the AP's label or log.
        actual: String,
    },
}

/// Most APs that may wait for adoption at once, by default: hellos from
/// more new ids are refused, so a flood of made-up ids cannot fill the store.
pub const MAX_PENDING: i64 = 256;

/// What an unauthenticated hello (no client certificate) leads to.
#[derive(Clone, Debug)]
pub enum PendingHello {
    /// New, or pending with the key it first said hello with: it waits.
    Waiting(Known),
    /// Adopted, its certificate not collected yet, and the adopted key: issue it.
    Collect(Known),
    /// Another key than the one this id is known by: recorded, refused.
    KeyConflict,
    /// Adopted with a certificate: only that certificate opens it.
    NeedsCertificate,
    /// Too many APs wait for adoption already.
    Full,
}

/// An AP as the admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessPoint {
    /// Stable device id.
    pub device_id: String,
    /// Model.
    pub model: String,
    /// Base MAC.
    pub mac: String,
    /// Firmware it reported.
    pub firmware: String,
    /// `pending` or `adopted`.
    pub state: String,
    /// Config version it runs.
    pub applied_version: i64,
    /// UTC ms.
    pub last_seen_at: i64,
    /// Floor, for the channel plan.
    pub floor: i64,
    /// The zone of the restaurant it serves (大堂, 包间...), for footfall; empty: none.
    #[serde(default)]
    pub zone: String,
    /// SHA-256 of the key it said hello with (and its certificate is for).
    #[serde(default)]
    pub fingerprint: String,
    /// Another key said hello with this id: its fingerprint (an impostor,
    /// or a replaced board the admin must forget and adopt again).
    #[serde(default)]
    pub key_conflict: Option<String>,
    /// The AP was provisioned with our CA's fingerprint (else it trusted the
    /// first controller it met).
    #[serde(default)]
    pub controller_pinned: bool,
    /// Whether it is connected now (filled in by the AC).
    #[serde(default)]
    pub online: bool,
    /// The config version it should run, when it runs another (filled in by the AC).
    #[serde(default)]
    pub wants_version: Option<i64>,
}

/// What the registry keeps of the AP's hello and identity.
#[derive(Clone, Debug)]
pub struct Known {
    /// `pending` or `adopted`.
    pub adopted: bool,
    /// The key its certificate is for.
    pub public_key_pem: String,
    /// Its certificate, once issued.
    pub cert_der: Option<Vec<u8>>,
}

/// The registry.
#[derive(Clone)]
pub struct Registry {
    db: SqlitePool,
    max_pending: i64,
}

impl Registry {
    /// Opens the registry; makes the roaming keys at first use.
    pub async fn new(db: SqlitePool) -> Result<Self, RegistryError> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let mut domain = [0u8; 2];
        rand::rng().fill_bytes(&mut domain);
        sqlx::query(
            "INSERT OR IGNORE INTO ac_settings (id, config_version, country, mobility_domain, ft_key) VALUES (1, 1, 'CN', ?, ?)",
        )
        .bind(ap_protocol::hex::encode(&domain))
        .bind(ap_protocol::hex::encode(&key))
        .execute(&db)
        .await?;
        Ok(Registry { db, max_pending: MAX_PENDING })
    }

    /// Lets `max` APs wait for adoption at once (a site rolling out many).
    pub fn with_max_pending(mut self, max: i64) -> Self {
        self.max_pending = max;
        self
    }

    /// The guest gateway's MAC the APs hold isolated guests to (the
    /// appliance's guest interface, read at every start). A change is a new
    /// configuration version, so every AP takes it: `Some(version)` then.
    pub async fn set_gateway_mac(&self, mac: Option<&str>) -> Result<Option<u64>, RegistryError> {
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await?; // it reads, then writes
        let now: Option<String> =
            sqlx::query_scalar("SELECT gateway_mac FROM ac_settings WHERE id = 1").fetch_one(&mut *tx).await?;
        if now.as_deref() == mac {
            return Ok(None);
        }
        sqlx::query("UPDATE ac_settings SET gateway_mac = ? WHERE id = 1").bind(mac).execute(&mut *tx).await?;
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        Ok(Some(version))
    }

    /// The current configuration version.
    pub async fn version(&self) -> Result<u64, RegistryError> {
        let v: i64 =
            sqlx::query_scalar("SELECT config_version FROM ac_settings WHERE id = 1").fetch_one(&self.db).await?;
        Ok(v as u64)
    }

    /// The configuration for one AP: every SSID, its own radios.
    pub async fn config_for(&self, device_id: &str) -> Result<ApConfig, RegistryError> {
        let radios_json: String = sqlx::query_scalar("SELECT radios_json FROM access_points WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or_else(|| RegistryError::UnknownAp(device_id.to_string()))?;
        let infos: Vec<RadioInfo> = serde_json::from_str(&radios_json).unwrap_or_default();
        Ok(self.snapshot(Some(device_id)).await?.config_for(device_id, &infos))
    }
}

async fn bump(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<u64, sqlx::Error> {
    let v: i64 = sqlx::query_scalar(
        "UPDATE ac_settings SET config_version = config_version + 1 WHERE id = 1 RETURNING config_version",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(v as u64)
}
