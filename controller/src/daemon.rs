//! `controller run`: everything the appliance does, started in order and
//! stopped cleanly.

use crate::config::Config;
use crate::control;
use crate::dhcp::Dnsmasq;
pub use crate::errors::DaemonError;
use crate::portal;
use crate::portal::server::{self, GuestRateLimit, Limits};
use crate::sessions::Sessions;
use crate::{store, tls};
use firewall::{BridgePorts, ClientFilter, Firewall, GardenRefresher, GardenResolver};
use std::future::Future;
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
/// Data allowances are checked every this many sweeps (only when a live session has one).
const DATA_EVERY: u32 = 2;
/// Ended sessions past their keeping time are deleted every this many sweeps.
const PRUNE_EVERY: u32 = 3600;
/// Sweeps between seals of the access log's new rows.
const TRAIL_SEAL_EVERY: u32 = 5;
/// Why the console's or HQ's saved settings restart the daemon (the log line tests look for).
const SETTINGS_SAVED: &str = "apply the saved settings (the console's or headquarters')";
/// How often the uplink's address is compared with the one guests leave by.
const UPLINK_CHECK: Duration = Duration::from_secs(10);
/// The domain log's names go to the store this often.
const DOMAINS_FLUSH: Duration = Duration::from_secs(5);
/// Footfall's today and yesterday are rolled up this often (and when the statistics page asks).
const FOOTFALL_ROLL: Duration = Duration::from_secs(300);

/// How often the guest bridge's ports are checked for one not isolated (one
/// that joined, or one un-isolated behind our back).
const PORTS_CHECK: Duration = Duration::from_secs(1);
/// How often the guest interface's MAC is compared with the one APs hold guests to.
const MAC_CHECK: Duration = Duration::from_secs(2);
/// How often the controller checks that its table is still in the kernel:
/// one netlink request, so often enough that a flush is noticed at once.
const TABLE_CHECK: Duration = Duration::from_millis(100);
/// The data dir's lock file: one controller per data dir (and so per kernel table).
pub const LOCK_FILE: &str = "controller.lock";

/// How a run ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// SIGTERM or SIGINT.
    Stopped,
    /// The console saved settings: start again (in place, same pid).
    Restart,
}

/// Runs the appliance until SIGINT or SIGTERM (or a restart the console's
/// settings page asks for).
///
/// Everything that can fail on a busy or misconfigured machine (the data
/// dir's lock, the database, every listener, dnsmasq's check of its config)
/// is tried before the kernel is touched, so a start that fails leaves a
/// running instance's table, or a stopped one's, exactly as it was. A stop
/// leaves the table too: guests who were in ride through a restart to their
/// kernel timeouts and everyone else stays filtered. Only `controller
/// firewall-remove` takes it out.
pub async fn run(config: Config) -> Result<Exit, DaemonError> {
    crate::kit::passwords::return_large_allocations();
    let config = Arc::new(config);
    let dir = &config.data.dir;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|source| DaemonError::File {
        what: "cannot create the data dir",
        path: dir.clone(),
        source,
    })?;
    let _lock = DataDirLock::acquire(dir)?;
    let db = store::open(dir).await.map_err(DaemonError::Store)?;
    let listeners = Listeners::bind(&config).await?;
    let dnsmasq = if config.network.run_dnsmasq {
        Some(Dnsmasq::start(&config).await.map_err(DaemonError::Dnsmasq)?)
    } else {
        None
    };

    // The table goes in anew: the kernel's counters start from zero, each session's use so far is its base.
    Sessions::rebase(&db).await.map_err(DaemonError::Sessions)?;
    let clients = Sessions::live_clients(&db).await.map_err(DaemonError::Sessions)?;
    let policy = config.policy();
    if policy.uplink_interface.is_none() {
        tracing::warn!("network.uplink_interface is not set: guests may leave by any interface but the guest one");
    }
    // The leases dnsmasq kept across the restart go in with the table: a
    // guest's packets are never dropped as not a lease's while we start.
    let leases_path = crate::dhcp::leases_path(&config);
    let leases = match config.network.run_dnsmasq {
        true => crate::dhcp::leases::for_kernel(
            &crate::dhcp::leases::read(&leases_path),
            (crate::kit::time::now_ms() / 1000) as u64,
        ),
        false => Vec::new(),
    };
    let port_blocks = policy.port_blocks;
    if config.trail.port_blocks && config.network.masquerade && port_blocks.is_none() {
        tracing::warn!(
            uplink = %config.network.uplink_interface,
            "no IPv4 address on the uplink and no trail.public_address: guests share the uplink by masquerade, \
             and the access log cannot name a connection's session by its source port"
        );
    }
    let firewall = Firewall::start(policy, &clients, leases).map_err(DaemonError::Firewall)?;
    tracing::info!(restored = clients.len(), "sessions restored into the firewall");
    let filter: Arc<dyn ClientFilter> = Arc::new(firewall.clone());
    let idle =
        (config.session.idle_timeout_seconds > 0).then(|| Duration::from_secs(config.session.idle_timeout_seconds));
    let mut sessions = Sessions::new(db.clone(), filter, idle)
        .with_port_blocks(port_blocks)
        .with_zone(crate::kit::time::zone_offset(&config.venue.time_zone));
    if config.network.run_dnsmasq {
        sessions = sessions.with_leases(crate::dhcp::leases_path(&config));
    }
    sessions.track(&clients);
    match sessions.renumbered().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            sessions = n,
            public = ?sessions.public_address(),
            "the uplink was renumbered: live sessions' access log rows name both addresses"
        ),
        Err(err) => tracing::error!(error = %crate::error_chain(&err), "renumbered sessions not recorded"),
    }
    if let Err(err) = crate::sessions::arpwatch::spawn(&config.network.guest_interface, sessions.clone()) {
        tracing::warn!(%err, "cannot watch ARP on the guest interface; address conflicts will not be logged");
    }

    let result = serve(config.clone(), db, firewall, sessions, listeners).await;
    drop(dnsmasq);
    tracing::info!("controller stopped; the firewall table stays (controller firewall-remove takes it out)");
    result
}

/// Deletes the guest firewall table (uninstall). Refuses while a controller
/// runs on the same data dir: it would only put the table back.
pub fn remove_firewall(config: &Config) -> Result<(), DaemonError> {
    let _lock = DataDirLock::acquire(&config.data.dir)?;
    Firewall::remove_table().map_err(DaemonError::Firewall)
}

/// An exclusive `flock` on the data dir, held for the daemon's life; the
/// kernel drops it when the process ends, however it ends.
struct DataDirLock {
    _file: std::fs::File,
}

impl DataDirLock {
    fn acquire(dir: &std::path::Path) -> Result<Self, DaemonError> {
        use std::io::{Read, Seek, Write};
        use std::os::fd::AsRawFd;
        let path = dir.join(LOCK_FILE);
        let mut file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| DaemonError::File { what: "cannot open", path: path.clone(), source })?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(DaemonError::Locked { dir: dir.to_path_buf(), pid: pid.trim().to_string() });
        }
        let write = |file: &mut std::fs::File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())
        };
        write(&mut file).map_err(|source| DaemonError::File { what: "cannot write", path, source })?;
        Ok(DataDirLock { _file: file })
    }
}

/// Every socket the daemon serves, bound before the kernel is touched.
struct Listeners {
    http: TcpListener,
    https: TcpListener,
    dns_udp: tokio::net::UdpSocket,
    dns_tcp: TcpListener,
    ac: Option<TcpListener>,
    admin: Option<TcpListener>,
    wechat: Option<TcpListener>,
}

impl Listeners {
    async fn bind(config: &Config) -> Result<Self, DaemonError> {
        let guest_ip = config.network.guest_address.addr;
        let bind = |addr: SocketAddr, what: &'static str| async move {
            TcpListener::bind(addr).await.map_err(|source| DaemonError::Listen { what, addr, source })
        };
        let http = bind(SocketAddr::from((guest_ip, config.portal.http_port)), "the portal").await?;
        let https = bind(SocketAddr::from((guest_ip, config.portal.https_port)), "the portal's HTTPS").await?;
        let dns = SocketAddr::from((guest_ip, 53));
        let dns_udp = tokio::net::UdpSocket::bind(dns).await.map_err(|source| DaemonError::Listen {
            what: "DNS",
            addr: dns,
            source,
        })?;
        let dns_tcp = bind(dns, "DNS").await?;
        let ac = match config.ac.listen {
            Some(addr) => Some(bind(addr, "APs").await?),
            None => None,
        };
        let admin = match config.admin.listen {
            Some(addr) => Some(bind(addr, "the admin API").await?),
            None => None,
        };
        // A chain's account takes its callback at headquarters: nothing listens here.
        let wechat = match config.auth.wechat.enabled && !config.auth.wechat.at_headquarters {
            true => Some(bind(config.auth.wechat.listen, "WeChat's callback").await?),
            false => None,
        };
        Ok(Listeners { http, https, dns_udp, dns_tcp, ac, admin, wechat })
    }
}

async fn serve(
    config: Arc<Config>,
    db: sqlx::SqlitePool,
    firewall: Firewall,
    sessions: Sessions,
    listeners: Listeners,
) -> Result<Exit, DaemonError> {
    let _garden = GardenRefresher::spawn(
        GardenResolver::new(config.garden_names(), &config.network.upstream_dns),
        firewall.clone(),
    );
    let tls = tls::acceptor(&config).map_err(|source| DaemonError::Secret { what: "the portal's HTTPS", source })?;
    let Listeners { http, https, dns_udp, dns_tcp, ac: ac_listener, admin: admin_listener, wechat: wechat_listener } =
        listeners;
    let built = crate::app::App::build(
        config.clone(),
        crate::app::Outside {
            db: db.clone(),
            sessions: sessions.clone(),
            sms_gateway: None,
            keys: None,
            ac: ac_listener.is_some(),
            printer: Arc::new(crate::print::Sheets),
        },
    )
    .await?;
    let metrics = built.metrics.clone();
    // Who a guest device is, for the portal and for every per-device limit.
    let neighbours: Arc<dyn portal::Neighbours> =
        Arc::new(portal::KernelNeighbours::new(&config.network.guest_interface));
    let resolver = crate::dns::Resolver::new(
        crate::dns::Settings {
            portal: (!config.portal.hostname.is_empty())
                .then(|| (config.portal.hostname.to_ascii_lowercase(), config.policy().portal_ip)),
            garden: config.garden_names(),
            always: config.dns.always_answer.clone(),
            names_per_minute: config.dns.names_per_minute_before_login,
            per_second: config.dns.queries_per_second_before_login,
            burst: config.dns.burst_before_login,
            upstream: config.upstream_resolvers(),
            upstream_timeout: Duration::from_secs(2),
        },
        Arc::new(sessions.clone()),
        Arc::new(firewall.clone()),
        Some(neighbours.clone()),
        metrics.dns_queries.clone(),
    );
    let mut tasks = Supervisor::default();
    if config.trail.domains {
        // The optional domain log: noted by the resolver, written every few seconds.
        let log = Arc::new(crate::trail::domains::DomainLog::default());
        let noted = log.clone();
        resolver.log_names(Arc::new(move |peer, name| noted.note(peer, name)));
        let db = db.clone();
        tasks.spawn("domain log", async move {
            let mut tick = tokio::time::interval(DOMAINS_FLUSH);
            loop {
                tick.tick().await;
                if let Err(err) = log.flush(&db).await {
                    tracing::error!(error = %crate::error_chain(&err), "domain log not written");
                }
            }
        });
    }
    if config.network.isolate_guest_ports {
        if let Some(ports) = BridgePorts::of(&config.network.guest_interface) {
            tasks.spawn("guest bridge ports", forever(keep_ports_apart(ports)));
        }
    }
    if config.network.run_dnsmasq {
        tasks.spawn("DHCP leases", crate::dhcp::leases::watch(crate::dhcp::leases_path(&config), firewall.clone()));
    }
    tasks.spawn("DNS over UDP", forever(crate::dns::serve_udp(dns_udp, resolver.clone())));
    tasks.spawn("DNS over TCP", forever(crate::dns::serve_tcp(dns_tcp, resolver.clone())));

    let portal = Arc::new(portal::Portal::of(&built, neighbours.clone()));
    let crate::app::App { feed, handles, wechat, hq, .. } = &built;
    let handles = handles.clone();
    tasks.spawn("member feed", forever(feed.clone().run()));
    let cards = handles.staff.cards.clone();
    tasks
        .spawn("card cache", forever(cards.keep_fresh(Duration::from_secs(config.members.cache_refresh_minutes * 60))));
    let audit = handles.staff.audit.clone();
    let passes = handles.staff.passes.clone();
    let app = portal::router(portal.clone());
    let limits = Limits {
        max_connections: config.portal.max_connections,
        per_device: config.portal.max_connections_per_device,
        header_timeout: Duration::from_secs(config.portal.header_timeout_seconds),
        request_timeout: server::REQUEST_TIMEOUT,
    };
    let rate = GuestRateLimit::new(config.portal.requests_per_second, config.portal.burst, Some(neighbours.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    // A restart in place, and why (the log says it).
    let (restart_tx, mut restart_rx) = tokio::sync::mpsc::channel::<&'static str>(1);
    // Guests' port blocks leave by the uplink's own address (no
    // trail.public_address): when the uplink is renumbered (its DHCP lease
    // changed), start again in place, so the rules and the access log take
    // the new address. Without an address now (the link is down), wait.
    if config.trail.port_blocks && config.network.masquerade && config.trail.public_address.is_none() {
        let (tx, uplink, sessions) = (restart_tx.clone(), config.network.uplink_interface.clone(), sessions.clone());
        tasks.spawn("uplink address watch", async move {
            let mut tick = tokio::time::interval(UPLINK_CHECK);
            loop {
                tick.tick().await;
                let now = crate::kit::addrs::interface_ipv4(&uplink);
                if now.is_some() && now != sessions.public_address() {
                    tracing::warn!(%uplink, was = ?sessions.public_address(), now = ?now, "the uplink's address changed: restarting to use it");
                    let _ = tx.try_send("take the uplink's new address");
                }
            }
        });
    }
    if let Some(link) = hq {
        let tx = restart_tx.clone();
        let link = link.clone().with_restart(Arc::new(move || {
            let _ = tx.try_send(SETTINGS_SAVED);
        }));
        tasks.spawn("headquarters' bundle", forever(link.clone().run_bundles()));
        tasks.spawn("headquarters' heartbeat", forever(link.run_heartbeat()));
    }
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // The portal's listeners drain at a stop instead of being aborted.
    let http_serve = server::serve(http, None, app.clone(), limits.clone(), rate.clone(), stopped(stop_rx.clone()));
    tasks.spawn_draining("portal HTTP", async move {
        http_serve.await;
        Ok(())
    });
    let https_serve = server::serve(https, Some(tls), app, limits, rate, stopped(stop_rx.clone()));
    tasks.spawn_draining("portal HTTPS", async move {
        https_serve.await;
        Ok(())
    });
    // WeChat's callback faces the internet: the same capped loop as the portal.
    if let (Some(wechat), Some(listener)) = (wechat.clone(), wechat_listener) {
        let app = crate::wechat::router(wechat);
        let callback = server::serve(
            listener,
            None,
            app,
            server::WECHAT_LIMITS,
            GuestRateLimit::new(50, 200, None),
            stopped(stop_rx.clone()),
        );
        tasks.spawn_draining("WeChat callback", async move {
            callback.await;
            Ok(())
        });
    }
    if let (Some(ac), Some(listener)) = (handles.ac.clone(), ac_listener) {
        tasks.spawn("AP listener", forever(ac.clone().serve(listener)));
        tasks.spawn("gateway MAC watch", forever(watch_gateway_mac(ac, config.network.guest_interface.clone())));
    }
    if let Some(listener) = admin_listener {
        let token = crate::admin::api::load_or_create_token(&config.data.dir).map_err(|source| DaemonError::File {
            what: "cannot make the admin token",
            path: config.data.dir.join(crate::admin::api::TOKEN_FILE),
            source,
        })?;
        // The addresses staff can open, not the one the listener is bound to (0.0.0.0).
        let console_urls = config
            .admin
            .listen
            .map(|a| crate::kit::addrs::urls(if config.admin.https { "https" } else { "http" }, a, "/console/"))
            .unwrap_or_default()
            .join(" ");
        match handles.people.prepare_setup().await {
            Ok(true) => tracing::warn!(
                console = %console_urls,
                "first-run setup: open the console and enter the setup code (`controller setup-code` prints it)"
            ),
            Ok(false) => tracing::info!(console = %console_urls, "the staff console"),
            Err(err) => tracing::error!(error = %crate::error_chain(&err), "console setup code not made"),
        }
        let restart: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            let _ = restart_tx.try_send(SETTINGS_SAVED);
        });
        let console =
            Arc::new(crate::admin::console::Console::of(&built, portal.clone(), config.admin.https, Some(restart)));
        let app = crate::admin::api::router(handles.clone(), token).merge(crate::admin::console::router(console));
        if config.admin.https {
            let acceptor = crate::tls::admin_acceptor(&config)
                .map_err(|source| DaemonError::Secret { what: "the console's HTTPS", source })?;
            tasks.spawn("admin API and console (HTTPS)", crate::admin::https::serve(listener, acceptor, app));
        } else {
            let rate = GuestRateLimit::new(50, 200, None);
            let admin = server::serve(listener, None, app, server::ADMIN_LIMITS, rate, stopped(stop_rx.clone()));
            tasks.spawn_draining("admin API and console", async move {
                admin.await;
                Ok(())
            });
        }
    }
    let socket = config.data.control_socket();
    if let Some(parent) = socket.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|source| DaemonError::File {
            what: "cannot create the control socket's directory",
            path: parent.into(),
            source,
        })?;
    }
    tasks.spawn("control socket", async move { control::serve(socket, handles).await.map_err(|e| e.to_string()) });
    tasks.spawn("firewall table watcher", forever(keep_table(firewall.clone(), sessions.clone())));
    let keep =
        (config.session.keep_ended_days > 0).then(|| Duration::from_secs(config.session.keep_ended_days * 86_400));
    let sweep_metrics = metrics.clone();
    let (trail_db, trail_days) = (db.clone(), config.trail.retention_days);
    let trail_zone = crate::kit::time::zone_offset(&config.venue.time_zone);
    let footfall_db = db.clone();
    tasks.spawn("footfall roll", async move {
        let mut tick = tokio::time::interval(FOOTFALL_ROLL);
        loop {
            tick.tick().await;
            if let Err(err) = crate::stats::footfall::roll(&footfall_db, trail_zone).await {
                tracing::error!(error = %crate::error_chain(&err), "footfall not rolled up");
            }
        }
    });
    tasks.spawn("session sweep", async move {
        let mut tick = tokio::time::interval(SWEEP);
        let mut n = 0u32;
        loop {
            tick.tick().await;
            n = n.wrapping_add(1);
            if let Err(err) = sessions.sweep(n % IDLE_EVERY == 0, n % DATA_EVERY == 0).await {
                tracing::error!(error = %crate::error_chain(&err), "session sweep failed");
            }
            // The gauges come from here, so a scrape never lists the kernel's clients.
            sweep_metrics.sessions_live.set(sessions.live_count() as i64);
            sweep_metrics.session_bytes_up.set(sessions.bytes_up() as i64);
            if n % TRAIL_SEAL_EVERY == 0 {
                if let Err(err) = crate::trail::seal(&trail_db).await {
                    tracing::error!(error = %crate::error_chain(&err), "access log rows not sealed");
                }
            }
            if n % PRUNE_EVERY == 1 {
                let now = crate::kit::time::now_ms();
                let yesterday = crate::kit::time::civil_date(now / 1000 - 86_400, trail_zone);
                if let Err(err) = crate::trail::digest(&trail_db, &yesterday).await {
                    tracing::error!(error = %crate::error_chain(&err), "access log digest not recorded");
                }
                match crate::trail::prune(&trail_db, trail_days, now).await {
                    Ok(0) => {}
                    Ok(pruned) => {
                        tracing::info!(pruned, days = trail_days, "access log rows past their retention deleted")
                    }
                    Err(err) => tracing::error!(error = %crate::error_chain(&err), "access log not pruned"),
                }
                if let Err(err) = passes.prune().await {
                    tracing::error!(error = %crate::error_chain(&err), "return passes past their time not pruned");
                }
            }
            if let (Some(keep), 1) = (keep, n % PRUNE_EVERY) {
                match sessions.prune(keep).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "ended sessions past their keeping time deleted"),
                    Err(err) => tracing::error!(error = %crate::error_chain(&err), "ended sessions not pruned"),
                }
                if let Err(err) = audit.prune(keep).await {
                    tracing::error!(error = %crate::error_chain(&err), "old audit rows not pruned");
                }
            }
        }
    });
    // Under systemd (Type=notify): ready now, and alive for as long as the
    // runtime keeps this task turning; outside systemd both are no-ops.
    notify_systemd("READY=1");
    if let Some(every) = watchdog_interval() {
        tasks.spawn("systemd watchdog", async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                notify_systemd("WATCHDOG=1");
            }
        });
    }
    tracing::info!(portal = %config.portal_url(), captive_api = %config.captive_api_url(), "controller running");

    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let outcome = tokio::select! {
        _ = term.recv() => {
            tracing::info!("SIGTERM: stopping");
            Ok(Exit::Stopped)
        }
        _ = int.recv() => {
            tracing::info!("SIGINT: stopping");
            Ok(Exit::Stopped)
        }
        Some(why) = restart_rx.recv() => {
            // After the reply that asked for it has gone out.
            tokio::time::sleep(Duration::from_millis(500)).await;
            tracing::info!("restarting to {why}");
            Ok(Exit::Restart)
        }
        (name, why) = tasks.first_to_end() => {
            // A task nobody watches would leave a half-working appliance:
            // stop cleanly and let systemd start us again.
            tracing::error!(task = name, %why, "a task stopped; the controller stops (non-zero) for a restart");
            Err(DaemonError::TaskStopped { name, why })
        }
    };
    // A restart is a reload to systemd: the same pid says READY=1 again.
    notify_systemd(if matches!(outcome, Ok(Exit::Restart)) { "RELOADING=1" } else { "STOPPING=1" });
    let _ = stop_tx.send(true);
    tasks.stop().await;
    let _ = std::fs::remove_file(config.data.control_socket());
    outcome
}

/// Tells systemd (`NOTIFY_SOCKET`) how we are. Never waits: a manager that
/// does not read its socket must not stall the daemon, so a full socket
/// drops the message.
fn notify_systemd(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let sent = std::os::unix::net::UnixDatagram::unbound().and_then(|socket| {
        socket.set_nonblocking(true)?;
        socket.connect(&path)?;
        socket.send(state.as_bytes())
    });
    if let Err(err) = sent {
        tracing::debug!(%err, state, "systemd notification not sent");
    }
}

/// How often to feed systemd's watchdog: half its `WATCHDOG_USEC`, when it
/// is meant for us (`WATCHDOG_PID`, when set, is our pid).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let ours = std::env::var("WATCHDOG_PID").ok().is_none_or(|pid| pid.parse() == Ok(std::process::id()));
    (ours && usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Every long-running task of the daemon, under one `JoinSet`: the first to
/// end (an error, a panic, or a loop that should never end) stops the
/// daemon. At a stop, the portal's listeners drain; the rest are aborted.
#[derive(Default)]
struct Supervisor {
    set: tokio::task::JoinSet<(&'static str, Result<(), String>)>,
    abortable: Vec<tokio::task::AbortHandle>,
}

impl Supervisor {
    fn spawn(&mut self, name: &'static str, task: impl Future<Output = Result<(), String>> + Send + 'static) {
        let handle = self.set.spawn(async move { (name, task.await) });
        self.abortable.push(handle);
    }

    fn spawn_draining(&mut self, name: &'static str, task: impl Future<Output = Result<(), String>> + Send + 'static) {
        self.set.spawn(async move { (name, task.await) });
    }

    /// The name of the first task to end, and why.
    async fn first_to_end(&mut self) -> (&'static str, String) {
        match self.set.join_next().await {
            Some(Ok((name, Ok(())))) => (name, "it ended".into()),
            Some(Ok((name, Err(err)))) => (name, err),
            Some(Err(err)) => ("a task", format!("it panicked or was cancelled: {err}")),
            None => std::future::pending().await,
        }
    }

    async fn stop(mut self) {
        for task in &self.abortable {
            task.abort();
        }
        let drained = async { while self.set.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drained).await.is_err() {
            tracing::warn!("some connections did not finish in time");
        }
    }
}

/// A task that loops for the daemon's life: its ending is a failure.
async fn forever(task: impl Future<Output = ()>) -> Result<(), String> {
    task.await;
    Err("it ended".into())
}

/// The APs hold isolated guests to the guest interface's MAC: it is stored
/// at start (the first tick is at once) and, when it changes (a bridge
/// without a fixed address takes its lowest port's, and a new port can be
/// lower), every AP gets the new one within [`MAC_CHECK`].
async fn watch_gateway_mac(ac: crate::ac::Ac, interface: String) {
    let mut tick = tokio::time::interval(MAC_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = None;
    loop {
        tick.tick().await;
        let now = firewall::interface_mac(&interface);
        if now.is_none() || now == last {
            continue;
        }
        match ac.set_gateway_mac(now.as_deref()).await {
            Ok(changed) => {
                if let Some(version) = changed {
                    tracing::warn!(%interface, now = ?now, version, "the guest gateway's MAC is new: every AP takes it");
                }
                last = now;
            }
            Err(err) => tracing::error!(error = %crate::error_chain(&err), "cannot give the APs the gateway's MAC"),
        }
    }
}

/// Keeps every port of the guest bridge isolated from the others, within
/// [`PORTS_CHECK`] of a port joining (an AP plugged in) or being un-isolated.
async fn keep_ports_apart(ports: BridgePorts) {
    let mut tick = tokio::time::interval(PORTS_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match ports.isolate_all() {
            Ok(changed) => {
                failing = false;
                if !changed.is_empty() {
                    tracing::info!(ports = ?changed, "guest bridge ports isolated: guests meet only the gateway");
                }
            }
            Err(err) if !failing => {
                failing = true;
                tracing::error!(error = %err, "cannot isolate the guest bridge's ports: guests behind two APs can reach each other");
            }
            Err(_) => {}
        }
    }
}

/// Puts the table back, with every live session, when it vanishes (`nft
/// flush ruleset`, a restart of nftables.service): within [`TABLE_CHECK`].
async fn keep_table(firewall: Firewall, sessions: Sessions) {
    let mut tick = tokio::time::interval(TABLE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match firewall.present().await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the firewall table was removed behind our back; restoring it");
                match sessions.restore_filter().await {
                    Ok(n) => tracing::info!(sessions = n, "the firewall table is back"),
                    Err(err) => tracing::error!(error = %crate::error_chain(&err), "cannot restore the firewall table"),
                }
            }
            Err(err) => tracing::error!(error = %crate::error_chain(&err), "cannot check the firewall table"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_task_to_fail_is_named_and_the_rest_are_stopped() {
        let mut tasks = Supervisor::default();
        tasks.spawn("sweep", forever(std::future::pending::<()>()));
        tasks.spawn("DNS over UDP", async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err("socket closed".into())
        });
        let (stop_tx, mut stop_rx) = watch::channel(false);
        tasks.spawn_draining("portal HTTP", async move {
            let _ = stop_rx.wait_for(|s| *s).await;
            Ok(())
        });
        assert_eq!(tasks.first_to_end().await, ("DNS over UDP", "socket closed".to_string()));
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(1), tasks.stop()).await.expect("every task stops");
    }

    #[tokio::test]
    async fn a_loop_that_ends_counts_as_a_failure() {
        let mut tasks = Supervisor::default();
        tasks.spawn("firewall table watcher", forever(async {}));
        assert_eq!(tasks.first_to_end().await.0, "firewall table watcher");
    }
}
