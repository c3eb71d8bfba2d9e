//! `guestwifi-lab`: builds a guest network in network namespaces (guests,
//! the appliance, optional simulated APs, the restaurant's LAN, an upstream
//! "internet" on TEST-NET addresses), runs the real `controller` in it and
//! prints what to try. Ctrl-C removes everything. Needs root.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use lab::Lab;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Try the guest Wi-Fi controller in a lab of network namespaces.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Number of guest namespaces.
    #[arg(long, default_value_t = 2)]
    guests: usize,
    /// Number of simulated APs, each running the real ap-agent (0: guests
    /// plug straight into the appliance).
    #[arg(long, default_value_t = 0)]
    aps: usize,
    /// Namespace name prefix.
    #[arg(long, default_value = "lab")]
    prefix: String,
    /// Working directory (config, data dir, leases).
    #[arg(long, default_value = "/run/guestwifi-lab")]
    dir: PathBuf,
    /// Session length, seconds.
    #[arg(long, default_value_t = 7200)]
    session_seconds: u64,
    /// Countdown before Connect works, seconds.
    #[arg(long, default_value_t = 6)]
    countdown_seconds: u64,
    /// A chain of this many restaurants (2 to 9; the first half of them in
    /// region "east", the rest in "west"), each with its own appliance and
    /// guests, enrolled with headquarters: two `guestwifi-hq` replicas and
    /// their PostgreSQL in the upstream namespace. Without it: one
    /// restaurant standing alone.
    #[arg(long)]
    sites: Option<usize>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The upstream web server (run by the lab inside its namespaces).
    #[command(hide = true)]
    Web {
        #[arg(long)]
        listen: std::net::SocketAddr,
        /// Where the stand-in SMS provider records messages.
        #[arg(long)]
        record: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Web { listen, record }) => Ok(lab::web(listen, record).await?),
        None => run_lab(&cli).await,
    }
}

/// The brand a chain lab's sites belong to.
const BRAND: &str = "lab";

/// Site `k`'s region, of `sites`: the first half east, the rest west.
fn region(k: usize, sites: usize) -> &'static str {
    if k <= sites.div_ceil(2) {
        "east"
    } else {
        "west"
    }
}

/// A site's running appliance.
struct Site {
    lab: Lab,
    config: PathBuf,
    controller: tokio::process::Child,
}

/// Writes site `lab`'s configuration and, in a chain, joins it to HQ with
/// `code` from its own namespace, as its admin would; starts its controller.
fn start_site(lab: Lab, cli: &Cli, exe: &Path, code: Option<&str>) -> anyhow::Result<Site> {
    let config = lab.dir.join("controller.toml");
    let (session, countdown) = (cli.session_seconds, cli.countdown_seconds);
    let text = match code {
        Some(_) => lab.chain_controller_config(session, countdown, 900),
        None => lab.controller_config(session, countdown, 900),
    };
    std::fs::write(&config, text)?;
    if let Some(code) = code {
        let url = format!("https://{}:8443", lab::HQ_HOST);
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.appliance()])
            .arg(exe)
            .args(["hq", "join", &url, code, "--config"])
            .arg(&config)
            .output()?;
        if !out.status.success() {
            bail!("site {} could not join HQ: {}", lab.site, String::from_utf8_lossy(&out.stderr));
        }
        print!("site {}: {}", lab.site, String::from_utf8_lossy(&out.stdout));
    }
    let mut command = tokio::process::Command::new("ip");
    command.args(["netns", "exec", &lab.appliance()]).arg(exe).args(["run", "--config"]).arg(&config);
    if code.is_some() {
        // The chain's SMS gateway is HQ's: the site holds no provider key.
        command.env("GUESTWIFI_AUTH__SMS__GATEWAY", "hq");
    }
    let controller = command.kill_on_drop(true).spawn()?;
    let socket = lab.dir.join("data").join(controller::config::CONTROL_SOCKET); // the lab's config keeps the default
    if !Lab::wait_for(&socket, Duration::from_secs(20)) {
        bail!("the controller of site {} did not start (see its log above)", lab.site);
    }
    Ok(Site { lab, config, controller })
}

async fn run_lab(cli: &Cli) -> anyhow::Result<()> {
    let (guests, aps, prefix, dir) = (cli.guests, cli.aps, cli.prefix.as_str(), cli.dir.as_path());
    let lab_exe = std::env::current_exe()?;
    let exe = lab_exe.with_file_name("controller");
    let agent_exe = lab_exe.with_file_name("ap-agent");
    let hq_exe = lab_exe.with_file_name("guestwifi-hq");
    let sites = cli.sites.unwrap_or(1);
    if !(1..=lab::MAX_SITES).contains(&sites) {
        bail!("--sites: 1 to {}", lab::MAX_SITES);
    }
    for (needed, path) in [(true, &exe), (aps > 0, &agent_exe), (cli.sites.is_some(), &hq_exe)] {
        if needed && !path.exists() {
            bail!("{} is missing next to the lab (cargo build --workspace --bins)", path.display());
        }
    }
    // Each lab starts from nothing: no sessions, APs or AP keys from a previous run.
    let _ = std::fs::remove_dir_all(dir);
    let lab = Lab::create_with_aps(prefix, guests, aps, dir, &lab_exe).context("cannot build the lab")?;
    let mut labs = Vec::new();
    for k in 2..=sites {
        labs.push(lab.add_site(k, guests, 0).with_context(|| format!("cannot build site {k}"))?);
    }
    labs.insert(0, lab);
    let mut hq = None;
    let mut codes = Vec::new();
    if cli.sites.is_some() {
        let mut chain = lab::hq::Hq::in_lab(prefix, &hq_exe, &labs[0].upstream(), &dir.join("hq"));
        // The brand's WeChat account and QQ/Weibo apps are at HQ; the sites hold no secret of theirs.
        chain.with_apps(BRAND);
        chain.with_console(8444, 600);
        for (i, addr) in lab::HQ_REPLICAS.iter().enumerate() {
            chain.start_replica(Some(&labs[0].upstream()), &format!("{addr}:8443"), &format!("{addr}:9465"));
            println!("HQ replica {} serves on {addr}:8443 (console on :8444, metrics on :9465)", i + 1);
        }
        for k in 1..=sites {
            let name = format!("实验餐厅 {k} 号店");
            codes.push(Some(chain.add_site(BRAND, region(k, sites), &format!("site{k}"), &name)));
        }
        let password = chain.add_person(BRAND, "owner", "owner", "brand");
        println!(
            "HQ console: https://{}:8444/ from the upstream namespace {} (HQ's own CA): owner / {password}, \
             then enrol an authenticator app",
            lab::HQ_REPLICAS[0],
            labs[0].upstream()
        );
        hq = Some(chain);
    }
    let mut running = Vec::new();
    for (k, site_lab) in labs.into_iter().enumerate() {
        let code = codes.get(k).cloned().flatten();
        running.push(start_site(site_lab, cli, &exe, code.as_deref())?);
    }
    let lab = &running[0].lab;
    let config_path = running[0].config.clone();
    let mut agents = Vec::new();
    for k in 1..=aps {
        let path = dir.join(format!("ap{k}.toml"));
        std::fs::write(&path, lab.agent_config(k, 10))?;
        agents.push(
            tokio::process::Command::new("ip")
                .args(["netns", "exec", &lab.ap(k)])
                .arg(&agent_exe)
                .args(["run", "--config"])
                .arg(&path)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("cannot start {}", agent_exe.display()))?,
        );
    }
    for site in &running {
        for i in 1..=guests {
            let names = site.lab.names();
            let ip = tokio::task::spawn_blocking(move || names.dhcp(i)).await??;
            println!("{} got {ip} by DHCP", site.lab.guest(i));
        }
    }
    if let Some(hq) = &hq {
        chain_help(hq, &running, &exe);
    }
    let exe = exe.display();
    let conf = config_path.display();
    println!(
        "\nThe lab is up. Try:\n\
         \x20 ip netns exec {g1} curl -i http://example.test/            # 302 to the portal\n\
         \x20 ip netns exec {g1} curl -s http://{portal}/                # the brand page with its countdown\n\
         \x20 ip netns exec {g1} curl -sk https://{portal}/api/captive   # RFC 8908 status\n\
         \x20 {exe} sessions list --config {conf}\n\
         \x20 {exe} sessions kick {mac} --config {conf}\n\
         Log in from a shell in a guest: ip netns exec {g1} bash, then open the portal with any browser.\n\
         {aps_help}Press Ctrl-C to remove everything.",
        g1 = lab.guest(1),
        portal = lab::PORTAL_HOST,
        mac = lab::guest_mac(1),
        aps_help = if aps > 0 {
            format!(
                "With {aps} simulated APs (ip netns exec {p}-ap1 ...):\n\
                 \x20 {exe} aps list --config {conf}             # pending until adopted\n\
                 \x20 {exe} aps adopt LAB-AP-01 --fingerprint KEY --config {conf}   # KEY: as aps list shows it\n\
                 \x20 {exe} ssids add 'Lab Bistro 免费WiFi' --config {conf}\n\
                 \x20 {exe} aps stations --config {conf}\n",
                p = lab.prefix
            )
        } else {
            String::new()
        },
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        status = running[0].controller.wait() => println!("the controller exited: {status:?}"),
    }
    for site in &mut running {
        if let Some(pid) = site.controller.id() {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            let _ = tokio::time::timeout(Duration::from_secs(10), site.controller.wait()).await;
        }
    }
    drop(hq);
    // The first site's lab goes last: it owns the upstream.
    while let Some(site) = running.pop() {
        drop(site);
    }
    println!("lab removed");
    Ok(())
}

/// What to try in a chain lab.
fn chain_help(hq: &lab::hq::Hq, running: &[Site], exe: &Path) {
    let hq_exe = exe.with_file_name("guestwifi-hq");
    let hq_conf = hq.dir.join("hq.toml");
    let sites = running.len();
    println!(
        "\nHeadquarters runs two replicas on https://{}:8443, its PostgreSQL in {}.",
        lab::HQ_HOST,
        running[0].lab.upstream()
    );
    for site in running {
        let k = site.lab.site;
        println!(
            "  site{k} ({}): guests {}..., {} hq status --config {}",
            region(k, sites),
            site.lab.guest(1),
            exe.display(),
            site.config.display()
        );
    }
    println!(
        "Publish a promotion to region east (its sites show it within seconds, west's do not):\n\
         \x20 echo '[{{\"id\":\"p1\",\"title_zh\":\"冬至饺子\",\"title_en\":\"Winter dumplings\",\"body_zh\":\"买一送一\",\"body_en\":\"\",\"image\":null}}]' > /tmp/p.json\n\
         \x20 {hq} --config {conf} publish --brand {BRAND} --scope region:east --block promotions --file /tmp/p.json\n\
         \x20 ip netns exec {g} curl -s http://{portal}/promotions\n\
         \x20 {hq} --config {conf} site list",
        hq = hq_exe.display(),
        conf = hq_conf.display(),
        g = running[0].lab.guest(1),
        portal = lab::PORTAL_HOST,
    );
}
