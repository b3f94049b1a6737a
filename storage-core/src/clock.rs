//! Time, injectable: backends that enforce expiry themselves read it from a [`Clock`], so TTL
//! tests advance a [`ManualClock`] instead of sleeping.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix epoch milliseconds.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now_millis(&self) -> u64 {
        system_now_millis()
    }
}

/// The system time in epoch milliseconds (0 if the clock is before 1970).
#[inline]
pub fn system_now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        // u64 arithmetic: `as_millis` works in u128, several times the instructions on a path
        // every read of an entry with an expiry takes.
        .map(|d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        })
        .unwrap_or(0)
}

/// A clock that moves only when told to; clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use mcp_kv_core::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let t0 = clock.now_millis();
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now_millis(), t0 + 1500);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A manual clock starting at the current system time (so epoch-based expiry columns stay
    /// realistic).
    pub fn new() -> Self {
        Self::starting_at(system_now_millis())
    }

    /// A manual clock starting at `epoch_millis`.
    pub fn starting_at(epoch_millis: u64) -> Self {
        ManualClock {
            now: Arc::new(AtomicU64::new(epoch_millis)),
        }
    }

    /// Moves the clock forward by `by` (rounded up to whole milliseconds), stopping at the end
    /// of time (`u64::MAX` ms) rather than wrapping back to its start.
    pub fn advance(&self, by: Duration) {
        let by = crate::expiry::ttl_millis_ceil(by);
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }

    /// Sets the clock to `epoch_millis`.
    pub fn set(&self, epoch_millis: u64) {
        self.now.store(epoch_millis, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// A shared clock handle, as backends hold it.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock as a [`SharedClock`].
pub fn system_clock() -> SharedClock {
    Arc::new(SystemClock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stops_at_the_end_of_time_never_wraps() {
        let clock = ManualClock::new();
        clock.set(1_000);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_millis(), u64::MAX);
        clock.set(u64::MAX - 5);
        clock.advance(Duration::from_millis(10));
        assert_eq!(clock.now_millis(), u64::MAX);
    }

    #[test]
    fn the_system_clock_is_epoch_milliseconds() {
        let before = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let now = u128::from(SystemClock.now_millis());
        let after = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
    }
}
