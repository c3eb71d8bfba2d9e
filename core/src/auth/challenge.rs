//! Device-bound, one-time challenges: the countdown's tickets and any other
//! method's "this page was served to this device" proof. A challenge is a
//! random 128-bit id; it works once, from the device it was issued to,
//! within its lifetime. A method may give it back when the login behind it
//! failed, so the guest can try again.

use firewall::Client;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most open challenges one device may hold (tabs, the OS login window).
const PER_CLIENT: usize = 8;
/// Most open challenges in all; the oldest go first.
const MAX_OPEN: usize = 50_000;

/// Why a challenge was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// No such challenge, another device's, or expired.
    Invalid,
    /// Already used.
    Replayed,
}

struct Open<T> {
    client: Client,
    issued: Instant,
    payload: T,
    used: bool,
}

/// The open challenges of one method.
pub struct Challenges<T> {
    lifetime: Duration,
    open: Mutex<HashMap<String, Open<T>>>,
}

impl<T: Clone> Challenges<T> {
    /// Challenges valid for `lifetime`.
    pub fn new(lifetime: Duration) -> Self {
        Challenges { lifetime, open: Mutex::default() }
    }

    /// A new challenge for `client`, carrying `payload`.
    pub fn issue(&self, client: Client, payload: T) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let id = ap_protocol::hex::encode(&bytes);
        let mut open = self.open.lock().unwrap();
        open.retain(|_, c| c.issued.elapsed() < self.lifetime);
        let mut mine: Vec<(Instant, String)> =
            open.iter().filter(|(_, c)| c.client == client).map(|(k, c)| (c.issued, k.clone())).collect();
        if mine.len() >= PER_CLIENT {
            mine.sort();
            for (_, k) in mine.iter().take(mine.len() + 1 - PER_CLIENT) {
                open.remove(k);
            }
        }
        if open.len() >= MAX_OPEN {
            if let Some(oldest) = open.iter().min_by_key(|(_, c)| c.issued).map(|(k, _)| k.clone()) {
                open.remove(&oldest);
            }
        }
        open.insert(id.clone(), Open { client, issued: Instant::now(), payload, used: false });
        id
    }

    /// Uses the challenge if `ready` (given its age) says so: returns its
    /// payload. `ready` may refuse (a countdown still running) and leave it open.
    pub fn redeem<E>(
        &self,
        id: &str,
        client: Client,
        ready: impl FnOnce(Duration) -> Result<(), E>,
    ) -> Result<Result<T, E>, ChallengeError> {
        let mut open = self.open.lock().unwrap();
        let challenge = open.get_mut(id).ok_or(ChallengeError::Invalid)?;
        if challenge.client != client || challenge.issued.elapsed() >= self.lifetime {
            return Err(ChallengeError::Invalid);
        }
        if challenge.used {
            return Err(ChallengeError::Replayed);
        }
        if let Err(not_yet) = ready(challenge.issued.elapsed()) {
            return Ok(Err(not_yet));
        }
        challenge.used = true;
        Ok(Ok(challenge.payload.clone()))
    }

    /// Gives a used challenge back (the login behind it failed).
    pub fn restore(&self, id: &str) {
        if let Some(c) = self.open.lock().unwrap().get_mut(id) {
            c.used = false;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    fn now(_: Duration) -> Result<(), ()> {
        Ok(())
    }

    #[test]
    fn a_challenge_works_once_for_its_own_device() {
        let c = Challenges::new(Duration::from_secs(60));
        let id = c.issue(client(1), 7);
        assert_eq!(c.redeem(&id, client(2), now), Err(ChallengeError::Invalid));
        assert_eq!(c.redeem(&id, client(1), now), Ok(Ok(7)));
        assert_eq!(c.redeem(&id, client(1), now), Err(ChallengeError::Replayed));
        c.restore(&id);
        assert_eq!(c.redeem(&id, client(1), now), Ok(Ok(7)), "given back after a failed login");
        assert_eq!(c.redeem("forged", client(1), now), Err(ChallengeError::Invalid));
    }

    #[test]
    fn a_refused_redeem_leaves_it_open_and_old_ones_expire() {
        let c = Challenges::new(Duration::from_millis(20));
        let id = c.issue(client(1), ());
        assert_eq!(c.redeem(&id, client(1), |_| Err("wait")), Ok(Err("wait")));
        assert_eq!(c.redeem(&id, client(1), now), Ok(Ok(())));
        let id = c.issue(client(1), ());
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(c.redeem(&id, client(1), now), Err(ChallengeError::Invalid));
    }

    #[test]
    fn a_device_holds_a_bounded_number() {
        let c = Challenges::new(Duration::from_secs(60));
        let first = c.issue(client(1), ());
        for _ in 0..PER_CLIENT {
            c.issue(client(1), ());
        }
        assert_eq!(c.redeem(&first, client(1), now), Err(ChallengeError::Invalid));
        assert_eq!(c.len(), PER_CLIENT);
    }
}
