//! The walled garden: configured domain names resolved to addresses that a
//! guest may reach before logging in, refreshed when their DNS TTL runs out.

use crate::batcher::Firewall;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const MIN_REFRESH: Duration = Duration::from_secs(30);
const MAX_REFRESH: Duration = Duration::from_secs(3600);
/// Kept in the set a little past the TTL, so a refresh is never late.
const GRACE: Duration = Duration::from_secs(30);

/// Resolves the walled-garden names through the appliance's upstream servers.
pub struct GardenResolver {
    names: Vec<String>,
    resolver: TokioResolver,
}

impl GardenResolver {
    /// `servers` are the upstream DNS servers (port 53); empty means the
    /// system's resolver configuration.
    pub fn new(names: Vec<String>, servers: &[IpAddr]) -> Self {
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio().unwrap_or_else(|_| {
                TokioResolver::builder_with_config(ResolverConfig::default(), TokioConnectionProvider::default())
            })
        } else {
            let group = NameServerConfigGroup::from_ips_clear(servers, 53, true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], group),
                TokioConnectionProvider::default(),
            )
        };
        GardenResolver { names, resolver: builder.build() }
    }

    /// Every address of every name with its TTL; names that fail are logged
    /// and skipped, so one bad name does not empty the garden.
    pub async fn resolve(&self) -> Vec<(IpAddr, Duration)> {
        let mut out = Vec::new();
        for name in &self.names {
            match self.resolver.lookup_ip(name.as_str()).await {
                Ok(lookup) => {
                    let ttl = lookup.valid_until().saturating_duration_since(Instant::now());
                    out.extend(lookup.iter().map(|ip| (ip, ttl)));
                }
                Err(err) => tracing::warn!(%name, %err, "walled-garden name did not resolve"),
            }
        }
        out
    }
}

/// Keeps the garden sets filled; the background task stops when this is dropped.
pub struct GardenRefresher {
    task: tokio::task::JoinHandle<()>,
}

impl GardenRefresher {
    /// Resolves now, then again whenever the shortest TTL runs out.
    pub fn spawn(resolver: GardenResolver, firewall: Firewall) -> Self {
        let task = tokio::spawn(async move {
            if resolver.names.is_empty() {
                return;
            }
            loop {
                let addresses = resolver.resolve().await;
                let next =
                    addresses.iter().map(|(_, ttl)| *ttl).min().unwrap_or(MIN_REFRESH).clamp(MIN_REFRESH, MAX_REFRESH);
                let kept: Vec<_> = addresses.iter().map(|(ip, ttl)| (*ip, (*ttl).max(next) + GRACE)).collect();
                match firewall.add_garden(kept).await {
                    Ok(()) => {
                        tracing::info!(addresses = addresses.len(), refresh_in = ?next, "walled garden updated")
                    }
                    Err(err) => tracing::error!(error = %err, "walled garden not updated"),
                }
                tokio::time::sleep(next).await;
            }
        });
        GardenRefresher { task }
    }
}

impl Drop for GardenRefresher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
