//! Moving an L4 connection's bytes with splice(2): socket to pipe to
//! socket inside the kernel, never copied through user space. Each
//! direction has its own pipe; a direction ends when its reader sees the
//! end of the stream, which is passed on as a half close, so either side
//! may stop sending and still receive.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rustix::pipe::{PipeFlags, SpliceFlags, pipe_with, splice};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// At most this much is moved per call: a pipe's default capacity.
const CHUNK: usize = 64 * 1024;

/// A pipe for one direction, both ends non-blocking.
#[derive(Debug)]
pub struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl Pipe {
    /// A new pipe, or why there is none (out of file descriptors): the
    /// caller copies through user space instead.
    pub fn new() -> io::Result<Pipe> {
        let (read, write) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
        Ok(Pipe { read, write })
    }
}

/// Bytes from `from` to `to` until `from` ends, then a half close of `to`;
/// each move is recorded in `last` (milliseconds since `started`) for the
/// idle watchdog. Returns the bytes moved.
pub async fn one_way(
    from: &TcpStream,
    to: &TcpStream,
    pipe: Pipe,
    last: &AtomicU64,
    started: Instant,
) -> io::Result<u64> {
    let flags = SpliceFlags::MOVE | SpliceFlags::NONBLOCK;
    let mut total = 0u64;
    loop {
        // The pipe is empty here, so only the socket can make this wait.
        let filled = from
            .async_io(Interest::READABLE, || {
                splice(from, None, &pipe.write, None, CHUNK, flags).map_err(io::Error::from)
            })
            .await?;
        if filled == 0 {
            // The other side may have gone already; nothing is lost.
            let _ = rustix::net::shutdown(to, rustix::net::Shutdown::Write);
            return Ok(total);
        }
        let mut in_pipe = filled;
        while in_pipe > 0 {
            let drained = to
                .async_io(Interest::WRITABLE, || {
                    splice(&pipe.read, None, to, None, in_pipe, flags).map_err(io::Error::from)
                })
                .await?;
            in_pipe -= drained;
            total += drained as u64;
        }
        last.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}
