//! Access points: hellos, adoption, certificates, and where guests' devices are.

use super::*;

impl Registry {
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
        let mut done = self.adopt_many(&[(device_id.to_string(), fingerprint.map(str::to_string))]).await?;
        done.pop().expect("one answer for one AP")
    }

    /// Adopts many APs in one transaction (a site rolling out hundreds):
    /// each answer says whether that AP was adopted, as [`Registry::adopt`].
    pub async fn adopt_many(
        &self,
        aps: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), RegistryError>>, RegistryError> {
        let mut tx = self.db.begin_with("BEGIN IMMEDIATE").await?; // it reads, then writes
        let mut out = Vec::with_capacity(aps.len());
        for (device_id, fingerprint) in aps {
            let key: Option<String> =
                sqlx::query_scalar("SELECT public_key_pem FROM access_points WHERE device_id = ?")
                    .bind(device_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let checked = match key {
                None => Err(RegistryError::UnknownAp(device_id.clone())),
                Some(key) => fingerprint_matches(device_id, &key, fingerprint.as_deref()),
            };
            if checked.is_ok() {
                sqlx::query("UPDATE access_points SET state = 'adopted', conflict_key_pem = NULL WHERE device_id = ?")
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
            }
            out.push(checked);
        }
        tx.commit().await?;
        Ok(out)
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
        type Row = (String, String, String, String, String, i64, i64, i64, String, Option<String>, bool, String);
        Ok(sqlx::query_as::<_, Row>(
            "SELECT device_id, model, mac, firmware, state, applied_version, last_seen_at, floor, public_key_pem, \
             conflict_key_pem, controller_pinned, zone FROM access_points ORDER BY device_id",
        )
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(
            |(
                device_id,
                model,
                mac,
                firmware,
                state,
                applied_version,
                last_seen_at,
                floor,
                key,
                conflict,
                pinned,
                zone,
            )| {
                AccessPoint {
                    device_id,
                    model,
                    mac,
                    firmware,
                    state,
                    applied_version,
                    last_seen_at,
                    floor,
                    zone,
                    fingerprint: ap_protocol::trust::pem_fingerprint(&key).unwrap_or_default(),
                    key_conflict: conflict.as_deref().and_then(ap_protocol::trust::pem_fingerprint),
                    controller_pinned: pinned,
                    online: false,
                    wants_version: None,
                }
            },
        )
        .collect())
    }

    /// The APs acknowledged running these versions, in one transaction.
    pub async fn applied(&self, acks: &[(String, u64)]) -> Result<(), RegistryError> {
        let mut tx = self.db.begin().await?;
        let now = now_ms();
        for (device_id, version) in acks {
            sqlx::query("UPDATE access_points SET applied_version = ?, last_seen_at = ? WHERE device_id = ?")
                .bind(*version as i64)
                .bind(now)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
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
            // The zone its AP is in now is where the guest was, whatever the AP's zone later.
            sqlx::query(
                "INSERT INTO station_visits (station, device_id, interface, joined_at, zone) \
                 VALUES (?1, ?2, ?3, ?4, COALESCE((SELECT zone FROM access_points WHERE device_id = ?2), ''))",
            )
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
}

/// Whether `given` (None: any key) is the start of the fingerprint of `key`.
fn fingerprint_matches(device_id: &str, key: &str, given: Option<&str>) -> Result<(), RegistryError> {
    let actual = ap_protocol::trust::pem_fingerprint(key).unwrap_or_default();
    let Some(given) = given else { return Ok(()) };
    let given_lower = given.trim().to_ascii_lowercase().replace(':', "");
    if given_lower.len() < 8 {
        return Err(RegistryError::FingerprintNeeded { device_id: device_id.to_string(), actual });
    }
    if !actual.starts_with(&given_lower) {
        return Err(RegistryError::Fingerprint { device_id: device_id.to_string(), given: given.to_string(), actual });
    }
    Ok(())
}
