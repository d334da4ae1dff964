//! The login throttle: failed logins slow down the source that sends them, not the
//! account.
//!
//! Locking the account after N failures let anyone lock out anyone (administrators
//! included) and told which names exist (an unknown name was never locked). Here the
//! count belongs to one client address and one user name together, whether or not the
//! name exists: after `attempts` failures that address waits before it may try that name
//! again, one second and then twice as long after each further failure, up to `longest`.
//! The user logs in from anywhere else as usual.
//!
//! Attempts in flight count as failures until they end, so that guesses sent all at once
//! are held to the same number as guesses sent one after another (the counter that was
//! read, incremented and written back let 200 concurrent guesses through).

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Who is trying: the client's address and the user name as typed, folded to lower case.
type Source = (Option<IpAddr>, String);

/// The most of a user name a source is known by: longer names (no user has one) are cut,
/// so that made-up names as long as a request body cannot grow the map by megabytes each.
const NAME_BYTES: usize = 128;

fn source(addr: Option<IpAddr>, name: &str) -> Source {
    let mut end = name.len().min(NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    (addr, name[..end].to_lowercase())
}

#[derive(Debug, Default)]
struct State {
    /// Failures since the last success.
    failures: u32,
    /// Attempts begun and not yet ended.
    in_flight: u32,
    /// No attempt before this.
    wait_until: Option<Instant>,
}

/// Counts failed logins per source and holds back the sources with too many.
pub struct Throttle {
    attempts: u32,
    longest: Duration,
    sources: moka::sync::Cache<Source, Arc<Mutex<State>>>,
}

/// An attempt that may go ahead; [`Attempt::end`] records how it went (dropping it
/// unended counts as neither, for a check that could not be made).
pub struct Attempt {
    state: Arc<Mutex<State>>,
    attempts: u32,
    longest: Duration,
    ended: bool,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Throttle {
    /// After `attempts` failures a source waits, at most `longest` at a time.
    pub fn new(attempts: u32, longest: Duration) -> Throttle {
        Throttle {
            attempts: attempts.max(1),
            longest,
            // A source is forgotten after twice its longest wait without attempts; the
            // bound keeps a flood of made-up names from growing the map without end.
            sources: moka::sync::Cache::builder().max_capacity(100_000).time_to_idle(longest.saturating_mul(2)).build(),
        }
    }

    /// Begin an attempt for `name` from `addr`, or the seconds to wait first.
    pub fn begin(&self, addr: Option<IpAddr>, name: &str) -> Result<Attempt, u64> {
        let state = self.sources.get_with(source(addr, name), Default::default);
        {
            let mut s = lock(&state);
            let now = Instant::now();
            if let Some(until) = s.wait_until.filter(|t| *t > now) {
                return Err(seconds(until - now));
            }
            // Below the limit, as many at once as are left; past it, one per wait. An
            // attempt that would be one too many if those under way fail comes back
            // once they have ended.
            let allowed = self.attempts.saturating_sub(s.failures).max(1);
            if s.in_flight >= allowed {
                return Err(1);
            }
            s.in_flight += 1;
        }
        Ok(Attempt { state, attempts: self.attempts, longest: self.longest, ended: false })
    }
}

impl Attempt {
    /// The attempt ended: `ok` (the source starts afresh) or failed (it counts).
    pub fn end(mut self, ok: bool) {
        self.ended = true;
        let mut s = lock(&self.state);
        s.in_flight = s.in_flight.saturating_sub(1);
        if ok {
            s.failures = 0;
            s.wait_until = None;
            return;
        }
        s.failures += 1;
        if s.failures >= self.attempts {
            let doublings = (s.failures - self.attempts).min(30);
            let wait = Duration::from_secs(1u64 << doublings).min(self.longest);
            s.wait_until = Some(Instant::now() + wait);
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.ended {
            let mut s = lock(&self.state);
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}

fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn attempts_in_flight_count_so_that_concurrent_guesses_are_held_to_the_limit() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let begun: Vec<_> = (0..10).map(|_| t.begin(ip("10.0.0.1"), "Ann")).collect();
        assert_eq!(begun.iter().filter(|a| a.is_ok()).count(), 3, "three at once, the others wait");
        for a in begun.into_iter().flatten() {
            a.end(false);
        }
        let wait = t.begin(ip("10.0.0.1"), "ann").err().expect("the third failure makes the source wait");
        assert_eq!(wait, 1, "one second after the limit is reached");
        // Another address, or another name, is not held back.
        t.begin(ip("10.0.0.2"), "ann").unwrap().end(false);
        t.begin(ip("10.0.0.1"), "bob").unwrap().end(false);
    }

    #[test]
    fn a_source_is_known_by_the_first_128_bytes_of_the_name() {
        let long = "é".repeat(1000);
        assert_eq!(source(None, &long).1.len(), 128);
        assert_eq!(source(None, "Ann").1, "ann");
        let t = Throttle::new(1, Duration::from_secs(60));
        t.begin(ip("10.0.0.1"), &long).unwrap().end(false);
        assert!(t.begin(ip("10.0.0.1"), &format!("{long}x")).is_err(), "the same first 128 bytes, the same source");
    }

    #[test]
    fn the_wait_doubles_up_to_the_longest_and_a_success_starts_afresh() {
        let t = Throttle::new(1, Duration::from_secs(5));
        let source = ip("::1");
        let mut waits = Vec::new();
        for _ in 0..5 {
            let state = t.sources.get_with((source, "ann".into()), Default::default);
            lock(&state).wait_until = None; // as if the wait had passed
            t.begin(source, "ann").unwrap().end(false);
            waits.push(t.begin(source, "ann").err().unwrap());
        }
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        lock(&t.sources.get(&(source, "ann".into())).unwrap()).wait_until = None;
        t.begin(source, "ann").unwrap().end(true);
        // An attempt that could not be judged (the store failed) counts as nothing.
        drop(t.begin(source, "ann").expect("a success forgets the failures"));
        let state = t.sources.get(&(source, "ann".into())).unwrap();
        let s = lock(&state);
        assert_eq!((s.in_flight, s.failures), (0, 0));
    }
}
