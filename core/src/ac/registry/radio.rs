//! Radios: the neighbour scans APs report, per-AP settings and the channel plan.

use super::*;

impl Registry {
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

    /// An admin's per-AP settings: floor, zone, and per radio a fixed channel or TX power
    /// (None leaves a setting as it is; Some(0) clears it). A zone alone
    /// changes no AP's configuration: the version stays.
    pub async fn set_ap(
        &self,
        device_id: &str,
        floor: Option<i64>,
        zone: Option<&str>,
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
        if let Some(zone) = zone {
            sqlx::query("UPDATE access_points SET zone = ? WHERE device_id = ?")
                .bind(zone.trim())
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
            if floor.is_none() && radio.is_none() {
                let version: i64 = sqlx::query_scalar("SELECT config_version FROM ac_settings WHERE id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(version as u64);
            }
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
        let aps: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT device_id, radios_json, floor, zone FROM access_points WHERE state = 'adopted' ORDER BY device_id",
        )
        .fetch_all(&self.db)
        .await?;
        let fixed: Vec<(String, String, Option<i64>, Option<i64>)> =
            sqlx::query_as("SELECT device_id, interface, fixed_channel, fixed_tx_power_dbm FROM radio_settings")
                .fetch_all(&self.db)
                .await?;
        let mut radios = Vec::new();
        let mut by_bssid = std::collections::HashMap::new();
        for (device_id, radios_json, floor, zone) in &aps {
            let infos: Vec<RadioInfo> = serde_json::from_str(radios_json).unwrap_or_default();
            for r in infos {
                let id = format!("{device_id}/{}", r.interface);
                if let Some(bssid) = &r.bssid {
                    by_bssid.insert(bssid.to_ascii_lowercase(), id.clone());
                }
                let settings = fixed.iter().find(|f| &f.0 == device_id && f.1 == r.interface);
                let fixed_channel = settings.and_then(|f| f.2).and_then(|c| u16::try_from(c).ok());
                radios.push(PlanRadio {
                    id,
                    floor: *floor as i32,
                    band: r.band,
                    fixed_channel,
                    zone: Some(zone.clone()).filter(|z| !z.is_empty()),
                    fixed_power: settings.is_some_and(|f| f.3.is_some()),
                });
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

    /// Every adopted AP's radios as they run now: channel and power (the
    /// admin's fixed ones or the plan's), why, and which of the other
    /// radios each one hears and how loud (the channel plan's picture).
    pub async fn radios(&self) -> Result<Vec<RadioView>, RegistryError> {
        let aps: Vec<(String, String)> = sqlx::query_as(
            "SELECT device_id, radios_json FROM access_points WHERE state = 'adopted' ORDER BY device_id",
        )
        .fetch_all(&self.db)
        .await?;
        type Setting = (String, String, Option<i64>, Option<i64>, Option<i64>, i64, String);
        let settings: Vec<Setting> = sqlx::query_as(
            "SELECT device_id, interface, fixed_channel, fixed_tx_power_dbm, planned_channel, power_reduction_db, \
             plan_reason FROM radio_settings",
        )
        .fetch_all(&self.db)
        .await?;
        let scans: Vec<(String, String, String, i64)> =
            sqlx::query_as("SELECT device_id, interface, bssid, rssi FROM radio_scans").fetch_all(&self.db).await?;
        let mut out = Vec::new();
        let mut by_bssid = std::collections::HashMap::new();
        for (device_id, radios_json) in &aps {
            let infos: Vec<RadioInfo> = serde_json::from_str(radios_json).unwrap_or_default();
            for r in infos {
                let id = format!("{device_id}/{}", r.interface);
                if let Some(bssid) = &r.bssid {
                    by_bssid.insert(bssid.to_ascii_lowercase(), id.clone());
                }
                let s = settings.iter().find(|s| &s.0 == device_id && s.1 == r.interface);
                let fixed = s.and_then(|s| s.2).and_then(|c| u16::try_from(c).ok());
                let planned = s.and_then(|s| s.4).and_then(|c| u16::try_from(c).ok());
                out.push(RadioView {
                    id,
                    band: r.band,
                    channel: fixed.or(planned),
                    fixed: fixed.is_some(),
                    fixed_tx_power_dbm: s.and_then(|s| s.3).and_then(|p| u8::try_from(p).ok()),
                    power_reduction_db: s.map_or(0, |s| s.5.clamp(0, 30) as u8),
                    reason: s.map(|s| s.6.clone()).unwrap_or_default(),
                    heard: Vec::new(),
                });
            }
        }
        for (device_id, interface, bssid, rssi) in scans {
            let a = format!("{device_id}/{interface}");
            let Some(b) = by_bssid.get(&bssid.to_ascii_lowercase()) else { continue };
            if let Some(radio) = out.iter_mut().find(|r| r.id == a) {
                radio.heard.push((b.clone(), rssi as i16));
            }
        }
        for radio in &mut out {
            radio.heard.sort_by_key(|(_, rssi)| std::cmp::Reverse(*rssi));
        }
        Ok(out)
    }
}

/// One radio as the channel plan's picture shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RadioView {
    /// `ap-07/wlan1`.
    pub id: String,
    /// Its band.
    pub band: ap_protocol::Band,
    /// The channel it runs (None: not planned yet, the AP's default).
    pub channel: Option<u16>,
    /// The channel is the admin's, not the plan's.
    pub fixed: bool,
    /// The admin's fixed TX power.
    pub fixed_tx_power_dbm: Option<u8>,
    /// dB below full power, from the plan.
    pub power_reduction_db: u8,
    /// The plan's reason.
    pub reason: String,
    /// Other radios it hears: (id, dBm), loudest first.
    pub heard: Vec<(String, i16)>,
}
