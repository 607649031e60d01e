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
//! (a') The same at a steady load: 200 runs, 20 at a time.
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
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, Database};

const RUNS: usize = 400;
/// The steady-load pass: this many runs, this many at a time.
const STEADY_RUNS: usize = 200;
const STEADY_WAVE: usize = 20;

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
            measure(&admin, &fake, instances, RUNS, RUNS).await;
        }
        for instances in 1..=3 {
            measure(&admin, &fake, instances, STEADY_RUNS, STEADY_WAVE).await;
        }
    });
}

/// `runs` runs on `instances` instances, `wave` at a time (the next wave starts when the
/// last one has ended).
async fn measure(admin: &str, fake: &FakeLlm, instances: usize, runs: usize, wave: usize) {
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

    let started = Instant::now();
    let mut latencies: Vec<f64> = Vec::new();
    for first in (0..runs).step_by(wave) {
        let batch = (first..(first + wave).min(runs)).map(|i| {
            let runner = runners[i % instances].clone();
            let watcher = runners[(i + 1) % instances].clone();
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
        });
        latencies.extend(join_all(batch).await.into_iter().flatten());
    }
    let wall = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "instances={instances} runs={runs} ({wave} at a time) wall={:.2}s runs/s={:.1} fan-out ({}) p50={:.1}ms p99={:.1}ms max={:.1}ms (events {})",
        wall.as_secs_f64(),
        runs as f64 / wall.as_secs_f64(),
        if instances == 1 {
            "same instance"
        } else {
            "cross-instance"
        },
        pick(0.5),
        pick(0.99),
        pick(1.0),
        latencies.len(),
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
