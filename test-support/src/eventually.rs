//! Bounded waiting: poll a condition until it holds, or fail the test saying what never happened.
//!
//! Hand-written: the retry crates (backon, tokio-retry) retry a fallible call with backoff and
//! hand back the last error; a test wants a fixed deadline and a panic that names the condition.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(25);

/// What one poll answers: the value the wait was for, or why not yet (kept for the panic).
pub trait Condition {
    type Value;
    fn holds(self) -> Result<Self::Value, String>;
}

impl Condition for bool {
    type Value = ();
    fn holds(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("false".into()) }
    }
}

impl<T> Condition for Option<T> {
    type Value = T;
    fn holds(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

impl<T, E: Display> Condition for Result<T, E> {
    type Value = T;
    fn holds(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// Polls `condition` until it holds and returns its value; once `timeout` has passed (a poll
/// still running then is abandoned), panics with `what` and the last answer.
pub async fn eventually<C, F>(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> F,
) -> C::Value
where
    C: Condition,
    F: Future<Output = C>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::from("none before the deadline");
    while let Ok(answer) = tokio::time::timeout_at(deadline, condition()).await {
        match answer.holds() {
            Ok(value) => return value,
            Err(why) => last = why,
        }
        if tokio::time::Instant::now() + POLL >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{what}: not within {timeout:?} (last answer: {last})");
}

/// `eventually` for code that cannot await (starting a process in a plain constructor). Each
/// poll must itself be bounded.
pub fn eventually_blocking<C: Condition>(
    timeout: Duration,
    what: &str,
    mut condition: impl FnMut() -> C,
) -> C::Value {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let last = match condition().holds() {
            Ok(value) => return value,
            Err(why) => why,
        };
        if std::time::Instant::now() + POLL >= deadline {
            panic!("{what}: not within {timeout:?} (last answer: {last})");
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_condition_that_comes_true_gives_its_value() {
        let polls = AtomicU32::new(0);
        let value = eventually(Duration::from_secs(5), "the third poll", || async {
            let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
            (n == 3).then_some(n)
        })
        .await;
        assert_eq!(value, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "never true: not within 100ms (last answer: false)")]
    async fn a_condition_that_never_holds_fails_with_what_it_waited_for() {
        eventually(Duration::from_millis(100), "never true", || async { false }).await;
    }

    #[tokio::test]
    #[should_panic(expected = "a hung poll: not within 100ms")]
    async fn a_poll_that_hangs_is_cut_off_at_the_deadline() {
        eventually(Duration::from_millis(100), "a hung poll", || {
            std::future::pending::<bool>()
        })
        .await;
    }

    #[test]
    #[should_panic(expected = "an answer: not within 100ms (last answer: refused)")]
    fn the_blocking_form_reports_the_last_error() {
        eventually_blocking(Duration::from_millis(100), "an answer", || {
            Err::<(), _>("refused")
        });
    }
}
