//! DNS over UDP: a few tasks share the listener's socket, each receiving a
//! batch of datagrams with one `recvmmsg` and sending the batch's responses
//! with one `sendmmsg` (no task per query, no system call per datagram).
//! `recvmmsg` is nix's and `sendmmsg` rustix's: each crate has a safe
//! wrapper for only one of the two.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use rustix::net::{MMsgHdr, SendAncillaryBuffer, SendFlags, SocketAddrAny, sendmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::Front;

/// The largest datagram read (a query is far smaller; a larger one is
/// read whole so that it is answered FORMERR rather than misread).
const RECEIVE_BUFFER: usize = 65_535;

/// Datagrams taken by one `recvmmsg` (and responses sent by one
/// `sendmmsg`): enough to amortise the system call under load; only the
/// first page of each buffer is touched by a query.
const BATCH: usize = 32;

/// Datagrams answered in a row before the task lets others run (the
/// receive loop does not wait while datagrams are queued).
const YIELD_EVERY: usize = 64;

/// The socket's kernel receive buffer: room for a burst while the tasks
/// are busy, so that a burst is answered rather than dropped.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Serves `socket` with one receiving task per core until `shutdown`, or
/// until the socket fails.
pub async fn serve(
    socket: UdpSocket,
    front: Arc<Front>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    if let Err(error) = socket2::SockRef::from(&socket).set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        tracing::warn!(%error, "cannot enlarge the DNS socket's receive buffer");
    }
    let socket = Arc::new(socket);
    let tasks = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut receivers = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        receivers.spawn(receive(socket.clone(), front.clone(), shutdown.clone()));
    }
    while let Some(ended) = receivers.join_next().await {
        if let Ok(Err(error)) = ended {
            shutdown.cancel();
            return Err(error);
        }
    }
    Ok(())
}

/// One receiving task's buffers, reused from batch to batch.
struct Batch {
    queries: Vec<Vec<u8>>,
    /// Length and sender of each datagram of the last receive (none for
    /// a sender of a family we do not serve: there is none on an inet
    /// socket).
    received: Vec<(usize, Option<SocketAddr>)>,
    responses: Vec<Vec<u8>>,
    /// Where each response of `responses[..destinations.len()]` goes, none
    /// when that query gets no response.
    destinations: Vec<Option<SocketAddrAny>>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            queries: (0..BATCH).map(|_| vec![0; RECEIVE_BUFFER]).collect(),
            received: Vec::with_capacity(BATCH),
            responses: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(crate::dns::UDP_PAYLOAD)))
                .collect(),
            destinations: Vec::with_capacity(BATCH),
        }
    }
}

async fn receive(
    socket: Arc<UdpSocket>,
    front: Arc<Front>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut batch = Batch::new();
    let mut since_yield = 0;
    loop {
        match receive_batch(&socket, &mut batch) {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    ready = socket.readable() => ready?,
                }
                continue;
            }
            // An ICMP error for an earlier response, or a signal: the
            // socket itself is fine.
            Err(error)
                if matches!(
                    error.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::Interrupted
                ) =>
            {
                tracing::debug!(%error, "receiving DNS datagrams");
                continue;
            }
            Err(error) => return Err(error),
        }
        batch.destinations.clear();
        for (slot, &(len, src)) in batch.received.iter().enumerate() {
            let answered = match src {
                Some(src) => {
                    front
                        .answer_datagram(
                            &batch.queries[slot][..len],
                            src,
                            &mut batch.responses[slot],
                        )
                        .await
                }
                None => false,
            };
            batch
                .destinations
                .push(answered.then(|| src.map(SocketAddrAny::from)).flatten());
        }
        send_all(&socket, &batch).await?;
        since_yield += batch.received.len();
        if since_yield >= YIELD_EVERY {
            since_yield = 0;
            if shutdown.is_cancelled() {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Takes up to a batch of datagrams off the socket without waiting:
/// `WouldBlock` when none is queued.
fn receive_batch(socket: &UdpSocket, batch: &mut Batch) -> std::io::Result<()> {
    batch.received.clear();
    let Batch {
        queries, received, ..
    } = batch;
    socket.try_io(Interest::READABLE, || {
        // The headers hold pointers into the buffers: built for this call
        // and dropped with it, so none is kept across an await.
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = queries
            .iter_mut()
            .map(|query| [IoSliceMut::new(query)])
            .collect();
        let messages = recvmmsg(
            socket.as_raw_fd(),
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        for message in messages {
            received.push((
                message.bytes,
                message.address.as_ref().and_then(socket_addr),
            ));
        }
        Ok(())
    })
}

/// Sends the batch's responses, as many per `sendmmsg` as the socket takes;
/// a response that cannot be sent (the client's port closed) is logged and
/// skipped, as a `send_to` error was.
async fn send_all(socket: &UdpSocket, batch: &Batch) -> std::io::Result<()> {
    let mut next = 0;
    while next < batch.destinations.len() {
        // Skip the slots with nothing to send.
        if batch.destinations[next].is_none() {
            next += 1;
            continue;
        }
        let end = batch.destinations[next..]
            .iter()
            .position(Option::is_none)
            .map_or(batch.destinations.len(), |gap| next + gap);
        match send_some(
            socket,
            &batch.responses[next..end],
            &batch.destinations[next..end],
        ) {
            Ok(sent) => next += sent.max(1),
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                socket.writable().await?;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => {
                // The first message of the group was refused; the rest
                // are tried on.
                tracing::debug!(%error, dst = ?batch.destinations[next], "cannot send a DNS response");
                next += 1;
            }
        }
    }
    Ok(())
}

/// One `sendmmsg` of `responses` to `destinations`: how many were sent.
fn send_some(
    socket: &UdpSocket,
    responses: &[Vec<u8>],
    destinations: &[Option<SocketAddrAny>],
) -> std::io::Result<usize> {
    socket.try_io(Interest::WRITABLE, || {
        let slices: Vec<[IoSlice<'_>; 1]> = responses
            .iter()
            .map(|response| [IoSlice::new(response)])
            .collect();
        let mut no_control: Vec<SendAncillaryBuffer<'_, '_, '_>> = responses
            .iter()
            .map(|_| SendAncillaryBuffer::default())
            .collect();
        let mut messages: Vec<MMsgHdr<'_>> = slices
            .iter()
            .zip(destinations)
            .zip(&mut no_control)
            .filter_map(|((slice, destination), control)| {
                Some(MMsgHdr::new_with_addr(
                    destination.as_ref()?,
                    slice,
                    control,
                ))
            })
            .collect();
        Ok(sendmmsg(socket, &mut messages, SendFlags::DONTWAIT)?)
    })
}

/// The sender of a datagram as the standard library's address.
fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}
