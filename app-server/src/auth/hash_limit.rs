//! A bound on the password hashes in flight, shared by login, sign-up and password change. Each
//! Argon2id hash needs 19 MiB for its whole run on the blocking pool; unbounded, 600 parallel
//! logins grew that pool to 512 threads and the process to 11 GB. At most `slots` hashes run,
//! each in working memory kept from one hash to the next (so at most `slots` × 19 MiB is ever
//! allocated), a short queue waits (at most `max_wait`) for a free slot, and anyone beyond is
//! refused at once.
//!
//! Hand-written on tokio's semaphore, which hands slots out in request order: a semaphore alone
//! bounds neither how many wait nor for how long, and that is all this module adds.

use super::password::HashMemory;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Working memory no running hash holds; never more than `slots` exist.
type MemoryPool = Arc<Mutex<Vec<HashMemory>>>;

pub struct HashLimit {
    slots: Arc<Semaphore>,
    memory: MemoryPool,
    /// Requests holding or waiting for a slot; at most `slots + queue`.
    admitted: Arc<AtomicUsize>,
    capacity: usize,
    max_wait: Duration,
}

/// Every slot is busy and the queue is full, or the wait for a slot ran out: try again shortly.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

/// The right to run one password check or hash; see [`HashSlot::run`].
pub struct HashSlot {
    memory: MemoryPool,
    _permit: OwnedSemaphorePermit,
    _admitted: Admitted,
}

/// One place in `admitted`, given back when dropped.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashLimit {
    pub fn new(slots: usize, queue: usize, max_wait: Duration) -> Self {
        let slots = slots.max(1);
        HashLimit {
            slots: Arc::new(Semaphore::new(slots)),
            memory: Arc::default(),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: slots + queue,
            max_wait,
        }
    }

    /// A free slot, after waiting in the queue if need be. A caller that stops waiting (its
    /// request dropped) gives its queue place back.
    pub async fn reserve(&self) -> Result<HashSlot, Busy> {
        self.admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .map_err(|_| Busy)?;
        let admitted = Admitted(self.admitted.clone());
        let permit = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        Ok(HashSlot {
            memory: self.memory.clone(),
            _permit: permit,
            _admitted: admitted,
        })
    }
}

impl HashSlot {
    /// Runs `work` on the blocking pool with this slot's working memory (allocated on its first
    /// use) and keeps the slot until `work` returns, even when the caller stops waiting for it:
    /// the memory is in use until then.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce(&mut HashMemory) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        Ok(tokio::task::spawn_blocking(move || {
            // The whole slot moves here (not just its memory pool), so its permit is held
            // until this closure ends, whatever happens to the caller.
            let slot = self;
            let pool = || slot.memory.lock().unwrap_or_else(PoisonError::into_inner);
            let mut memory = pool().pop().unwrap_or_default();
            let result = work(&mut memory);
            pool().push(memory);
            result
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::{Busy, HashLimit};
    use std::time::Duration;

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn past_the_slots_and_the_queue_a_request_is_refused_at_once() {
        let limit = HashLimit::new(1, 1, LONG);
        let running = limit.reserve().await.unwrap();
        let mut queued = Box::pin(limit.reserve());
        assert!(
            futures_util::poll!(&mut queued).is_pending(),
            "one may wait"
        );
        assert_eq!(limit.reserve().await.err(), Some(Busy), "the queue is full");
        drop(running);
        let next = queued
            .await
            .expect("the waiting request gets the freed slot");
        drop(next);
        assert!(limit.reserve().await.is_ok());
    }

    #[tokio::test]
    async fn a_request_that_stops_waiting_gives_its_queue_place_back() {
        let limit = HashLimit::new(1, 1, LONG);
        let _running = limit.reserve().await.unwrap();
        let mut queued = Box::pin(limit.reserve());
        assert!(futures_util::poll!(&mut queued).is_pending());
        assert_eq!(limit.reserve().await.err(), Some(Busy));
        drop(queued);
        let mut again = Box::pin(limit.reserve());
        assert!(
            futures_util::poll!(&mut again).is_pending(),
            "the place is free again: this one waits instead of being refused"
        );
    }

    #[tokio::test]
    async fn the_wait_for_a_slot_is_bounded() {
        let limit = HashLimit::new(1, 4, Duration::from_millis(20));
        let _running = limit.reserve().await.unwrap();
        assert_eq!(limit.reserve().await.err(), Some(Busy));
    }

    #[tokio::test]
    async fn a_running_hash_keeps_its_slot_until_it_ends_even_when_nobody_waits_for_it() {
        let limit = HashLimit::new(1, 0, LONG);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let slot = limit.reserve().await.unwrap();
        let mut running = Box::pin(slot.run(move |_| {
            started_tx.send(()).unwrap();
            finish_rx.recv().unwrap();
        }));
        assert!(futures_util::poll!(&mut running).is_pending());
        started_rx.recv().unwrap();
        drop(running);
        assert_eq!(
            limit.reserve().await.err(),
            Some(Busy),
            "the work still runs on the blocking pool, so its slot is still taken"
        );
        finish_tx.send(()).unwrap();
        let mut freed = false;
        for _ in 0..500 {
            if let Ok(slot) = limit.reserve().await {
                drop(slot);
                freed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(freed, "the slot comes back once the work has ended");
    }

    #[tokio::test]
    async fn a_slot_dropped_unused_is_freed() {
        let limit = HashLimit::new(1, 0, LONG);
        drop(limit.reserve().await.unwrap());
        let slot = limit.reserve().await.unwrap();
        assert_eq!(slot.run(|_| 6 * 7).await.unwrap(), 42);
        assert!(limit.reserve().await.is_ok(), "run gives the slot back");
    }
}
