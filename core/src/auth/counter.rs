//! The rotating counter QR code (限时二维码): a tablet at the counter shows a
//! QR code of a login link that changes every `period`; a link is good for
//! its own period and the next, so a photo of it is useless two periods
//! later. Links are the portal key's MAC of the period (128 bits): not
//! guessable. The tablet's page needs a display key of its own (the file
//! `counter.key`), so a guest cannot open it from the portal.

use super::{Bandwidth, Grant, Identity, Method, Refusal};
use crate::kit::signer::Signer;
use firewall::Client;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The display key's file in the data dir.
pub const DISPLAY_KEY_FILE: &str = "counter.key";

/// The counter QR method.
pub struct CounterQr {
    period: Duration,
    session: Duration,
    bandwidth: Bandwidth,
    links: Signer,
    display: String,
}

impl CounterQr {
    /// Links that change every `period`, signed by `links`; the tablet's page
    /// opens with `display`.
    pub fn new(period: Duration, session: Duration, bandwidth: Bandwidth, links: Signer, display: String) -> Self {
        CounterQr { period: period.max(Duration::from_secs(5)), session, bandwidth, links, display }
    }

    /// How often the code changes.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Whether `key` opens the tablet's page (constant time).
    pub fn display_ok(&self, key: &str) -> bool {
        crate::kit::secrets::same_secret(key, &self.display)
    }

    /// The tablet's page path with its key.
    pub fn display_path(&self) -> String {
        format!("/counter?key={}", self.display)
    }

    fn period_now(&self) -> u64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        now.as_secs() / self.period.as_secs().max(1)
    }

    /// The path and query of the current period's login link.
    pub fn current_link(&self) -> String {
        let p = self.period_now();
        format!("/q?p={p}&t={}", self.links.sign(&["counter", &p.to_string()]))
    }

    /// Checks a scanned link's period and token: the grant.
    pub fn login(&self, period: u64, token: &str, client: Client) -> Result<Grant, Refusal> {
        let now = self.period_now();
        let fresh = period == now || period + 1 == now;
        if token.len() > 64 || !self.links.verify(&["counter", &period.to_string()], token) {
            return Err(Refusal::Invalid);
        }
        if !fresh {
            return Err(Refusal::Expired);
        }
        Ok(Grant {
            method: Method::CounterQr,
            identity: Identity::Device(client.mac.to_string()),
            duration: self.session,
            bandwidth: self.bandwidth,
        })
    }
}

/// An SVG QR code of `text` (medium error correction: survives a scratched
/// print or a glare on a tablet).
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(160, 160).quiet_zone(true).build(),
        Err(err) => {
            tracing::error!(%err, "QR code not made");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client { mac: "02:00:00:00:00:01".parse().unwrap(), ip: "192.0.2.1".parse().unwrap() }
    }

    fn counter() -> CounterQr {
        CounterQr::new(
            Duration::from_secs(30),
            Duration::from_secs(3600),
            Bandwidth::default(),
            Signer::with_key([5; 32]),
            "display-key".into(),
        )
    }

    fn parts(link: &str) -> (u64, String) {
        let url = url::Url::parse(&format!("http://x{link}")).unwrap();
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        (q["p"].parse().unwrap(), q["t"].clone())
    }

    #[test]
    fn the_current_link_logs_in_and_an_old_or_forged_one_does_not() {
        let c = counter();
        let (p, t) = parts(&c.current_link());
        assert_eq!(c.login(p, &t, client()).unwrap().method, Method::CounterQr);
        let old = c.links.sign(&["counter", &(p - 2).to_string()]);
        assert_eq!(c.login(p - 2, &old, client()), Err(Refusal::Expired), "a photo from a minute ago");
        assert_eq!(c.login(p + 5, &t, client()), Err(Refusal::Invalid), "another period's token");
        assert_eq!(c.login(p, "00", client()), Err(Refusal::Invalid));
        let other = CounterQr::new(
            Duration::from_secs(30),
            Duration::from_secs(60),
            Bandwidth::default(),
            Signer::with_key([6; 32]),
            String::new(),
        );
        assert_eq!(other.login(p, &t, client()), Err(Refusal::Invalid), "another appliance's code");
    }

    #[test]
    fn the_display_needs_its_key_and_the_qr_renders() {
        let c = counter();
        assert!(c.display_ok("display-key") && !c.display_ok("display-kez") && !c.display_ok(""));
        let svg = qr_svg("http://portal.test/q?p=1&t=abc");
        assert!(svg.starts_with("<?xml") && svg.contains("<svg"), "{}", &svg[..60.min(svg.len())]);
    }
}
