//! The connection type the HTTP service runs on: a TCP stream that sends the piece in its slot
//! with sendfile(2) when the dispatcher flushes it.

use super::piece::{Piece, Slot};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub(crate) struct SendfileIo {
    tcp: TcpStream,
    slot: Slot,
}

impl SendfileIo {
    pub(crate) fn new(tcp: TcpStream) -> Self {
        SendfileIo {
            tcp,
            slot: Slot::default(),
        }
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// This connection's slot, for its requests (`conn_data`).
    pub(crate) fn slot(&self) -> Slot {
        self.slot.clone()
    }

    /// Sends what is left of `piece`, until done or the socket is full (then `Pending`, with
    /// write readiness registered).
    fn send_piece(&self, piece: &Piece, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while piece.remaining() > 0 {
            ready!(self.tcp.poll_write_ready(cx))?;
            // Up to 1 GiB per call; the socket takes what fits in its buffer.
            let count = piece.remaining().min(1 << 30) as usize;
            let sent = self.tcp.try_io(tokio::io::Interest::WRITABLE, || {
                send_file(&self.tcp, piece, count)
            });
            match sent {
                Ok(0) => {
                    // The file is shorter than its length was: cut the connection rather than
                    // send a short body that claims to be complete.
                    return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(n) => piece.advance(n as u64),
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(target_os = "linux")]
fn send_file(tcp: &TcpStream, piece: &Piece, count: usize) -> io::Result<usize> {
    let mut offset = piece.next_offset();
    Ok(rustix::fs::sendfile(
        tcp,
        &*piece.file,
        Some(&mut offset),
        count,
    )?)
}

#[cfg(not(target_os = "linux"))]
fn send_file(_tcp: &TcpStream, _piece: &Piece, _count: usize) -> io::Result<usize> {
    // Never reached: `is_cached` says no off Linux, so no body hands over a piece.
    Err(io::ErrorKind::Unsupported.into())
}

impl AsyncRead for SendfileIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    /// The dispatcher calls this only once its write buffer is empty, so the piece goes out
    /// after everything it wrote before. A piece done wakes the task, whose body then goes on.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(piece) = self.slot.current() {
            match ready!(self.send_piece(&piece, cx)) {
                Ok(()) => cx.waker().wake_by_ref(),
                Err(error) => {
                    piece.fail();
                    self.slot.clear();
                    return Poll::Ready(Err(error));
                }
            }
            self.slot.clear();
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(piece) = self.slot.current() {
            piece.fail();
            self.slot.clear();
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
