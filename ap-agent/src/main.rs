//! `ap-agent`: the daemon on each access point.

use anyhow::Context;
use ap_agent::hostapd::{self, ApIdentity};
use ap_protocol::ApConfig;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The guest Wi-Fi AP agent.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Connect to the controller and run what it pushes.
    Run {
        /// The agent's settings (TOML).
        #[arg(long, default_value = "/etc/guestwifi/ap-agent.toml")]
        config: PathBuf,
    },
    /// Render one hostapd.conf per radio from a pushed configuration (JSON).
    Render {
        /// The configuration, as the controller pushes it.
        #[arg(long)]
        config: PathBuf,
        /// This AP's base MAC address.
        #[arg(long)]
        mac: String,
        /// Directory for `hostapd-<interface>.conf`.
        #[arg(long)]
        out: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ap_protocol::logging::init("info");
    match Cli::parse().command {
        Cmd::Run { config } => {
            let text = std::fs::read_to_string(&config).with_context(|| format!("cannot read {}", config.display()))?;
            let settings: ap_agent::agent::AgentConfig =
                toml::from_str(&text).with_context(|| format!("{}", config.display()))?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                let _ = stop_tx.send(true);
            });
            Ok(ap_agent::agent::run(settings, stop_rx).await?)
        }
        Cmd::Render { config, mac, out } => {
            let text = std::fs::read_to_string(&config).with_context(|| format!("cannot read {}", config.display()))?;
            let config: ApConfig = serde_json::from_str(&text).context("not an AP configuration")?;
            let ap = ApIdentity { mac };
            for radio in &config.radios {
                let conf =
                    hostapd::render(&config, radio, &ap).with_context(|| format!("radio {}", radio.interface))?;
                let path = out.join(format!("hostapd-{}.conf", radio.interface));
                // The file holds the SSIDs' keys: owner only.
                ap_agent::files::write_private(&path, conf.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}
