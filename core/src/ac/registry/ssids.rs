//! The SSIDs every AP broadcasts; every change is a new config version.

use super::*;

impl Registry {
    /// The SSIDs, by name.
    pub async fn ssids(&self) -> Result<Vec<Ssid>, RegistryError> {
        let rows: Vec<SsidRow> = sqlx::query_as(SSIDS).fetch_all(&self.db).await?;
        Ok(rows.into_iter().filter_map(SsidRow::into_ssid).collect())
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
}

fn check_ssid(ssid: &Ssid) -> Result<(), RegistryError> {
    ssid.check().map_err(|e| RegistryError::BadSsid(e.to_string()))
}

/// Every SSID's row, by name.
pub(super) const SSIDS: &str =
    "SELECT name, security, key, vlan, hidden, client_isolation, captive_portal, bands FROM ssids ORDER BY name";

#[derive(sqlx::FromRow)]
pub(super) struct SsidRow {
    name: String,
    security: String,
    key: String,
    vlan: Option<i64>,
    hidden: bool,
    client_isolation: bool,
    captive_portal: bool,
    bands: String,
}

impl SsidRow {
    /// The SSID; None for a row this version cannot read.
    pub(super) fn into_ssid(self) -> Option<Ssid> {
        Some(Ssid {
            name: self.name,
            security: serde_json::from_value(serde_json::Value::String(self.security)).ok()?,
            key: self.key,
            vlan: self.vlan.and_then(|v| u16::try_from(v).ok()),
            hidden: self.hidden,
            client_isolation: self.client_isolation,
            captive_portal: self.captive_portal,
            bands: serde_json::from_str(&self.bands).ok()?,
        })
    }
}
