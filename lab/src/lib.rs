//! The try-it lab (`guestwifi-lab`): a whole guest network in network
//! namespaces around the real controller, so anyone can try the appliance,
//! and the end-to-end tests and benchmarks run against it. It is not part
//! of the appliance: the controller, which runs as root on real gateways,
//! carries no harness that deletes directories and kills processes.
//!
//! ```text
//!  {p}-guest1 eth0 ─┐                      {p}-appliance                 {p}-upstream
//!  {p}-guest2 eth0 ─┼─ vgN ── br-guest 192.0.2.1/24 │ wan0 203.0.113.1 ── wan1 ─ eth0 (a bridge)
//!        ...        ┘         (controller, dnsmasq) │                    203.0.113.10 (web)
//!                                                   │                    203.0.113.20 (garden web)
//!  {p}-s2-guest1 ─── {p}-s2-appliance ── wan0 203.0.113.2 ── wan2 ─┘    203.0.113.53 (DNS)
//!                                                                   203.0.113.30, .31 (HQ)
//! ```
//! A chain lab ([`Lab::add_site`]) puts more restaurants on the same
//! upstream: site `k`'s namespaces are `{p}-s{k}-...`, its uplink address
//! 203.0.113.k, its files under `site{k}/`; each has its own guests, LAN and
//! APs, on the same guest addresses as every other site (they are separate
//! networks). Every address but the LAN's is a documentation (TEST-NET)
//! address; the LAN is private on purpose, to show guests never reach it.
//! Nothing leaves the namespaces.

pub mod hq;
pub mod pg;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The guest bridge in the appliance namespace.
pub const GUEST_INTERFACE: &str = "br-guest";
/// The appliance's guest address.
pub const APPLIANCE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The upstream web server (`example.test`).
pub const UPSTREAM_WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// A second upstream address (`garden.test`), for the walled garden.
pub const GARDEN_WEB: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
/// The lab WeChat account's AppID, Token and EncodingAESKey (lab values, not secrets).
pub const WECHAT_APPID: &str = "wxlab00000000000";
/// See [`WECHAT_APPID`].
pub const WECHAT_TOKEN: &str = "labtoken";
/// See [`WECHAT_APPID`].
pub const WECHAT_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The client secret the lab's stand-in QQ/Weibo provider expects.
pub const OAUTH_SECRET: &str = "lab-oauth-secret";
/// The appliance's uplink address (where WeChat's servers call it).
pub const APPLIANCE_WAN: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
/// The upstream DNS server.
pub const UPSTREAM_DNS: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
/// A host on the restaurant's LAN (the POS), behind the appliance's `lan0`.
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 10);
/// The menu printer on the LAN: the one private address guests may reach.
pub const LAN_PRINTER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 20);
/// The appliance's own LAN address.
pub const LAN_APPLIANCE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// The appliance's management bridge (APs' control traffic), lab only.
pub const MGMT_INTERFACE: &str = "br-mgmt";
/// The appliance's management address: the AC listens here.
pub const MGMT_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The portal's host name in the lab.
pub const PORTAL_HOST: &str = "portal.guestwifi.test";
/// Headquarters' name in a chain lab: the upstream DNS answers both
/// replicas' addresses, so a site whose replica is down dials the other.
pub const HQ_HOST: &str = "hq.chain.test";
/// The addresses of HQ's two replicas in the upstream namespace.
pub const HQ_REPLICAS: [Ipv4Addr; 2] = [Ipv4Addr::new(203, 0, 113, 30), Ipv4Addr::new(203, 0, 113, 31)];
/// Where a chain lab's PostgreSQL listens in the upstream namespace.
pub const HQ_DATABASE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 40);
/// The most sites a chain lab holds (their uplinks are 203.0.113.1-9).
pub const MAX_SITES: usize = 9;

/// Why the lab could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Namespaces need root.
    #[error("the lab builds network namespaces and needs root")]
    NotRoot,
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        stderr: String,
    },
    /// A program is missing or a file could not be written.
    #[error("{0}")]
    Io(String),
}

/// A lab's names (namespaces, files) and what can be done with them without
/// owning it: a copy can run DHCP in a guest from another thread, say.
#[derive(Clone, Debug)]
pub struct Names {
    /// Namespace name prefix (`lab` for `guestwifi-lab`).
    pub prefix: String,
    /// Which restaurant of a chain lab this is (1: the first, or the only one).
    pub site: usize,
    /// Number of guest namespaces.
    pub guests: usize,
    /// Working directory (configs, leases, the controller's data dir).
    pub dir: PathBuf,
    /// Number of simulated APs (0: guests hang straight off the appliance).
    pub aps: usize,
}

impl Names {
    /// What this site's namespace names start with: `{p}-` for the first
    /// site, `{p}-s{k}-` for site `k` of a chain.
    fn ns(&self) -> String {
        match self.site {
            0 | 1 => format!("{}-", self.prefix),
            k => format!("{}-s{k}-", self.prefix),
        }
    }

    /// The appliance's namespace.
    pub fn appliance(&self) -> String {
        format!("{}appliance", self.ns())
    }

    /// The appliance's uplink address (203.0.113.k for site k).
    pub fn wan(&self) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, self.site.clamp(1, MAX_SITES) as u8)
    }

    /// Simulated AP `k`'s namespace (1-based).
    pub fn ap(&self, k: usize) -> String {
        format!("{}ap{k}", self.ns())
    }

    /// Guest `i` walks from AP `from` to AP `to`: its radio link leaves one
    /// AP and associates with the other (same MAC, same address).
    pub fn roam(&self, i: usize, from: usize, to: usize) -> Result<(), LabError> {
        let port = format!("st{i}");
        let (from, to) = (self.ap(from), self.ap(to));
        run("ip", &["-n", &from, "link", "set", &port, "netns", &to])?;
        run("ip", &["-n", &to, "link", "set", &port, "alias", &guest_mac(i)])?;
        run("ip", &["-n", &to, "link", "set", &port, "master", "br0", "up"])?;
        // Its end went down with the move; bring the guest's side back up.
        run("ip", &["-n", &self.guest(i), "link", "set", "eth0", "up"])
    }

    /// Pulls AP `k`'s cables (uplink and management) or plugs them back.
    pub fn plug_ap(&self, k: usize, plugged: bool) -> Result<(), LabError> {
        let state = if plugged { "up" } else { "down" };
        for port in [format!("va{k}"), format!("vm{k}")] {
            run("ip", &["-n", &self.appliance(), "link", "set", &port, state])?;
        }
        Ok(())
    }

    /// The agent settings of simulated AP `k`, for a controller echoing every
    /// `echo_seconds`. Its simulated radios "hear" the lab's other APs as if
    /// they stood 10 m apart in a row (a scan file the agent reports).
    pub fn agent_config(&self, k: usize, echo_seconds: u64) -> String {
        let dir = self.dir.join(format!("ap{k}"));
        let _ = std::fs::create_dir_all(&dir);
        let scan = dir.join("scan.json");
        let heard = |band: u8| -> Vec<serde_json::Value> {
            (1..=self.aps)
                .filter(|j| *j != k)
                .map(|j| {
                    let distance = (j as i32 - k as i32).abs();
                    let rssi = if band == 2 { -38 } else { -45 } - 12 * distance;
                    serde_json::json!({ "bssid": lab_bssid(j, band), "channel": if band == 2 { 6 } else { 36 }, "rssi": rssi })
                })
                .collect()
        };
        let scans = serde_json::json!([
            { "interface": "wlan0", "neighbours": heard(2) },
            { "interface": "wlan1", "neighbours": heard(5) },
        ]);
        let _ = std::fs::write(&scan, scans.to_string());
        format!(
            r#"# Written by `controller lab`.
controller = "{MGMT_IP}:7443"
state_dir = "{state}"
device_id = "LAB-AP-{k:02}"
model = "SIM-AX1800"
mac = "02:00:00:00:aa:{k:02x}"
firmware = "1.0.0"
hostapd_dir = "{hostapd}"
simulated_radio = "br0"
simulated_scan = "{scan}"
silence_seconds = {silence}
radios = [{{ interface = "wlan0", band = "2.4", bssid = "{b2}" }}, {{ interface = "wlan1", band = "5", bssid = "{b5}" }}]
"#,
            state = dir.join("state").display(),
            hostapd = dir.join("hostapd").display(),
            silence = echo_seconds * 7 / 2 + 1,
            scan = scan.display(),
            b2 = lab_bssid(k, 2),
            b5 = lab_bssid(k, 5),
        )
    }

    /// The restaurant's LAN namespace (POS and menu printer).
    pub fn lan(&self) -> String {
        format!("{}lan", self.ns())
    }

    /// The upstream ("internet") namespace, one for every site of a chain.
    pub fn upstream(&self) -> String {
        format!("{}-upstream", self.prefix)
    }

    /// Guest `i`'s namespace (1-based).
    pub fn guest(&self, i: usize) -> String {
        format!("{}guest{i}", self.ns())
    }

    /// The lab's WeChat account secrets (Token, EncodingAESKey), written
    /// mode 0600 into the lab's directory; the test plays WeChat's server
    /// with the same two.
    pub fn wechat_secrets(&self) -> (PathBuf, PathBuf) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let write = |name: &str, text: &str| {
            let path = self.dir.join(name);
            let _ = std::fs::remove_file(&path);
            let mut file =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).expect("lab dir");
            file.write_all(text.as_bytes()).expect("secret written");
            path
        };
        write("oauth.secret", OAUTH_SECRET);
        (write("wechat.token", WECHAT_TOKEN), write("wechat.aeskey", WECHAT_AES_KEY))
    }

    /// A controller configuration for this lab.
    pub fn controller_config(&self, session_seconds: u64, countdown_seconds: u64, idle_seconds: u64) -> String {
        let (wechat_token, wechat_key) = self.wechat_secrets();
        let oauth_secret = self.dir.join("oauth.secret").display().to_string();
        let ac = if self.aps > 0 { format!("{MGMT_IP}:7443") } else { String::new() };
        format!(
            r#"# Written by `controller lab`.
[network]
guest_interface = "{GUEST_INTERFACE}"
guest_address = "{APPLIANCE_IP}/24"
dhcp_range = ["192.0.2.100", "192.0.2.199"]
upstream_dns = ["{UPSTREAM_DNS}"]
uplink_interface = "wan0"
guest_allowed_destinations = ["{LAN_PRINTER}"]

[portal]
hostname = "{PORTAL_HOST}"
https_port = 443

[session]
length_seconds = {session_seconds}
idle_timeout_seconds = {idle_seconds}

[auth.countdown]
seconds = {countdown_seconds}

[auth.voucher]
enabled = true

[auth.account]
enabled = true

[auth.counter_qr]
enabled = true

[auth.wechat]
# The tests play WeChat's server from the upstream namespace.
enabled = true
listen = "{wan}:8081"
appid = "{WECHAT_APPID}"
token_file = "{}"
encoding_aes_key_file = "{}"

[auth.qq]
# The lab's stand-in OAuth provider (the garden web server, oauth.test).
enabled = true
client_id = "lab-qq"
client_secret_file = "{oauth_secret}"
authorize_url = "http://oauth.test/oauth/authorize"
token_url = "http://{GARDEN_WEB}/oauth/token"
openid_url = "http://{GARDEN_WEB}/oauth/me"
garden = ["oauth.test"]

[auth.weibo]
enabled = true
client_id = "lab-weibo"
client_secret_file = "{oauth_secret}"
authorize_url = "http://oauth.test/oauth/authorize"
token_url = "http://{GARDEN_WEB}/oauth/token"
garden = ["oauth.test"]

[auth.sms]
enabled = true
gateway = "webhook"

[auth.sms.webhook]
# The lab's stand-in SMS provider (the upstream web server) records each
# message in sms-gateway.log in the lab's directory.
url = "http://{UPSTREAM_WEB}/sms"

[venue]
name = "实验餐厅 Lab Bistro"
tagline_zh = "扫码点餐，连网即享"
tagline_en = "Order by QR code, online in a tap"
info_url = "http://garden.test/menu"

[walled_garden]
names = ["garden.test"]

[ac]
listen = "{ac}"

[data]
dir = "{}"
"#,
            wechat_token.display(),
            wechat_key.display(),
            self.dir.join("data").display(),
            wan = self.wan(),
        )
    }

    /// The configuration of a restaurant of a chain lab: the same, but the
    /// WeChat account and the QQ and Weibo apps are the chain's, at
    /// headquarters, so the site holds none of their secrets (their files
    /// are not written here).
    pub fn chain_controller_config(&self, session_seconds: u64, countdown_seconds: u64, idle_seconds: u64) -> String {
        let text = self.controller_config(session_seconds, countdown_seconds, idle_seconds);
        let (token, key) = self.wechat_secrets();
        let _ = (std::fs::remove_file(token), std::fs::remove_file(key));
        let _ = std::fs::remove_file(self.dir.join("oauth.secret"));
        let secret = ["token_file = ", "encoding_aes_key_file = ", "client_secret_file = "];
        let mut out = String::new();
        for line in text.lines().filter(|l| !secret.iter().any(|s| l.starts_with(s))) {
            out.push_str(line);
            out.push('\n');
            if line.starts_with("appid = ") || line.starts_with("client_id = ") {
                out.push_str("at_headquarters = true\n");
            }
        }
        out
    }

    /// Runs DHCP in guest `i`'s namespace; returns the address it got.
    pub fn dhcp(&self, i: usize) -> Result<Ipv4Addr, LabError> {
        let g = self.guest(i);
        let conf = self.dir.join("dhclient.conf");
        std::fs::write(
            &conf,
            "timeout 30;\nretry 1;\nrequest subnet-mask, broadcast-address, routers, domain-name-servers;\n",
        )
        .map_err(|e| LabError::Io(format!("{}: {e}", conf.display())))?;
        let pid = self.dir.join(format!("dhclient-{g}.pid"));
        let leases = self.dir.join(format!("dhclient-{g}.leases"));
        run(
            "ip",
            &[
                "netns",
                "exec",
                &g,
                "dhclient",
                "-4",
                "-1",
                "-cf",
                &conf.to_string_lossy(),
                "-pf",
                &pid.to_string_lossy(),
                "-lf",
                &leases.to_string_lossy(),
                "eth0",
            ],
        )?;
        self.address(i).ok_or_else(|| LabError::Io(format!("{g}: DHCP gave no address")))
    }

    /// Guest `i`'s current IPv4 address.
    pub fn address(&self, i: usize) -> Option<Ipv4Addr> {
        let out =
            Command::new("ip").args(["-n", &self.guest(i), "-4", "-o", "addr", "show", "dev", "eth0"]).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let field = text.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
        field.split('/').next()?.parse().ok()
    }
}

/// A built lab: the one owner of its namespaces, torn down on drop (also
/// when building it fails half way).
pub struct Lab {
    names: Names,
    /// Whether dropping it removes the whole lab (the first site, which
    /// built the upstream) or only its own site's namespaces.
    whole: bool,
    /// The lab binary, whose hidden `web` command serves the web pages.
    exe: PathBuf,
}

impl std::ops::Deref for Lab {
    type Target = Names;
    fn deref(&self) -> &Names {
        &self.names
    }
}

impl Lab {
    /// Builds the namespaces, links and upstream services. `exe` is the lab
    /// binary (`guestwifi-lab`), whose hidden `web` command serves the
    /// upstream web pages.
    pub fn create(prefix: &str, guests: usize, dir: &Path, exe: &Path) -> Result<Lab, LabError> {
        Self::create_with_aps(prefix, guests, 0, dir, exe)
    }

    /// Like [`Lab::create`], with `aps` simulated APs between the guests and
    /// the appliance: each AP is a namespace whose bridge `br0` joins its
    /// guests' links (the "radio") to an uplink into the guest network, with
    /// a management link on 198.51.100.0/24 to the controller's AC port.
    /// Guest `i` starts on AP `((i - 1) % aps) + 1`.
    pub fn create_with_aps(prefix: &str, guests: usize, aps: usize, dir: &Path, exe: &Path) -> Result<Lab, LabError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(LabError::NotRoot);
        }
        teardown(prefix);
        std::fs::create_dir_all(dir).map_err(|e| LabError::Io(format!("{}: {e}", dir.display())))?;
        let names = Names { prefix: prefix.to_string(), site: 1, guests, dir: dir.to_path_buf(), aps };
        let lab = Lab { names, whole: true, exe: exe.to_path_buf() };
        lab.build_upstream()?;
        lab.build_site()?;
        Ok(lab)
    }

    /// Another restaurant of the chain on this lab's upstream: site `site`
    /// (2 to [`MAX_SITES`]) with its own appliance, LAN, `guests` guests and
    /// `aps` APs, its files in `site{site}/` of this lab's directory. Dropping
    /// it removes that site only.
    pub fn add_site(&self, site: usize, guests: usize, aps: usize) -> Result<Lab, LabError> {
        if !(2..=MAX_SITES).contains(&site) {
            return Err(LabError::Io(format!(
                "site {site}: a chain lab's sites are 2 to {MAX_SITES} besides the first"
            )));
        }
        let dir = self.dir.join(format!("site{site}"));
        std::fs::create_dir_all(&dir).map_err(|e| LabError::Io(format!("{}: {e}", dir.display())))?;
        let names = Names { prefix: self.prefix.clone(), site, guests, dir, aps };
        let lab = Lab { names, whole: false, exe: self.exe.clone() };
        teardown_site(&lab.prefix, site);
        lab.build_site()?;
        Ok(lab)
    }

    /// The "internet": the upstream namespace, whose `eth0` is a bridge
    /// every site's uplink plugs into, with a DNS server and web servers.
    fn build_upstream(&self) -> Result<(), LabError> {
        let u = self.upstream();
        run("ip", &["netns", "add", &u])?;
        run("ip", &["-n", &u, "link", "set", "lo", "up"])?;
        run("ip", &["-n", &u, "link", "add", "eth0", "type", "bridge"])?;
        for addr in [UPSTREAM_WEB, GARDEN_WEB, UPSTREAM_DNS, HQ_REPLICAS[0], HQ_REPLICAS[1], HQ_DATABASE] {
            run("ip", &["-n", &u, "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
        }
        run("ip", &["-n", &u, "link", "set", "eth0", "up"])?;
        let wechat_hosts = format!("--address=/{}/{GARDEN_WEB}", controller::config::WECHAT_GARDEN.join("/"));
        let hq = HQ_REPLICAS.map(|addr| format!("--host-record={HQ_HOST},{addr}"));
        spawn(&[
            "ip",
            "netns",
            "exec",
            &u,
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--pid-file=",
            &format!("--listen-address={UPSTREAM_DNS}"),
            &format!("--address=/example.test/{UPSTREAM_WEB}"),
            &format!("--address=/garden.test/{GARDEN_WEB}"),
            // WeChat's hosts (every one the garden opens, or the catch-all
            // below would open example.test's address to guests not logged
            // in): the stand-in for WeChat's servers is the garden web server.
            &wechat_hosts,
            &format!("--address=/oauth.test/{GARDEN_WEB}"),
            // Headquarters: both replicas, as a chain's DNS would name them.
            &hq[0],
            &hq[1],
            // Every other name too (the OS captive probes among them), as the internet would.
            &format!("--address=/#/{UPSTREAM_WEB}"),
            // A TXT record, the kind a DNS tunnel carries its data in.
            "--txt-record=tunnel.example.test,lab",
        ])?;
        let exe = self.exe.to_string_lossy().into_owned();
        let record = self.dir.to_string_lossy().into_owned();
        spawn(&["ip", "netns", "exec", &u, &exe, "web", "--listen", "0.0.0.0:80", "--record", &record])
    }

    /// This site's namespaces: the appliance, its LAN (with a web server),
    /// APs and guests, and its uplink into the upstream's bridge.
    fn build_site(&self) -> Result<(), LabError> {
        let (a, u, l) = (self.appliance(), self.upstream(), self.lan());
        let (guests, aps) = (self.guests, self.aps);
        for ns in [a.clone(), l.clone()]
            .into_iter()
            .chain((1..=guests).map(|i| self.guest(i)))
            .chain((1..=aps).map(|k| self.ap(k)))
        {
            run("ip", &["netns", "add", &ns])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        }
        run("ip", &["-n", &a, "link", "add", GUEST_INTERFACE, "type", "bridge"])?;
        run("ip", &["-n", &a, "addr", "add", &format!("{APPLIANCE_IP}/24"), "dev", GUEST_INTERFACE])?;
        run("ip", &["-n", &a, "link", "set", GUEST_INTERFACE, "up"])?;
        if aps > 0 {
            run("ip", &["-n", &a, "link", "add", MGMT_INTERFACE, "type", "bridge"])?;
            run("ip", &["-n", &a, "addr", "add", &format!("{MGMT_IP}/24"), "dev", MGMT_INTERFACE])?;
            run("ip", &["-n", &a, "link", "set", MGMT_INTERFACE, "up"])?;
        }
        for k in 1..=aps {
            let ap = self.ap(k);
            let (up, mgmt) = (format!("va{k}"), format!("vm{k}"));
            run("ip", &["-n", &a, "link", "add", &up, "type", "veth", "peer", "name", "up0", "netns", &ap])?;
            run("ip", &["-n", &a, "link", "set", &up, "master", GUEST_INTERFACE, "up"])?;
            run("ip", &["-n", &a, "link", "add", &mgmt, "type", "veth", "peer", "name", "mgmt0", "netns", &ap])?;
            run("ip", &["-n", &a, "link", "set", &mgmt, "master", MGMT_INTERFACE, "up"])?;
            run("ip", &["-n", &ap, "link", "add", "br0", "type", "bridge"])?;
            run("ip", &["-n", &ap, "link", "set", "up0", "master", "br0", "up"])?;
            run("ip", &["-n", &ap, "link", "set", "br0", "up"])?;
            run("ip", &["-n", &ap, "addr", "add", &format!("{}/24", ap_mgmt_ip(k)), "dev", "mgmt0"])?;
            run("ip", &["-n", &ap, "link", "set", "mgmt0", "up"])?;
        }
        for i in 1..=guests {
            let g = self.guest(i);
            if aps == 0 {
                let port = format!("vg{i}");
                run("ip", &["-n", &a, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &g])?;
                run("ip", &["-n", &a, "link", "set", &port, "master", GUEST_INTERFACE, "up"])?;
            } else {
                let ap = self.ap((i - 1) % aps + 1);
                let port = format!("st{i}");
                run("ip", &["-n", &ap, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &g])?;
                run("ip", &["-n", &ap, "link", "set", &port, "alias", &guest_mac(i)])?;
                run("ip", &["-n", &ap, "link", "set", &port, "master", "br0", "up"])?;
            }
            run("ip", &["-n", &g, "link", "set", "eth0", "address", &guest_mac(i)])?;
            run("ip", &["-n", &g, "link", "set", "eth0", "up"])?;
            resolv_conf(&g, APPLIANCE_IP)?;
        }
        // The appliance's own lookups (HQ's name) go to the upstream DNS, as
        // a real appliance's would go to its ISP's.
        resolv_conf(&a, UPSTREAM_DNS)?;
        let port = format!("wan{}", self.site);
        run("ip", &["-n", &a, "link", "add", "wan0", "type", "veth", "peer", "name", &port, "netns", &u])?;
        run("ip", &["-n", &u, "link", "set", &port, "master", "eth0", "up"])?;
        run("ip", &["-n", &a, "addr", "add", &format!("{}/24", self.wan()), "dev", "wan0"])?;
        run("ip", &["-n", &a, "link", "set", "wan0", "up"])?;
        run("ip", &["-n", &a, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", &l])?;
        run("ip", &["-n", &a, "addr", "add", &format!("{LAN_APPLIANCE}/24"), "dev", "lan0"])?;
        run("ip", &["-n", &a, "link", "set", "lan0", "up"])?;
        for addr in [LAN_HOST, LAN_PRINTER] {
            run("ip", &["-n", &l, "addr", "add", &format!("{addr}/24"), "dev", "eth0"])?;
        }
        run("ip", &["-n", &l, "link", "set", "eth0", "up"])?;
        run("ip", &["-n", &l, "route", "add", "default", "via", &LAN_APPLIANCE.to_string()])?;
        run("ip", &["netns", "exec", &a, "sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
        spawn(&["ip", "netns", "exec", &l, &self.exe.to_string_lossy(), "web", "--listen", "0.0.0.0:80"])
    }

    /// Waits for a file (the controller's control socket) to appear.
    pub fn wait_for(path: &Path, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if path.exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A copy of the lab's names, which tears nothing down.
    pub fn names(&self) -> Names {
        self.names.clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.whole {
            teardown(&self.prefix);
        } else {
            teardown_site(&self.prefix, self.site);
        }
    }
}

/// Writes `/etc/netns/{ns}/resolv.conf`, which `ip netns exec` puts over
/// `/etc/resolv.conf` for what runs in `ns`.
fn resolv_conf(ns: &str, server: Ipv4Addr) -> Result<(), LabError> {
    let etc = PathBuf::from("/etc/netns").join(ns);
    std::fs::create_dir_all(&etc).map_err(|e| LabError::Io(format!("{}: {e}", etc.display())))?;
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {server}\n"))
        .map_err(|e| LabError::Io(format!("{}: {e}", etc.display())))
}

/// The BSSID of simulated AP `k`'s 2.4 (`band` 2) or 5 GHz radio.
pub fn lab_bssid(k: usize, band: u8) -> String {
    format!("02:00:00:{band:02x}:bb:{:02x}", k % 256)
}

/// Simulated AP `k`'s management address.
pub fn ap_mgmt_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 10 + (k % 200) as u8)
}

/// Guest `i`'s MAC address.
pub fn guest_mac(i: usize) -> String {
    format!("02:00:00:00:01:{:02x}", i % 256)
}

/// `GET /big?bytes=N`: N bytes, streamed (a large download to measure a
/// guest's limit against).
async fn big(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let total: usize = q.get("bytes").and_then(|b| b.parse().ok()).unwrap_or(1 << 20).min(1 << 30);
    let chunk = bytes::Bytes::from(vec![0u8; 64 * 1024]);
    let chunks = total.div_ceil(chunk.len());
    let stream = futures::stream::iter((0..chunks).map(move |i| {
        let n = if i + 1 == chunks { total - i * chunk.len() } else { chunk.len() };
        Ok::<_, std::io::Error>(chunk.slice(..n))
    }));
    ([(axum::http::header::CONTENT_LENGTH, total.to_string())], axum::body::Body::from_stream(stream)).into_response()
}

/// `POST /sink`: reads and drops the body (an upload to measure); answers
/// the bytes and the bytes a second it received them at, first byte to last
/// (the client's own figure counts its socket buffer as sent).
async fn sink(body: axum::body::Body) -> String {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut total = 0usize;
    let mut first = None;
    while let Some(Ok(chunk)) = stream.next().await {
        first.get_or_insert_with(std::time::Instant::now);
        total += chunk.len();
    }
    let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let rate = if secs > 0.0 { total as f64 / secs } else { 0.0 };
    format!("{total} {rate:.0}\n")
}

/// The stand-in QQ/Weibo provider: every guest who comes says yes at once;
/// the code is `labcode`.
async fn oauth_authorize(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let location = format!("{redirect}?code=labcode&state={state}");
    (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, location)]).into_response()
}

/// The code traded for a token, if the secret is the lab's: QQ's answer
/// and Weibo's (its `uid`) in one.
fn oauth_trade(q: &std::collections::HashMap<String, String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ok = q.get("code").map(String::as_str) == Some("labcode")
        && q.get("client_secret").map(String::as_str) == Some(OAUTH_SECRET);
    if !ok {
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": "invalid_grant"})))
            .into_response();
    }
    let client = q.get("client_id").cloned().unwrap_or_default();
    axum::Json(serde_json::json!({"access_token": format!("at-{client}"), "expires_in": 7776000, "uid": "5550001"}))
        .into_response()
}

async fn oauth_token(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    oauth_trade(&q)
}

async fn oauth_token_form(
    axum::extract::Form(q): axum::extract::Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    oauth_trade(&q)
}

async fn oauth_me(
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::Json<serde_json::Value> {
    let client = q.get("access_token").and_then(|t| t.strip_prefix("at-")).unwrap_or_default().to_string();
    axum::Json(serde_json::json!({"client_id": client, "openid": "LABQQOPENID1"}))
}

/// Whether `name` is one of a lab's namespace roles (so the lab `e2e-a`
/// never takes the namespaces of the lab `e2e-a-b` for its own).
fn is_role(name: &str) -> bool {
    // Site k of a chain lab: `s{k}-` before the role.
    let name = match name.strip_prefix('s').and_then(|rest| rest.split_once('-')) {
        Some((k, rest)) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => name,
    };
    let numbered =
        |role: &str| name.strip_prefix(role).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    matches!(name, "appliance" | "lan" | "upstream") || numbered("guest") || numbered("ap")
}

/// Removes every namespace of the lab `prefix` (every site of a chain lab)
/// and everything running in it.
pub fn teardown(prefix: &str) {
    remove_namespaces(|ns| ns.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('-')).is_some_and(is_role));
}

/// Removes site `site`'s namespaces of the chain lab `prefix`.
fn teardown_site(prefix: &str, site: usize) {
    let tag = format!("{prefix}-s{site}-");
    remove_namespaces(|ns| ns.strip_prefix(&tag).is_some_and(|role| is_role(role) && role != "upstream"));
}

fn remove_namespaces(ours: impl Fn(&str) -> bool) {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let list = String::from_utf8_lossy(&out.stdout);
    let ours: Vec<String> =
        list.lines().filter_map(|l| l.split_whitespace().next()).filter(|ns| ours(ns)).map(str::to_string).collect();
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        for ns in &ours {
            for pid in pids(ns) {
                // SAFETY: kill has no memory preconditions.
                unsafe { libc::kill(pid, signal) };
            }
        }
        if ours.iter().all(|ns| pids(ns).is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    for ns in &ours {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(ns));
    }
}

fn pids(ns: &str) -> Vec<i32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

fn run(program: &str, args: &[&str]) -> Result<(), LabError> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Io(format!("cannot run {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn spawn(argv: &[&str]) -> Result<(), LabError> {
    Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| LabError::Io(format!("cannot start {}: {e}", argv.join(" "))))
}

/// The upstream web server: every path answers with a page naming the host.
pub async fn web(listen: std::net::SocketAddr, record: Option<PathBuf>) -> std::io::Result<()> {
    use axum::http::{HeaderMap, StatusCode};
    async fn page(headers: HeaderMap) -> String {
        let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("");
        format!("Hello from upstream\nHost: {host}\n")
    }
    // The stand-in SMS provider: each message the controller's webhook
    // sends is a line of `sms-gateway.log`; while `sms-gateway.fail` exists
    // it answers 503, as a provider having an outage would.
    let sms = move |body: String| {
        let record = record.clone();
        async move {
            let Some(dir) = record else { return StatusCode::NOT_FOUND };
            if dir.join("sms-gateway.fail").exists() {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            use std::io::Write;
            let line = body.replace('\n', " ");
            let written = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(dir.join("sms-gateway.log"))
                .and_then(|mut file| writeln!(file, "{line}"));
            if written.is_ok() {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    };
    let app = axum::Router::new()
        .route("/sms", axum::routing::post(sms))
        .route("/oauth/authorize", axum::routing::get(oauth_authorize))
        .route("/oauth/token", axum::routing::get(oauth_token).post(oauth_token_form))
        .route("/oauth/me", axum::routing::get(oauth_me))
        .route("/big", axum::routing::get(big))
        .route("/sink", axum::routing::post(sink))
        .route("/whoami", axum::routing::get(whoami))
        .fallback(page);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await
}

/// `/whoami`: the address and source port this connection came from, as
/// the internet sees a guest (what the access log is searched by).
async fn whoami(axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>) -> String {
    format!("{peer}\n")
}

#[cfg(test)]
mod tests {
    use super::is_role;

    #[test]
    fn a_lab_owns_only_its_own_namespaces() {
        for ours in ["appliance", "lan", "upstream", "guest1", "guest12", "ap3", "s2-appliance", "s3-guest1"] {
            assert!(is_role(ours), "{ours}");
        }
        // The lab "e2e-browser" must not take "e2e-browser-methods-guest1".
        for theirs in ["methods-guest1", "guest", "ap", "guestx", "appliance2", "s-guest1", "s2x-lan"] {
            assert!(!is_role(theirs), "{theirs}");
        }
    }
}
