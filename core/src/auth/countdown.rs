//! Countdown click-through: the guest sees the restaurant's brand page (and
//! its ad) for a configured number of seconds, then taps Connect — or the
//! login happens by itself when the countdown ends, or the guest taps the ad,
//! which logs in too, counts as a click and then opens the ad's page.
//!
//! Serving the page issues a one-time ticket bound to the guest's device; the
//! login must bring it back, from the same device, after the countdown. A
//! forged, foreign, replayed or early ticket is refused and changes nothing.

use super::challenge::{ChallengeError, Challenges};
use super::{Bandwidth, Grant, Identity, Method, Refusal};
use firewall::Client;
use std::time::Duration;

/// How long a page's ticket stays valid.
const TICKET_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The countdown method.
pub struct Countdown {
    seconds: Duration,
    session: Duration,
    bandwidth: Bandwidth,
    tickets: Challenges<Option<String>>,
}

impl Countdown {
    /// A countdown of `seconds` granting `session` at `bandwidth`.
    pub fn new(seconds: Duration, session: Duration, bandwidth: Bandwidth) -> Self {
        Countdown { seconds, session, bandwidth, tickets: Challenges::new(TICKET_LIFETIME) }
    }

    /// The countdown length.
    pub fn seconds(&self) -> Duration {
        self.seconds
    }

    /// A new ticket for `client`, remembering where it was going.
    pub fn issue(&self, client: Client, url: Option<String>) -> String {
        self.tickets.issue(client, url)
    }

    /// Uses the ticket: the grant and where the guest was going. A too-early
    /// try leaves the ticket valid, so the guest can tap again.
    pub fn login(&self, ticket: &str, client: Client) -> Result<(Grant, Option<String>), Refusal> {
        if ticket.len() > 64 {
            return Err(Refusal::Invalid);
        }
        let seconds = self.seconds;
        let ready = |waited: Duration| {
            if waited < seconds {
                Err(Refusal::TooEarly { remaining: seconds - waited })
            } else {
                Ok(())
            }
        };
        let url = match self.tickets.redeem(ticket, client, ready) {
            Ok(Ok(url)) => url,
            Ok(Err(refusal)) => return Err(refusal),
            Err(ChallengeError::Invalid) => return Err(Refusal::Invalid),
            Err(ChallengeError::Replayed) => return Err(Refusal::Replayed),
        };
        let grant = Grant {
            method: Method::Countdown,
            identity: Identity::Device(client.mac.to_string()),
            duration: self.session,
            bandwidth: self.bandwidth,
        };
        Ok((grant, url))
    }

    /// Gives a used ticket back when the login behind it failed, so the
    /// guest can try again without waiting anew.
    pub fn restore(&self, ticket: &str) {
        self.tickets.restore(ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client { mac: format!("02:00:00:00:00:{n:02x}").parse().unwrap(), ip: format!("192.0.2.{n}").parse().unwrap() }
    }

    fn countdown(seconds: u64) -> Countdown {
        Countdown::new(Duration::from_secs(seconds), Duration::from_secs(3600), Bandwidth::default())
    }

    #[test]
    fn login_before_the_countdown_is_refused_and_the_ticket_survives() {
        let c = countdown(60);
        let t = c.issue(client(1), None);
        assert!(matches!(c.login(&t, client(1)), Err(Refusal::TooEarly { .. })));
        assert!(matches!(c.login(&t, client(1)), Err(Refusal::TooEarly { .. })));
    }

    #[test]
    fn ticket_works_once_for_its_own_device_and_grants_the_device() {
        let c = countdown(0);
        let t = c.issue(client(1), Some("http://example.test/".into()));
        assert_eq!(c.login(&t, client(2)), Err(Refusal::Invalid));
        let (grant, url) = c.login(&t, client(1)).unwrap();
        assert_eq!(url.as_deref(), Some("http://example.test/"));
        assert_eq!(grant.identity, Identity::Device(client(1).mac.to_string()));
        assert_eq!(grant.duration, Duration::from_secs(3600));
        assert_eq!(c.login(&t, client(1)), Err(Refusal::Replayed));
        assert_eq!(c.login("forged", client(1)), Err(Refusal::Invalid));
        assert_eq!(c.login(&"a".repeat(65), client(1)), Err(Refusal::Invalid));
    }
}
