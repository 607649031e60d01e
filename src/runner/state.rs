//! The runner's shared state: database, provider router, sandbox, hub, the runs in progress
//! with their stop handles, waiters, and the background tasks.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::breaker::Breakers;
use super::control::{RunControl, Stop};
use super::hub::Hub;
use super::providers::{ProviderRouter, ProviderSettings};
use super::queue::CLI_PREFIX;
use super::tools::loader::ToolCache;
use super::{RunError, RunnerOptions};
use crate::config::Settings;
use crate::db;
use crate::domain::executions::Status;
use crate::entities::agent_executions;
use crate::sandbox::Sandbox;

/// Time spent inside provider requests (retries included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderTime {
    /// Requests sent.
    pub calls: u64,
    /// Total time from sending a request to its assembled response or error.
    pub total: Duration,
}

/// Counters behind [`ProviderTime`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Stats {
    pub(crate) fn record(&self, elapsed: Duration) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ProviderTime {
        ProviderTime {
            calls: self.calls.load(Ordering::Relaxed),
            total: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        }
    }
}

/// The write connection for `db` (see [`Core::writer`]). In-memory SQLite databases exist
/// once per pool, so they keep the shared one.
async fn writer_for(db: &DatabaseConnection, url: &str) -> anyhow::Result<DatabaseConnection> {
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if db::is_postgres(db) || in_memory {
        return Ok(db.clone());
    }
    db::connect(url, 1).await
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Everything the runner's tasks share.
pub(crate) struct Core {
    /// The shared pool, for reads.
    pub(crate) db: DatabaseConnection,
    /// The connection the runner writes through: on SQLite a pool of one connection of its
    /// own, so the runner's writes queue in-process instead of contending for SQLite's write
    /// lock (whose busy handler sleeps for milliseconds); on PostgreSQL the shared pool.
    pub(crate) writer: DatabaseConnection,
    pub(crate) settings: Arc<Settings>,
    pub(crate) router: ProviderRouter,
    pub(crate) sandbox: Sandbox,
    pub(crate) hub: Arc<Hub>,
    pub(crate) options: RunnerOptions,
    pub(crate) instance_id: String,
    pub(crate) tools: ToolCache,
    pub(crate) stats: Stats,
    /// One circuit breaker per model, shared by every run of this instance.
    pub(crate) breakers: Breakers,
    /// OpenTelemetry traces (off unless an OTLP endpoint is set).
    pub(crate) traces: crate::traces::Traces,
    /// Woken when this process queues a run.
    pub(crate) wake: Notify,
    /// Cancelled when shutdown begins: no more claims, no more runs accepted.
    pub(crate) stop: CancellationToken,
    /// Cancelled when shutdown ends: the heartbeat stops.
    pub(crate) halt: CancellationToken,
    /// The runtime the runner was built on: background work started from a request (an eval
    /// run) is spawned there, not on the HTTP worker that received the request.
    pub(crate) background: tokio::runtime::Handle,
    /// Runs write checkpoints (always, except in the bench that measures what they cost).
    checkpoints: AtomicBool,
    active: Mutex<HashMap<i32, Arc<RunControl>>>,
    idle: Notify,
    waiters: Mutex<HashMap<i32, Vec<oneshot::Sender<()>>>>,
    own: Mutex<HashSet<i32>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Core {
    pub(crate) async fn new(
        db: DatabaseConnection,
        settings: Arc<Settings>,
        options: RunnerOptions,
    ) -> anyhow::Result<Self> {
        let writer = writer_for(&db, &settings.database.url).await?;
        let p = &settings.providers;
        let provider_settings = ProviderSettings {
            openrouter_base_url: p.openrouter_base_url.clone(),
            openrouter_api_key: p.openrouter_api_key.clone(),
            openrouter_default_model: p.openrouter_default_model.clone(),
            openai_base_url: p.openai_base_url.clone(),
            openai_api_key: p.openai_api_key.clone(),
            anthropic_api_key: p.anthropic_api_key.clone(),
            anthropic_base_url: p.anthropic_base_url.clone(),
            idle_timeout: settings.runner.idle_timeout,
            connect_timeout: settings.runner.connect_timeout,
        };
        let http = provider_settings.http_client()?;
        let router = ProviderRouter::new(provider_settings, http);
        let prefix = if options.only_own_runs {
            CLI_PREFIX
        } else {
            "server-"
        };
        let breakers = Breakers::new(
            settings.runner.breaker_failures,
            settings.runner.breaker_cooldown,
        );
        let traces = crate::traces::Traces::build(
            &settings.traces,
            settings.runner.instance_name.as_deref(),
        )?;
        Ok(Self {
            background: tokio::runtime::Handle::current(),
            traces,
            instance_id: match &settings.runner.instance_name {
                Some(name) => format!("{prefix}{name}-{}", uuid::Uuid::new_v4().simple()),
                None => format!("{prefix}{}", uuid::Uuid::new_v4().simple()),
            },
            sandbox: Sandbox::new(settings.sandbox.workers),
            hub: Arc::new(Hub::default()),
            db,
            writer,
            settings,
            router,
            options,
            tools: ToolCache::default(),
            stats: Stats::default(),
            breakers,
            wake: Notify::new(),
            stop: CancellationToken::new(),
            halt: CancellationToken::new(),
            checkpoints: AtomicBool::new(true),
            active: Mutex::new(HashMap::new()),
            idle: Notify::new(),
            waiters: Mutex::new(HashMap::new()),
            own: Mutex::new(HashSet::new()),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Whether runs write checkpoints.
    pub(crate) fn checkpoints_on(&self) -> bool {
        self.checkpoints.load(Ordering::Relaxed)
    }

    /// Turns checkpoints on or off for the runs that write one next.
    pub(crate) fn set_checkpoints(&self, on: bool) {
        self.checkpoints.store(on, Ordering::Relaxed);
    }

    /// A run was queued by this process: wake the dispatcher (and the other instances').
    pub(crate) fn queued(&self, id: i32) {
        if self.options.only_own_runs {
            lock(&self.own).insert(id);
        } else {
            self.hub.signal(super::notify::Signal::Queued);
        }
        self.wake.notify_one();
    }

    /// Execution `id` should look at its row again (a cancel was requested): tells the
    /// other instances, whichever runs it.
    pub(crate) fn changed(&self, id: i32) {
        self.hub.signal(super::notify::Signal::Changed(id));
    }

    /// Ids of the executions running in this process.
    pub(crate) fn running_ids(&self) -> Vec<i32> {
        lock(&self.active).keys().copied().collect()
    }

    /// Runs queued by this process that have not ended.
    pub(crate) fn own_queued(&self) -> Vec<i32> {
        lock(&self.own).iter().copied().collect()
    }

    pub(crate) fn track(&self, id: i32, control: Arc<RunControl>) {
        lock(&self.active).insert(id, control);
    }

    pub(crate) fn untrack(&self, id: i32) {
        lock(&self.own).remove(&id);
        let mut active = lock(&self.active);
        active.remove(&id);
        if active.is_empty() {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn control(&self, id: i32) -> Option<Arc<RunControl>> {
        lock(&self.active).get(&id).cloned()
    }

    pub(crate) fn is_running_here(&self, id: i32) -> bool {
        lock(&self.active).contains_key(&id)
    }

    pub(crate) fn running_count(&self) -> usize {
        lock(&self.active).len()
    }

    /// Execution `id` has ended: wake its waiters.
    pub(crate) fn finished(&self, id: i32) {
        if let Some(senders) = lock(&self.waiters).remove(&id) {
            for tx in senders {
                let _ = tx.send(());
            }
        }
    }

    fn add_waiter(&self, id: i32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).entry(id).or_default().push(tx);
        rx
    }

    fn prune_waiters(&self, id: i32) {
        let mut waiters = lock(&self.waiters);
        if let Some(senders) = waiters.get_mut(&id) {
            senders.retain(|tx| !tx.is_closed());
            if senders.is_empty() {
                waiters.remove(&id);
            }
        }
    }

    pub(crate) async fn find(&self, id: i32) -> Result<agent_executions::Model, RunError> {
        db::executions::find_by_id(&self.db, id)
            .await?
            .ok_or(RunError::ExecutionNotFound(id))
    }

    /// Waits until execution `id` has ended. Runs here wake their waiters when they end; a
    /// run elsewhere is polled.
    pub(crate) async fn wait(&self, id: i32) -> Result<agent_executions::Model, RunError> {
        loop {
            let rx = self.add_waiter(id);
            let row = self.find(id).await;
            let ended = row.as_ref().map_or(true, |r| {
                Status::parse(&r.status).is_none_or(Status::is_settled)
            });
            if ended {
                drop(rx);
                self.prune_waiters(id);
                return row;
            }
            let nap = if self.is_running_here(id) {
                Duration::from_secs(30)
            } else {
                self.options.poll_interval
            };
            let _ = tokio::time::timeout(nap, rx).await;
            self.prune_waiters(id);
        }
    }

    pub(crate) fn keep_tasks(&self, handles: Vec<JoinHandle<()>>) {
        lock(&self.tasks).extend(handles);
    }

    async fn until_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.running_count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Stops claiming, lets the runs finish for the grace period (the drain), interrupts the
    /// rest and stops the background tasks. Returns the ids of the runs interrupted.
    pub(crate) async fn shutdown(&self) -> Vec<i32> {
        self.stop.cancel();
        let mut interrupted = Vec::new();
        if tokio::time::timeout(self.options.shutdown_grace, self.until_idle())
            .await
            .is_err()
        {
            let controls: Vec<_> = lock(&self.active)
                .iter()
                .map(|(id, c)| (*id, c.clone()))
                .collect();
            tracing::warn!(
                runs = controls.len(),
                "interrupting the runs still going at shutdown"
            );
            for (id, control) in controls {
                control.abort(Stop::Shutdown);
                interrupted.push(id);
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), self.until_idle()).await;
        }
        // Handed back to the queue (before the signals stop), a peer or the next start
        // continues them.
        if self.options.resume_interrupted {
            for id in &interrupted {
                super::lease::hand_back(self, *id).await;
            }
        }
        self.halt.cancel();
        let handles: Vec<_> = lock(&self.tasks).drain(..).collect();
        for handle in handles {
            let _ = handle.await;
        }
        interrupted
    }
}
