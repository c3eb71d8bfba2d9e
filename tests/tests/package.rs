//! The .deb packages as an admin installs them: `dpkg -i` on this machine,
//! the binaries answer `--version` under their packaged names, the shipped
//! configuration passes `check-config`, the unit, completions and manual
//! page are where Debian looks for them; then they are purged.
//! `scripts/package.sh` (run by `scripts/test.sh`) builds them.

use std::path::PathBuf;
use std::process::Command;

fn deb(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debian");
    std::fs::read_dir(&dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".deb"))
    })
}

fn run(argv: &[&str]) -> (bool, String) {
    let out = Command::new(argv[0]).args(&argv[1..]).output().unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Purges the packages however the test ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "guestwifi-controller", "guestwifi-ap-agent", "guestwifi-hq"])
            .output();
    }
}

#[test]
fn the_packages_install_and_their_commands_and_files_are_there() {
    if !e2e::root_or_skip("package") {
        return;
    }
    let (Some(controller), Some(agent), Some(hq)) =
        (deb("guestwifi-controller"), deb("guestwifi-ap-agent"), deb("guestwifi-hq"))
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "no .deb in target/debian: scripts/test.sh runs scripts/package.sh first"
        );
        eprintln!("SKIPPED package: no .deb built (run scripts/package.sh)");
        return;
    };
    let _purge = Purge;
    let (ok, out) = run(&["dpkg", "-i", controller.to_str().unwrap(), agent.to_str().unwrap(), hq.to_str().unwrap()]);
    assert!(ok, "dpkg -i: {out}");

    let (ok, out) = run(&["/usr/bin/guestwifi-controller", "--version"]);
    assert!(ok && out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let (ok, out) =
        run(&["/usr/bin/guestwifi-controller", "check-config", "--config", "/etc/guestwifi/controller.toml"]);
    assert!(ok && out.contains(": ok"), "the shipped configuration checks: {out}");
    let (ok, out) = run(&["/usr/bin/guestwifi-ap-agent", "--version"]);
    assert!(ok && out.contains(env!("CARGO_PKG_VERSION")), "{out}");

    let unit = std::fs::read_to_string("/lib/systemd/system/guestwifi-controller.service").unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/guestwifi-controller run"), "{unit}");
    let agent_unit = std::fs::read_to_string("/lib/systemd/system/guestwifi-ap-agent.service").unwrap();
    assert!(agent_unit.contains("ExecStart=/usr/bin/guestwifi-ap-agent run"), "{agent_unit}");
    let (ok, out) = run(&["/usr/bin/guestwifi-hq", "--version"]);
    assert!(ok && out.contains(env!("CARGO_PKG_VERSION")), "{out}");
    let hq_unit = std::fs::read_to_string("/lib/systemd/system/guestwifi-hq.service").unwrap();
    assert!(hq_unit.contains("ExecStart=/usr/bin/guestwifi-hq --config /etc/guestwifi-hq/hq.toml run"), "{hq_unit}");
    assert!(hq_unit.contains("LoadCredential=ca.key:"), "HQ's CA key is a credential, not a file its user owns");
    let hq_config = std::fs::metadata("/etc/guestwifi-hq/hq.toml").unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&hq_config.permissions()) & 0o777, 0o640);
    let completion = std::fs::read_to_string("/usr/share/bash-completion/completions/guestwifi-controller").unwrap();
    assert!(completion.contains("guestwifi-controller"), "completes the packaged command");
    let man = std::fs::read_to_string("/usr/share/man/man1/guestwifi-controller.1").unwrap();
    assert!(man.contains("guestwifi\\-controller") || man.contains("guestwifi-controller"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata("/etc/guestwifi/controller.toml").unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    let (_, status) = run(&["dpkg-query", "-W", "-f", "${Conffiles}", "guestwifi-controller"]);
    assert!(status.contains("/etc/guestwifi/controller.toml"), "an admin's edits survive an upgrade: {status}");
}
