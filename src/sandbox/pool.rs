//! The bounded pool of blocking workers that tool calls run on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Semaphore;

use super::api::{self, Console};
use super::engine::{self, Job};
use super::{DataApi, Limits, ToolError};

/// How long past its deadline a call may keep its thread before [`Sandbox::run`] stops
/// waiting for it and reports a timeout anyway.
pub const OVERRUN_GRACE: Duration = Duration::from_millis(250);

/// The outcome of one tool call.
#[derive(Debug, Clone)]
pub struct ToolRun {
    /// The returned JSON value, or why the call failed.
    pub result: Result<Value, ToolError>,
    /// Captured `console.*` lines (`[warn] `-style prefix except for `log`), truncated to
    /// [`Limits::max_console_bytes`] with a marker.
    pub console: String,
    /// Wall-clock time of the whole call, including waiting for a worker.
    pub duration: Duration,
}

/// Runs tools on a bounded pool: at most `workers` QuickJS calls at once, each on a
/// `tokio::task::spawn_blocking` thread, so runaway tools can neither starve the async worker
/// threads nor exhaust tokio's blocking pool. Cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct Sandbox {
    permits: Arc<Semaphore>,
    workers: usize,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new(0)
    }
}

impl Sandbox {
    /// A pool of `workers` concurrent calls; `0` means the default, `max(2, CPU cores)`.
    pub fn new(workers: usize) -> Self {
        let workers = if workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .max(2)
        } else {
            workers
        };
        Sandbox {
            permits: Arc::new(Semaphore::new(workers)),
            workers,
        }
    }

    /// Number of concurrent calls this pool allows.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Workers free right now (for metrics and health pages).
    pub fn idle_workers(&self) -> usize {
        self.permits.available_permits()
    }

    /// Runs `source` (a function expression) as `fn(input, { payload, project })` in a fresh
    /// realm under `limits` (normalized first), with `payload` backed by `api`.
    ///
    /// Waits for a free worker at most `limits.timeout` (else [`ToolError::Busy`]); the
    /// script's own deadline starts once it has a worker. A script stuck in a native built-in
    /// that does not poll the interrupt handler is reported as [`ToolError::Timeout`] at
    /// deadline + [`OVERRUN_GRACE`]; its thread then finishes in the background (bounded by
    /// the memory limit) and keeps its worker until it does, so overruns cannot push the
    /// number of busy threads above `workers`.
    ///
    /// Must be called within a tokio runtime with the time driver enabled.
    pub async fn run(
        &self,
        source: &str,
        input: Value,
        project: Value,
        api: Arc<dyn DataApi>,
        limits: Limits,
    ) -> ToolRun {
        let started = Instant::now();
        let limits = limits.normalized();
        let console = Console::shared(limits.max_console_bytes);
        let finish = |result: Result<Value, ToolError>, console: String| ToolRun {
            result,
            console,
            duration: started.elapsed(),
        };

        let permit = match tokio::time::timeout(
            limits.timeout,
            self.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => {
                return finish(
                    Err(ToolError::Internal("sandbox pool closed".into())),
                    String::new(),
                );
            }
            Err(_) => return finish(Err(ToolError::Busy), String::new()),
        };

        let (input_json, project_json) = match (
            serde_json::to_string(&input),
            serde_json::to_string(&project),
        ) {
            (Ok(i), Ok(p)) => (i, p),
            (Err(e), _) | (_, Err(e)) => {
                return finish(
                    Err(ToolError::Internal(format!("serializing input: {e}"))),
                    String::new(),
                );
            }
        };
        let deadline = Instant::now() + limits.timeout;
        let job = Job {
            source: source.to_owned(),
            input_json,
            project_json,
            api,
            handle: tokio::runtime::Handle::current(),
            limits,
            deadline,
            console: console.clone(),
        };
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit; // released when the thread is really done
            engine::execute(job)
        });
        let outer_deadline = tokio::time::Instant::from_std(deadline + OVERRUN_GRACE);
        let result = match tokio::time::timeout_at(outer_deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => {
                tracing::error!(error = %join, "sandbox worker panicked");
                Err(ToolError::Internal("the sandbox worker crashed".into()))
            }
            Err(_) => {
                tracing::warn!(
                    limit_ms = limits.timeout_ms(),
                    "tool overran its deadline inside a native built-in; its worker stays busy until it returns"
                );
                Err(ToolError::Timeout {
                    limit_ms: limits.timeout_ms(),
                })
            }
        };
        finish(result, api::console_text(&console))
    }
}
