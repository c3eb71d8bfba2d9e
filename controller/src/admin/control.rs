//! The control socket: a Unix socket in the data dir (mode 0600, so root
//! only), one JSON request and one JSON reply per line. It reaches the daemon
//! from any network namespace, which `ip netns exec` in the lab needs.

use crate::ac::firmware::RolloutStatus;
use crate::ac::registry::AccessPoint;
use crate::ac::Ac;
use crate::sessions::{Session, Sessions};
use ap_protocol::{ApConfig, Ssid};
use firewall::MacAddr;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// The socket's file name in the data dir.
pub const SOCKET: &str = "control.sock";

/// What a staff command asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// Live sessions with counters.
    SessionsList,
    /// End every session of a device.
    SessionsKick {
        /// The device.
        mac: String,
    },
    /// Put the nftables table back with every live session.
    FirewallReload,
    /// Every AP.
    ApsList,
    /// Adopt a pending AP.
    ApsAdopt {
        /// Its device id.
        device_id: String,
        /// The start (8+ characters) of its key's fingerprint; None adopts
        /// any key (`--any-key`).
        #[serde(default)]
        fingerprint: Option<String>,
    },
    /// Forget an AP.
    ApsForget {
        /// Its device id.
        device_id: String,
    },
    /// One AP with the configuration it should run.
    ApsShow {
        /// Its device id.
        device_id: String,
    },
    /// Guest devices associated now, and to which AP.
    StationsList,
    /// Plan channels and power from the APs' scans and push it.
    ApsPlan,
    /// An AP's floor, or a radio's fixed channel / TX power (0 clears).
    ApsSet {
        /// Its device id.
        device_id: String,
        /// Floor for the planner.
        floor: Option<i64>,
        /// The radio the next two apply to.
        radio: Option<String>,
        /// Fixed channel.
        channel: Option<u16>,
        /// Fixed TX power, dBm.
        tx_power_dbm: Option<u8>,
    },
    /// Check and keep a firmware image (files on this machine).
    FirmwareUpload {
        /// Version it installs.
        version: String,
        /// The AP model it is for.
        model: String,
        /// The image file.
        image: PathBuf,
        /// The ed25519 signature of its manifest (raw or hex).
        signature: PathBuf,
    },
    /// Start a staged rollout.
    FirmwareRollout {
        /// The uploaded version.
        version: String,
        /// Let APs go to an older version.
        #[serde(default)]
        allow_downgrade: bool,
    },
    /// Where the rollout is.
    FirmwareStatus,
    /// The SSIDs.
    SsidsList,
    /// Add or replace an SSID (pushed to every AP).
    SsidsPut {
        /// The SSID.
        ssid: Ssid,
    },
    /// Remove an SSID (pushed to every AP).
    SsidsRemove {
        /// Its name.
        name: String,
    },
}

/// The daemon's answer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    /// Live sessions.
    Sessions {
        /// Newest first.
        sessions: Vec<Session>,
    },
    /// Sessions ended by a kick.
    Kicked {
        /// How many.
        count: usize,
    },
    /// The table is back.
    Reloaded {
        /// Sessions put back.
        sessions: usize,
    },
    /// Access points.
    Aps {
        /// By device id.
        aps: Vec<AccessPoint>,
    },
    /// One AP and its configuration (keys shown as `***`).
    Ap {
        /// The AP.
        ap: Box<AccessPoint>,
        /// What it should run.
        config: Box<ApConfig>,
    },
    /// SSIDs (keys shown as `***`).
    Ssids {
        /// By name.
        ssids: Vec<Ssid>,
    },
    /// Done; the configuration version APs will now be pushed.
    ConfigVersion {
        /// The version.
        version: u64,
    },
    /// Associated guest devices: (station, AP, radio, joined at UTC ms).
    Stations {
        /// By station.
        stations: Vec<(String, String, String, i64)>,
    },
    /// A channel plan, explained.
    Plan {
        /// One line per radio, and the score.
        text: String,
    },
    /// A rollout's state.
    Rollout {
        /// None: no rollout yet.
        status: Option<RolloutStatus>,
    },
    /// Done.
    Done,
    /// The request failed.
    Error {
        /// Why, for the operator.
        message: String,
    },
}

/// What the control socket acts on.
#[derive(Clone)]
pub struct Handles {
    /// Guest sessions.
    pub sessions: Sessions,
    /// The guests' resolver, for its counters.
    pub resolver: Option<std::sync::Arc<crate::dns::Resolver>>,
    /// The AC, when it runs.
    pub ac: Option<Ac>,
    /// APs upgraded at once after the canary.
    pub firmware_batch: usize,
    /// How long an AP has to rejoin with new firmware.
    pub firmware_wait: std::time::Duration,
}

/// Serves the control socket until the task is dropped.
pub async fn serve(path: PathBuf, handles: Handles) -> std::io::Result<()> {
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let handles = handles.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).take(64 * 1024).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(request) => handle(request, &handles).await,
                Err(err) => Reply::Error { message: format!("bad request: {err}") },
            };
            let mut out = serde_json::to_vec(&reply).expect("serialisable");
            out.push(b'\n');
            let _ = write.write_all(&out).await;
        });
    }
}

/// Carries out one request: the control socket and the HTTP admin API share it.
pub async fn handle(request: Request, handles: &Handles) -> Reply {
    let error = |e: &dyn std::error::Error| Reply::Error { message: crate::error_chain(e) };
    let Handles { sessions, ac, .. } = handles;
    match request {
        Request::SessionsList => match sessions.list().await {
            Ok(sessions) => Reply::Sessions { sessions },
            Err(e) => error(&e),
        },
        Request::SessionsKick { mac } => match mac.parse::<MacAddr>() {
            Err(e) => error(&e),
            Ok(mac) => match sessions.kick(mac).await {
                Ok(count) => Reply::Kicked { count },
                Err(e) => error(&e),
            },
        },
        Request::FirewallReload => match sessions.restore_filter().await {
            Ok(sessions) => Reply::Reloaded { sessions },
            Err(e) => error(&e),
        },
        ac_request => match ac {
            Some(ac) => handle_ac(ac_request, ac, handles).await,
            None => Reply::Error { message: "the AC is off (ac.listen is empty)".into() },
        },
    }
}

/// The AC's requests, once it is known to run.
async fn handle_ac(request: Request, ac: &Ac, handles: &Handles) -> Reply {
    let error = |e: &dyn std::error::Error| Reply::Error { message: crate::error_chain(e) };
    match request {
        Request::ApsList => match ac.list().await {
            Ok(aps) => Reply::Aps { aps },
            Err(e) => error(&e),
        },
        Request::ApsAdopt { device_id, fingerprint } => {
            ac.adopt(&device_id, fingerprint.as_deref()).await.map_or_else(|e| error(&e), |()| Reply::Done)
        }
        Request::ApsForget { device_id } => ac.forget(&device_id).await.map_or_else(|e| error(&e), |()| Reply::Done),
        Request::ApsShow { device_id } => {
            let found = ac.list().await.map(|aps| aps.into_iter().find(|a| a.device_id == device_id));
            match (found, ac.registry().config_for(&device_id).await) {
                (Ok(Some(ap)), Ok(mut config)) => {
                    config.ssids.iter_mut().for_each(mask);
                    config.roaming.ft_key = "***".into();
                    Reply::Ap { ap: Box::new(ap), config: Box::new(config) }
                }
                (Err(e), _) => error(&e),
                (_, Err(e)) => error(&e),
                (Ok(None), _) => Reply::Error { message: format!("no access point {device_id:?}") },
            }
        }
        Request::FirmwareUpload { version, model, image, signature } => {
            match (std::fs::read(&image), std::fs::read(&signature)) {
                (Ok(image), Ok(signature)) => {
                    ac.upload_firmware(&version, &model, image, &signature).map_or_else(|e| error(&e), |()| Reply::Done)
                }
                (Err(e), _) | (_, Err(e)) => error(&e),
            }
        }
        Request::FirmwareRollout { version, allow_downgrade } => {
            match ac.start_rollout(&version, handles.firmware_batch, handles.firmware_wait, allow_downgrade).await {
                Ok(status) => Reply::Rollout { status: Some(status) },
                Err(e) => error(&e),
            }
        }
        Request::FirmwareStatus => Reply::Rollout { status: ac.rollout_status() },
        Request::ApsPlan => ac.plan().await.map_or_else(|e| error(&e), |plan| Reply::Plan { text: plan.to_string() }),
        Request::ApsSet { device_id, floor, radio, channel, tx_power_dbm } => {
            let radio = radio.as_deref().map(|r| (r, channel, tx_power_dbm));
            if radio.is_none() && (channel.is_some() || tx_power_dbm.is_some()) {
                Reply::Error { message: "--channel and --tx-power need --radio".into() }
            } else {
                ac.set_ap(&device_id, floor, radio)
                    .await
                    .map_or_else(|e| error(&e), |version| Reply::ConfigVersion { version })
            }
        }
        Request::StationsList => {
            ac.registry().stations().await.map_or_else(|e| error(&e), |stations| Reply::Stations { stations })
        }
        Request::SsidsList => match ac.registry().ssids().await {
            Ok(mut ssids) => {
                ssids.iter_mut().for_each(mask);
                Reply::Ssids { ssids }
            }
            Err(e) => error(&e),
        },
        Request::SsidsPut { ssid } => {
            ac.put_ssid(&ssid).await.map_or_else(|e| error(&e), |version| Reply::ConfigVersion { version })
        }
        Request::SsidsRemove { name } => {
            ac.remove_ssid(&name).await.map_or_else(|e| error(&e), |version| Reply::ConfigVersion { version })
        }
        Request::SessionsList | Request::SessionsKick { .. } | Request::FirewallReload => {
            Reply::Error { message: "not an AC request".into() }
        }
    }
}

/// Keys never leave the daemon through the control socket.
fn mask(ssid: &mut Ssid) {
    if !ssid.key.is_empty() {
        ssid.key = "***".into();
    }
}

/// Sends one request to the daemon whose data dir is `dir`.
pub async fn call(dir: &Path, request: &Request) -> Result<Reply, std::io::Error> {
    let path = dir.join(SOCKET);
    let stream = UnixStream::connect(&path).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot reach the controller at {} (is it running?): {e}", path.display()),
        )
    })?;
    let (read, mut write) = stream.into_split();
    let mut out = serde_json::to_vec(request).expect("serialisable");
    out.push(b'\n');
    write.write_all(&out).await?;
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
