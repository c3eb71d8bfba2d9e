//! hostapd's control interface: a Unix datagram socket per radio in
//! `ctrl_interface` (`/run/hostapd/<radio>`). The agent sends RELOAD after
//! writing a new `hostapd.conf`, and ATTACHes to hear station events
//! (`AP-STA-CONNECTED <mac>`, `AP-STA-DISCONNECTED <mac>`).

use crate::stations::StationChange;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Why hostapd did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum CtrlError {
    /// The socket could not be reached (hostapd not running for that radio).
    #[error("hostapd control socket {0}: {1}")]
    Socket(PathBuf, std::io::Error),
    /// hostapd did not answer in time.
    #[error("hostapd did not answer {0}")]
    Timeout(String),
    /// hostapd answered something else than OK.
    #[error("hostapd answered {0:?}")]
    Refused(String),
}

/// A client socket bound in our own directory, connected to one radio's socket.
fn connect(ctrl_dir: &Path, interface: &str) -> Result<(UnixDatagram, PathBuf), CtrlError> {
    let server = ctrl_dir.join(interface);
    let local =
        std::env::temp_dir().join(format!("ap-agent-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_file(&local);
    let sock = UnixDatagram::bind(&local).map_err(|e| CtrlError::Socket(local.clone(), e))?;
    if let Err(e) = sock.connect(&server) {
        let _ = std::fs::remove_file(&local);
        return Err(CtrlError::Socket(server, e));
    }
    Ok((sock, local))
}

async fn request(sock: &UnixDatagram, command: &str) -> Result<String, CtrlError> {
    sock.send(command.as_bytes()).await.map_err(|e| CtrlError::Socket(PathBuf::from(command), e))?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(3), sock.recv(&mut buf))
            .await
            .map_err(|_| CtrlError::Timeout(command.to_string()))?
            .map_err(|e| CtrlError::Socket(PathBuf::from(command), e))?;
        let reply = String::from_utf8_lossy(&buf[..n]).into_owned();
        // Unsolicited events start with "<level>"; skip them.
        if !reply.starts_with('<') {
            return Ok(reply);
        }
    }
}

/// Tells hostapd on `interface` to re-read its configuration file.
pub async fn reload(ctrl_dir: &Path, interface: &str) -> Result<(), CtrlError> {
    let (sock, local) = connect(ctrl_dir, interface)?;
    let reply = request(&sock, "RELOAD").await;
    let _ = std::fs::remove_file(local);
    let reply = reply?;
    if reply.trim() == "OK" {
        Ok(())
    } else {
        Err(CtrlError::Refused(reply))
    }
}

/// Attaches to `interface`'s events; station changes arrive on `events`
/// until hostapd goes away.
pub async fn watch(
    ctrl_dir: &Path,
    interface: &str,
    events: mpsc::UnboundedSender<StationChange>,
) -> Result<(), CtrlError> {
    let (sock, local) = connect(ctrl_dir, interface)?;
    match request(&sock, "ATTACH").await {
        Ok(reply) if reply.trim() == "OK" => {}
        Ok(reply) => {
            let _ = std::fs::remove_file(&local);
            return Err(CtrlError::Refused(reply));
        }
        Err(err) => {
            let _ = std::fs::remove_file(&local);
            return Err(err);
        }
    }
    let interface = interface.to_string();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf).await {
            if let Some(change) = parse_event(&interface, &String::from_utf8_lossy(&buf[..n])) {
                if events.send(change).is_err() {
                    break;
                }
            }
        }
        let _ = std::fs::remove_file(local);
    });
    Ok(())
}

/// A station event line (`<3>AP-STA-CONNECTED 02:00:00:00:01:01 ...`).
pub fn parse_event(interface: &str, line: &str) -> Option<StationChange> {
    let body = line.trim().split_once('>').map_or(line.trim(), |(_, rest)| rest);
    let mut words = body.split_whitespace();
    let event = words.next()?;
    let mac = words.next()?.to_ascii_lowercase();
    let valid = mac.len() == 17 && mac.split(':').all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return None;
    }
    let interface = interface.to_string();
    match event {
        "AP-STA-CONNECTED" => Some(StationChange::Joined { interface, station: mac }),
        "AP-STA-DISCONNECTED" => Some(StationChange::Left { interface, station: mac }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_events_are_parsed_and_others_ignored() {
        assert_eq!(
            parse_event("wlan0", "<3>AP-STA-CONNECTED 02:00:00:00:01:0A keyid=x"),
            Some(StationChange::Joined { interface: "wlan0".into(), station: "02:00:00:00:01:0a".into() })
        );
        assert_eq!(
            parse_event("wlan1", "<3>AP-STA-DISCONNECTED 02:00:00:00:01:0a"),
            Some(StationChange::Left { interface: "wlan1".into(), station: "02:00:00:00:01:0a".into() })
        );
        assert_eq!(parse_event("wlan0", "<3>CTRL-EVENT-EAP-STARTED 02:00:00:00:01:0a"), None);
        assert_eq!(parse_event("wlan0", "<3>AP-STA-CONNECTED not-a-mac"), None);
    }

    /// A stand-in for hostapd's side of the socket: answers OK to RELOAD and
    /// ATTACH, then sends one station event to whoever attached.
    #[tokio::test]
    async fn reload_and_events_over_the_control_socket() {
        let dir = std::env::temp_dir().join(format!("hostapd-ctrl-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let server = UnixDatagram::bind(dir.join("wlan0")).unwrap();
        let fake = tokio::spawn(async move {
            let mut buf = [0u8; 256];
            let mut got = Vec::new();
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                let cmd = String::from_utf8_lossy(&buf[..n]).into_owned();
                let from = from.as_pathname().unwrap().to_path_buf();
                server.send_to(b"OK\n", &from).await.unwrap();
                if cmd == "ATTACH" {
                    server.send_to(b"<3>AP-STA-CONNECTED 02:00:00:00:01:01", &from).await.unwrap();
                }
                got.push(cmd);
            }
            got
        });
        reload(&dir, "wlan0").await.unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        watch(&dir, "wlan0", tx).await.unwrap();
        let change = tokio::time::timeout(Duration::from_secs(3), rx.recv()).await.unwrap().unwrap();
        assert_eq!(change, StationChange::Joined { interface: "wlan0".into(), station: "02:00:00:00:01:01".into() });
        assert_eq!(fake.await.unwrap(), vec!["RELOAD", "ATTACH"]);
        assert!(matches!(reload(&dir, "wlan9").await, Err(CtrlError::Socket(..))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
