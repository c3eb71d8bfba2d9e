//! Headquarters for the tests: a throwaway PostgreSQL, HQ's CA made by
//! `guestwifi-hq init`, the admin's commands run as an admin runs them, and
//! replicas of the real `guestwifi-hq run` started and killed at will (in
//! this namespace on loopback, or in a lab's upstream).

use crate::pg::Postgres;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// HQ and its database.
pub struct Hq {
    /// The chain's PostgreSQL.
    pub pg: Postgres,
    /// Where the configuration, the CA and the logs are.
    pub dir: PathBuf,
    exe: PathBuf,
    config: PathBuf,
    replicas: Vec<Replica>,
    /// `GUESTWIFI_HQ_*` overrides every replica starts with.
    pub env: Vec<(String, String)>,
    /// The HQ console's port, when it serves one: each replica on its own address.
    console_port: Option<u16>,
}

/// A replica: where it runs, and its process while it does.
struct Replica {
    child: Option<Child>,
    netns: Option<String>,
    listen: String,
    metrics: String,
}

impl Hq {
    /// A new HQ named `name`, the binary `exe`, whose sites dial it by
    /// `names`; its CA made. `fsync` as a real server has it (tests run without).
    pub fn new(name: &str, exe: &Path, names: &[&str], fsync: bool) -> Hq {
        let pg = Postgres::start_with(&format!("hq-{name}"), None, "", 400, fsync);
        Self::on(pg, PathBuf::from("/tmp/guestwifi-hq-tests").join(name), exe, names)
    }

    /// A chain lab's HQ: its PostgreSQL in the lab's upstream namespace
    /// `upstream` (on [`crate::HQ_DATABASE`], with fsync), its replicas to
    /// be started there too; sites dial it by [`crate::HQ_HOST`].
    /// Its files are in `dir`.
    pub fn in_lab(name: &str, exe: &Path, upstream: &str, dir: &Path) -> Hq {
        let pg =
            Postgres::start_with(&format!("hq-{name}"), Some(upstream), &crate::HQ_DATABASE.to_string(), 400, true);
        Self::on(pg, dir.to_path_buf(), exe, &[crate::HQ_HOST])
    }

    fn on(pg: Postgres, dir: PathBuf, exe: &Path, names: &[&str]) -> Hq {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let password = dir.join("db-password");
        Postgres::password_file(&password);
        let url = pg.local_url().replace(&format!(":{}@", crate::pg::PASSWORD), "@");
        let config = dir.join("hq.toml");
        let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nnames = [{}]\n\n[database]\nurl = {url:?}\npassword_file = {:?}\n\n\
                 [ca]\ncert = {:?}\nkey = {:?}\n\n[enrol]\nwrong_pins_per_site_hour = 5\n\n\
                 [sms]\ngateway = \"log\"\n\n[sms_budget]\nsite_per_hour = 3\n",
                names.join(", "),
                password.display().to_string(),
                dir.join("ca.crt").display().to_string(),
                dir.join("ca.key").display().to_string(),
            ),
        )
        .unwrap();
        let mut hq =
            Hq { pg, dir, exe: exe.to_path_buf(), config, replicas: Vec::new(), env: Vec::new(), console_port: None };
        hq.cli_ok(&["init", "--name", "Test chain"]);
        hq
    }

    /// `guestwifi-hq ARGS`: its output, or its error.
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(&self.exe).arg("--config").arg(&self.config).args(args).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `guestwifi-hq ARGS`, asserting success.
    pub fn cli_ok(&mut self, args: &[&str]) -> String {
        self.cli(args).unwrap_or_else(|e| panic!("guestwifi-hq {args:?}: {e}"))
    }

    /// The member store's handle on HQ's database, for brand `brand`
    /// (members and cards put in as a chain's card system puts them).
    pub fn members(&self, brand: &str) -> controller::members::Store {
        let settings =
            controller::config::MembersSettings { url: self.pg.local_url(), brand: brand.into(), ..Default::default() };
        controller::members::Store::connect(&settings, &self.dir).unwrap()
    }

    /// Publishes the JSON `value` as `block` of `scope` for `brand`, as an
    /// admin does (`guestwifi-hq publish`); its output, or its error.
    pub fn publish(&self, brand: &str, scope: &str, block: &str, value: &str) -> Result<String, String> {
        let file = self.dir.join(format!("publish-{block}.json"));
        std::fs::write(&file, value).unwrap();
        let file = file.display().to_string();
        self.cli(&["publish", "--brand", brand, "--scope", scope, "--block", block, "--file", &file])
    }

    /// Gives `brand` the lab's WeChat official account and QQ and Weibo
    /// apps at HQ (before the replicas start): their secrets in 0600 files
    /// of HQ's own, for the lab's portal and its stand-in provider.
    pub fn with_apps(&mut self, brand: &str) {
        let secret = |name: &str, text: &str| {
            let path = self.dir.join(name);
            controller::kit::secrets::write_secret(&path, text.as_bytes()).unwrap();
            path.display().to_string()
        };
        let (token, key) =
            (secret("wechat.token", crate::WECHAT_TOKEN), secret("wechat.aeskey", crate::WECHAT_AES_KEY));
        let oauth = secret("oauth.secret", crate::OAUTH_SECRET);
        let (portal, provider) =
            (format!("http://{}", crate::PORTAL_HOST), format!("http://{}/oauth", crate::GARDEN_WEB));
        let mut config = std::fs::read_to_string(&self.config).unwrap();
        config.push_str(&format!(
            "\n[wechat.{brand}]\nappid = {:?}\ntoken_file = {token:?}\nencoding_aes_key_file = {key:?}\nportal_url = {portal:?}\n",
            crate::WECHAT_APPID,
        ));
        for (name, openid) in [("qq", format!("{provider}/me")), ("weibo", String::new())] {
            config.push_str(&format!(
                "\n[oauth.{brand}.{name}]\nclient_id = \"lab-{name}\"\nclient_secret_file = {oauth:?}\n\
                 token_url = \"{provider}/token\"\nopenid_url = {openid:?}\nportal_url = {portal:?}\n"
            ));
        }
        std::fs::write(&self.config, config).unwrap();
    }

    /// Serves the HQ console on `port` of each replica's address (set
    /// before the replicas start), a site silent `offline_after_seconds`
    /// shown offline.
    pub fn with_console(&mut self, port: u16, offline_after_seconds: u64) {
        let mut config = std::fs::read_to_string(&self.config).unwrap();
        config.push_str(&format!(
            "\n[console]\nlisten = \"127.0.0.1:{port}\"\nissuer = \"Test chain HQ\"\noffline_after_seconds = {offline_after_seconds}\n"
        ));
        std::fs::write(&self.config, config).unwrap();
        self.console_port = Some(port);
    }

    /// Adds an HQ console account; returns its first password.
    pub fn add_person(&mut self, brand: &str, username: &str, role: &str, scope: &str) -> String {
        let out =
            self.cli_ok(&["staff", "add", "--brand", brand, "--username", username, "--role", role, "--scope", scope]);
        out.lines()
            .find_map(|l| l.strip_prefix("first password (shown once): "))
            .unwrap_or_else(|| panic!("a first password in {out}"))
            .trim()
            .to_string()
    }

    /// Adds a site; returns its claim code.
    pub fn add_site(&mut self, brand: &str, region: &str, site: &str, name: &str) -> String {
        let out = self.cli_ok(&["site", "add", "--brand", brand, "--region", region, "--id", site, "--name", name]);
        claim_code(&out)
    }

    /// Starts replica `i` listening on `listen` (metrics on `metrics`), in
    /// namespace `netns` when given; waits until it serves.
    pub fn start_replica(&mut self, netns: Option<&str>, listen: &str, metrics: &str) -> usize {
        let i = self.replicas.len();
        self.replicas.push(Replica {
            child: None,
            netns: netns.map(str::to_string),
            listen: listen.into(),
            metrics: metrics.into(),
        });
        self.restart(i);
        i
    }

    /// Starts replica `i` again.
    pub fn restart(&mut self, i: usize) {
        let Replica { netns, listen, metrics, .. } = &self.replicas[i];
        let log = std::fs::File::options().create(true).append(true).open(self.dir.join(format!("hq{i}.log"))).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.exe);
                c
            }
            None => Command::new(&self.exe),
        };
        if let Some(port) = self.console_port {
            let ip = listen.rsplit_once(':').map_or(listen.as_str(), |(ip, _)| ip);
            cmd.env("GUESTWIFI_HQ_CONSOLE__LISTEN", format!("{ip}:{port}"));
        }
        let child = cmd
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("GUESTWIFI_HQ_SERVER__LISTEN", listen)
            .env("GUESTWIFI_HQ_SERVER__METRICS_LISTEN", metrics)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("guestwifi-hq starts");
        self.replicas[i].child = Some(child);
        let start = Instant::now();
        while !self.log(i).contains("headquarters serving") {
            assert!(start.elapsed() < Duration::from_secs(30), "replica {i} did not start:\n{}", self.log(i));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills replica `i` (SIGKILL: in the middle of whatever it does).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.replicas[i].child.take() {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Replica `i`'s process id, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.replicas[i].child.as_ref().map(|c| c.id())
    }

    /// Replica `i`'s log.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("hq{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Hq {
    fn drop(&mut self) {
        for i in 0..self.replicas.len() {
            self.kill(i);
        }
    }
}

/// The claim code in `site add`'s or `site code`'s output.
pub fn claim_code(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("claim code for ").and_then(|rest| rest.split(": ").nth(1)))
        .unwrap_or_else(|| panic!("a claim code in {out}"))
        .trim()
        .to_string()
}
