//! 128 wrong console passwords at once (every one from its own address, so
//! no lock-out stops them): the daemon's peak memory with the argon2 checks
//! as they run now (taking turns, a few at a time) and as they ran before
//! (each on its own blocking thread at once). Each way runs in its own
//! process, so each peak (VmHWM) is its own.
//!
//! `cargo run --release --bin guess-flood-bench -- [guesses]`

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use controller::staff::{Role, Staff, StaffError};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let guesses: usize = args.iter().skip(1).find_map(|a| a.parse().ok()).unwrap_or(128);
    match args.get(1).map(String::as_str) {
        Some("now") => run(guesses, true),
        Some("before") => run(guesses, false),
        _ => {
            println!("# {guesses} wrong console passwords at once ({} cores)", cores());
            for way in ["before", "now"] {
                let out = std::process::Command::new(std::env::current_exe().unwrap())
                    .args([way, &guesses.to_string()])
                    .output()
                    .expect("bench runs");
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    }
}

fn run(guesses: usize, now: bool) {
    if now {
        // What the daemon does at its start.
        controller::kit::passwords::return_large_allocations();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("guess-flood-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = controller::store::open(&dir).await.unwrap();
        let staff = Arc::new(Staff::new(db, &dir));
        staff.create_user("owner", "the owner's long password", Role::Admin).await.unwrap();
        let hash: String = sqlx::query_scalar("SELECT password_hash FROM staff_users")
            .fetch_one(&staff_pool(&dir).await)
            .await
            .unwrap();
        let base = peak_mib();
        let start = Instant::now();
        let (mut wrong, mut busy) = (0, 0);
        let tries: Vec<_> = (0..guesses)
            .map(|n| {
                let (staff, hash) = (staff.clone(), hash.clone());
                tokio::spawn(async move {
                    if now {
                        let from = IpAddr::from([198, 51, (n / 250) as u8, (n % 250) as u8 + 1]);
                        match staff.login("owner", "not the password", from).await {
                            Err(StaffError::WrongCredentials) => (1, 0),
                            Err(StaffError::LockedOut { .. }) => (0, 1),
                            other => panic!("{other:?}"),
                        }
                    } else {
                        // What a check did before: its own blocking thread, at once.
                        let good = tokio::task::spawn_blocking(move || {
                            PasswordHash::new(&hash)
                                .is_ok_and(|h| Argon2::default().verify_password(b"not the password", &h).is_ok())
                        })
                        .await
                        .unwrap();
                        assert!(!good);
                        (1, 0)
                    }
                })
            })
            .collect();
        for t in tries {
            let (w, b) = t.await.unwrap();
            wrong += w;
            busy += b;
        }
        let way = if now { "now (4 checks at a time, 2 s wait for a turn)" } else { "before (a blocking thread each)" };
        println!(
            "{way}: peak RSS {:.0} MiB (idle {base:.0} MiB); {wrong} checked, {busy} told to try again (429) in {:.1} s",
            peak_mib(),
            start.elapsed().as_secs_f64()
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A second handle on the bench's store, to read the hash the first made.
async fn staff_pool(dir: &std::path::Path) -> sqlx::SqlitePool {
    controller::store::open(dir).await.unwrap()
}

/// The process's peak resident memory so far (VmHWM), MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}
