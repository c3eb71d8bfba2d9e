//! A small netlink socket shared by the conntrack clean-up (ctnetlink) and
//! the neighbour pins (rtnetlink): requests carry sequence numbers, replies
//! are matched to them, and every error the kernel reports is returned.

use std::io;

pub(crate) const NLM_F_REQUEST: u16 = 0x1;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub(crate) const NLM_F_REPLACE: u16 = 0x100;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const HEADER: usize = 16;

/// One netlink socket of `protocol` talking to the kernel.
pub(crate) struct Socket {
    fd: i32,
    seq: u32,
    buf: Vec<u8>,
}

impl Socket {
    pub(crate) fn open(protocol: i32) -> io::Result<Socket> {
        // SAFETY: plain socket(2); the fd is owned by the returned value.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Socket { fd, seq: 0, buf: vec![0u8; 64 * 1024] })
    }

    /// Sends one message (`body` follows the netlink header) and returns its
    /// sequence number.
    pub(crate) fn send(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let len = HEADER + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        msg.extend_from_slice(body);
        // SAFETY: a zeroed sockaddr_nl with the family set addresses the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and addr outlive the call; lengths are theirs.
        let n = unsafe {
            libc::sendto(
                self.fd,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Reads the replies to request `seq` until it is done: each reply's body
    /// (after the netlink header) goes to `each`. A dump ends with DONE, an
    /// acked request with an error message whose code 0 means success.
    pub(crate) fn replies(&mut self, seq: u32, mut each: impl FnMut(&[u8])) -> io::Result<()> {
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut rest = &self.buf[..n as usize];
            while rest.len() >= HEADER {
                let len = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
                let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                let their_seq = u32::from_ne_bytes(rest[8..12].try_into().expect("4 bytes"));
                if len < HEADER || len > rest.len() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated netlink message"));
                }
                if their_seq == seq {
                    match kind {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR if len >= HEADER + 4 => {
                            let code = i32::from_ne_bytes(rest[HEADER..HEADER + 4].try_into().expect("4 bytes"));
                            return if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) };
                        }
                        _ => each(&rest[HEADER..len]),
                    }
                }
                rest = &rest[((len + 3) & !3).min(rest.len())..];
            }
        }
    }

    /// Sends a request with an ack asked and waits for it.
    pub(crate) fn request(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let seq = self.send(kind, flags | NLM_F_REQUEST | NLM_F_ACK, body)?;
        self.replies(seq, |_| {})
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

/// Netlink attributes: (type, payload, the whole padded attribute).
pub(crate) struct Attrs<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.0.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([self.0[0], self.0[1]]));
        let kind = u16::from_ne_bytes([self.0[2], self.0[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > self.0.len() {
            return None;
        }
        let padded = (len + 3) & !3;
        let item = (kind, &self.0[4..len], &self.0[..len]);
        self.0 = &self.0[padded.min(self.0.len())..];
        Some(item)
    }
}

/// One attribute, padded to four bytes.
pub(crate) fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = ((4 + payload.len()) as u16).to_ne_bytes().to_vec();
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    out
}
