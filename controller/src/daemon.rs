//! `controller run`: everything the appliance does, started in order and
//! stopped cleanly.

use crate::admin::control;
use crate::auth::countdown::Countdown;
use crate::config::Config;
use crate::dhcp::Dnsmasq;
use crate::portal::server::{self, GuestRateLimit, Limits};
use crate::portal::{self, Portal};
use crate::sessions::Sessions;
use crate::{store, tls};
use anyhow::Context;
use firewall::{ClientFilter, Firewall, GardenRefresher, GardenResolver};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How often expired sessions are ended in the store.
const SWEEP: Duration = Duration::from_secs(1);
/// Idle detection reads every counter: every this many sweeps.
const IDLE_EVERY: u32 = 10;

/// Runs the appliance until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let dir = &config.data.dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let db = store::open(dir).await.context("cannot open the database")?;

    let clients = Sessions::live_clients(&db).await?;
    let firewall = Firewall::start(config.policy(), &clients).context("cannot install the guest firewall")?;
    tracing::info!(restored = clients.len(), "sessions restored into the firewall");
    let filter: Arc<dyn ClientFilter> = Arc::new(firewall.clone());
    let idle =
        (config.session.idle_timeout_seconds > 0).then(|| Duration::from_secs(config.session.idle_timeout_seconds));
    let sessions = Sessions::new(db.clone(), filter, config.session.length(), idle);

    let result = serve(config.clone(), db, firewall.clone(), sessions).await;
    if let Err(err) = firewall.remove().await {
        tracing::error!(error = %crate::error_chain(&err), "could not remove the firewall table");
    } else {
        tracing::info!("firewall table removed");
    }
    result
}

async fn serve(
    config: Arc<Config>,
    db: sqlx::SqlitePool,
    firewall: Firewall,
    sessions: Sessions,
) -> anyhow::Result<()> {
    let _garden = GardenRefresher::spawn(
        GardenResolver::new(config.walled_garden.names.clone(), &config.network.upstream_dns),
        firewall.clone(),
    );
    let _dnsmasq = if config.network.run_dnsmasq {
        Some(Dnsmasq::start(&config).await.context("cannot start dnsmasq")?)
    } else {
        None
    };
    let tls = tls::acceptor(&config).context("cannot set up the portal's HTTPS")?;
    let (guest_ip, _) = config.network.guest_net().map_err(anyhow::Error::msg)?;
    let http_addr = SocketAddr::from((guest_ip, config.portal.http_port));
    let https_addr = SocketAddr::from((guest_ip, config.portal.https_port));
    let http = TcpListener::bind(http_addr).await.with_context(|| format!("cannot listen on {http_addr}"))?;
    let https = TcpListener::bind(https_addr).await.with_context(|| format!("cannot listen on {https_addr}"))?;

    let countdown = Countdown::new(Duration::from_secs(config.session.countdown_seconds));
    let portal = Arc::new(Portal::new(config.clone(), sessions.clone(), countdown));
    let app = portal::router(portal);
    let limits = Limits {
        max_connections: config.portal.max_connections,
        header_timeout: Duration::from_secs(config.portal.header_timeout_seconds),
    };
    let rate = GuestRateLimit::new(config.portal.requests_per_second, config.portal.burst);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let http_task =
        tokio::spawn(server::serve(http, None, app.clone(), limits.clone(), rate.clone(), stopped(stop_rx.clone())));
    let https_task = tokio::spawn(server::serve(https, Some(tls), app, limits, rate, stopped(stop_rx.clone())));
    let ac = if config.ac.listen.is_empty() {
        None
    } else {
        let registry = crate::ac::registry::Registry::new(db.clone()).await?;
        let ca = crate::ac::ca::Ca::load_or_create(&config.data.dir).context("cannot set up the AP CA")?;
        let ac = crate::ac::Ac::new(registry, ca, Duration::from_secs(config.ac.echo_seconds))
            .await?
            .with_firmware(Some(config.ac.firmware_public_key.clone()), config.data.dir.join("firmware"))
            .with_channels(config.ac.channels_2g.clone(), config.ac.channels_5g.clone());
        let listener = TcpListener::bind(&config.ac.listen)
            .await
            .with_context(|| format!("cannot listen for APs on {}", config.ac.listen))?;
        Some((ac, listener))
    };
    let ac_handle = ac.as_ref().map(|(ac, _)| ac.clone());
    let ac_task = ac.map(|(ac, listener)| tokio::spawn(ac.serve(listener)));
    let handles = control::Handles {
        sessions: sessions.clone(),
        ac: ac_handle,
        firmware_batch: config.ac.firmware_batch,
        firmware_wait: Duration::from_secs(config.ac.firmware_rejoin_minutes * 60),
    };
    let admin_task = if config.admin.listen.is_empty() {
        None
    } else {
        let token = crate::admin::api::load_or_create_token(&config.data.dir).context("cannot make the admin token")?;
        let listener = TcpListener::bind(&config.admin.listen)
            .await
            .with_context(|| format!("cannot listen for the admin API on {}", config.admin.listen))?;
        let app = crate::admin::api::router(handles.clone(), token);
        Some(tokio::spawn(async move { axum::serve(listener, app).await }))
    };
    let control_task = tokio::spawn(control::serve(config.data.dir.join(control::SOCKET), handles));
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP);
        let mut n = 0u32;
        loop {
            tick.tick().await;
            n = n.wrapping_add(1);
            if let Err(err) = sessions.sweep(n % IDLE_EVERY == 0).await {
                tracing::error!(error = %crate::error_chain(&err), "session sweep failed");
            }
        }
    });
    tracing::info!(portal = %config.portal_url(), captive_api = %config.captive_api_url(), "controller running");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
        r = control_task => tracing::error!(?r, "control socket stopped"),
    }
    sweeper.abort();
    if let Some(task) = ac_task {
        task.abort();
    }
    if let Some(task) = admin_task {
        task.abort();
    }
    let _ = stop_tx.send(true);
    let _ = tokio::join!(http_task, https_task);
    let _ = std::fs::remove_file(config.data.dir.join(control::SOCKET));
    Ok(())
}
