//! Wall-clock seconds, the unit of every time claim.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, rounded down.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Seconds since the Unix epoch, rounded up: used for epochs, so that a token issued in the same
/// second as a restart but before it is refused rather than accepted.
pub fn now_secs_ceil() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 + i64::from(d.subsec_nanos() > 0))
}
