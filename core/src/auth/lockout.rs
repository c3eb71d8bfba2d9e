//! Wrong tries per device: after `max` wrong codes or passwords within
//! `window`, the device is locked out until the oldest of them leaves the
//! window. Keyed by MAC (the kernel's neighbour entry, not an address a
//! guest can change by reconnecting).

use firewall::MacAddr;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most devices remembered; the quietest are forgotten first.
const MAX_DEVICES: usize = 100_000;

/// Wrong tries of every device (or card: any key), for one kind of secret.
pub struct Lockout<K = MacAddr> {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<K, VecDeque<Instant>>>,
}

impl<K: std::hash::Hash + Eq + Clone> Lockout<K> {
    /// `max` wrong tries in `window`.
    pub fn new(max: usize, window: Duration) -> Self {
        Lockout { max: max.max(1), window, failures: Mutex::default() }
    }

    /// Some(time to wait) while the device is locked out.
    pub fn check(&self, mac: K) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap();
        let tries = failures.get_mut(&mac)?;
        while tries.front().is_some_and(|t| t.elapsed() >= self.window) {
            tries.pop_front();
        }
        if tries.is_empty() {
            failures.remove(&mac);
            return None;
        }
        (tries.len() >= self.max).then(|| self.window.saturating_sub(tries[0].elapsed()).max(Duration::from_secs(1)))
    }

    /// Counts a wrong try.
    pub fn fail(&self, mac: K) {
        let mut failures = self.failures.lock().unwrap();
        if failures.len() >= MAX_DEVICES && !failures.contains_key(&mac) {
            let window = self.window;
            failures.retain(|_, tries| tries.back().is_some_and(|t| t.elapsed() < window));
            if failures.len() >= MAX_DEVICES {
                let quietest = failures.iter().min_by_key(|(_, t)| t.back().copied()).map(|(m, _)| m.clone());
                if let Some(m) = quietest {
                    failures.remove(&m);
                }
            }
        }
        let tries = failures.entry(mac).or_default();
        tries.push_back(Instant::now());
        while tries.len() > self.max {
            tries.pop_front();
        }
    }

    /// A right answer clears the device's count.
    pub fn clear(&self, mac: K) {
        self.failures.lock().unwrap().remove(&mac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_wrong_try_locks_the_device_and_only_that_device() {
        let lockout = Lockout::new(5, Duration::from_secs(600));
        let (a, b): (MacAddr, MacAddr) = ("02:00:00:00:00:01".parse().unwrap(), "02:00:00:00:00:02".parse().unwrap());
        for _ in 0..4 {
            lockout.fail(a);
            assert_eq!(lockout.check(a), None);
        }
        lockout.fail(a);
        let wait = lockout.check(a).expect("locked");
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600), "{wait:?}");
        assert_eq!(lockout.check(b), None);
    }

    #[test]
    fn tries_leave_the_window() {
        let lockout = Lockout::new(2, Duration::from_millis(30));
        let a: MacAddr = "02:00:00:00:00:01".parse().unwrap();
        lockout.fail(a);
        lockout.fail(a);
        assert!(lockout.check(a).is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(lockout.check(a), None);
    }
}
