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
        None => run_lab(cli.guests, cli.aps, &cli.prefix, &cli.dir, cli.session_seconds, cli.countdown_seconds).await,
    }
}

async fn run_lab(
    guests: usize,
    aps: usize,
    prefix: &str,
    dir: &Path,
    session: u64,
    countdown: u64,
) -> anyhow::Result<()> {
    let lab_exe = std::env::current_exe()?;
    let exe = lab_exe.with_file_name("controller");
    let agent_exe = lab_exe.with_file_name("ap-agent");
    for (needed, path) in [(true, &exe), (aps > 0, &agent_exe)] {
        if needed && !path.exists() {
            bail!("{} is missing next to the lab (cargo build --bins)", path.display());
        }
    }
    // Each lab starts from nothing: no sessions, APs or AP keys from a previous run.
    let _ = std::fs::remove_dir_all(dir);
    let lab = Lab::create_with_aps(prefix, guests, aps, dir, &lab_exe).context("cannot build the lab")?;
    let config_path = dir.join("controller.toml");
    std::fs::write(&config_path, lab.controller_config(session, countdown, 900))?;
    let mut controller = tokio::process::Command::new("ip")
        .args(["netns", "exec", &lab.appliance()])
        .arg(&exe)
        .args(["run", "--config"])
        .arg(&config_path)
        .kill_on_drop(true)
        .spawn()?;
    let socket = dir.join("data").join(controller::config::CONTROL_SOCKET); // the lab's config keeps the default
    if !Lab::wait_for(&socket, Duration::from_secs(20)) {
        bail!("the controller did not start (see its log above)");
    }
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
    for i in 1..=guests {
        let names = lab.names();
        let ip = tokio::task::spawn_blocking(move || names.dhcp(i)).await??;
        println!("{} got {ip} by DHCP", lab.guest(i));
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
        status = controller.wait() => println!("the controller exited: {status:?}"),
    }
    if let Some(pid) = controller.id() {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        let _ = tokio::time::timeout(Duration::from_secs(10), controller.wait()).await;
    }
    drop(lab);
    println!("lab removed");
    Ok(())
}
