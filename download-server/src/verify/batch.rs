//! Verifies the signatures of concurrent requests on one worker together.
//!
//! One Ed25519 check costs about 45 µs here; a batch under one issuer key (ed25519-zebra folds
//! every `A` term into one) costs well under half that per signature (`benches/verify.rs`).
//! A request that reached its signature check queues it on its worker and waits; the first one
//! to queue spawns a flush task on the worker. The worker runs tasks in order, so the flush runs
//! right after the requests that were ready with it (those that came in on the same readiness
//! round) have queued theirs: the wait is one pass of the worker's run queue, never a timer, and
//! a lone request is checked as soon as its own task yields. A batch of one is a single check.
//!
//! A failed batch says only that some signature in it is bad: each one is then checked alone,
//! so a bad token fails only itself. Because every failure costs a wasted batch, a worker that
//! saw one checks singly for a while (`SINGLE_AFTER_FAILURE`): a stream of forged tokens gets the
//! plain single-check cost, never more.
//!
//! No crate does this: batching crates (tower-batch-control) hand requests to another task over
//! a channel with a timer, a cross-thread wake-up that costs what batching saves on 2 cores.
//! This is per worker thread (actix workers are single-threaded), so it is a `RefCell` and a
//! waker, and nothing outside a worker thread ever queues (`enable_on_this_thread`).

use super::signature::{self, Signature, VerifyingKey};
use crate::metrics::Metrics;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// After a failed batch, a worker checks signatures one by one for this long.
const SINGLE_AFTER_FAILURE: Duration = Duration::from_millis(250);

thread_local! {
    static WORKER: RefCell<Option<Worker>> = const { RefCell::new(None) };
}

struct Worker {
    max_batch: usize,
    queue: Vec<Queued>,
    flushing: bool,
    single_until: Option<Instant>,
    metrics: Arc<Metrics>,
}

/// One signature waiting for its batch.
struct Queued {
    key: VerifyingKey,
    message: Box<[u8]>,
    signature: Signature,
    verdict: Rc<Slot>,
}

#[derive(Default)]
struct Slot {
    verdict: Cell<Option<bool>>,
    waker: Cell<Option<Waker>>,
}

impl Slot {
    fn settle(&self, verdict: bool) {
        self.verdict.set(Some(verdict));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Makes the calling thread batch signatures, up to `max_batch` per batch (1: never). Called on
/// each actix worker thread as it builds its app; every other thread checks one at a time.
pub fn enable_on_this_thread(max_batch: usize, metrics: Arc<Metrics>) {
    WORKER.with(|worker| {
        *worker.borrow_mut() = (max_batch > 1).then(|| Worker {
            max_batch,
            queue: Vec::with_capacity(max_batch),
            flushing: false,
            single_until: None,
            metrics,
        });
    });
}

/// Whether `signature` is a valid signature of `message` under `key`: the same answer as
/// `key.verifies`, reached with the other requests this worker is checking now.
pub(crate) async fn verifies(key: &VerifyingKey, message: &[u8], signature: Signature) -> bool {
    match queue(key, message, signature) {
        Some(slot) => Verdict(slot).await,
        None => key.verifies_parsed(message, &signature),
    }
}

/// Queues the check on this worker, or `None` to check it here and now: not a worker thread,
/// batching off, after a recent failure, or not on the single-threaded runtime the flush needs.
fn queue(key: &VerifyingKey, message: &[u8], signature: Signature) -> Option<Rc<Slot>> {
    WORKER.with(|worker| {
        let mut worker = worker.borrow_mut();
        let worker = worker.as_mut()?;
        if let Some(until) = worker.single_until {
            if Instant::now() < until {
                return None;
            }
            worker.single_until = None;
        }
        let slot = Rc::new(Slot::default());
        worker.queue.push(Queued {
            key: key.clone(),
            message: message.into(),
            signature,
            verdict: Rc::clone(&slot),
        });
        if !worker.flushing {
            worker.flushing = true;
            tokio::task::spawn_local(flush());
        }
        Some(slot)
    })
}

/// Checks what is queued, a batch at a time, until the queue is empty.
async fn flush() {
    loop {
        let taken = WORKER.with(|worker| {
            let mut worker = worker.borrow_mut();
            let worker = worker.as_mut()?;
            if worker.queue.is_empty() {
                worker.flushing = false;
                return None;
            }
            let n = worker.queue.len().min(worker.max_batch);
            let batch: Vec<Queued> = worker.queue.drain(..n).collect();
            Some((batch, Arc::clone(&worker.metrics)))
        });
        let Some((batch, metrics)) = taken else {
            return;
        };
        metrics.verify_batch_size.observe(batch.len() as f64);
        if !check(&batch) {
            metrics.verify_batch_failures.inc();
            WORKER.with(|worker| {
                if let Some(worker) = worker.borrow_mut().as_mut() {
                    worker.single_until = Some(Instant::now() + SINGLE_AFTER_FAILURE);
                }
            });
        }
    }
}

/// Settles every queued check; `false` when the batch failed and its signatures were checked
/// one by one.
fn check(batch: &[Queued]) -> bool {
    if let [one] = batch {
        one.verdict
            .settle(one.key.verifies_parsed(&one.message, &one.signature));
        return true;
    }
    let all = batch
        .iter()
        .map(|queued| (&queued.key, &queued.message[..], queued.signature));
    if signature::batch_verifies_parsed(all) {
        for queued in batch {
            queued.verdict.settle(true);
        }
        return true;
    }
    for queued in batch {
        queued.verdict.settle(
            queued
                .key
                .verifies_parsed(&queued.message, &queued.signature),
        );
    }
    false
}

/// Resolves once the flush settled this check.
struct Verdict(Rc<Slot>);

impl Future for Verdict {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        match self.0.verdict.get() {
            Some(verdict) => Poll::Ready(verdict),
            None => {
                self.0.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        }
    }
}
