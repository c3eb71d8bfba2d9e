//! What every AP's configuration shares at one version (SSIDs, roaming,
//! country, the gateway's MAC, every radio's settings), read in one
//! transaction. The AC reads it once per version and builds each AP's
//! configuration from it and the radios the AP said hello with: a push to
//! 5,000 APs is one read, not four per AP.

use super::ssids::{SsidRow, SSIDS};
use super::{Registry, RegistryError};
use ap_protocol::{ApConfig, Band, Radio, RadioInfo, Roaming, Ssid};
use std::collections::HashMap;

/// A radio's stored settings: fixed channel, fixed TX power, planned
/// channel, power reduction (dB).
type Settings = (Option<i64>, Option<i64>, Option<i64>, i64);

/// One version's shared configuration.
#[derive(Debug)]
pub struct Snapshot {
    version: u64,
    country: String,
    roaming: Roaming,
    ssids: Vec<Ssid>,
    gateway_mac: Option<String>,
    /// (device id, interface) -> its settings.
    settings: HashMap<(String, String), Settings>,
}

impl Registry {
    /// The shared configuration now, with the radio settings of `device`
    /// only, or of every AP (None).
    pub async fn snapshot(&self, device: Option<&str>) -> Result<Snapshot, RegistryError> {
        let mut tx = self.db.begin().await?;
        let (version, country, mobility_domain, ft_key, gateway_mac): (i64, String, String, String, Option<String>) =
            sqlx::query_as(
                "SELECT config_version, country, mobility_domain, ft_key, gateway_mac FROM ac_settings WHERE id = 1",
            )
            .fetch_one(&mut *tx)
            .await?;
        let ssids: Vec<SsidRow> = sqlx::query_as(SSIDS).fetch_all(&mut *tx).await?;
        type Row = (String, String, Option<i64>, Option<i64>, Option<i64>, i64);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT device_id, interface, fixed_channel, fixed_tx_power_dbm, planned_channel, power_reduction_db \
             FROM radio_settings WHERE ?1 IS NULL OR device_id = ?1",
        )
        .bind(device)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Snapshot {
            version: version as u64,
            country,
            roaming: Roaming { mobility_domain, ft_key },
            ssids: ssids.into_iter().filter_map(SsidRow::into_ssid).collect(),
            gateway_mac,
            settings: rows.into_iter().map(|(d, i, fc, ft, pc, cut)| ((d, i), (fc, ft, pc, cut))).collect(),
        })
    }
}

impl Snapshot {
    /// The configuration version it is.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The configuration of `device_id`, whose radios are `radios`.
    pub fn config_for(&self, device_id: &str, radios: &[RadioInfo]) -> ApConfig {
        let radios = radios
            .iter()
            .map(|r| {
                let s = self.settings.get(&(device_id.to_string(), r.interface.clone()));
                let default = if r.band == Band::G2_4 { 6 } else { 36 };
                let channel = s.and_then(|s| s.0.or(s.2)).and_then(|c| u16::try_from(c).ok()).unwrap_or(default);
                // The planner lowers power from the band's usual maximum.
                let max = if r.band == Band::G2_4 { 20 } else { 23 };
                let tx = match s {
                    Some((_, Some(fixed), _, _)) => u8::try_from(*fixed).ok(),
                    Some((_, None, _, reduction)) if *reduction > 0 => u8::try_from(max - reduction).ok(),
                    _ => None,
                };
                Radio { channel, interface: r.interface.clone(), band: r.band, width_mhz: 20, tx_power_dbm: tx }
            })
            .collect();
        ApConfig {
            version: self.version,
            country: self.country.clone(),
            ssids: self.ssids.clone(),
            radios,
            roaming: self.roaming.clone(),
            gateway_mac: self.gateway_mac.clone(),
        }
    }
}
