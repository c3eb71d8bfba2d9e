//! The site's side of the link to HQ, run by the daemon of an enrolled
//! site: the bundle long-poll (applied whole or refused whole, the last
//! good one kept), the minute's heartbeat, and since when HQ is
//! unreachable. Facts go up through the member feed ([`crate::members::feed::Sink::Hq`]).

use crate::control::Handles;
use crate::hq::client::{Client, HqError};
use crate::hq::protocol::{Applied, Bundle, Heartbeat};
use crate::hq::site::LinkState;
use crate::hq::vouchers::Manifest;
use crate::kit::time::now_ms;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a bundle long-poll waits at HQ.
const WAIT: Duration = Duration::from_secs(25);
/// Between heartbeats.
pub const HEARTBEAT: Duration = Duration::from_secs(60);
/// The longest wait between tries while HQ is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The link's handle.
#[derive(Clone)]
pub struct Link {
    client: Client,
    handles: Handles,
    state: Arc<Mutex<LinkState>>,
    /// The configuration running (settings from a bundle are checked over its file).
    config: Arc<crate::config::Config>,
    /// Restarts the daemon (new settings apply at a start, guests stay online).
    restart: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The WeChat method, when its account is at HQ: it takes HQ's signed links.
    wechat: Option<Arc<crate::auth::wechat::WeChat>>,
}

impl Link {
    /// The link of the enrolled site `client` speaks for.
    pub fn new(client: Client, handles: Handles, url: &str, config: Arc<crate::config::Config>) -> Link {
        let managed = handles.marketing.managed();
        let state = LinkState {
            url: url.into(),
            brand: client.brand.clone(),
            site: client.site.clone(),
            bundle: managed.version,
            bundle_applied_at: (managed.applied_at > 0).then_some(managed.applied_at),
            ..LinkState::default()
        };
        let shared = handles.staff.feed.link().unwrap_or_default();
        *shared.lock().unwrap() = state;
        Link { client, handles, state: shared, config, restart: None, wechat: None }
    }

    /// Gives `wechat` HQ's ticket key from each bundle applied.
    pub fn with_wechat(mut self, wechat: Option<Arc<crate::auth::wechat::WeChat>>) -> Link {
        self.wechat = wechat.filter(|w| w.at_headquarters());
        self
    }

    /// Calls `restart` when a bundle's settings have been written.
    pub fn with_restart(mut self, restart: Arc<dyn Fn() + Send + Sync>) -> Link {
        self.restart = Some(restart);
        self
    }

    /// What the link last saw.
    pub fn state(&self) -> LinkState {
        self.state.lock().unwrap().clone()
    }

    fn ok(&self) {
        let mut state = self.state.lock().unwrap();
        if let Some(since) = state.unreachable_since.take() {
            tracing::info!(down_seconds = (now_ms() - since) / 1000, "headquarters reachable again");
        }
        state.error = None;
        state.last_ok_at = Some(now_ms());
    }

    fn failed(&self, err: &HqError) {
        let mut state = self.state.lock().unwrap();
        if state.unreachable_since.is_none() {
            tracing::warn!(error = %err, "headquarters unreachable: guests keep logging in with the last bundle, facts queue");
            state.unreachable_since = Some(now_ms());
        }
        state.error = Some(err.to_string());
    }

    /// Notes that HQ answered (chain vouchers are taken for their batches'
    /// offline bound from the last time), written at most once a minute.
    async fn heard(&self, last_written: &mut i64) {
        let now = now_ms();
        if now - *last_written < 60_000 {
            return;
        }
        match self.handles.staff.vouchers.heard_from_hq(now).await {
            Ok(()) => *last_written = now,
            Err(err) => tracing::warn!(error = %crate::error_chain(&err), "could not note that headquarters answered"),
        }
    }

    /// Long-polls the bundle until the process ends.
    pub async fn run_bundles(self) {
        let mut have = Some(self.handles.marketing.managed().version).filter(|v| !v.is_empty());
        let mut heard = 0;
        let mut backoff = Duration::from_secs(1);
        loop {
            match self.client.bundle(have.as_deref(), WAIT).await {
                Ok(None) => {
                    self.ok();
                    self.heard(&mut heard).await;
                    backoff = Duration::from_secs(1);
                }
                Ok(Some(bundle)) => {
                    self.ok();
                    self.heard(&mut heard).await;
                    backoff = Duration::from_secs(1);
                    match self.apply(&bundle).await {
                        // Not this version again: wait for the next.
                        Ok(()) | Err(Outcome::Refused(_)) => have = Some(bundle.version.clone()),
                        Err(Outcome::Link(err)) => {
                            self.failed(&err);
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                        }
                    }
                }
                Err(err) => {
                    self.failed(&err);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Applies `bundle` whole (photos first) or refuses it whole, and says
    /// which to HQ.
    async fn apply(&self, bundle: &Bundle) -> Result<(), Outcome> {
        let result = self.check_and_apply(bundle).await;
        let refused = match &result {
            Ok(_) => None,
            Err(Outcome::Refused(why)) => Some(why.clone()),
            Err(Outcome::Link(_)) => return result.map(drop),
        };
        {
            let mut state = self.state.lock().unwrap();
            match &refused {
                None => {
                    state.bundle = bundle.version.clone();
                    state.bundle_applied_at = Some(now_ms());
                    state.refused = None;
                }
                Some(why) => {
                    tracing::error!(bundle = %bundle.version, error = %why, "headquarters' bundle refused: the last good one stays");
                    state.refused = Some((bundle.version.clone(), why.clone()));
                }
            }
        }
        let report = Applied { version: bundle.version.clone(), refused };
        if let Err(err) = self.client.applied(&report).await {
            // HQ sees the version in the next heartbeat anyway.
            tracing::warn!(error = %err, "could not tell headquarters what was done with its bundle");
        }
        match result {
            Ok(true) => {
                tracing::info!(bundle = %bundle.version, "headquarters' settings written: restarting to apply them (guests stay online)");
                if let Some(restart) = &self.restart {
                    restart();
                }
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The settings overlay `bundle` makes, checked as the whole
    /// configuration it makes with the site's file and its own settings;
    /// Some when it differs from the one written.
    fn settings_change(&self, bundle: &Bundle) -> Result<Option<Option<String>>, String> {
        let dir = &self.config.data.dir;
        let path = dir.join(crate::config::HQ_SETTINGS_FILE);
        let wanted = match bundle.settings.is_empty() {
            true => None,
            false => Some(crate::hq::settings::to_toml(&bundle.settings)?),
        };
        let written = std::fs::read_to_string(&path).ok();
        if wanted == written {
            return Ok(None);
        }
        if let (Some(text), Some(source)) = (&wanted, &self.config.source) {
            let file = std::fs::read_to_string(source).map_err(|e| format!("{}: {e}", source.display()))?;
            let own = crate::config::Config::overlays_in(dir, crate::config::HQ_SETTINGS_FILE);
            let mut layers: Vec<(&str, &str)> = own.iter().map(|(t, o)| (t.as_str(), o.as_str())).collect();
            layers.push((text, crate::config::HQ_SETTINGS_FILE));
            crate::config::Config::parse_layers(&file, &source.display().to_string(), &layers, std::env::vars())
                .map_err(|e| format!("settings: {}", crate::error_chain(&e)))?;
        }
        Ok(Some(wanted))
    }

    fn write_settings(&self, wanted: Option<String>) -> Result<(), String> {
        let dir = &self.config.data.dir;
        let path = dir.join(crate::config::HQ_SETTINGS_FILE);
        match wanted {
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", path.display())),
                _ => Ok(()),
            },
            Some(text) => {
                let tmp = dir.join(format!("{}.new", crate::config::HQ_SETTINGS_FILE));
                std::fs::write(&tmp, text)
                    .and_then(|()| std::fs::rename(&tmp, &path))
                    .map_err(|e| format!("{}: {e}", path.display()))
            }
        }
    }

    /// Checks `bundle` whole and applies it; true when its settings were
    /// written and the daemon must restart to run them.
    async fn check_and_apply(&self, bundle: &Bundle) -> Result<bool, Outcome> {
        if bundle.brand != self.client.brand || bundle.site != self.client.site {
            return Err(Outcome::Refused(format!(
                "the bundle is for {}/{}, this site is {}/{}",
                bundle.brand, bundle.site, self.client.brand, self.client.site
            )));
        }
        let settings = self.settings_change(bundle).map_err(Outcome::Refused)?;
        let ticket_key = match &bundle.ticket_key {
            None => None,
            Some(hex) => Some((
                hex,
                crate::hq::tickets::parse_public(hex)
                    .ok_or_else(|| Outcome::Refused("the bundle's ticket key is not an Ed25519 key".into()))?,
            )),
        };
        let batches = self.chain_batches(bundle, ticket_key.as_ref().map(|(_, key)| key))?;
        let blocks: BTreeMap<String, serde_json::Value> =
            bundle.blocks.iter().map(|(name, block)| (name.clone(), block.value.clone())).collect();
        let marketing = &self.handles.marketing;
        for id in marketing.missing_photos(&blocks).await {
            let bytes = match self.client.photo(&id).await {
                Ok(bytes) => bytes,
                Err(err) if err.is_link() => return Err(Outcome::Link(err)),
                Err(err) => return Err(Outcome::Refused(format!("photo {id}: {err}"))),
            };
            match marketing.store_image(bytes).await {
                Ok(stored) if stored == id => {}
                Ok(other) => return Err(Outcome::Refused(format!("photo {id} came as {other}"))),
                Err(err) => return Err(Outcome::Refused(format!("photo {id}: {err}"))),
            }
        }
        let overridable = bundle.blocks.iter().filter(|(_, b)| b.overridable).map(|(name, _)| name.clone()).collect();
        marketing
            .apply_managed(&bundle.version, blocks, overridable)
            .await
            .map_err(|e| Outcome::Refused(e.to_string()))?;
        let vouchers = &self.handles.staff.vouchers;
        vouchers.apply_chain(&batches, &bundle.voucher_uses).await.map_err(|e| Outcome::Refused(e.to_string()))?;
        if let Some((hex, key)) = ticket_key {
            if crate::hq::site::ticket_key(&self.config.data.dir).as_ref() != Some(&key) {
                crate::hq::site::save_ticket_key(&self.config.data.dir, hex).map_err(Outcome::Refused)?;
            }
            if let Some(wechat) = &self.wechat {
                wechat.trust_hq(&bundle.brand, key);
            }
        }
        match settings {
            Some(wanted) => {
                // The blocks are in; the settings file is written last, whole.
                self.write_settings(wanted).map_err(Outcome::Refused)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The bundle's chain voucher batches, each checked against HQ's key
    /// for this brand and site (one that is not refuses the whole bundle).
    fn chain_batches(
        &self,
        bundle: &Bundle,
        key: Option<&crate::hq::vouchers::VerifyingKey>,
    ) -> Result<Vec<(Manifest, String)>, Outcome> {
        if bundle.vouchers.is_empty() {
            return Ok(vec![]);
        }
        let key = key.ok_or_else(|| Outcome::Refused("chain voucher batches came without headquarters' key".into()))?;
        bundle
            .vouchers
            .iter()
            .map(|signed| {
                let manifest = crate::hq::vouchers::verify(key, signed, &bundle.brand, &bundle.site, &bundle.region)
                    .map_err(|e| Outcome::Refused(e.to_string()))?;
                Ok((manifest, signed.signature.clone()))
            })
            .collect()
    }

    /// What this minute's heartbeat says.
    pub async fn beat(&self) -> Heartbeat {
        let (aps_online, aps_total) = match &self.handles.ac {
            Some(ac) => {
                ac.list().await.map(|aps| (aps.iter().filter(|a| a.online).count(), aps.len())).unwrap_or((0, 0))
            }
            None => (0, 0),
        };
        let backlog = self.handles.staff.feed.status().await.map(|s| s.backlog).unwrap_or_default();
        Heartbeat {
            software: env!("CARGO_PKG_VERSION").into(),
            bundle: self.handles.marketing.managed().version,
            guests_online: self.handles.sessions.live_count() as i64,
            aps_online: aps_online as i64,
            aps_total: aps_total as i64,
            backlog: backlog.waiting,
            lag_ms: backlog.lag_ms,
            own_blocks: {
                let managed = self.handles.marketing.managed();
                managed.own.intersection(&managed.overridable).cloned().collect()
            },
            access_log: crate::trail::state(self.handles.sessions.store()).await.ok(),
            footfall: {
                let range = crate::stats::Range::last_days(2, self.handles.zone_offset);
                crate::stats::footfall::cells(self.handles.sessions.store(), &range).await.unwrap_or_default()
            },
        }
    }

    /// Sends a heartbeat a minute until the process ends.
    pub async fn run_heartbeat(self) {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let beat = self.beat().await;
            match self.client.heartbeat(&beat).await {
                Ok(()) => {
                    self.ok();
                    self.state.lock().unwrap().heartbeat_at = Some(now_ms());
                }
                Err(err) => self.failed(&err),
            }
        }
    }
}

enum Outcome {
    Refused(String),
    Link(HqError),
}
