//! The body of a download under a grant: it sends only what its lease allows, renews the lease
//! when it runs out, and says how far it got when it ends, however it ends.
//!
//! "Sent" is what this body handed to the HTTP layer: a response cut off mid-way counts only
//! that, not what its `Range` asked for. (Bytes still in the socket when a connection drops are
//! counted too; the grant's redundancy allowance absorbs them.)

use crate::metrics::{InFlight, Metrics};
use crate::replay::{ReplayStore, Sent};
use crate::stream::ByteStream;
use bytes::Bytes;
use futures_util::StreamExt;
use shared::Jti;
use std::io;
use std::sync::Arc;
use std::time::Duration;

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

struct State {
    leased: Leased,
    inner: ByteStream,
    /// Bytes read past the lease, sent once it is renewed.
    pending: Option<Bytes>,
    metrics: Arc<Metrics>,
    _in_flight: InFlight,
}

/// `inner` yields the bytes `[leased.pos, leased.end)`; the body passes them on within the
/// lease, renewing it as it goes. When the grant says stop (another stream has these bytes, or
/// the allowance is spent) or cannot be asked, the body ends with an error: the connection is
/// cut rather than a short body claiming to be complete.
pub(crate) fn leased(leased: Leased, inner: ByteStream, metrics: Arc<Metrics>) -> ByteStream {
    let state = State {
        leased,
        inner,
        pending: None,
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
            let mut chunk = match state.pending.take() {
                Some(chunk) => chunk,
                None => match state.inner.next().await? {
                    Ok(chunk) => chunk,
                    Err(error) => return Some((Err(error), state)),
                },
            };
            if let Some(refused) = leased
                .revocation
                .as_mut()
                .and_then(crate::revocation::Watch::stop)
            {
                tracing::info!(reason = ?refused, "a running download was stopped by revocation");
                state.metrics.stopped_streams.inc();
                leased.end = leased.pos;
                tokio::time::sleep(STOP_GRACE).await;
                return Some((Err(io::Error::other("revoked")), state));
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
            let room = usize::try_from(leased.lease_end - leased.pos).unwrap_or(usize::MAX);
            if chunk.len() > room {
                state.pending = Some(chunk.split_off(room));
            }
            leased.pos += chunk.len() as u64;
            state.metrics.bytes_sent.inc_by(chunk.len() as u64);
            Some((Ok(chunk), state))
        },
    ))
}

impl Drop for Leased {
    /// However the body ended (complete, cut, or dropped with its connection), the grant learns
    /// how far this stream got.
    fn drop(&mut self) {
        let (jti, exp, stream, written) = (self.jti, self.exp, self.stream, self.pos);
        let now = shared::time::now_secs();
        if let Some(Record { history, mut event }) = self.record.take() {
            let sent = written.saturating_sub(event.start.unwrap_or(written));
            if sent > 0 {
                event.at = now;
                event.sent = Some(sent);
                history.record(&event);
            }
        }
        if let ReplayStore::Memory(memory) = &*self.replay {
            memory.close(&jti, exp, stream, Sent::Upto(written), now);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to close a download stream on");
            return;
        };
        let replay = Arc::clone(&self.replay);
        runtime.spawn(async move {
            if let Err(error) = replay
                .close(&jti, exp, stream, Sent::Upto(written), now)
                .await
            {
                tracing::warn!(%error, "could not close a download stream");
            }
        });
    }
}
