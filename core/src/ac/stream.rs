//! The AC's side of an AP's TLS connection, over rustls' unbuffered API.
//!
//! Thousands of APs stay connected for days and say something every ten
//! seconds, so what a connection holds between messages is what the AC's
//! memory is made of. rustls' buffered connection (what tokio-rustls wraps)
//! keeps a 4 KiB read buffer for ever once it has read: 20 MiB at 5,000 APs,
//! a third of the AC's live heap. Here ciphertext is read through a buffer
//! on the stack and kept only while a record is incomplete, plaintext only
//! until the reader takes it, and what is to be sent only until the socket
//! takes it: between messages a connection holds rustls' state and nothing
//! else.

use rustls::server::{ServerConfig, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The most ciphertext read from the socket at once: one full record.
const READ_CHUNK: usize = 16 * 1024 + 256;
/// The most ciphertext held unprocessed: a handshake message may span
/// records up to 64 KiB (rustls' own limit); anything past that is an
/// attack, not a handshake.
const MAX_INCOMING: usize = 64 * 1024 + READ_CHUNK;
/// The most plaintext encrypted by one write.
const WRITE_CHUNK: usize = 16 * 1024;

/// A server-side TLS stream whose buffers are empty between messages.
pub struct LeanTls {
    tcp: TcpStream,
    conn: UnbufferedServerConnection,
    /// Ciphertext read and not yet processed (an incomplete record).
    incoming: Vec<u8>,
    /// Ciphertext to send; `sent` of it is sent.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted data not yet read; `taken` of it is read.
    plaintext: Vec<u8>,
    taken: usize,
    /// The peer closed (close_notify or the socket's end).
    eof: bool,
    close_queued: bool,
}

/// What one turn of rustls' state machine asks for next.
enum Step {
    /// Something changed (data decrypted, a record encoded): look again.
    Again,
    /// Encoded records wait to be sent.
    Flush,
    /// Nothing to do until more ciphertext arrives.
    NeedData,
    /// `n` bytes of the caller's plaintext were encrypted into `outgoing`.
    Encrypted(usize),
    /// Both sides closed.
    Closed,
}

/// What a turn should do if the connection may send application data.
#[derive(Clone, Copy)]
enum Want<'a> {
    Nothing,
    Encrypt(&'a [u8]),
    CloseNotify,
}

/// The AP listener's TLS: 1.3 only, the AP's certificate optional (a
/// pending AP has none) and checked against the AC's own CA when given.
pub(super) fn server_config(ca: &super::ca::Ca) -> Arc<ServerConfig> {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(ca.roots()),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .allow_unauthenticated()
    .build()
    .expect("verifier over our own CA");
    let (chain, key) = ca.server_identity();
    // ChaCha20-Poly1305 first: fast on an AP's CPU without AES
    // instructions, and its keys are 32 bytes where AES-GCM's tables
    // take ~1 KiB a connection at the AC.
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
    let mut tls = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("our own certificate");
    tls.ignore_client_order = true;
    // No resumption: an AP reconnects seldom, and the tickets and the
    // session cache would be memory at every AP for a handshake saved.
    tls.send_tls13_tickets = 0;
    tls.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Arc::new(tls)
}

fn tls_error(err: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

impl LeanTls {
    /// The server's side of the handshake on `tcp`. The caller bounds it in
    /// time; the ciphertext it holds is bounded here.
    pub async fn accept(tcp: TcpStream, config: Arc<ServerConfig>) -> io::Result<LeanTls> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut tls = LeanTls {
            tcp,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plaintext: Vec::new(),
            taken: 0,
            eof: false,
            close_queued: false,
        };
        std::future::poll_fn(|cx| tls.poll_handshake(cx)).await?;
        Ok(tls)
    }

    /// The certificates the peer presented, its own first.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// What the connection holds in buffers of its own (0 between messages).
    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.incoming.capacity() + self.outgoing.capacity() + self.plaintext.capacity()
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.step(Want::Nothing)? {
                Step::Again => {}
                Step::Flush => ready!(self.poll_send(cx))?,
                Step::NeedData if !self.conn.is_handshaking() => return Poll::Ready(Ok(())),
                Step::NeedData => {
                    if !ready!(self.poll_fill(cx))? {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                }
                Step::Encrypted(_) | Step::Closed => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "closed in the handshake")))
                }
            }
        }
    }

    /// One turn of rustls' state machine over the ciphertext held.
    fn step(&mut self, want: Want<'_>) -> io::Result<Step> {
        let LeanTls { conn, incoming, outgoing, plaintext, sent, eof, close_queued, .. } = self;
        let UnbufferedStatus { discard, state } = conn.process_tls_records(incoming);
        let step = match state.map_err(tls_error)? {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    plaintext.extend_from_slice(record.map_err(tls_error)?.payload);
                }
                Step::Again
            }
            ConnectionState::EncodeTlsData(mut data) => {
                let start = outgoing.len();
                let mut room = 512;
                loop {
                    outgoing.resize(start + room, 0);
                    match data.encode(&mut outgoing[start..]) {
                        Ok(n) => {
                            outgoing.truncate(start + n);
                            break;
                        }
                        Err(EncodeError::InsufficientSize(e)) => room = e.required_size,
                        Err(e) => return Err(io::Error::other(e.to_string())),
                    }
                }
                Step::Again
            }
            ConnectionState::TransmitTlsData(transmit) => {
                if *sent < outgoing.len() {
                    Step::Flush
                } else {
                    transmit.done();
                    Step::Again
                }
            }
            ConnectionState::WriteTraffic(mut traffic) => match want {
                Want::Nothing => Step::NeedData,
                Want::Encrypt(data) => {
                    let data = &data[..data.len().min(WRITE_CHUNK)];
                    let start = outgoing.len();
                    let mut room = data.len() + 64;
                    loop {
                        outgoing.resize(start + room, 0);
                        match traffic.encrypt(data, &mut outgoing[start..]) {
                            Ok(n) => {
                                outgoing.truncate(start + n);
                                break Step::Encrypted(data.len());
                            }
                            Err(EncryptError::InsufficientSize(e)) => room = e.required_size,
                            Err(e) => return Err(io::Error::other(e.to_string())),
                        }
                    }
                }
                Want::CloseNotify => {
                    let start = outgoing.len();
                    outgoing.resize(start + 64, 0);
                    let n = traffic
                        .queue_close_notify(&mut outgoing[start..])
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    outgoing.truncate(start + n);
                    *close_queued = true;
                    Step::Again
                }
            },
            ConnectionState::BlockedHandshake => Step::NeedData,
            ConnectionState::PeerClosed => {
                *eof = true;
                Step::Again
            }
            ConnectionState::Closed => Step::Closed,
            // Early data is never enabled; anything else new is refused.
            _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected TLS state")),
        };
        incoming.drain(..discard);
        if incoming.is_empty() {
            *incoming = Vec::new();
        }
        Ok(step)
    }

    /// Reads what the socket has into `incoming`; false at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.incoming.len() >= MAX_INCOMING {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "a TLS message too large")));
        }
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.tcp).poll_read(cx, &mut buf))?;
        if buf.filled().is_empty() {
            return Poll::Ready(Ok(false));
        }
        self.incoming.extend_from_slice(buf.filled());
        Poll::Ready(Ok(true))
    }

    /// Sends what `outgoing` holds, then lets its memory go.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for LeanTls {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.taken < this.plaintext.len() {
                let n = buf.remaining().min(this.plaintext.len() - this.taken);
                buf.put_slice(&this.plaintext[this.taken..this.taken + n]);
                this.taken += n;
                if this.taken == this.plaintext.len() {
                    this.plaintext = Vec::new();
                    this.taken = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match this.step(Want::Nothing)? {
                Step::Again | Step::Encrypted(_) => {}
                Step::Flush => ready!(this.poll_send(cx))?,
                Step::NeedData => {
                    if !ready!(this.poll_fill(cx))? {
                        this.eof = true;
                    }
                }
                Step::Closed => this.eof = true,
            }
        }
    }
}

impl AsyncWrite for LeanTls {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_send(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            match this.step(Want::Encrypt(buf))? {
                Step::Again => {}
                Step::Flush => ready!(this.poll_send(cx))?,
                Step::Encrypted(n) => {
                    // Sent now if the socket takes it, else by the next write or flush.
                    if let Poll::Ready(Err(err)) = this.poll_send(cx) {
                        return Poll::Ready(Err(err));
                    }
                    return Poll::Ready(Ok(n));
                }
                Step::NeedData | Step::Closed => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send(cx))?;
        while !this.close_queued {
            match this.step(Want::CloseNotify)? {
                Step::Flush => ready!(this.poll_send(cx))?,
                Step::NeedData | Step::Closed => break,
                Step::Again | Step::Encrypted(_) => {}
            }
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ap_protocol::{AgentMessage, Connection, ControllerMessage};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A client socket that sends one byte a write, so the server meets
    /// every record in pieces.
    struct Trickle(TcpStream);

    impl AsyncRead for Trickle {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            let n = buf.len().min(1);
            Pin::new(&mut self.0).poll_write(cx, &buf[..n])
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    /// The agent's side: tokio-rustls, with the AP's certificate if given.
    fn client(ca: &super::super::ca::Ca, identity: Option<(&str, &rcgen::KeyPair)>) -> tokio_rustls::TlsConnector {
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(ca.roots());
        let config = match identity {
            Some((id, key)) => {
                let cert = ca.issue(id, &key.public_key_pem()).unwrap();
                let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
                builder.with_client_auth_cert(vec![CertificateDer::from(cert.der().to_vec())], key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn pair(
        ca: &super::super::ca::Ca,
        identity: Option<(&str, &rcgen::KeyPair)>,
    ) -> (LeanTls, tokio_rustls::client::TlsStream<Trickle>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = server_config(ca);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            LeanTls::accept(tcp, config).await
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("guestwifi-controller").unwrap();
        let agent = client(ca, identity).connect(name, Trickle(tcp)).await.unwrap();
        (server.await.unwrap().unwrap(), agent)
    }

    #[tokio::test]
    async fn records_in_pieces_cross_both_ways_and_nothing_is_held_between_messages() {
        let dir = tempfile::tempdir().unwrap();
        let ca = super::super::ca::Ca::load_or_create(dir.path()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let (server, agent) = pair(&ca, Some(("AP-1", &key))).await;
        let presented = server.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
        assert!(presented.is_some(), "the AP's certificate is seen");
        assert_eq!(server.buffered(), 0, "nothing held once the handshake is done");

        let mut ac: Connection<_, ControllerMessage, AgentMessage> = Connection::new(server);
        let mut ap: Connection<_, AgentMessage, ControllerMessage> = Connection::new(agent);
        // A message a byte at a time, and a read cancelled in the middle of it.
        ap.send(&AgentMessage::EchoReply { seq: 7 }).await.unwrap();
        assert_eq!(ac.recv().await.unwrap(), Some(AgentMessage::EchoReply { seq: 7 }));
        assert_eq!(ac.get_ref().buffered(), 0);
        let sending = tokio::spawn(async move {
            ap.send(&AgentMessage::EchoReply { seq: 8 }).await.unwrap();
            ap
        });
        let cut = tokio::time::timeout(Duration::from_micros(200), ac.recv()).await;
        let got = match cut {
            Ok(got) => got.unwrap(),
            Err(_) => ac.recv().await.unwrap(),
        };
        assert_eq!(got, Some(AgentMessage::EchoReply { seq: 8 }));
        let mut ap = sending.await.unwrap();
        assert_eq!(ac.get_ref().buffered(), 0);

        // A message of many records (a firmware chunk's size and more) the other way.
        let big = "x".repeat(100 * 1024);
        ac.send(&ControllerMessage::Refused { reason: big.clone() }).await.unwrap();
        assert_eq!(ac.get_ref().buffered(), 0, "sent, the ciphertext is let go");
        assert_eq!(ap.recv().await.unwrap(), Some(ControllerMessage::Refused { reason: big }));

        // The AP closes: the AC sees the end between messages.
        let mut agent_stream = ap.into_inner();
        agent_stream.shutdown().await.unwrap();
        assert_eq!(ac.recv().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_pending_ap_has_no_certificate_and_garbage_is_refused_with_bounded_memory() {
        let dir = tempfile::tempdir().unwrap();
        let ca = super::super::ca::Ca::load_or_create(dir.path()).unwrap();
        let (server, mut agent) = pair(&ca, None).await;
        assert!(server.peer_certificates().is_none());
        let mut server = server;
        agent.write_all(b"hello").await.unwrap();
        agent.flush().await.unwrap();
        let mut got = [0u8; 5];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");

        // Not TLS at all, and a handshake record that claims to go on for
        // ever: both end in an error, neither in a buffer that grows.
        let config = server_config(&ca);
        for garbage in
            [b"GET / HTTP/1.1\r\n\r\n".to_vec(), [&[0x16, 0x03, 0x01, 0xff, 0xff][..], &[0u8; 200_000][..]].concat()]
        {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = tokio::spawn(async move {
                let mut tcp = TcpStream::connect(addr).await.unwrap();
                let _ = tcp.write_all(&garbage).await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            });
            let (tcp, _) = listener.accept().await.unwrap();
            let accepted = tokio::time::timeout(Duration::from_secs(5), LeanTls::accept(tcp, config.clone())).await;
            assert!(matches!(accepted, Ok(Err(_))), "refused at once, not waited on");
            writer.abort();
        }
    }
}
