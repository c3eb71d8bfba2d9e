//! What a configuration push costs the AC, kept flat at thousands of APs:
//! each version's shared configuration is read once ([`Snapshot`]), and
//! the APs' acks are written in groups, one transaction a group, then
//! announced to whoever follows them (the console, the load benchmark).

use super::registry::{Registry, RegistryError, Snapshot};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, Mutex};

/// Most acks one transaction writes.
const ACK_GROUP: usize = 1024;
/// Acks waiting for the writer before a session waits to hand over its own.
const ACK_QUEUE: usize = 16_384;

/// An AP runs a configuration version (its ack is in the store).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The AP.
    pub device_id: String,
    /// The version it runs.
    pub version: u64,
}

/// The snapshot cache and the ack writer.
#[derive(Clone)]
pub(crate) struct Pushes {
    registry: Registry,
    cache: Arc<Mutex<Option<Arc<Snapshot>>>>,
    acks: mpsc::Sender<(String, u64)>,
    applied: broadcast::Sender<Applied>,
}

impl Pushes {
    /// Starts the ack writer (it ends when the last clone is dropped).
    pub(crate) fn new(registry: Registry) -> Self {
        let (acks, rx) = mpsc::channel(ACK_QUEUE);
        let applied = broadcast::channel(ACK_QUEUE).0;
        tokio::spawn(write_acks(registry.clone(), rx, applied.clone()));
        Pushes { registry, cache: Arc::default(), acks, applied }
    }

    /// The shared configuration at `at_least` this version (read once per
    /// version, however many APs ask at once).
    pub(crate) async fn snapshot(&self, at_least: u64) -> Result<Arc<Snapshot>, RegistryError> {
        let mut cache = self.cache.lock().await;
        if let Some(s) = cache.as_ref().filter(|s| s.version() >= at_least) {
            return Ok(s.clone());
        }
        let fresh = Arc::new(self.registry.snapshot(None).await?);
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// `device_id` acked `version`: stored with the next group.
    pub(crate) async fn ack(&self, device_id: &str, version: u64) {
        let _ = self.acks.send((device_id.to_string(), version)).await;
    }

    /// Every ack from now on, once it is stored.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Applied> {
        self.applied.subscribe()
    }
}

async fn write_acks(registry: Registry, mut rx: mpsc::Receiver<(String, u64)>, applied: broadcast::Sender<Applied>) {
    let mut group = Vec::with_capacity(ACK_GROUP);
    while rx.recv_many(&mut group, ACK_GROUP).await > 0 {
        match registry.applied(&group).await {
            Ok(()) => {
                if let [(device_id, version)] = &group[..] {
                    tracing::info!(%device_id, version, "configuration applied");
                } else {
                    tracing::info!(aps = group.len(), "configuration applied by a group of APs");
                }
                for (device_id, version) in group.drain(..) {
                    let _ = applied.send(Applied { device_id, version });
                }
            }
            Err(err) => {
                tracing::error!(aps = group.len(), error = %crate::error_chain(&err), "APs' acks not stored");
                group.clear();
            }
        }
    }
}
