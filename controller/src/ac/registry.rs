//! Access points, SSIDs and the shared roaming settings, in the store.

use crate::store::now_ms;
use ap_protocol::{ApConfig, Band, Hello, Radio, RadioInfo, Roaming, Security, Ssid};
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

    /// Records a hello that came without a client certificate. A new id
    /// becomes pending with its key; a pending id keeps the first key it was
    /// seen with (another key is a conflict, recorded and refused); an
    /// adopted id gets nothing but its not-yet-collected certificate, for
    /// the adopted key only. Nothing but the conflict is written for a
    /// refused hello.
    pub async fn pending_hello(&self, hello: &Hello) -> Result<PendingHello, RegistryError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let row: Option<(String, String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT state, public_key_pem, cert_der FROM access_points WHERE device_id = ?")
                .bind(&hello.device_id)
                .fetch_optional(&mut *tx)
                .await?;
        let outcome = match row {
            None => {
                let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM access_points WHERE state = 'pending'")
                    .fetch_one(&mut *tx)
                    .await?;
                if pending >= self.max_pending {
                    return Ok(PendingHello::Full);
                }
                sqlx::query(
                    "INSERT INTO access_points (device_id, model, mac, firmware, public_key_pem, radios_json, state, \
                     first_seen_at, last_seen_at, controller_pinned) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                )
                .bind(&hello.device_id)
                .bind(&hello.model)
                .bind(&hello.mac)
                .bind(&hello.firmware)
                .bind(&hello.public_key_pem)
                .bind(serde_json::to_string(&hello.radios).expect("serialisable"))
                .bind(now)
                .bind(now)
                .bind(hello.controller_pinned)
                .execute(&mut *tx)
                .await?;
                PendingHello::Waiting(Known {
                    adopted: false,
                    public_key_pem: hello.public_key_pem.clone(),
                    cert_der: None,
                })
            }
            Some((state, key, _)) if key != hello.public_key_pem => {
                sqlx::query("UPDATE access_points SET conflict_key_pem = ?, conflict_at = ? WHERE device_id = ?")
                    .bind(&hello.public_key_pem)
                    .bind(now)
                    .bind(&hello.device_id)
                    .execute(&mut *tx)
                    .await?;
                tracing::warn!(device_id = %hello.device_id, %state, "hello with another key than the one this AP is known by");
                PendingHello::KeyConflict
            }
            Some((state, _, Some(_))) if state == "adopted" => PendingHello::NeedsCertificate,
            Some((state, key, cert)) => {
                self.update_from_hello(&mut tx, hello, now).await?;
                let known = Known { adopted: state == "adopted", public_key_pem: key, cert_der: cert };
                if known.adopted {
                    PendingHello::Collect(known)
                } else {
                    PendingHello::Waiting(known)
                }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Records the hello of an AP that proved its identity with the
    /// certificate it was issued.
    pub async fn authenticated_hello(&self, hello: &Hello) -> Result<(), RegistryError> {
        let mut tx = self.db.begin().await?;
        self.update_from_hello(&mut tx, hello, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_from_hello(
        &self,
        tx: &mut sqlx::SqliteConnection,
        hello: &Hello,
        now: i64,
    ) -> Result<(), RegistryError> {
        sqlx::query(
            "UPDATE access_points SET model = ?, mac = ?, firmware = ?, radios_json = ?, last_seen_at = ?, \
             controller_pinned = ? WHERE device_id = ?",
        )
        .bind(&hello.model)
        .bind(&hello.mac)
        .bind(&hello.firmware)
        .bind(serde_json::to_string(&hello.radios).expect("serialisable"))
        .bind(now)
        .bind(hello.controller_pinned)
        .bind(&hello.device_id)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// What the registry knows of a device.
    pub async fn known(&self, device_id: &str) -> Result<Option<Known>, RegistryError> {
        let row: Option<(String, String, Option<Vec<u8>>)> =
            sqlx::query_as("SELECT state, public_key_pem, cert_der FROM access_points WHERE device_id = ?")
                .bind(device_id)
                .fetch_optional(&self.db)
                .await?;
        Ok(row.map(|(state, public_key_pem, cert_der)| Known { adopted: state == "adopted", public_key_pem, cert_der }))
    }

    /// The admin adopts a pending AP. `fingerprint` is the start (at least 8
    /// characters) of the key's fingerprint as the AP shows it; None adopts
    /// whatever key it said hello with (`--any-key`, after a warning).
    pub async fn adopt(&self, device_id: &str, fingerprint: Option<&str>) -> Result<(), RegistryError> {
        let key: Option<String> = sqlx::query_scalar("SELECT public_key_pem FROM access_points WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&self.db)
            .await?;
        let key = key.ok_or_else(|| RegistryError::UnknownAp(device_id.to_string()))?;
        let actual = ap_protocol::trust::pem_fingerprint(&key).unwrap_or_default();
        if let Some(given) = fingerprint {
            let given_lower = given.trim().to_ascii_lowercase().replace(':', "");
            if given_lower.len() < 8 {
                return Err(RegistryError::FingerprintNeeded { device_id: device_id.to_string(), actual });
            }
            if !actual.starts_with(&given_lower) {
                return Err(RegistryError::Fingerprint {
                    device_id: device_id.to_string(),
                    given: given.to_string(),
                    actual,
                });
            }
        }
        sqlx::query("UPDATE access_points SET state = 'adopted', conflict_key_pem = NULL WHERE device_id = ?")
            .bind(device_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Stores the certificate issued to an adopted AP.
    pub async fn set_certificate(&self, device_id: &str, der: &[u8]) -> Result<(), RegistryError> {
        sqlx::query("UPDATE access_points SET cert_der = ? WHERE device_id = ? AND state = 'adopted'")
            .bind(der)
            .bind(device_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Forgets an AP: its certificate no longer opens anything.
    pub async fn forget(&self, device_id: &str) -> Result<(), RegistryError> {
        let done =
            sqlx::query("DELETE FROM access_points WHERE device_id = ?").bind(device_id).execute(&self.db).await?;
        if done.rows_affected() == 0 {
            return Err(RegistryError::UnknownAp(device_id.to_string()));
        }
        Ok(())
    }

    /// Every AP.
    pub async fn list(&self) -> Result<Vec<AccessPoint>, RegistryError> {
        type Row = (String, String, String, String, String, i64, i64, i64, String, Option<String>, bool);
        Ok(sqlx::query_as::<_, Row>(
            "SELECT device_id, model, mac, firmware, state, applied_version, last_seen_at, floor, public_key_pem, \
             conflict_key_pem, controller_pinned FROM access_points ORDER BY device_id",
        )
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|(device_id, model, mac, firmware, state, applied_version, last_seen_at, floor, key, conflict, pinned)| {
            AccessPoint {
                device_id,
                model,
                mac,
                firmware,
                state,
                applied_version,
                last_seen_at,
                floor,
                fingerprint: ap_protocol::trust::pem_fingerprint(&key).unwrap_or_default(),
                key_conflict: conflict.as_deref().and_then(ap_protocol::trust::pem_fingerprint),
                controller_pinned: pinned,
                online: false,
                wants_version: None,
            }
        })
        .collect())
    }

    /// The AP acknowledged running `version`.
    pub async fn applied(&self, device_id: &str, version: u64) -> Result<(), RegistryError> {
        sqlx::query("UPDATE access_points SET applied_version = ?, last_seen_at = ? WHERE device_id = ?")
            .bind(version as i64)
            .bind(now_ms())
            .bind(device_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// A guest device joined or left an AP's radio.
    pub async fn station(
        &self,
        device_id: &str,
        interface: &str,
        station: &str,
        joined: bool,
        at: i64,
    ) -> Result<(), RegistryError> {
        // Whatever AP it was on before, it is not there any more.
        sqlx::query(
            "UPDATE station_visits SET left_at = ? WHERE station = ? AND left_at IS NULL AND (? OR device_id = ?)",
        )
        .bind(at)
        .bind(station)
        .bind(joined)
        .bind(device_id)
        .execute(&self.db)
        .await?;
        if joined {
            sqlx::query("INSERT INTO station_visits (station, device_id, interface, joined_at) VALUES (?, ?, ?, ?)")
                .bind(station)
                .bind(device_id)
                .bind(interface)
                .bind(at)
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    /// The AP a guest device is on now, if any.
    pub async fn station_location(&self, station: &str) -> Result<Option<String>, RegistryError> {
        Ok(sqlx::query_scalar("SELECT device_id FROM station_visits WHERE station = ? AND left_at IS NULL")
            .bind(station)
            .fetch_optional(&self.db)
            .await?)
    }

    /// Guest devices associated now: (station, AP device id, radio, joined at UTC ms).
    pub async fn stations(&self) -> Result<Vec<(String, String, String, i64)>, RegistryError> {
        Ok(sqlx::query_as(
            "SELECT station, device_id, interface, joined_at FROM station_visits WHERE left_at IS NULL ORDER BY station",
        )
        .fetch_all(&self.db)
        .await?)
    }

    /// Replaces what one radio heard.
    pub async fn scan(
        &self,
        device_id: &str,
        interface: &str,
        heard: &[ap_protocol::Neighbour],
    ) -> Result<(), RegistryError> {
        let mut tx = self.db.begin().await?;
        sqlx::query("DELETE FROM radio_scans WHERE device_id = ? AND interface = ?")
            .bind(device_id)
            .bind(interface)
            .execute(&mut *tx)
            .await?;
        for n in heard {
            sqlx::query(
                "INSERT OR REPLACE INTO radio_scans (device_id, interface, bssid, channel, rssi, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(device_id)
            .bind(interface)
            .bind(n.bssid.to_ascii_lowercase())
            .bind(i64::from(n.channel))
            .bind(i64::from(n.rssi))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An admin's per-AP settings: floor, and per radio a fixed channel or TX power
    /// (None leaves a setting as it is; Some(0) clears it).
    pub async fn set_ap(
        &self,
        device_id: &str,
        floor: Option<i64>,
        radio: Option<(&str, Option<u16>, Option<u8>)>,
    ) -> Result<u64, RegistryError> {
        let mut tx = self.db.begin().await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM access_points WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(RegistryError::UnknownAp(device_id.to_string()));
        }
        if let Some(floor) = floor {
            sqlx::query("UPDATE access_points SET floor = ? WHERE device_id = ?")
                .bind(floor)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((interface, channel, power)) = radio {
            // A setting left out (None) stays as it is; 0 clears it.
            sqlx::query(
                "INSERT INTO radio_settings (device_id, interface, fixed_channel, fixed_tx_power_dbm) \
                 VALUES (?1, ?2, NULLIF(?3, 0), NULLIF(?4, 0)) ON CONFLICT (device_id, interface) DO UPDATE SET \
                 fixed_channel = CASE WHEN ?3 IS NULL THEN fixed_channel ELSE NULLIF(?3, 0) END, \
                 fixed_tx_power_dbm = CASE WHEN ?4 IS NULL THEN fixed_tx_power_dbm ELSE NULLIF(?4, 0) END",
            )
            .bind(device_id)
            .bind(interface)
            .bind(channel.map(i64::from))
            .bind(power.map(i64::from))
            .execute(&mut *tx)
            .await?;
        }
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Plans every adopted AP's radios from the stored scans, keeps the
    /// result and returns it with the new config version.
    pub async fn plan(&self, list_2g: &[u16], list_5g: &[u16]) -> Result<(crate::ac::plan::Plan, u64), RegistryError> {
        use crate::ac::plan::{plan, Heard, PlanRadio};
        let aps: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT device_id, radios_json, floor FROM access_points WHERE state = 'adopted' ORDER BY device_id",
        )
        .fetch_all(&self.db)
        .await?;
        let fixed: Vec<(String, String, Option<i64>)> =
            sqlx::query_as("SELECT device_id, interface, fixed_channel FROM radio_settings")
                .fetch_all(&self.db)
                .await?;
        let mut radios = Vec::new();
        let mut by_bssid = std::collections::HashMap::new();
        for (device_id, radios_json, floor) in &aps {
            let infos: Vec<RadioInfo> = serde_json::from_str(radios_json).unwrap_or_default();
            for r in infos {
                let id = format!("{device_id}/{}", r.interface);
                if let Some(bssid) = &r.bssid {
                    by_bssid.insert(bssid.to_ascii_lowercase(), id.clone());
                }
                let fixed_channel = fixed
                    .iter()
                    .find(|f| &f.0 == device_id && f.1 == r.interface)
                    .and_then(|f| f.2)
                    .and_then(|c| u16::try_from(c).ok());
                radios.push(PlanRadio { id, floor: *floor as i32, band: r.band, fixed_channel });
            }
        }
        let scans: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT device_id, interface, bssid, rssi FROM radio_scans").fetch_all(&self.db).await?;
        let heard: Vec<Heard> = scans
            .into_iter()
            .filter_map(|(device_id, interface, bssid, rssi)| {
                Some(Heard {
                    a: format!("{device_id}/{interface}"),
                    b: by_bssid.get(&bssid)?.clone(),
                    rssi: rssi as i16,
                })
            })
            .collect();
        let result = plan(&radios, &heard, list_2g, list_5g);
        let mut tx = self.db.begin().await?;
        for (id, a) in &result.radios {
            let (device_id, interface) = id.split_once('/').unwrap_or((id, ""));
            sqlx::query(
                "INSERT INTO radio_settings (device_id, interface, planned_channel, power_reduction_db, plan_reason) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, interface) DO UPDATE SET \
                 planned_channel = excluded.planned_channel, power_reduction_db = excluded.power_reduction_db, \
                 plan_reason = excluded.plan_reason",
            )
            .bind(device_id)
            .bind(interface)
            .bind(i64::from(a.channel))
            .bind(i64::from(a.power_reduction_db))
            .bind(&a.reason)
            .execute(&mut *tx)
            .await?;
        }
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        Ok((result, version))
    }

    /// The SSIDs, by name.
    pub async fn ssids(&self) -> Result<Vec<Ssid>, RegistryError> {
        let rows: Vec<SsidRow> = sqlx::query_as(
            "SELECT name, security, key, vlan, hidden, client_isolation, captive_portal, bands FROM ssids ORDER BY name",
        )
        .fetch_all(&self.db)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Ssid {
                    name: r.name,
                    security: serde_json::from_value(serde_json::Value::String(r.security)).ok()?,
                    key: r.key,
                    vlan: r.vlan.and_then(|v| u16::try_from(v).ok()),
                    hidden: r.hidden,
                    client_isolation: r.client_isolation,
                    captive_portal: r.captive_portal,
                    bands: serde_json::from_str(&r.bands).ok()?,
                })
            })
            .collect())
    }

    /// Adds or replaces an SSID; returns the new config version.
    pub async fn put_ssid(&self, ssid: &Ssid) -> Result<u64, RegistryError> {
        check_ssid(ssid)?;
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO ssids (name, security, key, vlan, hidden, client_isolation, captive_portal, bands) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&ssid.name)
        .bind(serde_json::to_value(ssid.security).expect("serialisable").as_str().unwrap_or("open").to_string())
        .bind(&ssid.key)
        .bind(ssid.vlan.map(i64::from))
        .bind(ssid.hidden)
        .bind(ssid.client_isolation)
        .bind(ssid.captive_portal)
        .bind(serde_json::to_string(&ssid.bands).expect("serialisable"))
        .execute(&mut *tx)
        .await?;
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Removes an SSID; returns the new config version.
    pub async fn remove_ssid(&self, name: &str) -> Result<u64, RegistryError> {
        let mut tx = self.db.begin().await?;
        let done = sqlx::query("DELETE FROM ssids WHERE name = ?").bind(name).execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            return Err(RegistryError::BadSsid(format!("no SSID named {name:?}")));
        }
        let version = bump(&mut tx).await?;
        tx.commit().await?;
        Ok(version)
    }

    /// The current configuration version.
    pub async fn version(&self) -> Result<u64, RegistryError> {
        let v: i64 =
            sqlx::query_scalar("SELECT config_version FROM ac_settings WHERE id = 1").fetch_one(&self.db).await?;
        Ok(v as u64)
    }

    /// The configuration for one AP: every SSID, its own radios.
    pub async fn config_for(&self, device_id: &str) -> Result<ApConfig, RegistryError> {
        let (version, country, mobility_domain, ft_key): (i64, String, String, String) =
            sqlx::query_as("SELECT config_version, country, mobility_domain, ft_key FROM ac_settings WHERE id = 1")
                .fetch_one(&self.db)
                .await?;
        let radios_json: String = sqlx::query_scalar("SELECT radios_json FROM access_points WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&self.db)
            .await?
            .ok_or_else(|| RegistryError::UnknownAp(device_id.to_string()))?;
        let infos: Vec<RadioInfo> = serde_json::from_str(&radios_json).unwrap_or_default();
        let settings: Vec<RadioSettingsRow> = sqlx::query_as(
            "SELECT interface, fixed_channel, fixed_tx_power_dbm, planned_channel, power_reduction_db \
             FROM radio_settings WHERE device_id = ?",
        )
        .bind(device_id)
        .fetch_all(&self.db)
        .await?;
        let radios = infos
            .into_iter()
            .map(|r| {
                let s = settings.iter().find(|s| s.0 == r.interface);
                let default = if r.band == Band::G2_4 { 6 } else { 36 };
                let channel = s.and_then(|s| s.1.or(s.3)).and_then(|c| u16::try_from(c).ok()).unwrap_or(default);
                // The planner lowers power from the band's usual maximum.
                let max = if r.band == Band::G2_4 { 20 } else { 23 };
                let tx = match s {
                    Some((_, _, Some(fixed), _, _)) => u8::try_from(*fixed).ok(),
                    Some((_, _, None, _, reduction)) if *reduction > 0 => u8::try_from(max - reduction).ok(),
                    _ => None,
                };
                Radio { channel, interface: r.interface, band: r.band, width_mhz: 20, tx_power_dbm: tx }
            })
            .collect();
        Ok(ApConfig {
            version: version as u64,
            country,
            ssids: self.ssids().await?,
            radios,
            roaming: Roaming { mobility_domain, ft_key },
        })
    }
}

/// interface, fixed channel, fixed TX power, planned channel, power reduction.
type RadioSettingsRow = (String, Option<i64>, Option<i64>, Option<i64>, i64);

#[derive(sqlx::FromRow)]
struct SsidRow {
    name: String,
    security: String,
    key: String,
    vlan: Option<i64>,
    hidden: bool,
    client_isolation: bool,
    captive_portal: bool,
    bands: String,
}

async fn bump(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<u64, sqlx::Error> {
    let v: i64 = sqlx::query_scalar(
        "UPDATE ac_settings SET config_version = config_version + 1 WHERE id = 1 RETURNING config_version",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(v as u64)
}

fn check_ssid(ssid: &Ssid) -> Result<(), RegistryError> {
    let bad = |m: &str| Err(RegistryError::BadSsid(format!("SSID {:?}: {m}", ssid.name)));
    if ssid.name.is_empty() || ssid.name.len() > 32 {
        return bad("the name must be 1 to 32 bytes");
    }
    if ssid.bands.is_empty() {
        return bad("choose at least one band");
    }
    match ssid.security {
        Security::Open => {}
        Security::Wpa2Psk | Security::Wpa2Wpa3
            if !(8..=63).contains(&ssid.key.len()) || !ssid.key.bytes().all(|b| (0x20..0x7f).contains(&b)) =>
        {
            return bad("a WPA2 key is 8 to 63 printable ASCII characters");
        }
        Security::Wpa3Sae if ssid.key.is_empty() || ssid.key.chars().any(char::is_control) => {
            return bad("a WPA3 password is printable and not empty");
        }
        _ => {}
    }
    if ssid.vlan.is_some_and(|v| !(1..=4094).contains(&v)) {
        return bad("VLAN is 1 to 4094");
    }
    // Without a VLAN of its own an SSID lands on the guest network, where the
    // gateway's portal applies to everyone.
    if !ssid.captive_portal && ssid.vlan.is_none() {
        return bad("an SSID without the captive portal needs its own VLAN");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssid() -> Ssid {
        Ssid {
            name: "Staff".into(),
            security: Security::Wpa2Psk,
            key: "kitchen-2024!".into(),
            vlan: None,
            hidden: false,
            client_isolation: true,
            captive_portal: true,
            bands: vec![Band::G2_4],
        }
    }

    #[test]
    fn ssid_settings_are_checked() {
        assert!(check_ssid(&ssid()).is_ok());
        let no_portal = Ssid { captive_portal: false, ..ssid() };
        assert!(check_ssid(&no_portal).unwrap_err().to_string().contains("own VLAN"));
        assert!(check_ssid(&Ssid { vlan: Some(20), ..no_portal }).is_ok());
        assert!(check_ssid(&Ssid { key: "short".into(), ..ssid() }).is_err());
        assert!(check_ssid(&Ssid { bands: vec![], ..ssid() }).is_err());
        assert!(check_ssid(&Ssid { vlan: Some(5000), ..ssid() }).is_err());
        assert!(check_ssid(&Ssid { name: "x".repeat(33), ..ssid() }).is_err());
    }
}
