//! `ap-agent`: the daemon on each access point.

use anyhow::Context;
use ap_agent::hostapd::{self, ApIdentity};
use ap_protocol::ApConfig;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Render { config, mac, out } => {
            let text = std::fs::read_to_string(&config)
                .with_context(|| format!("cannot read {}", config.display()))?;
            let config: ApConfig =
                serde_json::from_str(&text).context("not an AP configuration")?;
            let ap = ApIdentity { mac };
            for radio in &config.radios {
                let conf = hostapd::render(&config, radio, &ap)
                    .with_context(|| format!("radio {}", radio.interface))?;
                let path = out.join(format!("hostapd-{}.conf", radio.interface));
                // The file holds the SSIDs' keys: owner only.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
                file.write_all(conf.as_bytes())?;
                println!("{}", path.display());
            }
            Ok(())
        }
    }
}
