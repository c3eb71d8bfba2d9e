//! Length-delimited frames (4-byte big-endian length, then JSON) with a cap,
//! so a peer cannot make us buffer without bound. An idle connection holds
//! no buffer at all: a frame's body is allocated at its own length once its
//! prefix is in, and dropped when it is read. At thousands of APs that is
//! most of what a connection costs the AC (a framing codec kept 16 KiB per
//! connection).

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame either side accepts.
pub const MAX_FRAME: usize = 1 << 20;

/// Why a frame could not be sent or read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed, or a frame was over [`MAX_FRAME`].
    #[error("connection error")]
    Io(#[from] std::io::Error),
    /// A frame was not a message we know.
    #[error("malformed message")]
    Json(#[from] serde_json::Error),
}

/// One side of a connection: send `Out`, receive `In`.
pub struct Connection<S, Out, In> {
    stream: S,
    /// The length prefix read so far.
    prefix: [u8; 4],
    prefix_read: usize,
    /// The body of the frame being read, at its full length once the
    /// prefix is in; `body_read` of it are read.
    body: Vec<u8>,
    body_read: usize,
    _types: std::marker::PhantomData<fn(Out) -> In>,
}

impl<S, Out, In> Connection<S, Out, In>
where
    S: AsyncRead + AsyncWrite + Unpin,
    Out: Serialize,
    In: DeserializeOwned,
{
    /// Frames `stream`.
    pub fn new(stream: S) -> Self {
        Connection {
            stream,
            prefix: [0; 4],
            prefix_read: 0,
            body: Vec::new(),
            body_read: 0,
            _types: std::marker::PhantomData,
        }
    }

    /// Sends one message (one write: prefix and body together).
    pub async fn send(&mut self, message: &Out) -> Result<(), FrameError> {
        let mut frame = vec![0u8; 4];
        serde_json::to_writer(&mut frame, message)?;
        let len = frame.len() - 4;
        if len > MAX_FRAME {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large").into());
        }
        frame[..4].copy_from_slice(&(len as u32).to_be_bytes());
        self.stream.write_all(&frame).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// The next message; None when the peer closed the connection between
    /// messages. Cancel-safe: what a dropped call read is kept for the next.
    pub async fn recv(&mut self) -> Result<Option<In>, FrameError> {
        let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the connection ended inside a frame");
        while self.prefix_read < 4 {
            let n = self.stream.read(&mut self.prefix[self.prefix_read..]).await?;
            if n == 0 {
                return match self.prefix_read {
                    0 => Ok(None),
                    _ => Err(eof().into()),
                };
            }
            self.prefix_read += n;
            if self.prefix_read == 4 {
                let len = u32::from_be_bytes(self.prefix) as usize;
                if len > MAX_FRAME {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "frame too large").into());
                }
                self.body = vec![0; len];
                self.body_read = 0;
            }
        }
        while self.body_read < self.body.len() {
            let n = self.stream.read(&mut self.body[self.body_read..]).await?;
            if n == 0 {
                return Err(eof().into());
            }
            self.body_read += n;
        }
        self.prefix_read = 0;
        let body = std::mem::take(&mut self.body);
        Ok(Some(serde_json::from_slice(&body)?))
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream underneath, the framing let go (a frame half read is lost).
    pub fn into_inner(self) -> S {
        self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentMessage, ControllerMessage};
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn messages_cross_and_an_oversized_frame_is_refused() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut agent: Connection<_, AgentMessage, ControllerMessage> = Connection::new(a);
        let mut controller: Connection<_, ControllerMessage, AgentMessage> = Connection::new(b);
        agent.send(&AgentMessage::EchoReply { seq: 3 }).await.unwrap();
        assert_eq!(controller.recv().await.unwrap(), Some(AgentMessage::EchoReply { seq: 3 }));
        controller.send(&ControllerMessage::Echo { seq: 4 }).await.unwrap();
        assert_eq!(agent.recv().await.unwrap(), Some(ControllerMessage::Echo { seq: 4 }));

        let (mut raw, b) = tokio::io::duplex(1 << 16);
        let mut controller: Connection<_, ControllerMessage, AgentMessage> = Connection::new(b);
        raw.write_all(&((MAX_FRAME as u32) + 1).to_be_bytes()).await.unwrap();
        assert!(matches!(controller.recv().await, Err(FrameError::Io(_))));
    }

    #[tokio::test]
    async fn a_frame_arriving_a_byte_at_a_time_survives_a_cancelled_read() {
        let (mut raw, b) = tokio::io::duplex(1 << 16);
        let mut controller: Connection<_, ControllerMessage, AgentMessage> = Connection::new(b);
        let body = serde_json::to_vec(&AgentMessage::EchoReply { seq: 9 }).unwrap();
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        let mut got = Vec::new();
        for byte in frame {
            raw.write_all(&[byte]).await.unwrap();
            // A select! elsewhere drops the read half way: nothing is lost.
            if let Ok(message) = tokio::time::timeout(std::time::Duration::from_millis(1), controller.recv()).await {
                got.push(message.unwrap());
            }
        }
        assert_eq!(got, [Some(AgentMessage::EchoReply { seq: 9 })], "one whole message, read once");
        raw.write_all(&[0, 0, 0, 2, b'{', b'}']).await.unwrap();
        assert!(matches!(controller.recv().await, Err(FrameError::Json(_))), "the next frame starts where it should");
        drop(raw);
        assert!(matches!(controller.recv().await, Ok(None)), "a close between frames is the end");
    }
}
