//! [`MemoryFilter`]: an in-memory [`ClientFilter`] for callers' unit tests.
//! The daemon never uses it.

use crate::types::{Client, ClientCounters, Rate};
use crate::{ClientFilter, FirewallError};
use futures::future::BoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records authorisations like the kernel set would, with settable counters.
#[derive(Default)]
pub struct MemoryFilter {
    clients: Mutex<BTreeMap<Client, (Instant, u64, u64, u64)>>,
    rates: Mutex<BTreeMap<Client, Rate>>,
    refusing: std::sync::atomic::AtomicBool,
}

impl MemoryFilter {
    /// Sets what the "kernel" counted for a client, to test idle detection.
    pub fn set_counters(&self, client: Client, packets: u64, bytes: u64) {
        if let Some(entry) = self.clients.lock().unwrap().get_mut(&client) {
            entry.1 = packets;
            entry.2 = bytes;
        }
    }

    /// Sets what the "kernel" forwarded to a client, to test data allowances.
    pub fn set_download(&self, client: Client, bytes: u64) {
        if let Some(entry) = self.clients.lock().unwrap().get_mut(&client) {
            entry.3 = bytes;
        }
    }

    /// The rate the client was let through at.
    pub fn rate(&self, client: Client) -> Option<Rate> {
        self.rates.lock().unwrap().get(&client).copied()
    }

    /// Makes every authorisation fail (as the kernel refusing an element), or work again.
    pub fn refuse_authorizations(&self, refuse: bool) {
        self.refusing.store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether the client is let through now.
    pub fn is_authorized(&self, client: Client) -> bool {
        self.clients.lock().unwrap().get(&client).is_some_and(|(until, ..)| *until > Instant::now())
    }
}

impl ClientFilter for MemoryFilter {
    fn authorize(&self, client: Client, timeout: Duration, rate: Rate) -> BoxFuture<'_, Result<(), FirewallError>> {
        if self.refusing.load(std::sync::atomic::Ordering::SeqCst) {
            let message = "refused by the test".to_string();
            return futures::future::ready(Err(FirewallError::Rejected { message })).boxed();
        }
        self.clients.lock().unwrap().insert(client, (Instant::now() + timeout, 0, 0, 0));
        self.rates.lock().unwrap().insert(client, rate);
        futures::future::ready(Ok(())).boxed()
    }

    fn revoke(&self, client: Client) -> BoxFuture<'_, Result<(), FirewallError>> {
        self.clients.lock().unwrap().remove(&client);
        self.rates.lock().unwrap().remove(&client);
        futures::future::ready(Ok(())).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<ClientCounters>, FirewallError>> {
        let now = Instant::now();
        let list = self
            .clients
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (until, ..))| *until > now)
            .map(|(client, (until, packets, bytes, down))| ClientCounters {
                client: *client,
                packets: *packets,
                bytes: *bytes,
                bytes_down: *down,
                expires_in: Some(*until - now),
            })
            .collect();
        futures::future::ready(Ok(list)).boxed()
    }

    fn restore(&self, clients: Vec<(Client, Duration, Rate)>) -> BoxFuture<'_, Result<(), FirewallError>> {
        let now = Instant::now();
        *self.rates.lock().unwrap() = clients.iter().map(|(c, _, r)| (*c, *r)).collect();
        *self.clients.lock().unwrap() = clients.into_iter().map(|(c, t, _)| (c, (now + t, 0, 0, 0))).collect();
        futures::future::ready(Ok(())).boxed()
    }
}
