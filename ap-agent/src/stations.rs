//! Which guest devices are associated. On a real AP this comes from
//! hostapd's control events (AP-STA-CONNECTED / AP-STA-DISCONNECTED); the
//! simulated radio used by the lab and the tests is a bridge whose ports
//! named `st*` are guests' links: a link that is up is an associated
//! station, and its alias holds the guest device's MAC address.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A change in who is associated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StationChange {
    /// A station associated.
    Joined {
        /// The radio interface it is on.
        interface: String,
        /// Its MAC.
        station: String,
    },
    /// A station left.
    Left {
        /// The radio interface it was on.
        interface: String,
        /// Its MAC.
        station: String,
    },
}

/// A simulated radio: the ports of one bridge.
pub struct SimulatedRadio {
    bridge: String,
    sys: PathBuf,
    known: BTreeMap<String, String>,
}

impl SimulatedRadio {
    /// Watches the ports of `bridge` in this network namespace.
    pub fn new(bridge: &str) -> Self {
        SimulatedRadio { bridge: bridge.to_string(), sys: PathBuf::from("/sys/class/net"), known: BTreeMap::new() }
    }

    /// Every station associated now (to resend after a reconnect).
    pub fn current(&self) -> Vec<StationChange> {
        self.known
            .iter()
            .map(|(mac, port)| StationChange::Joined { interface: port.clone(), station: mac.clone() })
            .collect()
    }

    /// What changed since the last poll.
    pub fn poll(&mut self) -> Vec<StationChange> {
        let mut now = BTreeMap::new();
        if let Ok(ports) = std::fs::read_dir(self.sys.join(&self.bridge).join("brif")) {
            for port in ports.flatten() {
                let name = port.file_name().to_string_lossy().into_owned();
                if !name.starts_with("st") {
                    continue;
                }
                let read = |f: &str| std::fs::read_to_string(self.sys.join(&name).join(f)).unwrap_or_default();
                // A veth whose guest end is up reports "up" here.
                let up = read("operstate").trim() == "up";
                let mac = read("ifalias").trim().to_ascii_lowercase();
                if up && !mac.is_empty() {
                    now.insert(mac, name);
                }
            }
        }
        let mut changes = Vec::new();
        for (mac, port) in &self.known {
            if !now.contains_key(mac) {
                changes.push(StationChange::Left { interface: port.clone(), station: mac.clone() });
            }
        }
        for (mac, port) in &now {
            if !self.known.contains_key(mac) {
                changes.push(StationChange::Joined { interface: port.clone(), station: mac.clone() });
            }
        }
        self.known = now;
        changes
    }
}
