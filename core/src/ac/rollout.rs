//! Staged firmware rollouts: one canary AP, then batches; an AP that
//! refuses the image or does not come back with the new version in time
//! halts the rollout and marks it failed.

use super::firmware::{self, Image};
use super::server::{Ac, AcError};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Where a rollout is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// The version being rolled out.
    pub version: String,
    /// Its stage.
    pub stage: Stage,
    /// APs that run the new version.
    pub upgraded: Vec<String>,
    /// APs still to do.
    pub remaining: Vec<String>,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// A rollout's stage; shown and sent as text (`canary`, `batch 1 of 3`,
/// `done`, `failed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Stage {
    /// One AP first.
    Canary,
    /// Batch `n` of `of`, after the canary.
    Batch {
        /// Which batch (1-based).
        n: usize,
        /// How many batches.
        of: usize,
    },
    /// Every AP runs the version.
    Done,
    /// Halted (see the status's failure).
    Failed,
}

impl Stage {
    /// Whether the rollout is still under way.
    pub fn running(self) -> bool {
        matches!(self, Stage::Canary | Stage::Batch { .. })
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Canary => f.write_str("canary"),
            Stage::Batch { n, of } => write!(f, "batch {n} of {of}"),
            Stage::Done => f.write_str("done"),
            Stage::Failed => f.write_str("failed"),
        }
    }
}

impl From<Stage> for String {
    fn from(stage: Stage) -> String {
        stage.to_string()
    }
}

impl TryFrom<String> for Stage {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        match text.as_str() {
            "canary" => Ok(Stage::Canary),
            "done" => Ok(Stage::Done),
            "failed" => Ok(Stage::Failed),
            _ => {
                let parsed = text
                    .strip_prefix("batch ")
                    .and_then(|rest| rest.split_once(" of "))
                    .and_then(|(n, of)| Some(Stage::Batch { n: n.parse().ok()?, of: of.parse().ok()? }));
                parsed.ok_or_else(|| format!("{text:?} is not a rollout stage"))
            }
        }
    }
}

/// How one AP's firmware offer ended, as it reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirmwareEvent {
    /// The AP's device id.
    pub ap: String,
    /// The offered version.
    pub version: String,
    /// Installed (it then reboots and says hello with the new version).
    pub installed: bool,
    /// Why not, when not.
    pub reason: String,
}

impl Ac {
    /// Checks an uploaded image's signed manifest (version, model, size,
    /// SHA-256) and keeps it for rollouts.
    pub fn upload_firmware(&self, version: &str, model: &str, image: Vec<u8>, signature: &[u8]) -> Result<(), AcError> {
        let dir = self.firmware_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("guestwifi-firmware"));
        let manifest = firmware::Manifest { version, model };
        let image = firmware::upload(&dir, manifest, image, signature, self.firmware_key.as_deref())?;
        tracing::info!(version, size = image.offer.size, "firmware image accepted");
        self.images.lock().unwrap().insert(version.to_string(), image);
        Ok(())
    }

    /// Where the current (or last) rollout is.
    pub fn rollout_status(&self) -> Option<RolloutStatus> {
        self.rollout.lock().unwrap().clone()
    }

    /// Rolls `version` out to every online adopted AP of its model not
    /// running it: one canary, then batches of `batch`; each AP has `wait`
    /// to come back with the new version, or the rollout halts and is marked
    /// failed. APs refuse a version not above theirs unless
    /// `allow_downgrade`.
    pub async fn start_rollout(
        &self,
        version: &str,
        batch: usize,
        wait: Duration,
        allow_downgrade: bool,
    ) -> Result<RolloutStatus, AcError> {
        let mut image = self
            .images
            .lock()
            .unwrap()
            .get(version)
            .cloned()
            .ok_or_else(|| AcError::Rollout(format!("no uploaded image {version:?}")))?;
        image.offer.allow_downgrade = allow_downgrade;
        if self.rollout_status().is_some_and(|r| r.stage.running()) {
            return Err(AcError::Rollout("a rollout is already running".into()));
        }
        let targets: Vec<String> = self
            .list()
            .await?
            .into_iter()
            .filter(|a| a.state == "adopted" && a.online && a.firmware != version && a.model == image.offer.model)
            .map(|a| a.device_id)
            .collect();
        if targets.is_empty() {
            return Err(AcError::Rollout(format!("every online {} AP already runs {version}", image.offer.model)));
        }
        let status = RolloutStatus {
            version: version.to_string(),
            stage: Stage::Canary,
            upgraded: Vec::new(),
            remaining: targets.clone(),
            failure: None,
        };
        *self.rollout.lock().unwrap() = Some(status.clone());
        let ac = self.clone();
        tokio::spawn(async move { ac.run_rollout(image, targets, batch.max(1), wait).await });
        Ok(status)
    }

    /// Stops a running rollout before its next AP: APs upgraded stay so,
    /// the rest keep their firmware. Err: none is running.
    pub fn halt_rollout(&self, by: &str) -> Result<RolloutStatus, AcError> {
        let mut rollout = self.rollout.lock().unwrap();
        match rollout.as_mut() {
            Some(r) if r.stage.running() => {
                r.stage = Stage::Failed;
                r.failure = Some(format!("halted by {by}"));
                tracing::warn!(version = %r.version, by, "firmware rollout halted");
                Ok(r.clone())
            }
            _ => Err(AcError::Rollout("no rollout is running".into())),
        }
    }

    fn halted(&self) -> bool {
        self.rollout_status().is_none_or(|r| !r.stage.running())
    }

    async fn run_rollout(&self, image: Image, targets: Vec<String>, batch: usize, wait: Duration) {
        let image = std::sync::Arc::new(image);
        let version = image.offer.version.clone();
        let mut groups: Vec<Vec<String>> = vec![vec![targets[0].clone()]];
        groups.extend(targets[1..].chunks(batch).map(<[String]>::to_vec));
        let total = groups.len() - 1;
        for (n, group) in groups.iter().enumerate() {
            if self.halted() {
                return;
            }
            let stage = if n == 0 { Stage::Canary } else { Stage::Batch { n, of: total } };
            self.update_rollout(|r| {
                if r.stage.running() {
                    r.stage = stage;
                }
            });
            let mut results = self.firmware_results.subscribe();
            let absent = {
                let connected = self.connected.lock().unwrap();
                group.iter().find(|ap| !connected.get(*ap).is_some_and(|c| c.adopted)).cloned()
            };
            if let Some(ap) = absent {
                return self.fail_rollout(format!("{ap} is not connected ({stage})"));
            }
            if self.offers.send(std::sync::Arc::new((group.iter().cloned().collect(), image.clone()))).is_err() {
                return self.fail_rollout(format!("no access point listens for firmware ({stage})"));
            }
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let aps = self.list().await.unwrap_or_default();
                let done =
                    group.iter().all(|id| aps.iter().any(|a| &a.device_id == id && a.online && a.firmware == version));
                if done {
                    break;
                }
                if self.halted() {
                    return;
                }
                tokio::select! {
                    event = results.recv() => {
                        if let Ok(FirmwareEvent { ap, version: v, installed: false, reason }) = event {
                            if group.contains(&ap) && v == version {
                                return self.fail_rollout(format!("{ap} refused {version} ({stage}): {reason}"));
                            }
                        }
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        return self.fail_rollout(format!("{stage} did not rejoin with {version} within {wait:?}"));
                    }
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            self.update_rollout(|r| {
                r.remaining.retain(|ap| !group.contains(ap));
                r.upgraded.extend(group.iter().cloned());
            });
            if self.halted() {
                return;
            }
            tracing::info!(%version, %stage, "firmware stage done");
        }
        self.update_rollout(|r| {
            if r.stage.running() {
                r.stage = Stage::Done;
            }
        });
        tracing::info!(%version, "firmware rollout done");
    }

    fn update_rollout(&self, f: impl FnOnce(&mut RolloutStatus)) {
        if let Some(r) = self.rollout.lock().unwrap().as_mut() {
            f(r);
        }
    }

    fn fail_rollout(&self, reason: String) {
        tracing::error!(%reason, "firmware rollout halted");
        self.update_rollout(|r| {
            r.stage = Stage::Failed;
            r.failure = Some(reason);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_reads_back_as_it_is_shown() {
        for stage in [Stage::Canary, Stage::Batch { n: 2, of: 3 }, Stage::Done, Stage::Failed] {
            assert_eq!(Stage::try_from(stage.to_string()), Ok(stage));
        }
        assert!(Stage::try_from("batch two".to_string()).is_err());
        assert!(Stage::Batch { n: 1, of: 1 }.running() && !Stage::Failed.running());
    }
}
