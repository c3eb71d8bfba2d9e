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

    /// Counts a try before its answer is known, in one step with the check:
    /// Err(time to wait) while the key is locked out. So many tries at once
    /// cannot all pass a check that the first wrong ones have not yet
    /// counted; the [`Reserved`] try stays counted unless it is cleared (a
    /// right answer) or given back (an answer that was no wrong guess).
    pub fn reserve(&self, key: K) -> Result<Reserved<'_, K>, Duration> {
        if let Some(wait) = self.check(key.clone()) {
            return Err(wait);
        }
        // Under the same lock as the count: no other try slips in between.
        let mut failures = self.failures.lock().unwrap();
        let tries = failures.entry(key.clone()).or_default();
        if tries.len() >= self.max {
            return Err(self.window.saturating_sub(tries[0].elapsed()).max(Duration::from_secs(1)));
        }
        let at = Instant::now();
        tries.push_back(at);
        Ok(Reserved { lockout: self, key, at })
    }
}

/// A try counted before its answer: counted it stays (a wrong answer, or
/// one never given because the guest went away) unless cleared or given back.
pub struct Reserved<'a, K: std::hash::Hash + Eq + Clone> {
    lockout: &'a Lockout<K>,
    key: K,
    at: Instant,
}

impl<K: std::hash::Hash + Eq + Clone> Reserved<'_, K> {
    /// A wrong answer: the try stays counted (as it does when it is dropped).
    pub fn keep(self) {}

    /// A right answer: the key's count is cleared.
    pub fn clear(self) {
        self.lockout.clear(self.key);
    }

    /// An answer that was no wrong guess (a revoked card, the store away): not counted.
    pub fn give_back(self) {
        let mut failures = self.lockout.failures.lock().unwrap();
        if let Some(tries) = failures.get_mut(&self.key) {
            if let Some(i) = tries.iter().position(|t| *t == self.at) {
                tries.remove(i);
            }
            if tries.is_empty() {
                failures.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forty_wrong_tries_at_once_get_five_answers() {
        let lockout = Arc::new(Lockout::new(5, Duration::from_secs(60)));
        let mac: MacAddr = "02:00:00:00:00:07".parse().unwrap();
        let answered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tries = (0..40).map(|_| {
            let (lockout, answered) = (lockout.clone(), answered.clone());
            tokio::spawn(async move {
                let Ok(reserved) = lockout.reserve(mac) else { return };
                // The slow check (argon2) runs while the others arrive.
                tokio::time::sleep(Duration::from_millis(20)).await;
                answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                reserved.keep(); // wrong
            })
        });
        futures_join(tries.collect()).await;
        assert_eq!(answered.load(std::sync::atomic::Ordering::SeqCst), 5, "the limit is 5, however fast they come");
        assert!(lockout.check(mac).is_some(), "and the device is locked out");
    }

    #[test]
    fn a_right_answer_clears_and_a_no_guess_is_given_back() {
        let lockout = Lockout::new(2, Duration::from_secs(60));
        let mac: MacAddr = "02:00:00:00:00:08".parse().unwrap();
        lockout.reserve(mac).unwrap().give_back();
        lockout.reserve(mac).unwrap().give_back();
        lockout.reserve(mac).unwrap().give_back();
        assert!(lockout.check(mac).is_none(), "answers that were no guesses count nothing");
        lockout.reserve(mac).unwrap().keep();
        lockout.reserve(mac).unwrap().clear();
        assert!(lockout.reserve(mac).is_ok(), "a right answer cleared the count");
    }

    async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
        for h in handles {
            h.await.unwrap();
        }
    }

    use std::sync::Arc;

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
