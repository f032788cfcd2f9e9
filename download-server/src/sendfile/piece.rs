//! A piece of a file a body asks its connection to send, and the body's side of it.

use crate::metrics::Metrics;
use std::cell::{Cell, RefCell};
use std::fs::File;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

/// Bytes `[start, start + len)` of `file`, and how many of them the socket has taken so far.
pub(crate) struct Piece {
    pub(super) file: Arc<File>,
    start: u64,
    len: u64,
    written: Cell<u64>,
    failed: Cell<bool>,
    metrics: Arc<Metrics>,
}

impl Piece {
    /// The file offset of the next byte to send.
    pub(super) fn next_offset(&self) -> u64 {
        self.start + self.written.get()
    }

    pub(super) fn remaining(&self) -> u64 {
        self.len - self.written.get()
    }

    /// `n` more bytes were written to the socket: counted as sent right away, so that a
    /// connection that fails mid-piece still counts what it wrote.
    pub(super) fn advance(&self, n: u64) {
        self.written.set(self.written.get() + n);
        self.metrics.bytes_sent.inc_by(n);
        self.metrics.sendfile_bytes.inc_by(n);
    }

    /// The connection gave up on this piece (a write failed, or it shut down).
    pub(super) fn fail(&self) {
        self.failed.set(true);
    }

    fn settled(&self) -> bool {
        self.failed.get() || self.remaining() == 0
    }
}

/// One connection's hand-over point between the body being sent and the IO: at most one piece.
/// Put in the connection's data (`on_connect_ext`), read by a request with `conn_data`.
#[derive(Clone, Default)]
pub(crate) struct Slot(Rc<RefCell<Option<Rc<Piece>>>>);

impl Slot {
    pub(super) fn current(&self) -> Option<Rc<Piece>> {
        self.0.borrow().clone()
    }

    pub(super) fn clear(&self) {
        self.0.borrow_mut().take();
    }

    fn put(&self, piece: Rc<Piece>) {
        let previous = self.0.borrow_mut().replace(piece);
        debug_assert!(previous.is_none(), "one piece at a time per connection");
    }
}

/// How a piece's sending ended.
pub(crate) enum PieceEnd<R> {
    /// The socket took every byte.
    Done,
    /// The connection failed.
    Failed,
    /// `stop` gave this reason before the socket took every byte.
    Stopped(R),
}

/// A body's file, sent piece by piece through its connection's slot.
pub(crate) struct FileSource {
    file: Arc<File>,
    slot: Slot,
    metrics: Arc<Metrics>,
    /// The piece being sent, until the body has counted it.
    current: Option<Rc<Piece>>,
}

impl FileSource {
    pub(crate) fn new(file: File, slot: Slot, metrics: Arc<Metrics>) -> Self {
        FileSource {
            file: Arc::new(file),
            slot,
            metrics,
            current: None,
        }
    }

    /// Sends `len` bytes from `start` and waits until the socket took them all, the connection
    /// failed, or `stop` says to stop (asked each time the task wakes while the piece is being
    /// sent, so a piece never outlives a reason to stop by more than one write); the bytes the
    /// socket took either way.
    ///
    /// Waits without a waker of its own: the IO runs in the task polling this body (the
    /// connection's dispatcher) and wakes it when the piece is done or the socket can take
    /// more; when the piece fails the dispatcher ends the connection and drops the body.
    pub(crate) async fn send<R>(
        &mut self,
        start: u64,
        len: u64,
        mut stop: impl FnMut() -> Option<R>,
    ) -> (u64, PieceEnd<R>) {
        let piece = Rc::new(Piece {
            file: Arc::clone(&self.file),
            start,
            len,
            written: Cell::new(0),
            failed: Cell::new(false),
            metrics: Arc::clone(&self.metrics),
        });
        self.slot.put(Rc::clone(&piece));
        self.current = Some(Rc::clone(&piece));
        let stopped = poll_fn(|_| {
            if piece.settled() {
                Poll::Ready(None)
            } else if let Some(reason) = stop() {
                Poll::Ready(Some(reason))
            } else {
                Poll::Pending
            }
        })
        .await;
        if stopped.is_some() {
            // The IO must not send the rest of it.
            self.clear_own_piece();
        }
        self.current = None;
        let written = piece.written.get();
        let end = match stopped {
            Some(reason) => PieceEnd::Stopped(reason),
            None if piece.failed.get() => PieceEnd::Failed,
            None => PieceEnd::Done,
        };
        (written, end)
    }

    fn clear_own_piece(&self) {
        if let Some(current) = self.slot.current()
            && self
                .current
                .as_ref()
                .is_some_and(|ours| Rc::ptr_eq(ours, &current))
        {
            self.slot.clear();
        }
    }

    /// Bytes of the piece in flight already written (the body is dropped mid-piece).
    pub(crate) fn unconfirmed(&self) -> u64 {
        self.current.as_ref().map_or(0, |piece| piece.written.get())
    }
}

impl Drop for FileSource {
    /// A body dropped mid-piece (its connection closed): the IO must not send any more of it.
    fn drop(&mut self) {
        self.clear_own_piece();
    }
}
