//! The listener loop of every HTTP listener (the portal's, the staff's, the
//! WeChat callback's): caps connections in all and per device, cuts slow
//! clients off, rate-limits each device, logs and goes on when accept fails
//! (out of descriptors), and tells handlers the socket's peer address. On
//! the guest network a device is the MAC behind the peer address (the
//! kernel's neighbour table), so aliases on one card share its limits.

use super::i18n::Lang;
use super::Peer;
use crate::kit::limits::{Device, PerDevice};
use crate::kit::neighbours::Neighbours;
use axum::http::{header, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Longest a connection may live, keep-alive included.
const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(120);
/// Longest a TLS handshake may take.
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(5);
/// Longest a guest's request may take once its headers are in (a slow body included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The staff's listener (console and API, HTTP or HTTPS): a LAN's worth of
/// browsers and scripts, but no one address can hold it open.
/// Its requests may take two minutes: a firmware image is 64 MB.
pub const ADMIN_LIMITS: Limits = Limits {
    max_connections: 256,
    per_device: 32,
    header_timeout: Duration::from_secs(10),
    request_timeout: Duration::from_secs(120),
};
/// WeChat's callback on the uplink side: WeChat's servers, and anyone else.
pub const WECHAT_LIMITS: Limits = Limits {
    max_connections: 128,
    per_device: 16,
    header_timeout: Duration::from_secs(10),
    request_timeout: REQUEST_TIMEOUT,
};

/// Limits on what one listener serves.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one device (peer address) may hold at once; more are
    /// closed at accept, so one guest cannot shut the portal for everyone.
    pub per_device: usize,
    /// Time a client has to send its request headers, and longest a
    /// kept-alive connection may sit idle between requests.
    pub header_timeout: Duration,
    /// Longest a request may take once its headers are in (a slow body included).
    pub request_timeout: Duration,
}

/// Per-device request rate limit, shared by the HTTP and HTTPS listeners,
/// and who a device is for it and the connection caps.
pub struct GuestRateLimit {
    limiter: DefaultKeyedRateLimiter<Device>,
    neighbours: Option<Arc<dyn Neighbours>>,
}

impl GuestRateLimit {
    /// `per_second` sustained, `burst` at once, per device: the MAC
    /// `neighbours` gives for a peer address (the guest network's table),
    /// else the address.
    pub fn new(per_second: u32, burst: u32, neighbours: Option<Arc<dyn Neighbours>>) -> Arc<Self> {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        let limit = Arc::new(GuestRateLimit { limiter: RateLimiter::keyed(quota), neighbours });
        // Forget guests that have gone quiet, so memory stays bounded.
        let weak = Arc::downgrade(&limit);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                let Some(limit) = weak.upgrade() else { break };
                limit.limiter.retain_recent();
                limit.limiter.shrink_to_fit();
            }
        });
        limit
    }

    fn device(&self, ip: IpAddr) -> Device {
        Device::of(self.neighbours.as_deref(), ip)
    }

    fn allow(&self, device: Device) -> bool {
        self.limiter.check_key(&device).is_ok()
    }
}

/// Serves `app` on `listener` (through TLS when `tls` is set) until
/// `shutdown` resolves, then waits for in-flight connections to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: Limits,
    rate: Arc<GuestRateLimit>,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let devices = PerDevice::new(limits.per_device);
    let mut refused_logged = std::time::Instant::now() - Duration::from_secs(60);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("semaphore never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => { backoff = Duration::from_millis(10); accepted }
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let device = rate.device(peer.ip());
        let Some(slot) = devices.take(device) else {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                tracing::warn!(peer = %peer.ip(), max = limits.per_device, "device over its connection cap; closing");
                refused_logged = std::time::Instant::now();
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let rate = rate.clone();
        let tls = tls.clone();
        let (header_timeout, request_timeout) = (limits.header_timeout, limits.request_timeout);
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                let app = app.clone();
                let allowed = rate.allow(device);
                async move {
                    if !allowed {
                        return Ok::<_, Infallible>(too_many(&request));
                    }
                    request.extensions_mut().insert(Peer(peer));
                    // The console's and the API's handlers read the peer this way.
                    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                    match tokio::time::timeout(request_timeout, app.oneshot(request)).await {
                        Ok(response) => response,
                        Err(_) => Ok(timed_out()),
                    }
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(64 * 1024);
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    drive(conn, &mut stop).await
                }
                Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        drive(conn, &mut stop).await
                    }
                    Ok(Err(err)) => Err(err.to_string()),
                    Err(_) => Err("TLS handshake timed out".into()),
                },
            };
            if let Err(err) = result {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
        });
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, permits.acquire_many(limits.max_connections as u32)).await;
}

async fn drive<I, S>(
    conn: hyper::server::conn::http1::Connection<I, S>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    S: hyper::service::HttpService<Incoming, ResBody = axum::body::Body>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::pin!(conn);
    let life = tokio::time::sleep(MAX_CONNECTION_LIFE);
    tokio::pin!(life);
    tokio::select! {
        result = conn.as_mut() => result.map_err(|e| e.to_string()),
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await.map_err(|e| e.to_string())
        }
        () = &mut life => Err("connection lived too long".into()),
    }
}

fn timed_out() -> Response {
    let mut response = StatusCode::REQUEST_TIMEOUT.into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn too_many<B>(request: &Request<B>) -> Response {
    let accept = request.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let lang = Lang::choose(None, None, accept);
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        lang.strings().error_too_many.clone(),
    )
        .into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Whether the listener closed `socket` (it reads the end of the stream within `wait`).
    async fn closed(socket: &mut tokio::net::TcpStream, wait: Duration) -> bool {
        let mut byte = [0u8; 1];
        matches!(tokio::time::timeout(wait, socket.read(&mut byte)).await, Ok(Ok(0)) | Ok(Err(_)))
    }

    #[tokio::test]
    async fn idle_sockets_cannot_hold_a_listener_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/wechat", axum::routing::get(|| async { "ok" }));
        let limits = Limits { per_device: 2, header_timeout: Duration::from_millis(500), ..WECHAT_LIMITS };
        tokio::spawn(serve(listener, None, app, limits, GuestRateLimit::new(50, 200, None), std::future::pending()));
        // Two idle sockets are this address's share; a third is closed at once.
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(closed(&mut third, Duration::from_millis(300)).await, "over the per-address cap");
        // Idle ones are cut off when their headers do not come.
        assert!(closed(&mut first, Duration::from_secs(3)).await && closed(&mut second, Duration::from_secs(3)).await);
        // And the listener still answers.
        let mut request = tokio::net::TcpStream::connect(addr).await.unwrap();
        request.write_all(b"GET /wechat HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut answer = String::new();
        request.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
    }

    #[tokio::test]
    async fn two_addresses_of_one_mac_share_one_cap() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let table = Arc::new(crate::portal::FixedNeighbours::default());
        let mac = "02:00:00:00:00:01".parse().unwrap();
        table.insert(std::net::Ipv4Addr::new(127, 0, 0, 2), mac);
        table.insert(std::net::Ipv4Addr::new(127, 0, 0, 3), mac);
        let rate = GuestRateLimit::new(50, 200, Some(table as Arc<dyn Neighbours>));
        let limits = Limits { per_device: 2, header_timeout: Duration::from_secs(5), ..WECHAT_LIMITS };
        tokio::spawn(serve(listener, None, app, limits, rate, std::future::pending()));
        let from = |source: [u8; 4]| async move {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::from((source, 0))).unwrap();
            socket.connect(addr).await.unwrap()
        };
        let _held = (from([127, 0, 0, 2]).await, from([127, 0, 0, 3]).await);
        let mut third = from([127, 0, 0, 3]).await;
        assert!(closed(&mut third, Duration::from_millis(300)).await, "the same MAC by another address: over its cap");
        let mut stranger = from([127, 0, 0, 4]).await;
        assert!(!closed(&mut stranger, Duration::from_millis(300)).await, "another device is served");
    }
}
