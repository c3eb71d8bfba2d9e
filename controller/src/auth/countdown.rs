//! Countdown click-through: the guest sees the restaurant's brand page for
//! a configured number of seconds, then presses Connect.
//!
//! Serving the page issues a one-time ticket bound to the guest's device; the
//! login must bring it back, from the same device, after the countdown. A
//! forged, foreign, replayed or early ticket is refused and changes nothing.

use firewall::Client;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a page's ticket stays valid.
const TICKET_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Most open tickets one device may hold (tabs, the OS login window).
const PER_CLIENT: usize = 8;
/// Most open tickets in all; the oldest go first.
const MAX_TICKETS: usize = 50_000;

/// Why a countdown login was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CountdownError {
    /// No such ticket, or it was issued to another device, or it expired.
    #[error("unknown or foreign ticket")]
    Invalid,
    /// The ticket was already used.
    #[error("ticket already used")]
    Replayed,
    /// The countdown has not run out yet.
    #[error("countdown still running")]
    TooEarly {
        /// Time still to wait.
        remaining: Duration,
    },
}

struct Ticket {
    client: Client,
    issued: Instant,
    url: Option<String>,
    used: bool,
}

/// The open tickets.
pub struct Countdown {
    seconds: Duration,
    tickets: Mutex<HashMap<String, Ticket>>,
}

impl Countdown {
    /// A countdown of `seconds`.
    pub fn new(seconds: Duration) -> Self {
        Countdown { seconds, tickets: Mutex::default() }
    }

    /// The countdown length.
    pub fn seconds(&self) -> Duration {
        self.seconds
    }

    /// A new ticket for `client`, remembering where it was going.
    pub fn issue(&self, client: Client, url: Option<String>) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let id = ap_protocol::hex::encode(&bytes);
        let mut tickets = self.tickets.lock().unwrap();
        tickets.retain(|_, t| t.issued.elapsed() < TICKET_LIFETIME);
        let mut mine: Vec<(Instant, String)> =
            tickets.iter().filter(|(_, t)| t.client == client).map(|(k, t)| (t.issued, k.clone())).collect();
        if mine.len() >= PER_CLIENT {
            mine.sort();
            for (_, k) in mine.iter().take(mine.len() + 1 - PER_CLIENT) {
                tickets.remove(k);
            }
        }
        if tickets.len() >= MAX_TICKETS {
            if let Some(oldest) = tickets.iter().min_by_key(|(_, t)| t.issued).map(|(k, _)| k.clone()) {
                tickets.remove(&oldest);
            }
        }
        tickets.insert(id.clone(), Ticket { client, issued: Instant::now(), url, used: false });
        id
    }

    /// Uses the ticket: returns where the guest was going. A too-early try
    /// leaves the ticket valid, so the guest can press again.
    pub fn redeem(&self, id: &str, client: Client) -> Result<Option<String>, CountdownError> {
        let mut tickets = self.tickets.lock().unwrap();
        let ticket = tickets.get_mut(id).ok_or(CountdownError::Invalid)?;
        if ticket.client != client || ticket.issued.elapsed() >= TICKET_LIFETIME {
            return Err(CountdownError::Invalid);
        }
        if ticket.used {
            return Err(CountdownError::Replayed);
        }
        let waited = ticket.issued.elapsed();
        if waited < self.seconds {
            return Err(CountdownError::TooEarly { remaining: self.seconds - waited });
        }
        ticket.used = true;
        Ok(ticket.url.clone())
    }

    /// Gives a used ticket back when the login behind it failed, so the
    /// guest can try again without waiting anew.
    pub fn restore(&self, id: &str) {
        if let Some(t) = self.tickets.lock().unwrap().get_mut(id) {
            t.used = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    #[test]
    fn login_before_the_countdown_is_refused_and_the_ticket_survives() {
        let c = Countdown::new(Duration::from_secs(60));
        let t = c.issue(client(1), None);
        assert!(matches!(c.redeem(&t, client(1)), Err(CountdownError::TooEarly { .. })));
        assert!(matches!(c.redeem(&t, client(1)), Err(CountdownError::TooEarly { .. })));
    }

    #[test]
    fn ticket_works_once_for_its_own_device() {
        let c = Countdown::new(Duration::ZERO);
        let t = c.issue(client(1), Some("http://example.test/".into()));
        assert_eq!(c.redeem(&t, client(2)), Err(CountdownError::Invalid));
        assert_eq!(c.redeem(&t, client(1)), Ok(Some("http://example.test/".into())));
        assert_eq!(c.redeem(&t, client(1)), Err(CountdownError::Replayed));
        assert_eq!(c.redeem("forged", client(1)), Err(CountdownError::Invalid));
    }

    #[test]
    fn a_device_holds_a_bounded_number_of_tickets() {
        let c = Countdown::new(Duration::ZERO);
        let first = c.issue(client(1), None);
        for _ in 0..PER_CLIENT {
            c.issue(client(1), None);
        }
        assert_eq!(c.redeem(&first, client(1)), Err(CountdownError::Invalid));
        assert_eq!(c.tickets.lock().unwrap().len(), PER_CLIENT);
    }
}
