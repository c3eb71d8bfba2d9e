//! What needs the chain's eye about a site, from what it last said: offline
//! longer than the threshold, a bundle refused, its facts lagging, its
//! bundle behind the one HQ would give it now. The console shows it; the
//! metrics listener exports it for an external alerting system.

use crate::db::SiteRow;
use std::fmt::Write;

/// The console's thresholds.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// Silent longer than this: offline, ms.
    pub offline_ms: i64,
    /// Oldest waiting fact older than this: lagging, ms.
    pub lag_ms: i64,
}

impl Thresholds {
    /// From `[console]` (its defaults when there is none).
    pub fn of(console: Option<&crate::config::Console>) -> Thresholds {
        match console {
            Some(c) => Thresholds {
                offline_ms: c.offline_after_seconds as i64 * 1000,
                lag_ms: c.lag_alert_seconds as i64 * 1000,
            },
            None => Thresholds { offline_ms: 600_000, lag_ms: 1_800_000 },
        }
    }
}

/// Where a site stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Made, never enrolled.
    Pending,
    /// Revoked.
    Revoked,
    /// Enrolled and heard from within the threshold.
    Online,
    /// Enrolled and silent longer than the threshold (or never heard from).
    Offline,
}

impl State {
    /// As the filters and the metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Revoked => "revoked",
            State::Online => "online",
            State::Offline => "offline",
        }
    }
}

/// Something about a site that needs the chain's eye.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alert {
    /// Silent longer than the threshold.
    Offline,
    /// It refused its last bundle.
    BundleRefused,
    /// Its oldest waiting fact is older than the threshold.
    FeedLag,
}

impl Alert {
    /// Every kind, as the metrics list them.
    pub const ALL: [Alert; 3] = [Alert::Offline, Alert::BundleRefused, Alert::FeedLag];

    /// As the metrics name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Alert::Offline => "offline",
            Alert::BundleRefused => "bundle_refused",
            Alert::FeedLag => "feed_lag",
        }
    }
}

/// A site's state and alerts at `now`.
pub fn assess(site: &SiteRow, t: Thresholds, now: i64) -> (State, Vec<Alert>) {
    let state = match site.state.as_str() {
        "pending" => State::Pending,
        "revoked" => State::Revoked,
        _ if site.heartbeat_at.is_some_and(|at| now - at <= t.offline_ms) => State::Online,
        _ => State::Offline,
    };
    let mut alerts = Vec::new();
    if state == State::Offline {
        alerts.push(Alert::Offline);
    }
    if matches!(state, State::Online | State::Offline) {
        if refused_last(site) {
            alerts.push(Alert::BundleRefused);
        }
        if site.backlog.0 > 0 && site.backlog.1 > t.lag_ms {
            alerts.push(Alert::FeedLag);
        }
    }
    (state, alerts)
}

/// Whether the last thing the site did with a bundle was to refuse it.
pub fn refused_last(site: &SiteRow) -> bool {
    !site.refused.is_empty() && site.refused_at.unwrap_or(0) >= site.applied_at.unwrap_or(0)
}

/// The sites' state and alerts as OpenMetrics gauges (appended to HQ's own
/// metrics, before their `# EOF`): one series a site, so an alerting rule
/// can say `guestwifi_hq_site_alert{alert="offline"} == 1 for 10m`.
pub fn metrics_text(sites: &[SiteRow], t: Thresholds, now: i64) -> String {
    let mut out = String::new();
    let label = |s: &SiteRow| {
        format!("brand=\"{}\",region=\"{}\",site=\"{}\"", escape(&s.brand), escape(&s.region), escape(&s.site))
    };
    let assessed: Vec<(&SiteRow, State, Vec<Alert>)> = sites
        .iter()
        .map(|s| {
            let (state, alerts) = assess(s, t, now);
            (s, state, alerts)
        })
        .filter(|(_, state, _)| matches!(state, State::Online | State::Offline))
        .collect();
    out.push_str("# TYPE guestwifi_hq_site_up gauge\n# HELP guestwifi_hq_site_up An enrolled site heard from within console.offline_after_seconds.\n");
    for (s, state, _) in &assessed {
        let _ = writeln!(out, "guestwifi_hq_site_up{{{}}} {}", label(s), i32::from(*state == State::Online));
    }
    out.push_str(
        "# TYPE guestwifi_hq_site_alert gauge\n# HELP guestwifi_hq_site_alert 1 while the site has the alert.\n",
    );
    for (s, _, alerts) in &assessed {
        for kind in Alert::ALL {
            let _ = writeln!(
                out,
                "guestwifi_hq_site_alert{{{},alert=\"{}\"}} {}",
                label(s),
                kind.as_str(),
                i32::from(alerts.contains(&kind))
            );
        }
    }
    out.push_str("# TYPE guestwifi_hq_site_heartbeat_age_seconds gauge\n# HELP guestwifi_hq_site_heartbeat_age_seconds Since the site's last heartbeat.\n");
    for (s, _, _) in &assessed {
        if let Some(at) = s.heartbeat_at {
            let _ =
                writeln!(out, "guestwifi_hq_site_heartbeat_age_seconds{{{}}} {}", label(s), (now - at).max(0) / 1000);
        }
    }
    out.push_str("# TYPE guestwifi_hq_site_feed_backlog gauge\n# HELP guestwifi_hq_site_feed_backlog Facts waiting at the site, as it said last.\n");
    for (s, _, _) in &assessed {
        let _ = writeln!(out, "guestwifi_hq_site_feed_backlog{{{}}} {}", label(s), s.backlog.0);
    }
    out.push_str("# TYPE guestwifi_hq_site_feed_lag_seconds gauge\n# HELP guestwifi_hq_site_feed_lag_seconds Age of the oldest fact waiting at the site.\n");
    for (s, _, _) in &assessed {
        let _ = writeln!(out, "guestwifi_hq_site_feed_lag_seconds{{{}}} {}", label(s), s.backlog.1 / 1000);
    }
    out
}

/// A label value as OpenMetrics writes it.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(state: &str, heartbeat_at: Option<i64>) -> SiteRow {
        SiteRow {
            brand: "chain".into(),
            site: "a".into(),
            region: "east".into(),
            name: "A".into(),
            state: state.into(),
            applied: "v1".into(),
            refused: String::new(),
            heartbeat_at,
            guests_online: 3,
            aps: (2, 2),
            backlog: (0, 0),
            software: "0.1.0".into(),
            applied_at: Some(1),
            refused_at: None,
            refused_why: String::new(),
        }
    }

    const T: Thresholds = Thresholds { offline_ms: 600_000, lag_ms: 1_800_000 };

    #[test]
    fn a_site_silent_past_the_threshold_is_offline_and_alerted() {
        let now = 10_000_000;
        assert_eq!(assess(&site("enrolled", Some(now - 599_000)), T, now), (State::Online, vec![]));
        assert_eq!(assess(&site("enrolled", Some(now - 601_000)), T, now), (State::Offline, vec![Alert::Offline]));
        assert_eq!(assess(&site("enrolled", None), T, now), (State::Offline, vec![Alert::Offline]));
        assert_eq!(assess(&site("pending", None), T, now), (State::Pending, vec![]));
        assert_eq!(assess(&site("revoked", None), T, now), (State::Revoked, vec![]));
    }

    #[test]
    fn a_refused_bundle_alerts_until_a_later_one_is_applied_and_lag_over_the_threshold_alerts() {
        let now = 10_000_000;
        let mut s = site("enrolled", Some(now));
        s.refused = "v2".into();
        s.refused_at = Some(5);
        assert_eq!(assess(&s, T, now).1, vec![Alert::BundleRefused]);
        s.applied_at = Some(6);
        assert_eq!(assess(&s, T, now).1, vec![]);
        s.backlog = (12, 1_900_000);
        assert_eq!(assess(&s, T, now).1, vec![Alert::FeedLag]);
        let text = metrics_text(&[s], T, now);
        assert!(
            text.contains("guestwifi_hq_site_alert{brand=\"chain\",region=\"east\",site=\"a\",alert=\"feed_lag\"} 1")
        );
        assert!(text.contains("guestwifi_hq_site_up{brand=\"chain\",region=\"east\",site=\"a\"} 1"));
        assert!(text.contains("guestwifi_hq_site_feed_lag_seconds{brand=\"chain\",region=\"east\",site=\"a\"} 1900"));
    }
}
