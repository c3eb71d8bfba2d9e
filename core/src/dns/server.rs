//! The resolver's sockets: UDP and TCP on the guest address, and the way
//! upstream (a fresh socket per query: a random source port, no shared
//! state to confuse answers).

use super::{Resolver, Settings};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

/// Queries being worked on at once; more wait (UDP) in the socket buffer.
const IN_FLIGHT: usize = 4096;
/// A TCP client has this long for each query.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// TCP connections served at once.
const TCP_CONNECTIONS: usize = 256;
/// TCP connections one device may hold (a stub resolver needs one or two).
const TCP_PER_DEVICE: usize = 4;

/// Serves DNS over UDP on `socket` until the task is dropped.
pub async fn serve_udp(socket: UdpSocket, resolver: Arc<Resolver>) {
    let socket = Arc::new(socket);
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            Err(err) => {
                tracing::warn!(%err, "DNS receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (query, socket, resolver) = (buf[..len].to_vec(), socket.clone(), resolver.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if let Some(reply) = resolver.answer(peer.ip(), &query, false).await {
                let _ = socket.send_to(&reply, peer).await;
            }
        });
    }
}

/// Serves DNS over TCP on `listener` until the task is dropped.
pub async fn serve_tcp(listener: TcpListener, resolver: Arc<Resolver>) {
    let permits = Arc::new(Semaphore::new(TCP_CONNECTIONS));
    let per_device = crate::kit::limits::PerDevice::new(TCP_PER_DEVICE);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "DNS accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // One device holding every TCP connection idle would shut DNS over TCP for all.
        let Some(slot) = per_device.take(resolver.device(peer.ip())) else { continue };
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let _ = tcp_client(stream, peer, &resolver).await;
        });
    }
}

async fn tcp_client(mut stream: TcpStream, peer: SocketAddr, resolver: &Resolver) -> std::io::Result<()> {
    loop {
        let query = match tokio::time::timeout(TCP_IDLE, read_framed(&mut stream)).await {
            Ok(Ok(query)) => query,
            _ => return Ok(()),
        };
        let Some(reply) = resolver.answer(peer.ip(), &query, true).await else { return Ok(()) };
        write_framed(&mut stream, &reply).await?;
    }
}

/// Asks the upstream resolvers in turn; the first answer wins.
pub(super) async fn forward(settings: &Settings, query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    for upstream in &settings.upstream {
        let asked = if tcp { ask_tcp(*upstream, query) } else { Box::pin(ask_udp(*upstream, query)) };
        match tokio::time::timeout(settings.upstream_timeout, asked).await {
            Ok(Ok(reply)) => return Some(reply),
            Ok(Err(err)) => tracing::debug!(%upstream, %err, "upstream resolver failed"),
            Err(_) => tracing::debug!(%upstream, "upstream resolver timed out"),
        }
    }
    None
}

type Asked<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<u8>>> + Send + 'a>>;

fn ask_tcp(upstream: SocketAddr, query: &[u8]) -> Asked<'_> {
    Box::pin(async move {
        let mut stream = TcpStream::connect(upstream).await?;
        write_framed(&mut stream, query).await?;
        read_framed(&mut stream).await
    })
}

async fn ask_udp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal");
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let len = socket.recv(&mut buf).await?;
        // Only the answer to this query (same id) counts.
        if len >= 2 && query.len() >= 2 && buf[..2] == query[..2] {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_framed(stream: &mut TcpStream, message: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(message.len()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
    let mut out = Vec::with_capacity(message.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    stream.write_all(&out).await
}
