//! The body of a download under a grant: it sends only what its lease allows, renews the lease
//! when it runs out, and says how far it got when it ends, however it ends.
//!
//! Its bytes come from one of two sources: chunks read into memory (any store), which it passes
//! to the HTTP layer, or pieces of a cached local file, which the connection sends with
//! sendfile(2) (`crate::sendfile`). The lease, revocation and accounting rules are the same.
//!
//! "Sent" is what this body handed to the HTTP layer (chunks), or what sendfile wrote to the
//! socket (pieces): a response cut off mid-way counts only that, not what its `Range` asked for.
//! (Bytes still in the socket when a connection drops are counted too; the grant's redundancy
//! allowance absorbs them.)

use crate::metrics::{InFlight, Metrics};
use crate::replay::{ReplayStore, Sent};
use crate::sendfile::{FileSource, PieceEnd};
use crate::stream::ByteStream;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use shared::Jti;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A body's bytes; not `Send` (a file source shares its connection's slot).
pub(crate) type LocalByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>>>>;

/// Most bytes of one sendfile piece: between pieces the body checks revocation again.
const MAX_PIECE: u64 = 1024 * 1024;

/// How long a stopped stream waits before it cuts its connection.
const STOP_GRACE: Duration = Duration::from_millis(50);

/// One stream of a grant: which token, which stream, where it is.
pub(crate) struct Leased {
    pub replay: Arc<ReplayStore>,
    pub jti: Jti,
    pub exp: i64,
    pub stream: u64,
    /// The next byte to send.
    pub pos: u64,
    /// The lease ends before this byte.
    pub lease_end: u64,
    /// The response ends before this byte.
    pub end: u64,
    /// With revocation on: the token, re-checked whenever the revocation state changes.
    pub revocation: Option<crate::revocation::Watch>,
    /// The history event this stream becomes when it ends.
    pub record: Option<Record>,
}

/// A stream's history event, completed with its end time and bytes sent when it ends.
pub(crate) struct Record {
    pub history: Arc<crate::history::History>,
    pub event: crate::history::Event,
}

/// Where a body's bytes `[leased.pos, leased.end)` come from.
pub(crate) enum Source {
    /// Chunks in memory, in order.
    Chunks {
        inner: ByteStream,
        /// Bytes read past the lease, sent once it is renewed.
        pending: Option<Bytes>,
    },
    /// The file, sent by the connection piece by piece.
    File(FileSource),
}

impl Source {
    pub(crate) fn chunks(inner: ByteStream) -> Self {
        Source::Chunks {
            inner,
            pending: None,
        }
    }
}

struct State {
    leased: Leased,
    source: Source,
    metrics: Arc<Metrics>,
    _in_flight: InFlight,
}

impl Drop for State {
    /// Dropped mid-piece (the connection closed): what sendfile wrote of it was sent.
    fn drop(&mut self) {
        if let Source::File(file) = &self.source {
            self.leased.pos += file.unconfirmed();
        }
    }
}

/// The body passes the bytes `[leased.pos, leased.end)` of `source` on within the lease,
/// renewing it as it goes. When the grant says stop (another stream has these bytes, or the
/// allowance is spent) or cannot be asked, the body ends with an error: the connection is cut
/// rather than a short body claiming to be complete. A file source's body yields only empty
/// chunks (the connection sends its bytes), so it goes with `Content-Length` and no chunking.
pub(crate) fn leased(leased: Leased, source: Source, metrics: Arc<Metrics>) -> LocalByteStream {
    let state = State {
        leased,
        source,
        _in_flight: InFlight::start(&metrics.in_flight),
        metrics,
    };
    Box::pin(futures_util::stream::unfold(
        state,
        |mut state| async move {
            let leased = &mut state.leased;
            if leased.pos >= leased.end {
                return None;
            }
            // Chunks are read first (their length is known only then); a file piece is sized
            // to the lease below.
            let mut chunk = match &mut state.source {
                Source::Chunks { inner, pending } => match pending.take() {
                    Some(chunk) => Some(chunk),
                    None => match inner.next().await? {
                        Ok(chunk) => Some(chunk),
                        Err(error) => return Some((Err(error), state)),
                    },
                },
                Source::File(_) => None,
            };
            if let Some(refused) = leased
                .revocation
                .as_mut()
                .and_then(crate::revocation::Watch::stop)
            {
                let error = revoked(leased, &state.metrics, refused).await;
                return Some((Err(error), state));
            }
            if leased.pos >= leased.lease_end {
                let renewed = leased
                    .replay
                    .renew(
                        &leased.jti,
                        leased.exp,
                        leased.stream,
                        leased.pos,
                        shared::time::now_secs(),
                    )
                    .await;
                let stop = match renewed {
                    Ok(Some(end)) if end > leased.pos => {
                        leased.lease_end = end;
                        None
                    }
                    Ok(_) => {
                        state.metrics.stopped_streams.inc();
                        Some(io::Error::other("the grant stopped this stream"))
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not renew a lease: stream cut");
                        Some(io::Error::other(error))
                    }
                };
                if let Some(error) = stop {
                    leased.end = leased.pos;
                    // An error drops what actix still holds unwritten: first let it write that
                    // out (and let a segmenting client that stops here close first, as it will).
                    tokio::time::sleep(STOP_GRACE).await;
                    return Some((Err(error), state));
                }
            }
            let room = leased.lease_end - leased.pos;
            match (&mut state.source, chunk.as_mut()) {
                (Source::Chunks { pending, .. }, Some(chunk)) => {
                    let room = usize::try_from(room).unwrap_or(usize::MAX);
                    if chunk.len() > room {
                        *pending = Some(chunk.split_off(room));
                    }
                    leased.pos += chunk.len() as u64;
                    state.metrics.bytes_sent.inc_by(chunk.len() as u64);
                }
                (Source::File(file), _) => {
                    // Counted as sent (bytes_sent) by the piece, as the socket takes them.
                    // Revocation is also asked while the piece goes out, as a chunk source's
                    // body is asked between its (smaller) chunks.
                    let len = room.min(leased.end - leased.pos).min(MAX_PIECE);
                    let revocation = &mut leased.revocation;
                    let (written, end) = file
                        .send(leased.pos, len, || {
                            revocation.as_mut().and_then(crate::revocation::Watch::stop)
                        })
                        .await;
                    leased.pos += written;
                    match end {
                        PieceEnd::Done => {}
                        PieceEnd::Failed => {
                            return Some((Err(io::Error::other("the connection failed")), state));
                        }
                        PieceEnd::Stopped(refused) => {
                            let error = revoked(leased, &state.metrics, refused).await;
                            return Some((Err(error), state));
                        }
                    }
                }
                (Source::Chunks { .. }, None) => unreachable!("a chunk source read its chunk"),
            }
            Some((Ok(chunk.unwrap_or_default()), state))
        },
    ))
}

/// A running download its token's revocation stops: it ends here, after a grace for what is
/// already written to go out.
async fn revoked(
    leased: &mut Leased,
    metrics: &Metrics,
    refused: crate::revocation::Refused,
) -> io::Error {
    tracing::info!(reason = ?refused, "a running download was stopped by revocation");
    metrics.stopped_streams.inc();
    leased.end = leased.pos;
    tokio::time::sleep(STOP_GRACE).await;
    io::Error::other("revoked")
}

impl Drop for Leased {
    /// However the body ended (complete, cut, or dropped with its connection), the grant learns
    /// how far this stream got.
    fn drop(&mut self) {
        let (jti, exp, stream, written) = (self.jti, self.exp, self.stream, self.pos);
        let now = shared::time::now_secs();
        let event = self
            .record
            .take()
            .and_then(|Record { history, mut event }| {
                let sent = written.saturating_sub(event.start.unwrap_or(written));
                (sent > 0).then(|| {
                    event.at = now;
                    event.sent = Some(sent);
                    history.record_or_hand_over(&event)
                })?
            });
        self.replay
            .close_soon(&jti, exp, stream, Sent::Upto(written), event);
    }
}
