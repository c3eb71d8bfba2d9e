//! `aps`, `firmware` and `ssids`: the AC's commands.

use super::{fail, print_json, print_table, printable};
use clap::Subcommand;
use controller::control::{self, Reply, Request};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ApsCmd {
    /// Every AP: pending or adopted, online, config version.
    List,
    /// Adopt a pending AP: it gets its certificate and the configuration.
    /// Compare the key fingerprint `aps list` shows with the AP's own (its
    /// log or label) and give its first 8 characters.
    Adopt {
        /// Its device id.
        device_id: String,
        /// The first 8 (or more) characters of its key's fingerprint.
        #[arg(long, required_unless_present = "any_key")]
        fingerprint: Option<String>,
        /// Adopt whatever key it said hello with (an impostor with its id
        /// would get the certificate, the SSIDs' keys and the roaming keys).
        #[arg(long, conflicts_with = "fingerprint")]
        any_key: bool,
    },
    /// Adopt many pending APs at once (a site rolling out hundreds): FILE
    /// (`-`: standard input) holds one AP a line, its device id and the
    /// first 8 (or more) characters of its key's fingerprint, as on its
    /// label; `#` starts a comment. Each AP is adopted only if its key
    /// matches; the others are named.
    AdoptMany {
        /// The list.
        file: PathBuf,
    },
    /// Forget an AP: its certificate opens nothing any more.
    Forget {
        /// Its device id.
        device_id: String,
    },
    /// One AP and the configuration it should run (keys hidden).
    Show {
        /// Its device id.
        device_id: String,
    },
    /// Guest devices associated now, and to which AP.
    Stations,
    /// Plan channels (2.4 GHz 1/6/11, 5 GHz non-DFS) and power from the APs'
    /// neighbour scans, push it, and explain it.
    Plan,
    /// Per-AP settings: its floor, its zone, a radio's fixed channel or TX power (0 clears).
    Set {
        /// Its device id.
        device_id: String,
        /// The floor it is on (0 = ground), for the planner.
        #[arg(long)]
        floor: Option<i64>,
        /// The zone of the restaurant it serves (大堂, 包间...), for footfall; "" takes it out.
        #[arg(long)]
        zone: Option<String>,
        /// The radio `--channel` and `--tx-power` apply to, e.g. wlan1.
        #[arg(long)]
        radio: Option<String>,
        /// Fixed channel (0: back to the planner's choice).
        #[arg(long)]
        channel: Option<u16>,
        /// Fixed TX power in dBm (0: back to the planner's choice).
        #[arg(long)]
        tx_power: Option<u8>,
    },
}

#[derive(Subcommand)]
pub enum FirmwareCmd {
    /// Check an image's ed25519 signature and keep it for rollouts.
    Upload {
        /// The image file.
        image: PathBuf,
        /// The ed25519 signature of its manifest (64 bytes raw, or 128 hex
        /// digits); the manifest names version, model, size and SHA-256.
        #[arg(long)]
        signature: PathBuf,
        /// The version it installs.
        #[arg(long)]
        version: String,
        /// The AP model it is built for.
        #[arg(long)]
        model: String,
    },
    /// Roll an uploaded version out: one canary AP, then batches.
    Rollout {
        /// The version.
        version: String,
        /// Let APs go to a version older than theirs (they refuse otherwise).
        #[arg(long)]
        allow_downgrade: bool,
    },
    /// Where the rollout is.
    Status,
}

#[derive(Subcommand)]
pub enum SsidsCmd {
    /// The SSIDs (keys hidden).
    List,
    /// Add or change an SSID; every AP gets it.
    Add {
        /// The network name guests see.
        name: String,
        /// open, open_owe (open, with OWE encryption for phones that know it), wpa2_psk, wpa3_sae or wpa2_wpa3.
        #[arg(long, default_value = "open")]
        security: String,
        /// The passphrase (read from GUESTWIFI_SSID_KEY when not given, so it stays out of shell history).
        #[arg(long, env = "GUESTWIFI_SSID_KEY", hide_env_values = true, default_value = "")]
        key: String,
        /// Bands: 2.4, 5 or both (comma separated).
        #[arg(long, default_value = "2.4,5")]
        bands: String,
        /// VLAN to bridge the SSID to.
        #[arg(long)]
        vlan: Option<u16>,
        /// Do not broadcast the name.
        #[arg(long)]
        hidden: bool,
        /// Let guests on this SSID reach each other.
        #[arg(long)]
        no_isolation: bool,
        /// No captive portal for this SSID (staff networks; needs --vlan).
        #[arg(long)]
        no_portal: bool,
    },
    /// Remove an SSID from every AP.
    Remove {
        /// Its name.
        name: String,
    },
}

pub async fn aps(command: ApsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let request = match &command {
        ApsCmd::List => Request::ApsList,
        ApsCmd::Stations => Request::StationsList,
        ApsCmd::Plan => Request::ApsPlan,
        ApsCmd::Set { device_id, floor, zone, radio, channel, tx_power } => Request::ApsSet {
            device_id: device_id.clone(),
            floor: *floor,
            zone: zone.clone(),
            radio: radio.clone(),
            channel: *channel,
            tx_power_dbm: *tx_power,
        },
        ApsCmd::Adopt { device_id, fingerprint, any_key } => {
            if *any_key {
                eprintln!(
                    "warning: adopting {device_id} without checking its key: a device that took its id \
                     would get the certificate and every SSID's key"
                );
            }
            Request::ApsAdopt { device_id: device_id.clone(), fingerprint: fingerprint.clone() }
        }
        ApsCmd::AdoptMany { file } => Request::ApsAdoptMany { aps: adoption_list(file)? },
        ApsCmd::Forget { device_id } => Request::ApsForget { device_id: device_id.clone() },
        ApsCmd::Show { device_id } => Request::ApsShow { device_id: device_id.clone() },
    };
    match control::call(socket, &request).await? {
        Reply::Aps { aps } if json => print_json(&aps)?,
        Reply::Stations { stations } if json => print_json(&stations)?,
        Reply::Aps { aps } => {
            let mut rows = Vec::new();
            let mut conflicts = Vec::new();
            for ap in aps {
                let outdated = ap.wants_version.map(|w| format!(" (wants {w})")).unwrap_or_default();
                if let Some(other) = &ap.key_conflict {
                    conflicts.push(format!(
                        "warning: {} was also seen with another key {} (an impostor, or a replaced board: \
                         forget it and adopt it again)",
                        printable(&ap.device_id),
                        &other[..16.min(other.len())]
                    ));
                }
                rows.push(vec![
                    printable(&ap.device_id),
                    ap.state.clone(),
                    if ap.online { "online" } else { "offline" }.to_string(),
                    printable(&ap.model),
                    printable(&ap.mac),
                    printable(&ap.firmware),
                    format!(
                        "{}{}",
                        &ap.fingerprint[..16.min(ap.fingerprint.len())],
                        if ap.key_conflict.is_some() { "!" } else { "" }
                    ),
                    if ap.controller_pinned { "pinned" } else { "first-use" }.to_string(),
                    format!("{}{outdated}", ap.applied_version),
                ]);
            }
            print_table(
                &["DEVICE", "STATE", "ONLINE", "MODEL", "MAC", "FIRMWARE", "KEY", "CONTROLLER", "CONFIG"],
                rows,
            );
            for line in conflicts {
                println!("{line}");
            }
        }
        Reply::Ap { ap, config } => {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "access_point": ap, "config": config }))?)
        }
        Reply::Done => println!("done"),
        Reply::Adopted { results } => {
            let refused: Vec<&(String, Option<String>)> = results.iter().filter(|(_, e)| e.is_some()).collect();
            println!("adopted {} of {} APs", results.len() - refused.len(), results.len());
            for (id, why) in &refused {
                println!("not adopted: {id}: {}", why.as_deref().unwrap_or(""));
            }
            if !refused.is_empty() {
                return Err(anyhow::anyhow!("{} of {} APs were not adopted", refused.len(), results.len()));
            }
        }
        Reply::Plan { text } => print!("{text}"),
        Reply::ConfigVersion { version } => println!("configuration version {version} is being pushed to every AP"),
        Reply::Stations { stations } => {
            let rows =
                stations.into_iter().map(|(station, ap, radio, _)| vec![station, printable(&ap), radio]).collect();
            print_table(&["STATION", "AP", "RADIO"], rows);
        }
        other => fail(other)?,
    }
    Ok(())
}

pub async fn firmware(command: FirmwareCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
    let request = match command {
        FirmwareCmd::Upload { image, signature, version, model } => {
            Request::FirmwareUpload { version, model, image: absolute(image), signature: absolute(signature) }
        }
        FirmwareCmd::Rollout { version, allow_downgrade } => Request::FirmwareRollout { version, allow_downgrade },
        FirmwareCmd::Status => Request::FirmwareStatus,
    };
    match control::call(socket, &request).await? {
        Reply::Rollout { status } if json => print_json(&status)?,
        Reply::Done => println!("image accepted: signature checked"),
        Reply::Rollout { status: None } => println!("no rollout yet"),
        Reply::Rollout { status: Some(s) } => {
            println!("firmware {}: {}", s.version, s.stage);
            println!("upgraded: {}", s.upgraded.join(" "));
            println!("remaining: {}", s.remaining.join(" "));
            if let Some(reason) = s.failure {
                println!("failed: {reason}");
            }
        }
        other => fail(other)?,
    }
    Ok(())
}

pub async fn ssids(command: SsidsCmd, socket: &Path, json: bool) -> anyhow::Result<()> {
    let request = match command {
        SsidsCmd::List => Request::SsidsList,
        SsidsCmd::Remove { name } => Request::SsidsRemove { name },
        SsidsCmd::Add { name, security, key, bands, vlan, hidden, no_isolation, no_portal } => {
            let security = serde_json::from_value(serde_json::Value::String(security.clone())).map_err(|_| {
                anyhow::anyhow!("--security {security:?}: use open, open_owe, wpa2_psk, wpa3_sae or wpa2_wpa3")
            })?;
            let bands = bands
                .split(',')
                .map(|b| serde_json::from_value(serde_json::Value::String(b.trim().to_string())))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| anyhow::anyhow!("--bands {bands:?}: use 2.4, 5 or 2.4,5"))?;
            Request::SsidsPut {
                ssid: ap_protocol::Ssid {
                    name,
                    security,
                    key,
                    vlan,
                    hidden,
                    client_isolation: !no_isolation,
                    captive_portal: !no_portal,
                    bands,
                },
            }
        }
    };
    match control::call(socket, &request).await? {
        Reply::Ssids { ssids } if json => print_json(&ssids)?,
        Reply::Ssids { ssids } => {
            let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
            let rows = ssids
                .into_iter()
                .map(|s| {
                    let security = serde_json::to_value(s.security).ok().and_then(|v| v.as_str().map(str::to_string));
                    let bands: Vec<String> = s
                        .bands
                        .iter()
                        .filter_map(|b| serde_json::to_value(b).ok()?.as_str().map(str::to_string))
                        .collect();
                    vec![
                        s.name,
                        security.unwrap_or_default(),
                        bands.join(","),
                        s.vlan.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
                        yes(s.hidden),
                        yes(s.client_isolation),
                        yes(s.captive_portal),
                    ]
                })
                .collect();
            print_table(&["NAME", "SECURITY", "BANDS", "VLAN", "HIDDEN", "ISOLATED", "PORTAL"], rows);
        }
        Reply::ConfigVersion { version } => {
            println!("configuration version {version} is being pushed to every AP")
        }
        other => fail(other)?,
    }
    Ok(())
}

/// The (device id, fingerprint) pairs of an adoption list; a malformed line
/// is named and nothing is adopted.
fn adoption_list(file: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())?
    } else {
        std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
    };
    let mut aps = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            [id, fingerprint] => aps.push((id.to_string(), fingerprint.to_string())),
            _ => anyhow::bail!("line {}: want a device id and its key fingerprint, got {line:?}", n + 1),
        }
    }
    if aps.is_empty() {
        anyhow::bail!("no AP in {}", file.display());
    }
    Ok(aps)
}
