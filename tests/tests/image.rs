//! The appliance image as a restaurant runs it: `image/build.sh`'s disk
//! boots in QEMU (software emulation: no KVM needed) with two ports, the
//! uplink (QEMU's user network, restricted: nothing leaves this machine)
//! and the guest port (a tap in a namespace this test makes, where the
//! "phone" is). From that namespace: DHCP gives an address, a web request
//! gets the 302 to the portal, the countdown login opens the way, and the
//! console's port stays closed to guests. The serial console shows the
//! ports and the owner's setup code. Prints the image's size and the time
//! from power-on to the first 302.
//!
//! `scripts/test.sh` builds the image before the tests (`image/build.sh`).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "gwimg-guest";
const TAP: &str = "gwimg0";

fn image() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/image/guestwifi.img")
}

/// QEMU and the namespace, gone however the test ends.
struct Vm {
    qemu: Child,
    dir: PathBuf,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        let _ = Command::new("ip").args(["netns", "del", NS]).output();
        let _ = std::fs::remove_file(self.dir.join("dhclient.pid"));
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{NS}"));
    }
}

fn in_ns(argv: &[&str]) -> Output {
    Command::new("ip").args(["netns", "exec", NS]).args(argv).output().expect("ip netns exec")
}

fn curl(args: &[&str]) -> (String, String) {
    let out =
        in_ns(&[&["curl", "-s", "--max-time", "5", "--resolve", "portal.guestwifi.test:80:192.0.2.1"], args].concat());
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_image_boots_in_qemu_and_a_guest_gets_dhcp_the_portal_and_a_countdown_login() {
    if !e2e::root_or_skip("image") {
        return;
    }
    let img = image();
    if !img.exists() {
        assert!(std::env::var_os("CI").is_none(), "{} is missing: scripts/test.sh builds it", img.display());
        eprintln!("image: skipped, {} is not built (sudo ./image/build.sh)", img.display());
        return;
    }
    let dir = PathBuf::from("/tmp/guestwifi-e2e/image");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("ip").args(["netns", "del", NS]).output();
    assert!(Command::new("ip").args(["netns", "add", NS]).status().unwrap().success());
    // dhclient-script writes /etc/resolv.conf: `ip netns exec` binds this
    // file over it, so the machine's own resolver is left alone.
    std::fs::create_dir_all(format!("/etc/netns/{NS}")).unwrap();
    std::fs::write(format!("/etc/netns/{NS}/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    in_ns(&["ip", "link", "set", "lo", "up"]);
    let serial = dir.join("serial.log");
    let started = Instant::now();
    let qemu = Command::new("ip")
        .args(["netns", "exec", NS, "qemu-system-x86_64", "-m", "1024", "-smp", "2", "-display", "none"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio,snapshot=on", img.display()))
        // Port 1 (eth0): the uplink, QEMU's user network with nothing let out.
        .args([
            "-netdev",
            "user,id=up,restrict=on,hostfwd=tcp:127.0.0.1:18080-:8080",
            "-device",
            "virtio-net-pci,netdev=up",
        ])
        // Port 2 (eth1): the guest network, a tap in our namespace.
        .args([
            "-netdev",
            &format!("tap,id=gw,ifname={TAP},script=no,downscript=no"),
            "-device",
            "virtio-net-pci,netdev=gw",
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("qemu.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("qemu.err")).unwrap())
        .spawn()
        .expect("qemu-system-x86_64 (Debian package qemu-system-x86)");
    let mut vm = Vm { qemu, dir: dir.clone() };
    let serial_text = || String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
    let err_log = dir.join("qemu.err");
    let mut wait = |what: &str, secs: u64, f: &mut dyn FnMut() -> bool| {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if f() {
                return;
            }
            // A QEMU that died says so now, not after the longest wait.
            if let Ok(Some(status)) = vm.qemu.try_wait() {
                let err = std::fs::read_to_string(&err_log).unwrap_or_default();
                panic!("QEMU exited ({status}) waiting for {what}: {err}\nserial console:\n{}", serial_text());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("{what} within {secs} s; serial console:\n{}", serial_text());
    };
    wait("QEMU made its tap", 30, &mut || in_ns(&["ip", "link", "set", TAP, "up"]).status.success());

    // DHCP from the appliance on the guest port.
    let (pid, leases) = (dir.join("dhclient.pid"), dir.join("dhclient.leases"));
    wait("a DHCP lease from the appliance", 600, &mut || {
        in_ns(&["timeout", "15", "dhclient", "-1", "-pf", pid.to_str().unwrap(), "-lf", leases.to_str().unwrap(), TAP])
            .status
            .success()
    });
    let addr = String::from_utf8_lossy(&in_ns(&["ip", "-4", "-o", "addr", "show", TAP]).stdout).into_owned();
    assert!(addr.contains("inet 192.0.2."), "{addr}");

    // Any web request: the 302 to the portal.
    let mut head = String::new();
    wait("the 302 to the portal", 300, &mut || {
        head = curl(&["-i", "http://203.0.113.10/menu"]).0;
        head.starts_with("HTTP/1.1 302")
    });
    let boot_to_portal = started.elapsed();
    assert!(head.contains("location: http://portal.guestwifi.test/?url="), "{head}");

    // The countdown login.
    let (page, _) = curl(&["http://portal.guestwifi.test/"]);
    let ticket = e2e::field(&page, "ticket").unwrap_or_else(|| panic!("a countdown ticket:\n{page}"));
    std::thread::sleep(Duration::from_secs(7));
    let (done, _) = curl(&["-d", &format!("ticket={ticket}"), "http://portal.guestwifi.test/login"]);
    assert!(done.contains("已连接"), "{done}");
    let (after, _) = curl(&["-i", "http://203.0.113.10/menu"]);
    assert!(!after.starts_with("HTTP/1.1 302"), "logged in: no more redirects ({after})");

    // Guests never reach the console's port.
    let out = in_ns(&[
        "curl",
        "-sk",
        "--max-time",
        "4",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "https://192.0.2.1:8080/console/",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "000", "the console is closed to guests");
    // From the uplink side (QEMU forwards 127.0.0.1:18080 of our namespace to
    // the appliance's 8080) it answers, over HTTPS: first-run setup.
    let out = in_ns(&["curl", "-sk", "--max-time", "10", "https://127.0.0.1:18080/console/setup"]);
    let setup = String::from_utf8_lossy(&out.stdout);
    assert!(setup.contains("id=\"setup\""), "the console over HTTPS on the uplink side:\n{setup}");

    let size = std::fs::metadata(&img).unwrap().len();
    let used = Command::new("du").arg("-k").arg(&img).output().unwrap();
    let used_kb: u64 =
        String::from_utf8_lossy(&used.stdout).split_whitespace().next().unwrap_or("0").parse().unwrap_or(0);
    eprintln!(
        "image: {} MiB disk, {} MiB of it used; power-on to the first 302 in QEMU (no KVM): {:.0} s",
        size >> 20,
        used_kb >> 10,
        boot_to_portal.as_secs_f64()
    );
    let console = serial_text();
    assert!(console.contains("guest port eth1 (192.0.2.1/24), uplink eth0"), "the ports, on the console");
    wait("the setup code on the serial console", 120, &mut || serial_text().contains("enter the setup code"));
    drop(vm);
}
