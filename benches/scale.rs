//! Scale-out benchmark, on PostgreSQL: 1, 2 and 3 runner instances (each its own runner, pool
//! and `LISTEN` connection, as separate processes would have) on one fresh database, against a
//! fake provider answering after 100 ms.
//!
//! `cargo bench --bench scale` (PostgreSQL from `BENCH_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; a fresh database is created and dropped)
//!
//! (a) Runs/s: 400 runs submitted round-robin to the instances at once; wall time from the
//!     first submit until every run completed. The fan-out figures of this pass include the
//!     queueing of 400 runs' writes for 20 connections per instance.
//! (a') Steady load: 200 runs, 20 in flight (a run is submitted as soon as one ends), the
//!      load the fan-out target is stated for.
//! (a'') The same 200 runs in lockstep waves of 20 (a wave is submitted at once when the last
//!      one has ended): every run of a wave starts, calls the provider and ends at the same
//!      moment, so its fan-out figures show bursts of 20 run starts rather than a steady
//!      load.
//! Each pass starts on fresh instances with a warm-up of 60 runs (20 in flight), whose fan-out
//! p99 is reported apart: the cost of a cold start (pools opening their connections,
//! statements being prepared), which a long-running instance does not pay.
//! (b) Cross-instance fan-out: for every run, a watcher on the *next* instance (the run's
//!     instance itself when there is one); latency from an event's creation on the running
//!     instance (its `createdAt`, taken before it is stored) to its delivery to the watcher;
//!     events stored before the watcher subscribed are left out. Target: p99 ≤ 50 ms.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::runner::{RunContext, Runner, RunnerOptions};
use aladdin::testing::fake_llm::FakeLlm;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use sea_orm::{ConnectionTrait, Database};

const RUNS: usize = 400;
/// The steady-load pass: this many runs, this many at a time.
const STEADY_RUNS: usize = 200;
const STEADY_IN_FLIGHT: usize = 20;
/// Untimed runs before each pass.
const WARM_UP: usize = 60;

/// How the runs of one pass are submitted.
#[derive(Clone, Copy)]
enum Load {
    /// This many at a time, the next ones as soon as one ends.
    InFlight(usize),
    /// Waves of this many, the next one when the whole last one has ended.
    Waves(usize),
}

impl Load {
    fn size(self) -> usize {
        match self {
            Load::InFlight(n) | Load::Waves(n) => n,
        }
    }

    fn refills(self) -> bool {
        matches!(self, Load::InFlight(_))
    }

    fn describe(self) -> String {
        match self {
            Load::InFlight(n) => format!("{n} in flight"),
            Load::Waves(n) => format!("waves of {n}"),
        }
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let admin = std::env::var("BENCH_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let fake = FakeLlm::start_with_latency(Duration::from_millis(100)).await;
        for instances in 1..=3 {
            measure(&admin, &fake, instances, RUNS, Load::InFlight(RUNS)).await;
        }
        for instances in 1..=3 {
            let load = Load::InFlight(STEADY_IN_FLIGHT);
            measure(&admin, &fake, instances, STEADY_RUNS, load).await;
        }
        for instances in 1..=3 {
            let load = Load::Waves(STEADY_IN_FLIGHT);
            measure(&admin, &fake, instances, STEADY_RUNS, load).await;
        }
    });
}

/// `runs` runs on `instances` instances, submitted as `load` says.
async fn measure(admin: &str, fake: &FakeLlm, instances: usize, runs: usize, load: Load) {
    let name = format!("aladdin_bench_scale_{}", uuid::Uuid::new_v4().simple());
    let server = Database::connect(admin).await.expect("BENCH_DATABASE_URL");
    server
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("database created");
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    let url = format!("{base}/{name}");
    let vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), url),
        ("DATABASE_MAX_CONNECTIONS".into(), "20".into()),
        ("RUNNER_CONCURRENCY".into(), "200".into()),
        ("OPENROUTER_BASE_URL".into(), fake.openai_base()),
        ("OPENROUTER_API_KEY".into(), "sk-or-bench".into()),
    ]);
    let settings = Arc::new(Settings::from_lookup(|k| vars.get(k).cloned()).expect("settings"));
    let db = aladdin::startup::connect_and_migrate(&settings)
        .await
        .expect("database");
    aladdin::seed::run(&db).await.expect("demo data");
    let mut runners = Vec::new();
    for _ in 0..instances {
        let pool = aladdin::db::connect(&settings.database.url, 20)
            .await
            .expect("pool");
        let runner = Runner::new(
            pool,
            settings.clone(),
            RunnerOptions::from_settings(&settings),
        )
        .await
        .expect("runner");
        runner.start();
        runners.push(Arc::new(runner));
    }
    // Every LISTEN is in place before the first run.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Fresh instances open their pools' connections and prepare their statements on their
    // first runs: a warm-up wave first, reported apart (a long-running instance is warm).
    let warm_up = submit(&runners, WARM_UP, Load::InFlight(STEADY_IN_FLIGHT), 0).await;
    let started = Instant::now();
    let timed = submit(&runners, runs, load, WARM_UP).await;
    let wall = started.elapsed();
    let (p50, p99, max) = percentiles(timed.clone());
    println!(
        "instances={instances} runs={runs} ({}) wall={:.2}s runs/s={:.1} fan-out ({}) p50={p50:.1}ms p99={p99:.1}ms max={max:.1}ms (events {}; warm-up of {WARM_UP} runs on fresh pools: p99 {:.1}ms)",
        load.describe(),
        wall.as_secs_f64(),
        runs as f64 / wall.as_secs_f64(),
        if instances == 1 {
            "same instance"
        } else {
            "cross-instance"
        },
        timed.len(),
        percentiles(warm_up).1,
    );
    for runner in &runners {
        runner.shutdown().await;
    }
    drop(runners);
    drop(db);
    let _ = server
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

/// Submits `runs` runs (numbered from `first`) round-robin to `runners` as `load` says, each
/// watched on the next instance; the fan-out latencies (ms) of the events they stored while
/// watched.
async fn submit(runners: &[Arc<Runner>], runs: usize, load: Load, first: usize) -> Vec<f64> {
    let one = |i: usize| {
        let runner = runners[i % runners.len()].clone();
        let watcher = runners[(i + 1) % runners.len()].clone();
        async move {
            let row = runner
                .execute(
                    "video-head-001",
                    &format!("bench {i}"),
                    RunContext::default(),
                )
                .await
                .expect("queued");
            let subscribed = chrono::Utc::now();
            let mut events = watcher.subscribe(row.id, 0).await.expect("stream");
            let mut latencies = Vec::new();
            while let Some(item) = events.next().await {
                if item.seq.is_some() && item.created_at > subscribed {
                    let ms = (chrono::Utc::now() - item.created_at).num_microseconds();
                    latencies.push(ms.unwrap_or(0) as f64 / 1000.0);
                }
            }
            let done = runner.wait(row.id).await.expect("ended");
            assert_eq!(done.status, "completed", "{:?}", done.error_message);
            latencies
        }
    };
    let mut latencies = Vec::new();
    let mut pending = FuturesUnordered::new();
    let mut next = first;
    loop {
        // Waves start together once the last one has ended; a window is refilled as runs end.
        if load.refills() || pending.is_empty() {
            while next < first + runs && pending.len() < load.size() {
                pending.push(one(next));
                next += 1;
            }
        }
        match pending.next().await {
            Some(some) => latencies.extend(some),
            None => break,
        }
    }
    latencies
}

/// p50, p99 and max of `latencies`.
fn percentiles(mut latencies: Vec<f64>) -> (f64, f64, f64) {
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    (pick(0.5), pick(0.99), pick(1.0))
}
