//! Expiry arithmetic shared by the backends that enforce TTLs themselves.
//!
//! Times are Unix epoch milliseconds read from a [`Clock`](crate::Clock). An entry written at
//! `now` with TTL `t` gets `expires_at = now + ceil_ms(t)` and is live while
//! `now <= expires_at`: it is expired once `now > expires_at` — the same rule as Redis. TTLs
//! are therefore never rounded down: a 1.5 s TTL lives at least 1.5 s.

use std::time::Duration;

/// A TTL in whole milliseconds, rounded up (1 ns → 1 ms, 1.5 ms → 2 ms).
pub fn ttl_millis_ceil(ttl: Duration) -> u64 {
    let ms = ttl.as_millis();
    let ms = if ttl.subsec_nanos() % 1_000_000 != 0 {
        ms + 1
    } else {
        ms
    };
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// The expiry instant (epoch ms) of an entry written at `now_ms` with `ttl`.
pub fn expires_at(now_ms: u64, ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| now_ms.saturating_add(ttl_millis_ceil(t)))
}

/// Whether an entry that expires at `expires_at` is live at `now_ms`.
#[inline]
pub fn is_live(expires_at: Option<u64>, now_ms: u64) -> bool {
    match expires_at {
        None => true,
        Some(at) => now_ms <= at,
    }
}

/// The remaining TTL of a live entry: `None` for no expiry, else at least 1 ms (a remaining TTL
/// is always a valid TTL to write again). Call only for live entries.
pub fn remaining(expires_at: Option<u64>, now_ms: u64) -> Option<Duration> {
    expires_at.map(|at| Duration::from_millis(at.saturating_sub(now_ms).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_rounds_down() {
        assert_eq!(ttl_millis_ceil(Duration::from_nanos(1)), 1);
        assert_eq!(ttl_millis_ceil(Duration::from_micros(1500)), 2);
        assert_eq!(ttl_millis_ceil(Duration::from_millis(1500)), 1500);
        let at = expires_at(1000, Some(Duration::from_millis(1500))).unwrap();
        assert!(is_live(Some(at), 2500));
        assert!(!is_live(Some(at), 2501));
        assert_eq!(remaining(Some(at), 1000), Some(Duration::from_millis(1500)));
        assert_eq!(remaining(Some(at), 2500), Some(Duration::from_millis(1)));
        assert!(is_live(None, u64::MAX));
    }
}
