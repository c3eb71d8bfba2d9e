//! Controller and AP agents on loopback: adoption with the controller's CA,
//! mutual TLS after it, SSIDs pushed to every AP and acked by version,
//! offline after missed echoes, forgotten and impostor devices get nothing.

use ap_agent::agent::{self, AgentConfig};
use ap_protocol::{Band, RadioInfo, Security, Ssid};
use controller::ac::ca::Ca;
use controller::ac::registry::Registry;
use controller::ac::Ac;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const ECHO: Duration = Duration::from_millis(100);

struct Agent {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
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
    assert_eq!(status.stage, "canary");
    until("the rollout is done", async || ac.rollout_status().is_some_and(|r| r.stage == "done")).await;
    let r = ac.rollout_status().unwrap();
    assert_eq!(r.upgraded, vec!["FW-0001", "FW-0002", "FW-0003", "FW-0004"], "canary first, then batches");
    until("every AP reports 2.0.0", async || {
        ac.list().await.unwrap().iter().all(|a| a.online && a.firmware == "2.0.0")
    })
    .await;

    // The canary refuses (its updater fails): the rollout halts, no other AP is touched.
    set_hook(false);
    let image2 = vec![0x6bu8; 1000];
    ac.upload_firmware("2.1.0", "SIM-AP", image2.clone(), &manifest_signature(&signing, "2.1.0", &image2)).unwrap();
    ac.start_rollout("2.1.0", 2, Duration::from_secs(10), false).await.unwrap();
    until("the rollout fails", async || ac.rollout_status().is_some_and(|r| r.stage == "failed")).await;
    let r = ac.rollout_status().unwrap();
    assert!(r.failure.as_deref().unwrap_or("").contains("FW-0001"), "{r:?}");
    assert!(r.upgraded.is_empty());
    assert!(ac.list().await.unwrap().iter().all(|a| a.firmware == "2.0.0"));

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
    ac.set_ap("PLAN-3", None, Some(("wlan0", Some(1), None))).await.unwrap();
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
