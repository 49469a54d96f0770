//! DNS over TCP (RFC 1035 4.2.2, RFC 7766): two-byte length framing,
//! queries pipelined on one connection answered in order, the responses to
//! every query already received written together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::{Front, StreamReply};

/// A connection that sends nothing for this long is closed (RFC 7766
/// 6.2.3 suggests seconds, not minutes).
pub const IDLE: Duration = Duration::from_secs(10);

/// Transfer messages encoded ahead of a slow client.
const TRANSFER_QUEUE: usize = 32;

/// How long accepting pauses after an error (out of file descriptors:
/// connections must end before more can be accepted).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` until `shutdown`; open connections
/// end at their next read.
pub async fn serve(listener: TcpListener, front: Arc<Front>, shutdown: CancellationToken) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, src)) => {
                connections.spawn(connection(stream, src, front.clone(), shutdown.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "cannot accept a DNS TCP connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

async fn connection(
    mut stream: TcpStream,
    src: SocketAddr,
    front: Arc<Front>,
    shutdown: CancellationToken,
) {
    if let Err(error) = serve_connection(&mut stream, src, &front, &shutdown).await {
        tracing::debug!(%error, %src, "DNS TCP connection ended");
    }
}

async fn serve_connection(
    stream: &mut TcpStream,
    src: SocketAddr,
    front: &Front,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input: Vec<u8> = Vec::with_capacity(4096);
    let mut output: Vec<u8> = Vec::with_capacity(4096);
    let mut response = Vec::new();
    loop {
        let mut used = 0;
        while let Some(message) = whole_message(&input[used..]) {
            used += 2 + message.len();
            match front
                .answer_stream_message(message, src, &mut response)
                .await
            {
                StreamReply::Send => push_framed(&mut output, &response),
                StreamReply::Nothing => {}
                StreamReply::Transfer(request) => {
                    stream.write_all(&output).await?;
                    output.clear();
                    let (sender, mut messages) =
                        tokio::sync::mpsc::channel::<Vec<u8>>(TRANSFER_QUEUE);
                    let write = async {
                        let mut framed = Vec::new();
                        while let Some(message) = messages.recv().await {
                            framed.clear();
                            push_framed(&mut framed, &message);
                            stream.write_all(&framed).await?;
                        }
                        Ok::<(), std::io::Error>(())
                    };
                    let ((), written) = tokio::join!(front.transfer(&request, sender), write);
                    written?;
                }
            }
        }
        input.drain(..used);
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        input.reserve(4096);
        let read = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            read = tokio::time::timeout(IDLE, stream.read_buf(&mut input)) => read,
        };
        match read {
            Err(_idle) => return Ok(()),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error),
        }
    }
}

/// The first whole message in `input` (after its length), if all of it
/// has arrived.
fn whole_message(input: &[u8]) -> Option<&[u8]> {
    let [high, low, rest @ ..] = input else {
        return None;
    };
    rest.get(..usize::from(u16::from_be_bytes([*high, *low])))
}

/// Appends `message` with its two-byte length.
fn push_framed(output: &mut Vec<u8>, message: &[u8]) {
    // A DNS message is at most 65535 bytes: the encoder's limit.
    let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
    output.extend_from_slice(&len.to_be_bytes());
    output.extend_from_slice(&message[..usize::from(len)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_by_their_length_and_wait_for_the_rest() {
        assert_eq!(whole_message(&[0, 3, 1, 2, 3, 9]), Some(&[1, 2, 3][..]));
        assert_eq!(whole_message(&[0, 3, 1, 2]), None);
        assert_eq!(whole_message(&[0]), None);
        assert_eq!(whole_message(&[0, 0]), Some(&[][..]));
        let mut out = Vec::new();
        push_framed(&mut out, &[7, 8]);
        assert_eq!(out, [0, 2, 7, 8]);
    }
}
