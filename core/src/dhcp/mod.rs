//! Guest DHCP and DNS: the controller writes a dnsmasq configuration for the
//! guest interface and keeps dnsmasq running; its leases are what the
//! gateway lets in ([`leases`]).

pub mod leases;

use crate::config::Config;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Why dnsmasq could not be started.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// The configuration file could not be written.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// dnsmasq is not installed.
    #[error("cannot run dnsmasq (install the dnsmasq-base package)")]
    Missing(#[source] std::io::Error),
    /// dnsmasq rejected the configuration we wrote.
    #[error("dnsmasq rejected {path}: {message}")]
    Rejected {
        /// The file.
        path: PathBuf,
        /// What dnsmasq said.
        message: String,
    },
}

/// dnsmasq, supervised: restarted when it dies, stopped when this is dropped.
pub struct Dnsmasq {
    task: tokio::task::JoinHandle<()>,
}

impl Dnsmasq {
    /// Writes the configuration, checks it with `dnsmasq --test`, starts it.
    pub async fn start(config: &Config) -> Result<Self, DhcpError> {
        let path = config.data.dir.join("dnsmasq.conf");
        std::fs::write(&path, render(config)).map_err(|source| DhcpError::Write { path: path.clone(), source })?;
        let conf_arg = format!("--conf-file={}", path.display());
        let test = Command::new("dnsmasq").arg("--test").arg(&conf_arg).output().await.map_err(DhcpError::Missing)?;
        if !test.status.success() {
            return Err(DhcpError::Rejected {
                path,
                message: String::from_utf8_lossy(&test.stderr).trim().to_string(),
            });
        }
        // A dnsmasq left by a controller that was killed (SIGKILL, a crash:
        // no drop ran) would go on answering beside ours, two writers of one
        // lease file. Its pid is in the data dir: stop it first.
        let pid_file = config.data.dir.join("dnsmasq.pid");
        stop_stale(&pid_file, &conf_arg).await;
        let task = tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let mut command = Command::new("dnsmasq");
                command.arg("--keep-in-foreground").arg(&conf_arg).stdin(Stdio::null()).kill_on_drop(true);
                let child = command.spawn();
                if let Some(pid) = child.as_ref().ok().and_then(|c| c.id()) {
                    let _ = std::fs::write(&pid_file, pid.to_string());
                }
                match child {
                    Ok(mut child) => {
                        tracing::info!(pid = child.id(), "dnsmasq started");
                        let status = child.wait().await;
                        tracing::error!(?status, "dnsmasq exited; restarting");
                    }
                    Err(err) => tracing::error!(%err, "cannot start dnsmasq"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        });
        Ok(Dnsmasq { task })
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        // Aborting drops the child, which kills it (kill_on_drop).
        self.task.abort();
    }
}

/// Stops the dnsmasq whose pid `pid_file` holds, if it is still running
/// with our configuration (`conf_arg` in its command line): SIGTERM, then
/// SIGKILL after two seconds.
async fn stop_stale(pid_file: &std::path::Path, conf_arg: &str) {
    let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|p| p.trim().parse::<i32>().ok()) else {
        return;
    };
    let ours = |pid: i32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == conf_arg.as_bytes()))
    };
    if pid <= 1 || !ours(pid) {
        return;
    }
    tracing::warn!(pid, "a dnsmasq left by an earlier controller is still running; stopping it");
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        // SAFETY: kill has no memory preconditions; the pid was checked to be our dnsmasq.
        unsafe { libc::kill(pid, signal) };
        for _ in 0..20 {
            if !ours(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The dnsmasq configuration for `config`.
pub fn render(config: &Config) -> String {
    let net = &config.network;
    let ip = net.guest_address.addr;
    let mask = Ipv4Addr::from(net.guest_address.mask());
    let mut out = String::from("# Written by the guest Wi-Fi controller at every start; edits are lost.\n");
    let _ = writeln!(out, "interface={}", net.guest_interface);
    out.push_str("bind-dynamic\nexcept-interface=lo\nno-hosts\npid-file=\nlog-facility=-\n");
    // DHCP only: the controller answers the guests' DNS itself (it knows who is logged in).
    out.push_str("port=0\nno-resolv\n");
    let (first, last) = net.dhcp_range;
    let _ = writeln!(out, "dhcp-range={first},{last},{mask},{}m", net.dhcp_lease_minutes);
    let _ = writeln!(out, "dhcp-option=option:router,{ip}");
    let _ = writeln!(out, "dhcp-option=option:dns-server,{ip}");
    // RFC 8910: the captive-portal API URI (option 114).
    let _ = writeln!(out, "dhcp-option=114,\"{}\"", config.captive_api_url());
    out.push_str("dhcp-authoritative\n");
    let _ = writeln!(out, "dhcp-leasefile={}", leases_path(config).display());
    out
}

/// Where dnsmasq keeps its leases.
pub fn leases_path(config: &Config) -> std::path::PathBuf {
    config.data.dir.join("dnsmasq.leases")
}

/// The device dnsmasq's lease file gives `ip` to, if any (lines: expiry,
/// MAC, address, host name, client id).
pub fn lease_holder(path: &std::path::Path, ip: std::net::IpAddr) -> Option<firewall::MacAddr> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_expiry, mac, addr) = (fields.next()?, fields.next()?, fields.next()?);
        (addr.parse::<std::net::IpAddr>().ok()? == ip).then(|| mac.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_our_dns_the_router_and_the_captive_api() {
        let config = Config::parse(include_str!("../../../image/controller.example.toml"), "x", Vec::new()).unwrap();
        let conf = render(&config);
        for line in [
            "interface=br-guest",
            "port=0",
            "dhcp-range=192.0.2.100,192.0.2.250,255.255.255.0,720m",
            "dhcp-option=option:dns-server,192.0.2.1",
            "dhcp-option=114,\"https://portal.guestwifi.test/api/captive\"",
        ] {
            assert!(conf.lines().any(|l| l == line), "missing {line:?} in\n{conf}");
        }
        assert!(!conf.contains("server="), "dnsmasq forwards no DNS: the controller answers it\n{conf}");
    }
}
