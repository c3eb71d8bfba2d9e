//! Prometheus metrics at `/metrics` on the admin listener, with the
//! conventional names and units. Counters are bumped where things happen;
//! gauges about guests are kept by the session sweep, so a scrape never
//! lists the kernel's clients.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A login method (`countdown`, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    /// The method.
    pub method: String,
}

/// A refused login: its method and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// The method.
    pub method: String,
    /// Why (`auth::Refusal::reason`, or `address_in_use`, `error`).
    pub reason: String,
}

/// An ad event (`impression`, `click`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdLabel {
    /// The event.
    pub event: String,
}

/// What became of something asked for (`sent`, `refused`, `gateway_error`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome.
    pub outcome: String,
}

/// A DNS verdict (see `dns::Verdict`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    /// The verdict.
    pub verdict: String,
}

/// An AP state (`pending`, `adopted`, `online`, `outdated`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApStateLabel {
    /// The state.
    pub state: String,
}

/// Every metric the controller exports.
pub struct Metrics {
    registry: Registry,
    /// Plain-HTTP requests answered with a redirect to the portal.
    pub redirects: Counter,
    /// Logins by method.
    pub logins: Family<MethodLabel, Counter>,
    /// Refused logins by method and reason.
    pub refusals: Family<RefusalLabels, Counter>,
    /// Guests' DNS queries by verdict.
    pub dns_queries: Family<VerdictLabel, Counter>,
    /// The countdown page's ad: shown and tapped.
    pub ads: Family<AdLabel, Counter>,
    /// SMS codes: sent, refused (a limit, a bad number), gateway errors.
    pub sms: Family<OutcomeLabel, Counter>,
    /// Guests logged in now (kept by the sweep).
    pub sessions_live: Gauge,
    /// Bytes logged-in guests have sent (kept by the sweep).
    pub session_bytes_up: Gauge,
    /// APs by state (set at each scrape from the registry, not the kernel).
    pub aps: Family<ApStateLabel, Gauge>,
    /// Facts waiting in the member store's outbox.
    pub feed_waiting: Gauge,
    /// Age of the oldest waiting fact, seconds.
    pub feed_lag: Gauge,
    /// Facts delivered to the member store.
    pub feed_delivered: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("guestwifi");
        let metrics = Metrics {
            redirects: Counter::default(),
            logins: Family::default(),
            refusals: Family::default(),
            dns_queries: Family::default(),
            ads: Family::default(),
            sms: Family::default(),
            sessions_live: Gauge::default(),
            session_bytes_up: Gauge::default(),
            aps: Family::default(),
            feed_waiting: Gauge::default(),
            feed_lag: Gauge::default(),
            feed_delivered: Counter::default(),
            registry: Registry::default(),
        };
        registry.register("portal_redirects", "Requests redirected to the portal", metrics.redirects.clone());
        registry.register("logins", "Guest logins by method", metrics.logins.clone());
        registry.register("login_refusals", "Refused guest logins by method and reason", metrics.refusals.clone());
        registry.register("dns_queries", "Guests' DNS queries by verdict", metrics.dns_queries.clone());
        registry.register("portal_ad_events", "The brand page's ad: impressions and clicks", metrics.ads.clone());
        registry.register("sms_codes", "SMS codes asked for, by outcome", metrics.sms.clone());
        registry.register("sessions_live", "Guests logged in now", metrics.sessions_live.clone());
        registry.register_with_unit(
            "session_up",
            "What logged-in guests have sent",
            prometheus_client::registry::Unit::Bytes,
            metrics.session_bytes_up.clone(),
        );
        registry.register("aps", "Access points by state", metrics.aps.clone());
        registry.register("member_feed_waiting", "Facts waiting for the member store", metrics.feed_waiting.clone());
        registry.register_with_unit(
            "member_feed_lag",
            "Age of the oldest fact waiting for the member store",
            prometheus_client::registry::Unit::Seconds,
            metrics.feed_lag.clone(),
        );
        registry.register(
            "member_feed_delivered",
            "Facts delivered to the member store",
            metrics.feed_delivered.clone(),
        );
        Metrics { registry, ..metrics }
    }
}

impl Metrics {
    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts a login.
    pub fn login(&self, method: &str) {
        self.logins.get_or_create(&MethodLabel { method: method.into() }).inc();
    }

    /// Counts an ad `impression` or `click`.
    pub fn ad(&self, event: &str) {
        self.ads.get_or_create(&AdLabel { event: event.into() }).inc();
    }

    /// Counts an SMS code asked for, by outcome.
    pub fn sms(&self, outcome: &str) {
        self.sms.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
    }

    /// Counts a refused login.
    pub fn refused(&self, method: &str, reason: &str) {
        self.refusals.get_or_create(&RefusalLabels { method: method.into(), reason: reason.into() }).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_has_conventional_names_units_and_labels() {
        let m = Metrics::default();
        m.redirects.inc();
        m.login("countdown");
        m.refused("countdown", "too_early");
        m.session_bytes_up.set(1234);
        let text = m.encode();
        for needed in [
            "guestwifi_portal_redirects_total 1",
            "guestwifi_logins_total{method=\"countdown\"} 1",
            "guestwifi_login_refusals_total{method=\"countdown\",reason=\"too_early\"} 1",
            "guestwifi_session_up_bytes 1234",
        ] {
            assert!(text.contains(needed), "{needed} in\n{text}");
        }
    }
}
