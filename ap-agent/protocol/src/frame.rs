//! Length-delimited frames (4-byte big-endian length, then JSON) with a cap,
//! so a peer cannot make us buffer without bound.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

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
    framed: Framed<S, LengthDelimitedCodec>,
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
        let codec = LengthDelimitedCodec::builder().max_frame_length(MAX_FRAME).new_codec();
        Connection { framed: Framed::new(stream, codec), _types: std::marker::PhantomData }
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &Out) -> Result<(), FrameError> {
        let bytes = serde_json::to_vec(message)?;
        self.framed.send(Bytes::from(bytes)).await?;
        Ok(())
    }

    /// The next message; None when the peer closed the connection.
    pub async fn recv(&mut self) -> Result<Option<In>, FrameError> {
        match self.framed.next().await {
            None => Ok(None),
            Some(frame) => Ok(Some(serde_json::from_slice(&frame?)?)),
        }
    }

    /// The stream underneath.
    pub fn get_ref(&self) -> &S {
        self.framed.get_ref()
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
}
