//! Wall-clock helpers (capture timestamps are ns since the Unix epoch).

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
