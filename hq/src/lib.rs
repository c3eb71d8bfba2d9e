//! Guest Wi-Fi headquarters (`guestwifi-hq`): the chain's service on its
//! PostgreSQL. Restaurants' appliances enrol with it (a one-time claim code,
//! HQ's own CA, mutual TLS from then on), deliver their guest facts to it
//! (filed exactly once in the member store's schema, which HQ owns), and
//! long-poll it for their bundle (the marketing blocks published for their
//! brand, region or site). Replicas are stateless: PostgreSQL holds
//! everything, and its NOTIFY wakes every replica's waiting polls.

pub mod access_logs;
pub mod api;
pub mod audit;
pub mod blocks;
pub mod bundle;
pub mod ca;
pub mod config;
pub mod console;
pub mod db;
pub mod drafts;
pub mod footfall;
pub mod health;
pub mod metrics;
pub mod rollouts;
pub mod rollup;
pub mod server;
pub mod staff;
pub mod stats;
pub mod vouchers;

use std::sync::Arc;
use std::time::Duration;

/// Follows the database's NOTIFY channel and wakes the brand's polls; when
/// the connection is lost, wakes every poll (a change may have been missed)
/// and connects again.
pub async fn listen(db: db::Db, wakes: api::Wakes) {
    let mut wait = Duration::from_secs(1);
    loop {
        match sqlx::postgres::PgListener::connect(db.listen_url()).await {
            Ok(mut listener) => match listener.listen(db::CHANNEL).await {
                Ok(()) => {
                    wait = Duration::from_secs(1);
                    wakes.wake_all();
                    loop {
                        match listener.recv().await {
                            Ok(note) => wakes.wake(note.payload()),
                            Err(err) => {
                                tracing::warn!(error = %err, "lost the database's notifications; reconnecting");
                                break;
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot listen for the database's notifications"),
            },
            Err(err) => tracing::warn!(error = %err, "cannot connect for the database's notifications"),
        }
        wakes.wake_all();
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(30));
    }
}

/// `/metrics` (OpenMetrics, with every site's state and alerts from the
/// database) and `/health` (the database answers), plain HTTP.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Arc<metrics::Metrics>,
    db: db::Db,
    thresholds: health::Thresholds,
) {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/metrics",
            get({
                let db = db.clone();
                move || {
                    let mut text = metrics.encode();
                    let db = db.clone();
                    async move {
                        // The sites' gauges go before the registry's closing line.
                        let sites = match db.sites(None).await {
                            Ok(sites) => health::metrics_text(&sites, thresholds, guestwifi_core::kit::time::now_ms()),
                            Err(err) => {
                                tracing::warn!(error = %err, "metrics: the sites could not be read");
                                String::new()
                            }
                        };
                        match text.rfind("# EOF") {
                            Some(at) => text.insert_str(at, &sites),
                            None => text.push_str(&sites),
                        }
                        ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
                    }
                }
            }),
        )
        .route(
            "/health",
            get(move || {
                let db = db.clone();
                async move {
                    match sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(db.pool()).await {
                        Ok(_) => (StatusCode::OK, "ok").into_response(),
                        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer").into_response(),
                    }
                }
            }),
        );
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(error = %err, "the metrics listener stopped");
    }
}
