//! The guest bridge's ports kept apart. Each AP's uplink (and each wired
//! guest port) is an isolated bridge port: an isolated port forwards only to
//! the bridge itself (the gateway) and to ports that are not isolated, so
//! guests behind two APs cannot reach each other through the appliance, by
//! IP or by ARP. The kernel's `brport/isolated` flag does it; no rule per port.

use std::io;
use std::path::{Path, PathBuf};

/// The ports of one bridge, read and isolated through sysfs.
pub struct BridgePorts {
    sys: PathBuf,
    bridge: String,
}

impl BridgePorts {
    /// The ports of `bridge` in this network namespace; None when it is not
    /// a bridge (a VLAN or plain interface has no ports to keep apart).
    pub fn of(bridge: &str) -> Option<Self> {
        Self::under(Path::new("/sys/class/net"), bridge)
    }

    fn under(sys: &Path, bridge: &str) -> Option<Self> {
        let valid = !bridge.is_empty() && !bridge.contains('/') && bridge != "." && bridge != "..";
        (valid && sys.join(bridge).join("brif").is_dir())
            .then(|| BridgePorts { sys: sys.to_path_buf(), bridge: bridge.to_string() })
    }

    /// Isolates every port that is not yet; returns the ones it isolated
    /// (a port that joined, or one un-isolated behind our back).
    pub fn isolate_all(&self) -> io::Result<Vec<String>> {
        let mut changed = Vec::new();
        for port in std::fs::read_dir(self.sys.join(&self.bridge).join("brif"))? {
            let name = port?.file_name().to_string_lossy().into_owned();
            let flag = self.sys.join(&self.bridge).join("brif").join(&name).join("isolated");
            match std::fs::read_to_string(&flag) {
                Ok(v) if v.trim() == "1" => {}
                Ok(_) => {
                    std::fs::write(&flag, "1")?;
                    changed.push(name);
                }
                // The port left between the listing and the read.
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(changed)
    }
}

/// An interface's MAC address, lower case (`/sys/class/net/<if>/address`).
pub fn interface_mac(interface: &str) -> Option<String> {
    if interface.is_empty() || interface.contains('/') {
        return None;
    }
    let text = std::fs::read_to_string(Path::new("/sys/class/net").join(interface).join("address")).ok()?;
    let mac = text.trim().to_ascii_lowercase();
    mac.parse::<crate::MacAddr>().ok().map(|_| mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake sysfs: `brif/<port>` links to the port's `brport`, as the kernel's does.
    fn fake(ports: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().to_path_buf();
        std::fs::create_dir_all(sys.join("br-guest/brif")).unwrap();
        for (port, isolated) in ports {
            let brport = sys.join(port).join("brport");
            std::fs::create_dir_all(&brport).unwrap();
            std::fs::write(brport.join("isolated"), format!("{isolated}\n")).unwrap();
            std::os::unix::fs::symlink(&brport, sys.join("br-guest/brif").join(port)).unwrap();
        }
        (dir, sys)
    }

    #[test]
    fn every_port_not_yet_isolated_is_isolated_and_named_once() {
        let (_dir, sys) = fake(&[("va1", "0"), ("va2", "1"), ("vg3", "0")]);
        let ports = BridgePorts::under(&sys, "br-guest").expect("a bridge");
        let mut changed = ports.isolate_all().unwrap();
        changed.sort();
        assert_eq!(changed, ["va1", "vg3"]);
        for port in ["va1", "va2", "vg3"] {
            assert_eq!(std::fs::read_to_string(sys.join(port).join("brport/isolated")).unwrap().trim(), "1");
        }
        assert!(ports.isolate_all().unwrap().is_empty(), "nothing to do the second time");
    }

    #[test]
    fn an_interface_that_is_not_a_bridge_has_no_ports() {
        let (_dir, sys) = fake(&[]);
        std::fs::create_dir_all(sys.join("eth0.10")).unwrap();
        assert!(BridgePorts::under(&sys, "eth0.10").is_none());
        assert!(BridgePorts::under(&sys, "../br-guest").is_none());
        assert!(BridgePorts::under(&sys, "br-guest").is_some());
    }
}
