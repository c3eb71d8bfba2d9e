//! The control socket: a Unix socket in the data dir (mode 0600, so root
//! only), one JSON request and one JSON reply per line. It reaches the daemon
//! from any network namespace, which `ip netns exec` in the lab needs.

use crate::sessions::{Session, Sessions};
use firewall::{Firewall, MacAddr};
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
    /// The request failed.
    Error {
        /// Why, for the operator.
        message: String,
    },
}

/// Serves the control socket until the task is dropped.
pub async fn serve(
    path: PathBuf,
    sessions: Sessions,
    firewall: Firewall,
    db: sqlx::SqlitePool,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (sessions, firewall, db) = (sessions.clone(), firewall.clone(), db.clone());
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read)
                .take(64 * 1024)
                .read_line(&mut line)
                .await
                .is_err()
            {
                return;
            }
            let reply = match serde_json::from_str::<Request>(&line) {
                Ok(request) => handle(request, &sessions, &firewall, &db).await,
                Err(err) => Reply::Error {
                    message: format!("bad request: {err}"),
                },
            };
            let mut out = serde_json::to_vec(&reply).expect("serialisable");
            out.push(b'\n');
            let _ = write.write_all(&out).await;
        });
    }
}

async fn handle(
    request: Request,
    sessions: &Sessions,
    firewall: &Firewall,
    db: &sqlx::SqlitePool,
) -> Reply {
    let error = |e: &dyn std::error::Error| Reply::Error {
        message: crate::error_chain(e),
    };
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
        Request::FirewallReload => match Sessions::live_clients(db).await {
            Err(e) => error(&e),
            Ok(clients) => {
                let count = clients.len();
                match firewall.reload(clients).await {
                    Ok(()) => {
                        tracing::info!(sessions = count, "firewall reloaded");
                        Reply::Reloaded { sessions: count }
                    }
                    Err(e) => error(&e),
                }
            }
        },
    }
}

/// Sends one request to the daemon whose data dir is `dir`.
pub async fn call(dir: &Path, request: &Request) -> Result<Reply, std::io::Error> {
    let path = dir.join(SOCKET);
    let stream = UnixStream::connect(&path).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot reach the controller at {} (is it running?): {e}",
                path.display()
            ),
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
