//! The guests' DHCP leases, as the gateway's lease set: dnsmasq's lease file
//! is read whenever it changes (inotify on the data dir) and at least every
//! [`RESYNC`], and the firewall is given the whole list (it applies only what
//! moved). A lease counts until its end plus [`GRACE`], so a renewal that
//! comes late does not cut a guest off.
//!
//! dnsmasq rewrites its file in place (truncate, then write), so one read
//! may catch it half written: a lease missing from a read leaves the set
//! only when a read [`GONE_AFTER`] later still lacks it.

use firewall::{Client, Firewall, MacAddr};
use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long past its end a lease still lets its device in.
pub const GRACE: Duration = Duration::from_secs(120);
/// How often the file is read even when no change was seen.
pub const RESYNC: Duration = Duration::from_secs(30);
/// How long a lease must stay missing before it leaves the set.
pub const GONE_AFTER: Duration = Duration::from_secs(2);

/// One line of dnsmasq's lease file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The device.
    pub mac: MacAddr,
    /// Its address.
    pub ip: Ipv4Addr,
    /// When it ends (seconds since the epoch); None for a lease of no end.
    pub expires: Option<u64>,
}

/// The IPv4 leases in dnsmasq's lease file text (lines: expiry, MAC,
/// address, host name, client id; expiry 0 is no end). Other lines (DHCPv6,
/// a half-written last line) are skipped.
pub fn parse(text: &str) -> Vec<Lease> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let expires: u64 = fields.next()?.parse().ok()?;
            let mac: MacAddr = fields.next()?.parse().ok()?;
            let ip: Ipv4Addr = fields.next()?.parse().ok()?;
            // A complete line has the host name and client id too.
            fields.next()?;
            Some(Lease { mac, ip, expires: (expires != 0).then_some(expires) })
        })
        .collect()
}

/// Reads and parses the file; a missing file has no leases.
pub fn read(path: &Path) -> Vec<Lease> {
    std::fs::read_to_string(path).map(|text| parse(&text)).unwrap_or_default()
}

/// The firewall's list: each lease still within its end plus [`GRACE`] at
/// `now` (seconds since the epoch), with the time it has left.
pub fn for_kernel(leases: &[Lease], now: u64) -> Vec<(Client, Option<Duration>)> {
    leases
        .iter()
        .filter_map(|l| {
            let client = Client { mac: l.mac, ip: IpAddr::V4(l.ip) };
            match l.expires {
                None => Some((client, None)),
                Some(end) => {
                    let until = end + GRACE.as_secs();
                    (until > now).then(|| (client, Some(Duration::from_secs(until - now))))
                }
            }
        })
        .collect()
}

/// Seconds since the epoch.
fn epoch() -> u64 {
    (crate::kit::time::now_ms() / 1000) as u64
}

/// What the watcher last gave the firewall, and since when each lease that
/// a read lacked has been missing.
#[derive(Default)]
struct Kept {
    given: HashMap<Client, Option<Duration>>,
    missing_since: HashMap<Client, Instant>,
}

impl Kept {
    /// The list to give after a read that found `read`; and whether a lease
    /// is waiting to be confirmed gone (read again soon).
    fn next(&mut self, read: Vec<(Client, Option<Duration>)>, now: Instant) -> (Vec<(Client, Option<Duration>)>, bool) {
        let fresh: HashMap<Client, Option<Duration>> = read.into_iter().collect();
        self.missing_since.retain(|c, _| !fresh.contains_key(c));
        let mut out = fresh.clone();
        for (client, left) in &self.given {
            if fresh.contains_key(client) {
                continue;
            }
            let since = *self.missing_since.entry(*client).or_insert(now);
            if now.duration_since(since) < GONE_AFTER {
                out.insert(*client, *left);
            } else {
                self.missing_since.remove(client);
            }
        }
        let waiting = !self.missing_since.is_empty();
        self.given = out.clone();
        (out.into_iter().collect(), waiting)
    }
}

/// Keeps the firewall's lease set equal to the file at `path` until the
/// task is dropped.
pub async fn watch(path: PathBuf, firewall: Firewall) -> Result<(), String> {
    let changed = Arc::new(Notify::new());
    if let Err(err) = spawn_inotify(&path, changed.clone()) {
        tracing::warn!(%err, path = %path.display(), "cannot watch the DHCP lease file; reading it every few seconds");
    }
    let every = RESYNC;
    // What the table was installed with (the daemon read the same file just
    // before): a lease missing from the first read is confirmed like any other.
    let file = path.clone();
    let installed = tokio::task::spawn_blocking(move || for_kernel(&read(&file), epoch())).await.unwrap_or_default();
    let mut kept = Kept { given: installed.into_iter().collect(), missing_since: HashMap::new() };
    let mut soon = false;
    loop {
        let wait = if soon { GONE_AFTER } else { every };
        tokio::select! {
            () = changed.notified() => {
                // dnsmasq writes in a few calls: let it finish.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            () = tokio::time::sleep(wait) => {}
        }
        let file = path.clone();
        let read = tokio::task::spawn_blocking(move || for_kernel(&read(&file), epoch())).await.unwrap_or_default();
        let (list, waiting) = kept.next(read, Instant::now());
        soon = waiting;
        if let Err(err) = firewall.set_leases(list).await {
            // The firewall keeps what it had; the next read (soon) sends the whole list again.
            tracing::warn!(%err, "the DHCP leases did not reach the firewall; trying again at the next read");
            soon = true;
        }
    }
}

/// A thread that wakes `changed` whenever the file at `path` is written,
/// created or moved into place (inotify on its directory, which outlives
/// the file).
fn spawn_inotify(path: &Path, changed: Arc<Notify>) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name: OsString = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let dir =
        CString::new(dir.as_os_str().as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: inotify_init1 takes flags only.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mask = libc::IN_MODIFY | libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_CREATE | libc::IN_DELETE;
    // SAFETY: a valid descriptor and NUL-terminated path.
    if unsafe { libc::inotify_add_watch(fd, dir.as_ptr(), mask) } < 0 {
        let err = std::io::Error::last_os_error();
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(fd) };
        return Err(err);
    }
    std::thread::Builder::new().name("lease watch".into()).spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reading into a buffer we own, of its length.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            if names_in(&buf[..n as usize]).any(|n| n == name.as_bytes()) {
                changed.notify_one();
            }
        }
    })?;
    Ok(())
}

/// The file names of the inotify events in `buf` (each: wd, mask, cookie,
/// len as 32-bit numbers, then `len` bytes of NUL-padded name).
fn names_in(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = buf.get(at..at + 16)?;
        let len = u32::from_ne_bytes(header[12..16].try_into().ok()?) as usize;
        let name = buf.get(at + 16..at + 16 + len)?;
        at += 16 + len;
        Some(name.split(|b| *b == 0).next().unwrap_or_default())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    #[test]
    fn lines_give_leases_and_half_lines_give_nothing() {
        let text = "1800000000 02:00:00:00:00:01 192.0.2.101 phone 01:02:00:00:00:00:01\n\
                    0 02:00:00:00:00:02 192.0.2.102 * *\n\
                    duid 00:01:00:01:2c:00:00:00:02:00:00:00:00:01\n\
                    1800000000 02:00:00:00:00:03 192.0.2.1";
        let leases = parse(text);
        assert_eq!(leases.len(), 2, "{leases:?}");
        assert_eq!(leases[0].expires, Some(1_800_000_000));
        assert_eq!(leases[1].expires, None, "0 is a lease of no end");
        let kernel = for_kernel(&leases, 1_800_000_000 - 60);
        assert_eq!(kernel[0].1, Some(Duration::from_secs(60) + GRACE), "its time left, and the grace");
        assert!(for_kernel(&leases[..1], 1_800_000_000 + GRACE.as_secs()).is_empty(), "past the grace, out");
    }

    #[test]
    fn a_lease_missing_from_one_read_stays_until_a_later_read_confirms_it() {
        let mut kept = Kept::default();
        let t0 = Instant::now();
        let both = vec![(client(1), None), (client(2), Some(Duration::from_secs(600)))];
        let (list, waiting) = kept.next(both.clone(), t0);
        assert_eq!((list.len(), waiting), (2, false));
        // A read of a file caught half written: client 2 is kept, and a re-read is due.
        let (list, waiting) = kept.next(vec![(client(1), None)], t0 + Duration::from_millis(5));
        assert_eq!((list.len(), waiting), (2, true));
        // It was there after all.
        let (list, waiting) = kept.next(both, t0 + Duration::from_millis(500));
        assert_eq!((list.len(), waiting), (2, false));
        // Now really gone (released): it leaves once a read GONE_AFTER later still lacks it.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(kept.next(vec![(client(1), None)], t1).0.len(), 2);
        let (list, waiting) = kept.next(vec![(client(1), None)], t1 + GONE_AFTER);
        assert_eq!((list, waiting), (vec![(client(1), None)], false));
    }

    #[test]
    fn inotify_events_name_their_files() {
        let mut buf = Vec::new();
        for name in [&b"store.db-wal\0\0\0\0"[..], &b"dnsmasq.leases\0\0"[..]] {
            buf.extend(1i32.to_ne_bytes());
            buf.extend(2u32.to_ne_bytes());
            buf.extend(0u32.to_ne_bytes());
            buf.extend((name.len() as u32).to_ne_bytes());
            buf.extend(name);
        }
        let names: Vec<&[u8]> = names_in(&buf).collect();
        assert_eq!(names, vec![&b"store.db-wal"[..], &b"dnsmasq.leases"[..]]);
    }
}
