//! One circuit breaker per model, shared by every run of the instance (it lives in the
//! runner's core). After `failures` consecutive failed requests to a model (transient
//! errors: 429, 5xx, timeouts, dropped streams) the breaker opens: every run skips the model
//! (to its next fallback) for `cooldown`. After the cooldown one run probes the model
//! (half-open) while the others keep skipping it; the probe's success closes the breaker,
//! its failure opens it for another cooldown.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// The state of one model's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Requests go through; failures in a row so far.
    Closed(u32),
    /// Skipped until the instant.
    Open(Instant),
    /// One probe is in flight; the others skip the model.
    HalfOpen,
}

/// What a run may do with a model right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Use it.
    Closed,
    /// Use it as the probe of a half-open breaker.
    Probe,
    /// Skip it; it opens again for requests after this long.
    Open(Duration),
}

/// A change of state a run caused, reported as a `breaker` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// The failure opened the breaker.
    Opened,
    /// The probe succeeded: closed again.
    Closed,
}

/// The breakers of every model this instance has called.
#[derive(Debug)]
pub(crate) struct Breakers {
    /// Consecutive failures that open a breaker.
    pub(crate) failures: u32,
    /// How long an open breaker skips its model.
    pub(crate) cooldown: Duration,
    states: Mutex<HashMap<String, State>>,
}

impl Breakers {
    /// Breakers opening after `failures` failures for `cooldown`.
    pub(crate) fn new(failures: u32, cooldown: Duration) -> Self {
        Self {
            failures: failures.max(1),
            cooldown,
            states: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, State>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `model` may be called now; a breaker past its cooldown admits one probe.
    pub(crate) fn admit(&self, model: &str) -> Admission {
        let mut states = self.lock();
        let Some(state) = states.get_mut(model) else {
            return Admission::Closed;
        };
        match *state {
            State::Closed(_) => Admission::Closed,
            State::HalfOpen => Admission::Open(Duration::ZERO),
            State::Open(until) => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen;
                    Admission::Probe
                } else {
                    Admission::Open(until - now)
                }
            }
        }
    }

    /// Whether `model`'s breaker is closed, without letting a probe through.
    pub(crate) fn is_closed(&self, model: &str) -> bool {
        matches!(self.lock().get(model), None | Some(State::Closed(_)))
    }

    /// A request to `model` succeeded.
    pub(crate) fn success(&self, model: &str) -> Option<Transition> {
        let previous = self.lock().insert(model.to_owned(), State::Closed(0));
        match previous {
            Some(State::HalfOpen) => Some(Transition::Closed),
            _ => None,
        }
    }

    /// A request to `model` failed transiently.
    pub(crate) fn failure(&self, model: &str) -> Option<Transition> {
        let mut states = self.lock();
        let state = states.entry(model.to_owned()).or_insert(State::Closed(0));
        let failures = match *state {
            State::Closed(n) => n + 1,
            // A failed probe opens the breaker again at once.
            State::HalfOpen => self.failures,
            // Another run's request that was already in flight: the breaker stays open.
            State::Open(_) => return None,
        };
        if failures >= self.failures {
            *state = State::Open(Instant::now() + self.cooldown);
            Some(Transition::Opened)
        } else {
            *state = State::Closed(failures);
            None
        }
    }

    /// A probe ended without an answer either way (cancelled, client error): let the next
    /// run probe.
    pub(crate) fn release_probe(&self, model: &str) {
        let mut states = self.lock();
        if let Some(state) = states.get_mut(model)
            && *state == State::HalfOpen
        {
            *state = State::Open(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_failures_open_the_breaker_and_a_success_resets_the_count() {
        let b = Breakers::new(3, Duration::from_secs(3600));
        assert_eq!(b.failure("m"), None);
        assert_eq!(b.failure("m"), None);
        assert_eq!(b.success("m"), None);
        assert_eq!(b.failure("m"), None);
        assert_eq!(b.failure("m"), None);
        assert_eq!(b.admit("m"), Admission::Closed);
        assert_eq!(b.failure("m"), Some(Transition::Opened));
        assert!(matches!(b.admit("m"), Admission::Open(d) if d > Duration::from_secs(3000)));
        assert_eq!(b.admit("other"), Admission::Closed);
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_through_and_its_result_decides() {
        let b = Breakers::new(1, Duration::ZERO);
        assert_eq!(b.failure("m"), Some(Transition::Opened));
        assert_eq!(b.admit("m"), Admission::Probe);
        assert_eq!(b.admit("m"), Admission::Open(Duration::ZERO));
        assert_eq!(b.failure("m"), Some(Transition::Opened));
        assert_eq!(b.admit("m"), Admission::Probe);
        assert_eq!(b.success("m"), Some(Transition::Closed));
        assert_eq!(b.admit("m"), Admission::Closed);
        assert_eq!(b.failure("m"), Some(Transition::Opened));
        assert_eq!(b.admit("m"), Admission::Probe);
        b.release_probe("m");
        assert_eq!(b.admit("m"), Admission::Probe);
    }
}
