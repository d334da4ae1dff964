//! Per-caller rate limits with apicrud's `RateLimit` semantics (seed 003): calls are
//! counted in fixed intervals aligned to the Unix epoch; once a caller has made `limit`
//! calls in the current interval, further calls are refused (429, with `Retry-After`
//! the seconds until the next interval). Callers are users by id, anonymous callers by
//! their address.
//!
//! In-process counters rather than Redis (apicrud's store): one server process serves a
//! site, and a restart forgiving the current interval is harmless.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

/// The limiter of a site.
pub struct RateLimit {
    interval: u64,
    limit: u64,
    /// Caller → (interval number, calls in it).
    counts: Mutex<HashMap<String, (u64, u64)>>,
}

impl RateLimit {
    /// `limit` calls per `interval` seconds.
    pub fn new(limit: u64, interval: u64) -> RateLimit {
        RateLimit { interval: interval.max(1), limit: limit.max(1), counts: Mutex::new(HashMap::new()) }
    }

    /// Count a call of `caller` at `now` (seconds since the epoch); `Err(seconds to
    /// wait)` when the limit is exceeded.
    pub fn call_at(&self, caller: &str, now: u64) -> Result<(), u64> {
        let window = now / self.interval;
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        // Forget callers of past intervals now and then, so the map stays small.
        if counts.len() > 100_000 {
            counts.retain(|_, (w, _)| *w == window);
        }
        let entry = counts.entry(caller.to_string()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= self.limit {
            return Err((window + 1) * self.interval - now);
        }
        entry.1 += 1;
        Ok(())
    }

    /// Count a call now.
    pub fn call(&self, caller: &str) -> Result<(), u64> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        self.call_at(caller, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_caller_and_interval() {
        let rl = RateLimit::new(3, 60);
        let t = 6000; // the start of an interval
        for _ in 0..3 {
            assert_eq!(rl.call_at("user:7", t + 10), Ok(()));
        }
        assert_eq!(rl.call_at("user:7", t + 10), Err(50), "wait until the next interval");
        assert_eq!(rl.call_at("user:8", t + 10), Ok(()), "others are not affected");
        assert_eq!(rl.call_at("user:7", t + 60), Ok(()), "a new interval starts from zero");
    }
}
