//! HQ's OpenMetrics, at `/metrics` on `server.metrics_listen`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Every metric HQ exports.
pub struct Metrics {
    registry: Registry,
    /// Facts filed (new or already there).
    pub facts: Counter,
    /// Facts refused on their own.
    pub facts_refused: Counter,
    /// Sites enrolled.
    pub enrolled: Counter,
    /// Enrolments refused (wrong, used or expired codes, throttled).
    pub enrol_refused: Counter,
    /// Calls refused: a revoked or replaced certificate, facts for another site.
    pub calls_refused: Counter,
    /// Heartbeats taken.
    pub heartbeats: Counter,
    /// Bundles sites refused.
    pub bundles_refused: Counter,
    /// Bundle long-polls waiting now.
    pub polls: Gauge,
    /// SMS codes sent for sites.
    pub sms_sent: Counter,
    /// SMS codes refused: a budget spent.
    pub sms_refused: Counter,
}

/// One waiting poll; it stops counting when dropped.
pub struct Polling(Gauge);

impl Drop for Polling {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("guestwifi_hq");
        let m = Metrics {
            registry: Registry::default(),
            facts: Counter::default(),
            facts_refused: Counter::default(),
            enrolled: Counter::default(),
            enrol_refused: Counter::default(),
            calls_refused: Counter::default(),
            heartbeats: Counter::default(),
            bundles_refused: Counter::default(),
            polls: Gauge::default(),
            sms_sent: Counter::default(),
            sms_refused: Counter::default(),
        };
        registry.register("facts", "Facts filed", m.facts.clone());
        registry.register("facts_refused", "Facts refused on their own", m.facts_refused.clone());
        registry.register("enrolments", "Sites enrolled", m.enrolled.clone());
        registry.register("enrolments_refused", "Enrolments refused", m.enrol_refused.clone());
        registry.register(
            "calls_refused",
            "Calls refused (revoked certificate, facts for another site)",
            m.calls_refused.clone(),
        );
        registry.register("heartbeats", "Heartbeats taken", m.heartbeats.clone());
        registry.register("bundles_refused", "Bundles the sites refused", m.bundles_refused.clone());
        registry.register("bundle_polls", "Bundle long-polls waiting", m.polls.clone());
        registry.register("sms_sent", "SMS codes sent for sites", m.sms_sent.clone());
        registry.register("sms_refused", "SMS codes refused: a budget spent", m.sms_refused.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a waiting poll while the guard lives.
    pub fn polling(&self) -> Polling {
        self.polls.inc();
        Polling(self.polls.clone())
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("metrics encode");
        out
    }
}
