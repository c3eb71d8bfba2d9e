//! Controller and AP agents on loopback: adoption with the controller's CA,
//! mutual TLS after it, SSIDs pushed to every AP and acked by version,
//! offline after missed echoes, forgotten and impostor devices get nothing.

use ap_agent::agent::{self, AgentConfig};
use ap_protocol::{AgentMessage, ApConfig, Band, ControllerMessage, RadioInfo, Roaming, Security, Ssid, Welcome};
use controller::ac::ca::Ca;
use controller::ac::registry::Registry;
use controller::ac::rollout::Stage;
use controller::ac::Ac;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const ECHO: Duration = Duration::from_millis(100);

struct Agent {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), agent::AgentError>>,
    dir: PathBuf,
}

impl Agent {
    fn start(root: &Path, name: &str, device_id: &str, controller: &str) -> Agent {
        Self::start_with(root, name, device_id, controller, None, None)
    }

    fn start_with(
        root: &Path,
        name: &str,
        device_id: &str,
        controller: &str,
        firmware_key: Option<String>,
        hook: Option<PathBuf>,
    ) -> Agent {
        Self::start_custom(root, name, device_id, controller, |c| {
            c.firmware_public_key = firmware_key;
            c.firmware_hook = hook;
        })
    }

    fn start_custom(
        root: &Path,
        name: &str,
        device_id: &str,
        controller: &str,
        customise: impl FnOnce(&mut AgentConfig),
    ) -> Agent {
        let dir = root.join(name);
        let mut config = AgentConfig {
            controller: controller.to_string(),
            state_dir: dir.join("state"),
            device_id: device_id.into(),
            model: "SIM-AP".into(),
            mac: "02:00:00:00:aa:01".into(),
            firmware: "1.0.0".into(),
            radios: vec![
                RadioInfo { interface: "wlan0".into(), band: Band::G2_4, bssid: None },
                RadioInfo { interface: "wlan1".into(), band: Band::G5, bssid: None },
            ],
            hostapd_dir: dir.join("hostapd"),
            apply_hook: None,
            simulated_radio: None,
            silence_seconds: 35,
            firmware_public_key: None,
            firmware_hook: None,
            simulated_scan: None,
            hostapd_ctrl_dir: PathBuf::from("/nonexistent"),
            dhcp_lease_file: None,
            controller_ca_sha256: None,
            wired_isolation: false,
        };
        customise(&mut config);
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(agent::run(config, rx));
        Agent { stop, task, dir }
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    fn version(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("hostapd/version")).ok().and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    fn hostapd(&self, radio: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("hostapd/hostapd-{radio}.conf"))).unwrap_or_default()
    }
}

/// An AC on loopback over a fresh data dir; stopped and removed on drop.
struct Controller {
    root: PathBuf,
    ac: Ac,
    addr: String,
    server: tokio::task::JoinHandle<()>,
}

impl Controller {
    async fn start(name: &str, echo: Duration, customise: impl FnOnce(Ac) -> Ac) -> Controller {
        let root = std::env::temp_dir().join(format!("guestwifi-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let db = controller::store::open(&root).await.unwrap();
        let ac = Ac::new(Registry::new(db).await.unwrap(), Ca::load_or_create(&root).unwrap(), echo).await.unwrap();
        let ac = customise(ac);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(ac.clone().serve(listener));
        Controller { root, ac, addr, server }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Adopts `id` the way an admin does: with the start of the key fingerprint
/// `aps list` shows.
async fn adopt(ac: &Ac, id: &str) {
    let aps = ac.list().await.unwrap();
    let ap = aps.iter().find(|a| a.device_id == id).unwrap_or_else(|| panic!("{id} is not listed"));
    ac.adopt(id, Some(&ap.fingerprint[..8])).await.unwrap();
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The signature of an image's manifest, as the vendor's signing tool makes it.
fn manifest_signature(key: &ed25519_dalek::SigningKey, version: &str, image: &[u8]) -> [u8; 64] {
    use ed25519_dalek::Signer;
    use sha2::Digest;
    let sha = ap_protocol::hex::encode(&sha2::Sha256::digest(image));
    key.sign(&ap_protocol::trust::firmware_manifest(version, "SIM-AP", image.len() as u64, &sha)).to_bytes()
}

fn hex(s: &str) -> String {
    ap_protocol::hex::encode(s.as_bytes())
}

#[tokio::test]
async fn adoption_config_push_offline_and_forget() {
    let c = Controller::start("ac", ECHO, |ac| ac).await;
    let (root, ac, addr) = (c.root.clone(), c.ac.clone(), c.addr.clone());
    let guest = Ssid {
        name: "老王饭店-免费WiFi".into(),
        security: Security::Open,
        key: String::new(),
        vlan: None,
        hidden: false,
        client_isolation: true,
        captive_portal: true,
        bands: vec![Band::G2_4, Band::G5],
    };
    ac.put_ssid(&guest).await.unwrap();

    // A new AP is pending and gets nothing.
    let ap = Agent::start(&root, "ap1", "SIM-0001", &addr);
    until("the AP is pending", async || ac.list().await.unwrap().iter().any(|a| a.state == "pending")).await;
    tokio::time::sleep(ECHO * 3).await;
    assert_eq!(ap.version(), 0, "an unadopted AP gets no configuration");

    // Adopted: certificate, mutual TLS, then the configuration, acked.
    adopt(&ac, "SIM-0001").await;
    let version = ac.registry().version().await.unwrap();
    until("the AP runs the config", async || {
        ac.list().await.unwrap().iter().any(|a| a.online && a.applied_version as u64 == version)
    })
    .await;
    assert!(ap.hostapd("wlan0").contains(&format!("ssid2={}", hex(&guest.name))));
    let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777;
    assert_eq!(mode(&ap.dir.join("state/agent.key")), 0o600);
    assert_eq!(mode(&ap.dir.join("hostapd/hostapd-wlan0.conf")), 0o600);

    // A second AP: the same SSID and key everywhere.
    let ap2 = Agent::start(&root, "ap2", "SIM-0002", &addr);
    until("AP 2 is pending", async || ac.list().await.unwrap().iter().any(|a| a.device_id == "SIM-0002")).await;
    adopt(&ac, "SIM-0002").await;
    let staff = Ssid {
        name: "LaoWang-Staff".into(),
        security: Security::Wpa2Psk,
        key: "kitchen-2024!".into(),
        ..guest.clone()
    };
    let v2 = ac.put_ssid(&staff).await.unwrap();
    until("both APs run the new config", async || {
        ac.list().await.unwrap().iter().filter(|a| a.online && a.applied_version as u64 == v2).count() == 2
    })
    .await;
    for a in [&ap, &ap2] {
        let conf = a.hostapd("wlan1");
        assert!(
            conf.contains(&format!("ssid2={}", hex("LaoWang-Staff"))) && conf.contains("wpa_passphrase=kitchen-2024!")
        );
        let md = |c: &str| c.lines().find(|l| l.starts_with("mobility_domain=")).map(str::to_string);
        assert_eq!(md(&conf), md(&ap.hostapd("wlan1")), "one mobility domain for roaming");
    }

    // A bad SSID is refused and changes nothing.
    let bad = Ssid { name: "x".into(), security: Security::Wpa2Psk, key: "short".into(), ..guest.clone() };
    assert!(ac.put_ssid(&bad).await.is_err());
    assert_eq!(ac.registry().version().await.unwrap(), v2);

    // Unplugged: offline after missed echoes; plugged back: online again.
    ap2.stop().await;
    until("AP 2 is offline", async || ac.list().await.unwrap().iter().any(|a| a.device_id == "SIM-0002" && !a.online))
        .await;
    let ap2 = Agent::start(&root, "ap2", "SIM-0002", &addr);
    until("AP 2 is back", async || ac.list().await.unwrap().iter().any(|a| a.device_id == "SIM-0002" && a.online))
        .await;

    // An impostor with AP 2's id but its own key never gets a certificate.
    let impostor = Agent::start(&root, "impostor", "SIM-0002", &addr);
    tokio::time::sleep(ECHO * 5).await;
    assert!(!impostor.dir.join("state/agent.crt").exists());
    assert_eq!(impostor.version(), 0);
    impostor.stop().await;

    // Forgotten: its certificate opens nothing and it starts over as pending.
    ac.forget("SIM-0001").await.unwrap();
    until("AP 1 is pending again", async || {
        ac.list().await.unwrap().iter().any(|a| a.device_id == "SIM-0001" && a.state == "pending")
    })
    .await;
    let v3 = ac.remove_ssid("LaoWang-Staff").await.unwrap();
    until("AP 2 drops the SSID", async || ap2.version() == v3).await;
    tokio::time::sleep(ECHO * 3).await;
    assert_ne!(ap.version(), v3, "a forgotten AP gets no new configuration");

    ap.stop().await;
    ap2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_rolls_out_canary_first_then_batches_and_a_refusal_halts_it() {
    use ed25519_dalek::SigningKey;
    let signing = SigningKey::from_bytes(&[42u8; 32]);
    let public = ap_protocol::hex::encode(&signing.verifying_key().to_bytes());
    // Signing and checking 600 KB in a debug build takes a while: echo less often here.
    let c = Controller::start("fw", Duration::from_millis(500), |ac| {
        ac.with_firmware(
            Some(public.clone()),
            std::env::temp_dir().join(format!("guestwifi-fw-images-{}", std::process::id())),
        )
    })
    .await;
    let (root, ac, addr) = (c.root.clone(), c.ac.clone(), c.addr.clone());

    // The updater hook: installs (exit 0) until we make it fail.
    let hook = root.join("sysupgrade.sh");
    let set_hook = |ok: bool| {
        std::fs::write(&hook, if ok { "#!/bin/sh\nexit 0\n" } else { "#!/bin/sh\nexit 1\n" }).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(&mut std::fs::metadata(&hook).unwrap().permissions(), 0o755);
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    set_hook(true);
    let agents: Vec<Agent> = (1..=4)
        .map(|i| {
            Agent::start_with(
                &root,
                &format!("ap{i}"),
                &format!("FW-{i:04}"),
                &addr,
                Some(public.clone()),
                Some(hook.clone()),
            )
        })
        .collect();
    until("four APs are pending", async || ac.list().await.unwrap().len() == 4).await;
    for i in 1..=4 {
        adopt(&ac, &format!("FW-{i:04}")).await;
    }
    until("all online", async || ac.list().await.unwrap().iter().filter(|a| a.online).count() == 4).await;

    // An image signed with another key is refused at upload.
    let image = vec![0x5au8; 600 * 1024];
    let other = SigningKey::from_bytes(&[1u8; 32]);
    assert!(ac
        .upload_firmware("2.0.0", "SIM-AP", image.clone(), &manifest_signature(&other, "2.0.0", &image))
        .is_err());
    ac.upload_firmware("2.0.0", "SIM-AP", image.clone(), &manifest_signature(&signing, "2.0.0", &image)).unwrap();

    let status = ac.start_rollout("2.0.0", 2, Duration::from_secs(10), false).await.unwrap();
    assert_eq!(status.stage, Stage::Canary);
    until("the rollout is done", async || ac.rollout_status().is_some_and(|r| r.stage == Stage::Done)).await;
    let r = ac.rollout_status().unwrap();
    assert_eq!(r.upgraded, vec!["FW-0001", "FW-0002", "FW-0003", "FW-0004"], "canary first, then batches");
    until("every AP reports 2.0.0", async || {
        ac.list().await.unwrap().iter().all(|a| a.online && a.firmware == "2.0.0")
    })
    .await;

    // An older signed image is refused by the APs (no silent downgrade)...
    let old = vec![0x11u8; 1000];
    ac.upload_firmware("1.5.0", "SIM-AP", old.clone(), &manifest_signature(&signing, "1.5.0", &old)).unwrap();
    ac.start_rollout("1.5.0", 2, Duration::from_secs(10), false).await.unwrap();
    until("the downgrade is refused", async || ac.rollout_status().is_some_and(|r| r.stage == Stage::Failed)).await;
    let r = ac.rollout_status().unwrap();
    assert!(r.failure.as_deref().unwrap_or("").contains("not newer"), "{r:?}");
    assert!(ac.list().await.unwrap().iter().all(|a| a.firmware == "2.0.0"));
    // ...unless the admin allows it for this rollout.
    ac.start_rollout("1.5.0", 2, Duration::from_secs(10), true).await.unwrap();
    until("the allowed downgrade is done", async || ac.rollout_status().is_some_and(|r| r.stage == Stage::Done)).await;
    until("every AP reports 1.5.0", async || {
        ac.list().await.unwrap().iter().all(|a| a.online && a.firmware == "1.5.0")
    })
    .await;

    // The canary refuses (its updater fails): the rollout halts, no other AP is touched.
    set_hook(false);
    let image2 = vec![0x6bu8; 1000];
    ac.upload_firmware("2.1.0", "SIM-AP", image2.clone(), &manifest_signature(&signing, "2.1.0", &image2)).unwrap();
    ac.start_rollout("2.1.0", 2, Duration::from_secs(10), false).await.unwrap();
    until("the rollout fails", async || ac.rollout_status().is_some_and(|r| r.stage == Stage::Failed)).await;
    let r = ac.rollout_status().unwrap();
    assert!(r.failure.as_deref().unwrap_or("").contains("FW-0001"), "{r:?}");
    assert!(r.upgraded.is_empty());
    assert!(ac.list().await.unwrap().iter().all(|a| a.firmware == "1.5.0"));

    for a in agents {
        a.stop().await;
    }
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("guestwifi-fw-images-{}", std::process::id())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_plan_from_scans_spreads_neighbours_and_keeps_a_fixed_channel() {
    let c = Controller::start("plan", ECHO, |ac| ac).await;
    let (root, ac, addr) = (c.root.clone(), c.ac.clone(), c.addr.clone());
    ac.put_ssid(&Ssid {
        name: "Guest".into(),
        security: Security::Open,
        key: String::new(),
        vlan: None,
        hidden: false,
        client_isolation: true,
        captive_portal: true,
        bands: vec![Band::G2_4],
    })
    .await
    .unwrap();
    // Three APs on one floor that all hear each other loudly on 2.4 GHz.
    let bssid = |k: usize| format!("02:00:00:00:bb:{k:02x}");
    let agents: Vec<Agent> = (1..=3)
        .map(|k| {
            let scan = root.join(format!("scan{k}.json"));
            let heard: Vec<_> = (1..=3)
                .filter(|j| *j != k)
                .map(|j| serde_json::json!({"bssid": bssid(j), "channel": 6, "rssi": -45 - 5 * j as i32}))
                .collect();
            std::fs::write(&scan, serde_json::json!([{"interface": "wlan0", "neighbours": heard}]).to_string())
                .unwrap();
            Agent::start_custom(&root, &format!("ap{k}"), &format!("PLAN-{k}"), &addr, |c| {
                c.radios = vec![RadioInfo { interface: "wlan0".into(), band: Band::G2_4, bssid: Some(bssid(k)) }];
                c.simulated_scan = Some(scan);
            })
        })
        .collect();
    until("three pending APs", async || ac.list().await.unwrap().len() == 3).await;
    for k in 1..=3 {
        adopt(&ac, &format!("PLAN-{k}")).await;
    }
    until("all online", async || ac.list().await.unwrap().iter().filter(|a| a.online).count() == 3).await;
    tokio::time::sleep(ECHO * 3).await; // their scans arrive right after they connect

    // The admin fixes AP 3 on channel 1; the plan works around it.
    ac.set_ap("PLAN-3", None, None, Some(("wlan0", Some(1), None))).await.unwrap();
    let plan = ac.plan().await.unwrap();
    assert_eq!(plan.radios["PLAN-3/wlan0"].channel, 1);
    assert!(plan.radios["PLAN-3/wlan0"].reason.contains("fixed by the admin"));
    let mut channels: Vec<u16> = plan.radios.values().map(|a| a.channel).collect();
    channels.sort();
    assert_eq!(channels, vec![1, 6, 11], "{plan}");
    assert_eq!(plan.score, 0.0);
    let version = ac.registry().version().await.unwrap();
    until("every AP runs the plan", async || {
        ac.list().await.unwrap().iter().all(|a| a.applied_version as u64 == version)
    })
    .await;
    for (k, agent) in agents.iter().enumerate() {
        let want = format!("channel={}", plan.radios[&format!("PLAN-{}/wlan0", k + 1)].channel);
        assert!(agent.hostapd("wlan0").lines().any(|l| l == want), "AP {} should have {want}", k + 1);
    }
    for a in agents {
        a.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_aps_adoption_cannot_be_hijacked_and_an_adopted_one_cannot_be_rewritten() {
    let c = Controller::start("hijack", ECHO, |ac| ac).await;
    let (root, ac, addr) = (c.root.clone(), c.ac.clone(), c.addr.clone());
    let real = Agent::start(&root, "real", "SIM-0100", &addr);
    until("the real AP is pending", async || ac.list().await.unwrap().iter().any(|a| a.device_id == "SIM-0100")).await;
    let first = ac.list().await.unwrap().remove(0);

    // An impostor says hello with the same id, its own key and another model.
    let impostor = Agent::start_custom(&root, "impostor", "SIM-0100", &addr, |c| {
        c.model = "EVIL".into();
        c.firmware = "6.6.6".into();
    });
    until("the conflict is shown", async || ac.list().await.unwrap()[0].key_conflict.is_some()).await;
    let shown = ac.list().await.unwrap().remove(0);
    assert_eq!(shown.fingerprint, first.fingerprint, "the first key is kept");
    assert_eq!((shown.model.as_str(), shown.firmware.as_str()), ("SIM-AP", "1.0.0"), "the impostor changed nothing");
    let theirs = shown.key_conflict.clone().unwrap();
    assert_ne!(theirs, first.fingerprint);

    // The admin checks the fingerprint: the impostor's is refused, the real one adopts.
    assert!(ac.adopt("SIM-0100", Some(&theirs[..8])).await.is_err(), "the impostor's key does not match");
    assert!(ac.adopt("SIM-0100", Some("1234")).await.is_err(), "too short to mean anything");
    assert_eq!(ac.list().await.unwrap()[0].state, "pending");
    adopt(&ac, "SIM-0100").await;
    until("the real AP is adopted and online", async || {
        real.dir.join("state/agent.crt").exists() && ac.list().await.unwrap()[0].online
    })
    .await;

    // After adoption the impostor keeps trying without a certificate: it gets
    // nothing, rewrites nothing, and the real AP stays online once it leaves.
    tokio::time::sleep(ECHO * 6).await;
    assert!(!impostor.dir.join("state/agent.crt").exists(), "the impostor never gets a certificate");
    assert_eq!(impostor.version(), 0, "nor a configuration");
    impostor.stop().await;
    tokio::time::sleep(ECHO * 3).await;
    let after = ac.list().await.unwrap().remove(0);
    assert!(after.online, "the real AP stays online after the impostor leaves");
    assert_eq!((after.model.as_str(), after.firmware.as_str()), ("SIM-AP", "1.0.0"));
    real.stop().await;
}

/// A controller nobody adopted us from: a TLS server with a CA of its own
/// that, to every hello, says welcome and pushes a configuration at once.
async fn rogue_controller(root: &Path) -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    std::fs::create_dir_all(root.join("rogue")).unwrap();
    let ca = Ca::load_or_create(&root.join("rogue")).unwrap();
    let (chain, key) = ca.server_identity();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hellos = Arc::new(AtomicUsize::new(0));
    let seen = hellos.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let mut conn: ap_protocol::Connection<_, ControllerMessage, AgentMessage> =
                    ap_protocol::Connection::new(tls);
                let Ok(Some(AgentMessage::Hello(_))) = conn.recv().await else { return };
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = conn.send(&ControllerMessage::Welcome(Welcome { version: 1, adopted: true })).await;
                let config = ApConfig {
                    version: 7,
                    country: "CN".into(),
                    ssids: vec![Ssid {
                        name: "Rogue".into(),
                        security: Security::Open,
                        key: String::new(),
                        vlan: None,
                        hidden: false,
                        client_isolation: true,
                        captive_portal: false,
                        bands: vec![Band::G2_4],
                    }],
                    radios: Vec::new(),
                    roaming: Roaming { mobility_domain: "a1b2".into(), ft_key: "00".repeat(32) },
                    gateway_mac: None,
                };
                let _ = conn.send(&ControllerMessage::Config(config)).await;
                while let Ok(Some(_)) = conn.recv().await {}
            });
        }
    });
    (addr, hellos, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_ap_obeys_no_controller_it_cannot_verify() {
    let c = Controller::start("rogue", ECHO, |ac| ac).await;
    let (root, ac, addr) = (c.root.clone(), c.ac.clone(), c.addr.clone());
    let (rogue, hellos, rogue_task) = rogue_controller(&root).await;

    // Not provisioned: it talks to the rogue (trust on first use) but applies nothing.
    let naive = Agent::start(&root, "naive", "SIM-0200", &rogue);
    until("the rogue got a hello", async || hellos.load(Ordering::SeqCst) > 0).await;
    tokio::time::sleep(ECHO * 5).await;
    assert_eq!(naive.version(), 0, "a configuration from a controller that did not adopt us is not applied");
    naive.stop().await;

    // Provisioned with the real controller's CA: the rogue never even gets a hello.
    let pinned = Ca::fingerprint_in(&root).unwrap();
    let before = hellos.load(Ordering::SeqCst);
    let careful = Agent::start_custom(&root, "careful", "SIM-0201", &rogue, |c| {
        c.controller_ca_sha256 = Some(pinned.clone());
    });
    tokio::time::sleep(ECHO * 5).await;
    assert_eq!(hellos.load(Ordering::SeqCst), before, "the TLS handshake with the rogue fails");
    careful.stop().await;
    rogue_task.abort();

    // The same AP with the real controller: pending, shown as pinned, adopted.
    let careful = Agent::start_custom(&root, "careful", "SIM-0201", &addr, |c| {
        c.controller_ca_sha256 = Some(pinned.clone());
    });
    until("it is pending", async || ac.list().await.unwrap().iter().any(|a| a.device_id == "SIM-0201")).await;
    assert!(ac.list().await.unwrap()[0].controller_pinned, "aps list shows it pinned our CA");
    adopt(&ac, "SIM-0201").await;
    let version = ac.registry().version().await.unwrap();
    until("it runs our configuration", async || careful.version() == version).await;
    careful.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_hello_or_one_pending_ap_too_many_is_refused_and_stored_nowhere() {
    let c = Controller::start("bounds", ECHO, |ac| ac).await;
    let (root, addr) = (c.root.clone(), c.addr.clone());
    let db = controller::store::open(&root).await.unwrap();
    let ac = Ac::new(Registry::new(db).await.unwrap().with_max_pending(1), Ca::load_or_create(&root).unwrap(), ECHO)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let small = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(ac.clone().serve(listener));

    // Escape sequences for the admin's terminal, or a 100-character id: refused.
    let evil = Agent::start_custom(&root, "evil", "SIM-0300", &addr, |c| c.model = "\u{1b}[2J\u{1b}[31mpwned".into());
    let long = Agent::start(&root, "long", &"X".repeat(100), &addr);
    tokio::time::sleep(ECHO * 5).await;
    assert!(c.ac.list().await.unwrap().is_empty(), "nothing from a malformed hello is stored");
    evil.stop().await;
    long.stop().await;

    // With room for one pending AP, the second new id is refused.
    let one = Agent::start(&root, "one", "SIM-0301", &small);
    until("the first is pending", async || ac.list().await.unwrap().len() == 1).await;
    let two = Agent::start(&root, "two", "SIM-0302", &small);
    tokio::time::sleep(ECHO * 5).await;
    let ids: Vec<String> = ac.list().await.unwrap().into_iter().map(|a| a.device_id).collect();
    assert_eq!(ids, vec!["SIM-0301"]);
    one.stop().await;
    two.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_few_connections_to_the_ap_port_at_most() {
    use tokio::io::AsyncReadExt;
    let c = Controller::start("ap-cap", ECHO, |ac| ac.with_connection_cap(2)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::net::TcpStream::connect(&c.addr).await.unwrap());
    }
    tokio::time::sleep(ECHO).await;
    // The third from the same address is closed at once, before any TLS.
    let mut third = tokio::net::TcpStream::connect(&c.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(2), third.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the third connection is closed: {read:?}");
    // The first two are still open (waiting for a TLS hello) until they go.
    let still = tokio::time::timeout(Duration::from_millis(300), held[0].read(&mut buf)).await;
    assert!(still.is_err(), "a connection within the cap is kept: {still:?}");
    drop(held);
    tokio::time::sleep(ECHO).await;
    let mut again = tokio::net::TcpStream::connect(&c.addr).await.unwrap();
    let kept = tokio::time::timeout(Duration::from_millis(300), again.read(&mut buf)).await;
    assert!(kept.is_err(), "room again once they closed: {kept:?}");
}
