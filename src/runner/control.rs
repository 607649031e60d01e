//! Stopping a run: user cancellation, server shutdown and the whole-run deadline. The loop
//! races every long wait (provider calls, retry delays, tool calls) against them, so a stopped
//! run ends between two database writes with its partial state intact.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a run stopped before it finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The whole-run deadline passed.
    Timeout,
    /// A user cancelled it.
    Cancelled,
    /// The server is shutting down and the grace period is over.
    Shutdown,
    /// The run that started this child ended before it.
    ParentEnded,
    /// This instance could not renew the run's lease (cut off from the database, or a peer
    /// took the run over): it must stop calling the provider at once.
    LeaseLost,
}

/// The handle through which a running execution is stopped. A child's handle is stopped with
/// its parent's (cancel, shutdown), and then reports the parent's reason.
#[derive(Debug, Default)]
pub(crate) struct RunControl {
    token: CancellationToken,
    reason: Arc<Mutex<Option<Stop>>>,
    parent_reason: Option<Arc<Mutex<Option<Stop>>>>,
}

impl RunControl {
    /// The handle of a child run: stopping `parent` stops it too.
    pub(crate) fn child_of(parent: &RunControl) -> Self {
        Self {
            token: parent.token.child_token(),
            reason: Arc::default(),
            parent_reason: Some(parent.reason.clone()),
        }
    }

    /// Stops the run; the first reason given wins.
    pub(crate) fn abort(&self, reason: Stop) {
        let mut current = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none() {
            *current = Some(reason);
        }
        drop(current);
        self.token.cancel();
    }

    fn reason(&self) -> Stop {
        let read = |m: &Mutex<Option<Stop>>| *m.lock().unwrap_or_else(|e| e.into_inner());
        read(&self.reason)
            .or_else(|| self.parent_reason.as_deref().and_then(read))
            .unwrap_or(Stop::Cancelled)
    }
}

/// The deadline and stop handle of one run.
#[derive(Debug)]
pub(crate) struct Interrupts<'a> {
    control: &'a RunControl,
    deadline: Instant,
}

impl<'a> Interrupts<'a> {
    /// Interrupts for a run that must end by `deadline`.
    pub(crate) fn new(control: &'a RunControl, deadline: Instant) -> Self {
        Self { control, deadline }
    }

    /// Runs `fut` unless the run is stopped or its deadline passes first (then `fut` is
    /// dropped, which aborts an in-flight HTTP request).
    pub(crate) async fn race<F: Future>(&self, fut: F) -> Result<F::Output, Stop> {
        tokio::select! {
            biased;
            () = self.control.token.cancelled() => Err(self.control.reason()),
            () = tokio::time::sleep_until(self.deadline) => Err(Stop::Timeout),
            out = fut => Ok(out),
        }
    }

    /// Time left before the deadline.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_stop_reason_wins_and_deadlines_fire() {
        let control = RunControl::default();
        let far = Instant::now() + Duration::from_secs(60);
        let interrupts = Interrupts::new(&control, far);
        assert_eq!(interrupts.race(async { 5 }).await, Ok(5));
        control.abort(Stop::Shutdown);
        control.abort(Stop::Cancelled);
        assert_eq!(
            interrupts.race(std::future::pending::<()>()).await,
            Err(Stop::Shutdown)
        );

        let parent = RunControl::default();
        let child = RunControl::child_of(&parent);
        let child_interrupts = Interrupts::new(&child, far);
        parent.abort(Stop::Shutdown);
        assert_eq!(
            child_interrupts.race(std::future::pending::<()>()).await,
            Err(Stop::Shutdown)
        );

        let fresh = RunControl::default();
        let soon = Interrupts::new(&fresh, Instant::now() + Duration::from_millis(5));
        assert_eq!(
            soon.race(std::future::pending::<()>()).await,
            Err(Stop::Timeout)
        );
    }
}
