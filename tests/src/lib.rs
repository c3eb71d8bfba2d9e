//! Harness for the end-to-end tests: a lab (network namespaces from
//! the `lab` crate), the real `controller` binary running in the appliance
//! namespace, and guests driven with curl from inside their namespaces.
//!
//! Needs root. Without it each test prints that it was skipped; under CI
//! (`CI` set) a skip is a failure.

pub use lab::pg;

/// Headquarters for the tests (the lab's harness, with the binary built beside these).
pub mod hq {
    pub use lab::hq::claim_code;

    /// A new HQ named `name` whose sites dial it by `names` (fsync off).
    pub fn start(name: &str, names: &[&str]) -> lab::hq::Hq {
        lab::hq::Hq::new(name, &crate::controller_exe().with_file_name("guestwifi-hq"), names, false)
    }

    /// A chain lab's HQ: its PostgreSQL in `t`'s upstream namespace, its
    /// files in the lab's `hq/`; sites dial it by [`lab::HQ_HOST`].
    pub fn in_lab(t: &crate::TestLab) -> lab::hq::Hq {
        let exe = crate::controller_exe().with_file_name("guestwifi-hq");
        lab::hq::Hq::in_lab(&t.lab.prefix, &exe, &t.lab.upstream(), &t.lab.dir.join("hq"))
    }
}

pub mod staff;

use lab::Lab;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub use lab::{guest_mac, PORTAL_HOST};

/// Countdown used by the tests, seconds.
pub const COUNTDOWN: u64 = 1;

/// A lab with the controller running in it.
pub struct TestLab {
    /// The namespaces.
    pub lab: Lab,
    config: PathBuf,
    controller: Option<Child>,
    env: Vec<(String, String)>,
    agents: Vec<Child>,
}

/// Whether we may build namespaces; prints the skip, or fails under CI.
pub fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: end-to-end tests need root and CI must run them");
    }
    eprintln!("SKIPPED {test}: end-to-end tests build network namespaces and need root");
    false
}

/// The `controller` binary next to the test binary (`cargo build --bins` first).
pub fn controller_exe() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("controller");
    assert!(path.exists(), "{} is missing: run `cargo build --workspace --bins` first", path.display());
    path
}

impl TestLab {
    /// Builds lab `name` with `guests` guests and starts the controller with
    /// `session_seconds` sessions and extra `GUESTWIFI_*` settings; DHCP runs
    /// in every guest. None when not root.
    pub fn start(name: &str, guests: usize, session_seconds: u64, env: &[(&str, &str)]) -> Option<TestLab> {
        Self::start_with_aps(name, guests, 0, session_seconds, env)
    }

    /// Like [`TestLab::start`], with `aps` simulated APs each running the
    /// real `ap-agent` (their controller echoes every second).
    pub fn start_with_aps(
        name: &str,
        guests: usize,
        aps: usize,
        session_seconds: u64,
        env: &[(&str, &str)],
    ) -> Option<TestLab> {
        if !root_or_skip(name) {
            return None;
        }
        let dir = PathBuf::from("/tmp/guestwifi-e2e").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let lab_exe = controller_exe().with_file_name("guestwifi-lab");
        let lab = Lab::create_with_aps(name, guests, aps, &dir, &lab_exe).expect("lab builds");
        Some(Self::run(lab, session_seconds, env, false))
    }

    /// The first restaurant of a chain lab (add the others with
    /// [`TestLab::add_site`]): as [`TestLab::start`], but its WeChat account
    /// is the chain's, at headquarters (`chain_controller_config`).
    pub fn start_chain(name: &str, guests: usize, session_seconds: u64, env: &[(&str, &str)]) -> Option<TestLab> {
        if !root_or_skip(name) {
            return None;
        }
        let dir = PathBuf::from("/tmp/guestwifi-e2e").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let lab_exe = controller_exe().with_file_name("guestwifi-lab");
        let lab = Lab::create(name, guests, &dir, &lab_exe).expect("lab builds");
        Some(Self::run(lab, session_seconds, env, true))
    }

    /// Restaurant `site` (2 to 9) of a chain lab on this lab's upstream, with
    /// `guests` guests, its controller started as [`TestLab::start`] does.
    /// Drop it before the first site's lab, which owns the upstream.
    pub fn add_site(&self, site: usize, guests: usize, session_seconds: u64, env: &[(&str, &str)]) -> TestLab {
        let lab = self.lab.add_site(site, guests, 0).expect("site builds");
        Self::run(lab, session_seconds, env, true)
    }

    /// Starts the controller (and the APs' agents) in a built lab, with a
    /// chain's configuration when `chain`.
    fn run(lab: Lab, session_seconds: u64, env: &[(&str, &str)], chain: bool) -> TestLab {
        let (dir, guests, aps) = (lab.dir.clone(), lab.guests, lab.aps);
        let config = dir.join("controller.toml");
        let text = match chain {
            true => lab.chain_controller_config(session_seconds, COUNTDOWN, 900),
            false => lab.controller_config(session_seconds, COUNTDOWN, 900),
        };
        std::fs::write(&config, text).unwrap();
        let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("GUESTWIFI_AC__ECHO_SECONDS".into(), "1".into()));
        let mut t = TestLab { lab, config, controller: None, env, agents: Vec::new() };
        t.start_controller();
        for k in 1..=aps {
            let path = t.lab.dir.join(format!("ap{k}.toml"));
            std::fs::write(&path, t.lab.agent_config(k, 1)).unwrap();
            let log = std::fs::File::create(t.lab.dir.join(format!("ap{k}.log"))).unwrap();
            let agent = Command::new("ip")
                .args(["netns", "exec", &t.lab.ap(k)])
                .arg(controller_exe().with_file_name("ap-agent"))
                .args(["run", "--config"])
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("ap-agent starts");
            t.agents.push(agent);
        }
        for i in 1..=guests {
            t.lab.dhcp(i).expect("guest gets an address by DHCP");
        }
        t
    }

    /// Starts the controller in the appliance namespace and waits until it serves.
    pub fn start_controller(&mut self) {
        let socket = self.lab.dir.join("data").join("control.sock");
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::File::options().create(true).append(true).open(self.lab.dir.join("controller.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.lab.appliance()])
            .arg(controller_exe())
            .args(["run", "--config"])
            .arg(&self.config)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("controller starts");
        self.controller = Some(child);
        assert!(Lab::wait_for(&socket, Duration::from_secs(20)), "controller did not start:\n{}", self.log());
    }

    /// Stops the controller with SIGTERM (a clean shutdown) and waits.
    pub fn stop_controller(&mut self) {
        if let Some(mut child) = self.controller.take() {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let status = child.wait().unwrap();
            assert!(status.success(), "controller exited with {status}:\n{}", self.log());
        }
    }

    /// Kills the controller with SIGKILL (a crash, a power cut) and waits.
    pub fn kill_controller(&mut self) {
        if let Some(mut child) = self.controller.take() {
            // `ip netns exec` execs the controller: this pid is the controller's.
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// The running controller's process id (`ip netns exec` execs it).
    pub fn controller_pid(&self) -> Option<u32> {
        self.controller.as_ref().map(|c| c.id())
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.lab.dir.join("controller.log")).unwrap_or_default()
    }

    /// Runs a command in guest `i`'s namespace.
    pub fn in_guest(&self, i: usize, argv: &[&str]) -> Output {
        Command::new("ip").args(["netns", "exec", &self.lab.guest(i)]).args(argv).output().unwrap()
    }

    /// `curl` in guest `i`: (status code, headers and body). Code 0 when no
    /// HTTP answer came.
    pub fn curl(&self, i: usize, args: &[&str]) -> (u16, String) {
        let mut argv = vec!["curl", "-s", "-i", "--max-time", "5", "-w", "\n%{http_code}"];
        argv.extend_from_slice(args);
        let out = self.in_guest(i, &argv);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// The brand page's ticket for guest `i`, having been redirected there
    /// from http://example.test/.
    pub fn ticket(&self, i: usize) -> String {
        let (code, head) = self.curl(i, &["http://example.test/"]);
        assert_eq!(code, 302, "{head}");
        let location = header(&head, "location").unwrap_or_else(|| panic!("no location in\n{head}"));
        self.ticket_from(i, &location)
    }

    /// The ticket of the brand page at `url`, as guest `i` sees it.
    pub fn ticket_from(&self, i: usize, url: &str) -> String {
        let (code, page) = self.curl(i, &[url]);
        assert_eq!(code, 200, "{page}");
        field(&page, "ticket").unwrap_or_else(|| panic!("no ticket in\n{page}"))
    }

    /// A TCP connection from inside guest `i`'s namespace, usable from the
    /// test as any socket (to hold it open, or reuse it the way a browser does).
    pub fn guest_socket(&self, i: usize, addr: std::net::SocketAddr) -> std::net::TcpStream {
        let stream = self.guest_sockets(i, addr, 1).pop().expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream
    }

    /// Up to `n` TCP connections from guest `i` to `addr`, held open by the
    /// caller. They are opened in bursts of 32 so the server's accept queue
    /// keeps up; two connects in a row that fail mean the server (or the
    /// guest's port block) takes no more, and opening stops there. A connect
    /// may wait 3 s: on a loaded machine a SYN is sometimes lost and sent
    /// again after 1 s, and a connect given up on still holds its NAT port
    /// (conntrack keeps the attempt), so a short wait would count a port the
    /// guest did get as one it did not.
    pub fn guest_sockets(&self, i: usize, addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
        let path = format!("/run/netns/{}", self.lab.guest(i));
        let limit = libc::rlimit { rlim_cur: 16384, rlim_max: 16384 };
        // SAFETY: setrlimit with a valid struct; root may raise its own limit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let ns = std::fs::File::open(path).expect("guest namespace");
            // SAFETY: setns on this thread only, with a namespace fd we own.
            assert_eq!(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
            let (mut held, mut failed) = (Vec::with_capacity(n), 0);
            for k in 0..n {
                match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
                    Ok(stream) => {
                        held.push(stream);
                        failed = 0;
                    }
                    Err(_) if failed == 1 => break,
                    Err(_) => failed += 1,
                }
                if k % 32 == 31 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            held
        })
        .join()
        .unwrap()
    }

    /// POSTs a countdown login with `ticket` from guest `i`.
    pub fn post_login(&self, i: usize, ticket: &str) -> (u16, String) {
        self.curl(i, &["--data", &format!("ticket={ticket}"), &format!("http://{PORTAL_HOST}/login")])
    }

    /// The device token of the portal's forms, as guest `i`'s login page has it.
    pub fn token(&self, i: usize) -> String {
        let (code, page) = self.curl(i, &[&format!("http://{PORTAL_HOST}/")]);
        assert_eq!(code, 200, "{page}");
        field(&page, "token").unwrap_or_else(|| panic!("no token in\n{page}"))
    }

    /// POSTs `fields` (URL-encoded) to the portal's `path` from guest `i`.
    pub fn post(&self, i: usize, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let data: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args: Vec<&str> = Vec::new();
        for d in &data {
            args.extend(["--data-urlencode", d.as_str()]);
        }
        let url = format!("http://{PORTAL_HOST}{path}");
        args.push(&url);
        self.curl(i, &args)
    }

    /// A whole countdown login of guest `i`.
    pub fn login(&self, i: usize) {
        let ticket = self.ticket(i);
        std::thread::sleep(Duration::from_millis(COUNTDOWN * 1000 + 100));
        let (code, page) = self.post_login(i, &ticket);
        assert_eq!(code, 200, "{page}");
    }

    /// Whether guest `i` reaches the upstream web page.
    pub fn online(&self, i: usize) -> bool {
        let (code, body) = self.curl(i, &["http://example.test/"]);
        code == 200 && body.contains("Hello from upstream")
    }

    /// `controller ARGS --config ...` stdout, asserting success.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "controller {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to `secs` seconds for `f` to hold.
    pub fn until(&self, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let start = std::time::Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(secs), "timed out waiting until {what}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `controller ARGS --config ...` inside the appliance's namespace
    /// (what touches the kernel: a second `run`, `firewall-remove`), with
    /// extra environment `env`.
    pub fn controller_in_appliance(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.lab.appliance()])
            .arg(controller_exe())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// Runs `controller ARGS --config ...` (the CLI against the running daemon).
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(controller_exe()).args(args).arg("--config").arg(&self.config).output().unwrap()
    }
}

/// WeChat's server, played from namespace `ns`: it POSTs a diner's message
/// to the callback at `url` (with curl's extra `args`) as WeChat does in
/// safe mode, with the lab account's Token and key, signed at `(nonce,
/// timestamp)` (a replay repeats them); `forge` signs with another token.
/// The status and the reply, opened.
pub fn wechat_says(
    ns: &str,
    url: &str,
    args: &[&str],
    openid: &str,
    content: &str,
    (nonce, timestamp): (&str, &str),
    forge: bool,
) -> (u16, String) {
    use controller::auth::wechat::{signature, Cipher};
    let cipher = Cipher::new(lab::WECHAT_AES_KEY, lab::WECHAT_APPID).unwrap();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_lab]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>1</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content></xml>"
    );
    let encrypted = cipher.encrypt(&xml);
    let token = if forge { "not-the-token" } else { lab::WECHAT_TOKEN };
    let sig = signature(&[token, timestamp, nonce]);
    let msg_sig = signature(&[token, timestamp, nonce, &encrypted]);
    let body =
        format!("<xml><ToUserName><![CDATA[gh_lab]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
    let url =
        format!("{url}?signature={sig}&timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_sig}");
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-s", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(args)
        .args(["-H", "Content-Type: text/xml", "--data-binary", &body, &url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (reply, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let reply = match controller::auth::wechat::xml_field(reply, "Encrypt") {
        Some(sealed) => cipher.decrypt(sealed).unwrap(),
        None => reply.to_string(),
    };
    (code.trim().parse().unwrap_or(0), reply)
}

/// The link in a WeChat reply's text.
pub fn wechat_link(reply: &str) -> String {
    let content = controller::auth::wechat::xml_field(reply, "Content").unwrap_or_default().to_string();
    let start = content.find("http://").unwrap_or_else(|| panic!("no link in {content}"));
    content[start..].chars().take_while(|c| c.is_ascii_graphic()).collect()
}

/// The value of header `name` (lower case) in curl's `-i` output.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The 6-digit code in an SMS text.
pub fn sms_code(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|t| t.len() == 6)
        .unwrap_or_else(|| panic!("no code in {text:?}"))
        .to_string()
}

/// The value of the hidden form field `name` in a page.
pub fn field(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_string())
}

impl Drop for TestLab {
    fn drop(&mut self) {
        for mut agent in self.agents.drain(..) {
            let _ = agent.kill();
            let _ = agent.wait();
        }
        if let Some(mut child) = self.controller.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a Chrome DevTools Protocol command through chromedriver
/// (`goog/cdp/execute`): device metrics, network throttling.
pub async fn cdp(client: &fantoccini::Client, cmd: &str, params: serde_json::Value) -> serde_json::Value {
    #[derive(Debug)]
    struct Cdp(serde_json::Value);
    impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
        fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
            base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
        }
        fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
            (http::Method::POST, Some(self.0.to_string()))
        }
    }
    client
        .issue_cmd(Cdp(serde_json::json!({ "cmd": cmd, "params": params })))
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
}

/// A future a browser flow returns.
pub type Flow<R> = std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send>>;

impl TestLab {
    /// Runs `flow` in headless Chromium (a phone-sized window, zh-CN) inside
    /// guest `i`'s namespace, through chromedriver on plain HTTP there.
    pub fn in_browser<R: Send + 'static>(
        &self,
        i: usize,
        flow: impl FnOnce(fantoccini::Client) -> Flow<R> + Send + 'static,
    ) -> R {
        self.in_browser_sized(&self.lab.guest(i), &format!("chromium-profile-{i}"), PHONE, flow)
    }

    /// Runs `flow` in headless Chromium inside the appliance's namespace:
    /// staff at the console on the management side (127.0.0.1:8080), at a
    /// desktop's 1280 px as a restaurant's owner looks at it.
    pub fn in_staff_browser<R: Send + 'static>(
        &self,
        flow: impl FnOnce(fantoccini::Client) -> Flow<R> + Send + 'static,
    ) -> R {
        self.in_browser_sized(&self.lab.appliance(), "chromium-profile-staff", DESKTOP, flow)
    }

    fn in_browser_sized<R: Send + 'static>(
        &self,
        guest: &str,
        profile: &str,
        window: &'static str,
        flow: impl FnOnce(fantoccini::Client) -> Flow<R> + Send + 'static,
    ) -> R {
        const DRIVER_PORT: u16 = 9515;
        let guest = guest.to_string();
        let profile = self.lab.dir.join(profile);
        let mut driver = Command::new("ip")
            .args(["netns", "exec", &guest, "chromedriver", &format!("--port={DRIVER_PORT}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian package chromium-driver) runs");
        // WebDriver traffic must come from inside the guest namespace: run the
        // client on a thread that has entered it.
        let netns = format!("/run/netns/{guest}");
        let result = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let file = std::fs::File::open(netns).unwrap();
            // SAFETY: setns on this thread only; the fd is valid.
            assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let client = chromium(profile, DRIVER_PORT, window).await;
                flow(client).await
            })
        })
        .join();
        let _ = driver.kill();
        let _ = driver.wait();
        result.expect("browser thread")
    }
}

/// A phone's window (the portal), and a desktop's (the consoles at 1280 px).
const PHONE: &str = "390,844";
const DESKTOP: &str = "1280,900";

/// Runs `flow` in headless Chromium in this namespace at a desktop's width,
/// taking HQ's own CA's certificate (the console behind no public front):
/// the HQ console on loopback. chromedriver listens on `port`.
pub fn in_desktop_browser<R: Send + 'static>(
    profile: PathBuf,
    port: u16,
    flow: impl FnOnce(fantoccini::Client) -> Flow<R> + Send + 'static,
) -> R {
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver) runs");
    let user_data = format!("--user-data-dir={}", profile.display());
    let result = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let client = chromium(profile, port, DESKTOP).await;
            flow(client).await
        })
    })
    .join();
    let _ = driver.kill();
    let _ = driver.wait();
    // A flow that failed left its browser open: nothing of it outlives the test.
    let _ = Command::new("pkill").args(["-f", "--", &user_data]).status();
    result.expect("browser thread")
}

async fn chromium(profile: PathBuf, port: u16, window: &str) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    caps.insert("acceptInsecureCerts".into(), serde_json::json!(window == DESKTOP));
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "prefs": { "intl.accept_languages": "zh-CN,zh" },
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--window-size={window}"), "--lang=zh-CN",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let start = std::time::Instant::now();
    loop {
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        match fantoccini::ClientBuilder::new(http)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return client,
            Err(_) if start.elapsed() < Duration::from_secs(20) => tokio::time::sleep(Duration::from_millis(200)).await,
            Err(err) => panic!("cannot start Chromium through chromedriver: {err}"),
        }
    }
}
