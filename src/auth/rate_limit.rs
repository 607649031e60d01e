//! Sign-in attempts limited per account and per client address.
//!
//! Failed attempts are counted in a sliding window. The server counts them in the database
//! (`login_failures`), so the limits hold across every instance of a cluster and across
//! restarts; a limiter without a database (unit tests) counts in memory. If the database
//! cannot be read, an attempt is let through (sign-in needs the database anyway) and the
//! error logged. The address is the TCP peer, never a forwarded header a client could forge;
//! behind a reverse proxy every client shares the proxy's address, so the per-address limit
//! is kept generous.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

use sea_orm::DatabaseConnection;

use crate::db;

/// Limits of the sign-in form.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed attempts on one account within the window before it is locked.
    pub per_account: usize,
    /// Failed attempts from one address within the window before it is locked.
    pub per_address: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Which limit refused an attempt, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// True for the per-account limit, false for the per-address one.
    pub account: bool,
    /// Time until the oldest counted failure leaves the window.
    pub retry_after: Duration,
}

impl Limited {
    /// The message shown on the sign-in form.
    pub fn message(&self) -> String {
        let minutes = self.retry_after.as_secs().div_ceil(60).max(1);
        let whose = if self.account {
            "this account"
        } else {
            "your network address"
        };
        let plural = if minutes == 1 { "" } else { "s" };
        format!(
            "Too many failed sign-in attempts for {whose}. Try again in {minutes} minute{plural}."
        )
    }

    /// Seconds until the next attempt may succeed (`Retry-After`), at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }
}

/// Most keys remembered; past it, keys with no failure left in the window are dropped.
const MAX_KEYS: usize = 100_000;

/// Counts failed sign-in attempts.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    shared: Option<DatabaseConnection>,
}

impl LoginLimiter {
    /// A limiter with these limits, counting in memory.
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            failures: Mutex::default(),
            shared: None,
        }
    }

    /// A limiter with the default limits, counting in the database (shared by instances).
    pub fn shared(db: DatabaseConnection) -> Self {
        Self {
            shared: Some(db),
            ..Self::default()
        }
    }

    /// Refuses an attempt when the account or the address has too many recent failures.
    pub async fn check(&self, email: &str, address: &str) -> Result<(), Limited> {
        let Some(database) = &self.shared else {
            return self.check_at(email, address, Instant::now());
        };
        let now = crate::domain::now();
        let window = chrono::Duration::from_std(self.limits.window).unwrap_or_default();
        for (key, max, account) in [
            (account_key(email), self.limits.per_account, true),
            (address_key(address), self.limits.per_address, false),
        ] {
            match db::login_failures::count_since(database, &key, now - window).await {
                Ok((n, oldest)) if usize::try_from(n).unwrap_or(usize::MAX) >= max => {
                    let age = oldest.map_or(chrono::Duration::zero(), |t| now - t);
                    let retry_after = (window - age).to_std().unwrap_or_default();
                    return Err(Limited {
                        account,
                        retry_after,
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot read the sign-in failures"),
            }
        }
        Ok(())
    }

    /// Counts a failed attempt against both the account and the address.
    pub async fn record_failure(&self, email: &str, address: &str) {
        let Some(database) = &self.shared else {
            return self.record_at(email, address, Instant::now());
        };
        let now = crate::domain::now();
        let window = chrono::Duration::from_std(self.limits.window).unwrap_or_default();
        let keys = [account_key(email), address_key(address)];
        if let Err(e) = db::login_failures::record(database, &keys, now, now - window).await {
            tracing::error!(error = %e, "cannot record a sign-in failure");
        }
    }

    /// Forgets the failures of an account (after a successful sign-in).
    pub async fn clear_account(&self, email: &str) {
        let Some(database) = &self.shared else {
            self.lock().remove(&account_key(email));
            return;
        };
        if let Err(e) = db::login_failures::clear(database, &account_key(email)).await {
            tracing::error!(error = %e, "cannot clear the sign-in failures of an account");
        }
    }

    fn check_at(&self, email: &str, address: &str, now: Instant) -> Result<(), Limited> {
        let mut map = self.lock();
        for (key, max, account) in [
            (account_key(email), self.limits.per_account, true),
            (address_key(address), self.limits.per_address, false),
        ] {
            if let Some(times) = map.get_mut(&key) {
                prune(times, now, self.limits.window);
                if times.len() >= max {
                    let oldest = times.front().copied().unwrap_or(now);
                    let retry_after = self.limits.window.saturating_sub(now - oldest);
                    return Err(Limited {
                        account,
                        retry_after,
                    });
                }
            }
        }
        Ok(())
    }

    fn record_at(&self, email: &str, address: &str, now: Instant) {
        let mut map = self.lock();
        if map.len() >= MAX_KEYS {
            let window = self.limits.window;
            map.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
        for key in [account_key(email), address_key(address)] {
            let times = map.entry(key).or_default();
            prune(times, now, self.limits.window);
            times.push_back(now);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times.front().is_some_and(|t| now - *t >= window) {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_account: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn an_account_is_locked_after_its_failures_and_released_by_the_window() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check_at("a@x.io", "1.1.1.1", t0).is_ok());
            l.record_at("A@x.io", "1.1.1.1", t0);
        }
        let limited = l.check_at("a@x.io", "2.2.2.2", t0).unwrap_err();
        assert!(limited.account);
        assert_eq!(limited.retry_after, Duration::from_secs(60));
        assert!(
            l.check_at("a@x.io", "2.2.2.2", t0 + Duration::from_secs(61))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_locked_across_accounts() {
        let l = limiter();
        let t0 = Instant::now();
        for i in 0..5 {
            l.record_at(&format!("u{i}@x.io"), "9.9.9.9", t0);
        }
        let limited = l.check_at("new@x.io", "9.9.9.9", t0).unwrap_err();
        assert!(!limited.account);
        assert!(l.check_at("new@x.io", "8.8.8.8", t0).is_ok());
    }

    #[tokio::test]
    async fn a_successful_sign_in_clears_the_account() {
        let l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            l.record_at("a@x.io", "1.1.1.1", t0);
        }
        l.clear_account("a@x.io").await;
        assert!(l.check_at("a@x.io", "3.3.3.3", t0).is_ok());
    }
}
