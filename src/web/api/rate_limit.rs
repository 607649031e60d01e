//! The login rate limit: failed attempts are counted per (email, client address); past
//! [`MAX_FAILURES`] within [`WINDOW`] further attempts are refused with 429 until the window
//! ends, before any password is checked. In memory, per instance: enough to stop password
//! guessing against one account; a success clears the count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed logins allowed per window.
pub const MAX_FAILURES: u32 = 5;
/// The window.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Entries kept before old ones are swept.
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

/// Counts failed logins.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<(String, IpAddr), Failures>>,
}

impl LoginLimiter {
    /// Ok when an attempt may proceed; else how long until it may.
    pub fn check(&self, email: &str, ip: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&(key(email), ip)) {
            Some(f) if f.count >= MAX_FAILURES && now.duration_since(f.since) < WINDOW => {
                Err(WINDOW - now.duration_since(f.since))
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failure(&self, email: &str, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, f| now.duration_since(f.since) < WINDOW);
        }
        let entry = map.entry((key(email), ip)).or_insert(Failures {
            count: 0,
            since: now,
        });
        if now.duration_since(entry.since) >= WINDOW {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        entry.count += 1;
    }

    /// Clears the count after a successful login.
    pub fn success(&self, email: &str, ip: IpAddr) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(key(email), ip));
    }
}

fn key(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_are_refused_and_success_clears() {
        let limiter = LoginLimiter::default();
        let ip = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..MAX_FAILURES {
            assert!(limiter.check("A@x.io", ip).is_ok());
            limiter.failure("a@x.io ", ip);
        }
        assert!(limiter.check("a@x.io", ip).is_err());
        assert!(limiter.check("a@x.io", IpAddr::from([10, 0, 0, 2])).is_ok());
        assert!(limiter.check("b@x.io", ip).is_ok());
        limiter.success("a@x.io", ip);
        assert!(limiter.check("a@x.io", ip).is_ok());
    }
}
