//! The object graph, built once: from the configuration and what faces the
//! kernel and the outside (the store, the firewall behind the sessions, the
//! SMS gateway, the keys), [`App::build`] makes the login methods, the
//! member store and its feed, marketing, the AC and the one door's handles;
//! the portal (`Portal::of`) and the console (`Console::of`) are made from
//! an `App`. The daemon and every in-process harness build it this way, so
//! a test runs what the appliance runs, and nothing is left out by accident
//! (no portal or console without marketing). It sits below the portal and
//! the console, above the core crate.

use crate::auth::sms::gateway::Gateway;
use crate::auth::{Keys, Methods};
use crate::config::Config;
use crate::control::{self, Handles};
use crate::errors::DaemonError;
use crate::kit::signer::Signer;
use crate::sessions::Sessions;
use std::sync::Arc;
use std::time::Duration;

/// What the graph is built from besides the configuration: the daemon's
/// real ones, or a harness's stand-ins (an in-memory store, a firewall in
/// memory, a fixed neighbour table, a gateway that writes a file).
pub struct Outside {
    /// The appliance's store.
    pub db: sqlx::SqlitePool,
    /// Guest sessions over the firewall.
    pub sessions: Sessions,
    /// Where SMS codes go; None: the one the configuration names.
    pub sms_gateway: Option<Arc<dyn Gateway>>,
    /// The login methods' keys and the portal's signer; None: the data dir's.
    pub keys: Option<(Keys, Signer)>,
    /// Whether the AC runs (the daemon: `ac.listen` is set).
    pub ac: bool,
    /// The printed voucher sheet and account slip (the console's templates).
    pub printer: Arc<dyn control::Printer>,
}

/// The built graph.
pub struct App {
    /// The configuration it was built from.
    pub config: Arc<Config>,
    /// What `/metrics` shows.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The member store's feed (the daemon runs it).
    pub feed: crate::members::feed::Feed,
    /// The login methods (the portal's).
    pub methods: Arc<Methods>,
    /// What the portal signs with.
    pub signer: Signer,
    /// The one door's handles (the console, the API, the control socket).
    pub handles: Handles,
    /// The WeChat official account, when on (the daemon serves its callback).
    pub wechat: Option<Arc<crate::auth::wechat::WeChat>>,
    /// The link to headquarters, when the site is enrolled (the daemon runs it).
    pub hq: Option<crate::hq_link::Link>,
}

impl App {
    /// Builds the graph; fails as the daemon's start would, naming what.
    pub async fn build(config: Arc<Config>, outside: Outside) -> Result<App, DaemonError> {
        let Outside { db, sessions, sms_gateway, keys, ac, printer } = outside;
        let dir = &config.data.dir;
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let (keys, signer) = match keys {
            Some(k) => k,
            None => (
                Keys::load_or_create(dir)
                    .map_err(|e| DaemonError::Secret { what: "the login methods' keys", source: e.into() })?,
                Signer::load_or_create(dir)
                    .map_err(|e| DaemonError::Secret { what: "the portal's signing key", source: e.into() })?,
            ),
        };
        // An enrolled site feeds HQ and never connects to PostgreSQL: its
        // member store is its own SQLite, under the identity HQ gave it.
        let identity = crate::hq::site::Identity::load(dir).map_err(DaemonError::Hq)?;
        let mut store_settings = config.members.clone();
        let client = match &identity {
            Some(identity) => {
                let e = &identity.enrolment;
                if !store_settings.url.is_empty() {
                    tracing::warn!("members.url is not used: this site is enrolled with headquarters, which keeps the chain's store");
                }
                store_settings.url = String::new();
                (store_settings.brand, store_settings.site, store_settings.region) =
                    (e.brand.clone(), e.site.clone(), e.region.clone());
                Some(crate::hq::client::Client::new(identity).map_err(|e| DaemonError::Hq(e.to_string()))?)
            }
            None => None,
        };
        let sms_gateway = match (sms_gateway, config.auth.sms.gateway.as_str(), &client) {
            (Some(g), ..) => g,
            (None, "hq", Some(client)) => Arc::new(crate::auth::sms::gateway::HqGateway(client.clone())),
            (None, "hq", None) => {
                tracing::warn!("auth.sms.gateway = \"hq\" but this site is not enrolled: no SMS goes out until `controller hq join`");
                Arc::new(crate::auth::sms::gateway::NotEnrolled)
            }
            (None, ..) => crate::auth::sms::gateway_from(&config.auth.sms, dir).map_err(DaemonError::SmsGateway)?,
        };
        let wechat = crate::auth::wechat::from_config(&config).map_err(DaemonError::WeChat)?;
        if let (Some(wechat), Some(identity)) = (&wechat, &identity) {
            // A chain's account: HQ's links are checked with the key the last
            // good bundle brought, so they work from the first second, offline too.
            if let Some(key) = crate::hq::site::ticket_key(dir).filter(|_| wechat.at_headquarters()) {
                wechat.trust_hq(&identity.enrolment.brand, key);
            }
        }
        let oauth = crate::auth::oauth::from_config(&config, client.as_ref()).map_err(DaemonError::OAuth)?;
        let mut members = crate::members::Store::connect(&store_settings, dir).map_err(DaemonError::Members)?;
        if let Some(client) = &client {
            members = members.with_remote(Arc::new(client.clone()));
        }
        let site_name =
            if config.members.site_name.is_empty() { &config.venue.name } else { &config.members.site_name };
        let mut feed = crate::members::feed::Feed::new(
            members.clone(),
            db.clone(),
            config.members.batch,
            (config.members.brand_name.clone(), site_name.clone(), store_settings.region.clone()),
        )
        .with_metrics(metrics.clone());
        if let Some(client) = &client {
            feed = feed.with_sink(crate::members::feed::Sink::Hq(Arc::new(client.clone())));
        }
        let methods = Methods::new(&config, db.clone(), keys, sms_gateway, wechat.clone(), oauth, members.clone());
        let marketing = Arc::new(crate::marketing::Marketing::load(db.clone()).await.map_err(DaemonError::Marketing)?);
        let ac = match ac {
            true => Some(Self::ac(&config, db.clone()).await?),
            false => None,
        };
        let staff = control::Staff {
            vouchers: methods.vouchers.clone(),
            accounts: methods.accounts.clone(),
            audit: methods.audit.clone(),
            counter_url: format!("{}{}", config.portal_url(), methods.counter.display_path()),
            portal_url: config.portal_url(),
            sms: methods.sms.clone(),
            members,
            feed: feed.clone(),
            db: db.clone(),
            cards: methods.cards.clone(),
            passes: methods.passes.clone(),
            printer,
            trail_key: Arc::new(crate::trail::signing_key(dir).map_err(DaemonError::TrailKey)?),
        };
        let handles = Handles {
            sessions,
            metrics: metrics.clone(),
            ac,
            staff,
            firmware_batch: config.ac.firmware_batch,
            firmware_wait: Duration::from_secs(config.ac.firmware_rejoin_minutes * 60),
            people: Arc::new(crate::staff::Staff::new(db, dir)),
            marketing,
            zone_offset: crate::kit::time::zone_offset(&config.venue.time_zone),
        };
        let methods = Arc::new(methods);
        let hq = match (client, identity) {
            (Some(client), Some(identity)) => Some(
                crate::hq_link::Link::new(client, handles.clone(), &identity.enrolment.url, config.clone())
                    .with_wechat(wechat.clone()),
            ),
            _ => None,
        };
        Ok(App { config, metrics, feed, methods, signer, handles, wechat, hq })
    }

    /// The AC: its registry, its CA (made at first start), firmware and channels.
    async fn ac(config: &Config, db: sqlx::SqlitePool) -> Result<crate::ac::Ac, DaemonError> {
        let registry = crate::ac::registry::Registry::new(db).await.map_err(DaemonError::Registry)?;
        let ca = crate::ac::ca::Ca::load_or_create(&config.data.dir).map_err(DaemonError::Ca)?;
        tracing::info!(fingerprint = %ca.fingerprint(), "AP CA: provision APs with this fingerprint to pin it");
        Ok(crate::ac::Ac::new(registry, ca, Duration::from_secs(config.ac.echo_seconds))
            .await
            .map_err(DaemonError::Registry)?
            .with_firmware(Some(config.ac.firmware_public_key.clone()), config.data.dir.join("firmware"))
            .with_channels(config.ac.channels_2g.clone(), config.ac.channels_5g.clone())
            .with_connection_cap(config.ac.max_connections_per_address))
    }
}
