//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a
//! temporary directory, the server started (in a namespace of a lab, on the
//! address it is given, or only on its socket) and a Unix socket in the
//! same directory through which the test itself reads the store. Removed when dropped. Debian's `postgresql`
//! package provides the programs (`scripts/install-deps.sh` installs it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The superuser the tests and the controller log in as.
pub const USER: &str = "guestwifi";
/// Its password (the controller reads it from a 0600 file).
pub const PASSWORD: &str = "throwaway-test-password";

/// A running cluster.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    netns: Option<String>,
    addr: String,
    max_connections: u32,
    fsync: bool,
    server: Option<Child>,
}

/// The newest PostgreSQL's programs Debian installed.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/install-deps.sh)")
        .filter_map(|e| {
            let e = e.ok()?;
            Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version under /usr/lib/postgresql").1
}

/// Runs `program` as the `postgres` user (PostgreSQL refuses to run as root).
fn as_postgres(netns: Option<&str>, program: &Path) -> Command {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(program);
            c
        }
        None => {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]).arg(program);
            c
        }
    };
    cmd.stdin(Stdio::null());
    cmd
}

impl Postgres {
    /// A new cluster named `name`, its server in namespace `netns` on `addr`.
    pub fn start(name: &str, netns: &str, addr: &str) -> Postgres {
        Self::start_with(name, Some(netns), addr, 300, false)
    }

    /// A new cluster named `name`: its server in `netns` (or here) on `addr`
    /// (empty: its Unix socket only), taking `max_connections`; `fsync` as a
    /// real server has it (tests run without it).
    pub fn start_with(name: &str, netns: Option<&str>, addr: &str, max_connections: u32, fsync: bool) -> Postgres {
        let bin = bin_dir();
        let dir = PathBuf::from(format!("/tmp/guestwifi-pg-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("pwfile"), PASSWORD).unwrap();
        let chown = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
        assert!(chown.success(), "chown to postgres");
        let out = as_postgres(None, &bin.join("initdb"))
            .args(["-D"])
            .arg(dir.join("data"))
            .args(["-U", USER, "-A", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
            .arg(format!("--pwfile={}", dir.join("pwfile").display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        // The lab's appliance connects over TCP with the password.
        let hba = dir.join("data/pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).unwrap();
        rules.push_str("host all all 0.0.0.0/0 scram-sha-256\n");
        std::fs::write(&hba, rules).unwrap();
        let mut pg = Postgres {
            dir,
            bin,
            netns: netns.map(str::to_string),
            addr: addr.into(),
            max_connections,
            fsync,
            server: None,
        };
        pg.start_server();
        pg
    }

    /// Starts (again) the server and waits until it answers.
    pub fn start_server(&mut self) {
        let log = std::fs::File::options().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let child = as_postgres(self.netns.as_deref(), &self.bin.join("postgres"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-c", &format!("listen_addresses={}", self.addr), "-p", "5432", "-k"])
            .arg(&self.dir)
            .args(["-c", if self.fsync { "fsync=on" } else { "fsync=off" }])
            .args(["-c", &format!("max_connections={}", self.max_connections)])
            .args(["-c", "shared_buffers=128MB"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        self.server = Some(child);
        let start = Instant::now();
        while !self.ready() {
            assert!(start.elapsed() < Duration::from_secs(30), "postgres did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-p", "5432", "-h"])
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Stops the server at once (SIGQUIT: no clean shutdown, connections cut).
    pub fn stop_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            // SAFETY: kill has no memory preconditions.
            unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
            let _ = child.wait();
            // runuser's child may outlive it a moment.
            let start = Instant::now();
            while self.ready() && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The URL the test uses: the Unix socket, whatever the namespaces.
    pub fn local_url(&self) -> String {
        format!("postgres://{USER}:{PASSWORD}@localhost/postgres?host={}&port=5432", self.dir.display())
    }

    /// The URL the controller uses to reach a cluster on `addr` (its
    /// password in the file [`Postgres::password_file`] writes).
    pub fn url_at(addr: &str) -> String {
        format!("postgres://{USER}@{addr}:5432/postgres")
    }

    /// Writes a 0600 file holding the password, for the controller's config.
    pub fn password_file(path: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, PASSWORD).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
