//! Runner benchmarks, on SQLite with the fake LLM server over loopback.
//!
//! `cargo bench --bench runner`
//!
//! (a) Overhead per model call: a run of 20 tool calls (the built-in `getProjectContext`) and a
//!     final answer, i.e. 21 model calls, against a zero-latency fake. Overhead is the run's wall
//!     time (from `execute` until `wait` returns: queueing, claiming, every event stored and the
//!     row finished) minus the time spent inside provider requests, divided by the model calls.
//!     The provider time is measured two ways: instrumented (the runner times each request) and
//!     as a baseline of equivalent requests (same prompt, tools and growing conversation) sent
//!     with the raw client. Target: median ≤ 0.5 ms.
//!     Checkpoints: every run is made twice, in alternating order, with the runs' checkpoints
//!     (`runState` after every model call and tool result: 41 per run) on and off; what they
//!     add per model call is the median of the paired differences. Target: ≤ 0.1 ms. The SQL
//!     statements of one run (sqlx's statement log) are counted both ways.
//! (b) 1,000 executions in flight at once against a fake with 500 ms latency
//!     (`RUNNER_CONCURRENCY=1000`): all must complete; wall time and peak resident memory
//!     (`VmHWM`, fake server included). Target: ≤ 250 MB.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::runner::providers::{
    ChatRequest, Message, ProviderRouter, ProviderSettings, ToolCall, ToolSpec,
};
use aladdin::runner::{RunContext, Runner, RunnerOptions};
use aladdin::testing::fake_llm::{FakeLlm, Reply};
use futures_util::future::join_all;
use sea_orm::DatabaseConnection;
use serde_json::json;

mod sql_count;

const TOOL_CALLS: usize = 20;
const RUNS: usize = 60;
const IN_FLIGHT: usize = 1000;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    sql_count::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // The memory figure is the process's peak: measure it before anything else runs.
        in_flight().await;
        overhead_per_call().await;
    });
}

/// A migrated, seeded SQLite database in a temporary directory, with settings for `fake`.
async fn database(
    fake: &FakeLlm,
    extra: &[(&str, &str)],
) -> (DatabaseConnection, Settings, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "aladdin-bench-runner-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut vars: HashMap<String, String> = HashMap::from([
        (
            "DATABASE_URL".into(),
            format!("sqlite://{}/aladdin.db?mode=rwc", dir.display()),
        ),
        ("OPENROUTER_BASE_URL".into(), fake.openai_base()),
        ("OPENROUTER_API_KEY".into(), "sk-or-bench".into()),
    ]);
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    // Any other server setting (DATABASE_MAX_CONNECTIONS, …) comes from the environment.
    let settings =
        Settings::from_lookup(|k| vars.get(k).cloned().or_else(|| std::env::var(k).ok()))
            .expect("settings");
    let db = aladdin::startup::connect_and_migrate(&settings)
        .await
        .expect("database");
    aladdin::seed::run(&db).await.expect("demo data");
    (db, settings, dir)
}

fn script(fake: &FakeLlm) {
    for n in 0..TOOL_CALLS {
        fake.push(
            Reply::tool_call(format!("call_{n}"), "getProjectContext", json!({}))
                .with_usage(1000, 20)
                .with_cost(0.001),
        );
    }
    fake.push(Reply::text("Done.").with_usage(1200, 40).with_cost(0.002));
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn overhead_per_call() {
    let fake = FakeLlm::start().await;
    let (db, settings, dir) = database(&fake, &[]).await;
    let project = aladdin::db::projects::find_by_slug(&db, "epic-quest")
        .await
        .expect("q")
        .map(|p| p.id);
    let settings = Arc::new(settings);
    // The demo agent allows 15 steps; this run needs 21 model calls.
    let agent = aladdin::db::agents::find_by_agent_id(&db, "video-head-001")
        .await
        .expect("q")
        .expect("agent");
    let mut agent = sea_orm::IntoActiveModel::into_active_model(agent);
    agent.max_agent_steps = sea_orm::ActiveValue::Set(Some(50));
    sea_orm::ActiveModelTrait::update(agent, &db)
        .await
        .expect("agent updated");
    let runner = Runner::new(
        db.clone(),
        settings.clone(),
        RunnerOptions::from_settings(&settings),
    )
    .await
    .expect("runner");
    runner.start();
    let calls = (TOOL_CALLS + 1) as f64;
    let requests = same_requests(&db, "anthropic/claude-sonnet-4.5").await;

    let mut instrumented = Vec::new();
    let mut baseline = Vec::new();
    let mut walls = Vec::new();
    let mut without = Vec::new();
    let mut added = Vec::new();
    for run in 0..RUNS + 3 {
        // Alternate which goes first, so a drift in the machine's load favours neither.
        let on_first = run % 2 == 0;
        let mut on = None;
        let mut off = None;
        for checkpoints in [on_first, !on_first] {
            runner.set_checkpoints(checkpoints);
            let (wall, inside) = timed_run(&runner, &fake, project).await;
            let overhead = (wall - inside).as_secs_f64() * 1e3 / calls;
            if checkpoints {
                on = Some((wall, overhead));
            } else {
                off = Some(overhead);
            }
        }
        let (Some((wall, with)), Some(without_ms)) = (on, off) else {
            continue;
        };
        let raw = replay(&fake, &settings, &requests).await;
        if run < 3 {
            continue; // warm-up
        }
        walls.push(wall.as_secs_f64() * 1e3);
        instrumented.push(with);
        without.push(without_ms);
        added.push(with - without_ms);
        baseline.push(wall.saturating_sub(raw).as_secs_f64() * 1e3 / calls);
    }
    runner.set_checkpoints(true);
    let (_, statements_on) = sql_count::statements(timed_run(&runner, &fake, project)).await;
    runner.set_checkpoints(false);
    let (_, statements_off) = sql_count::statements(timed_run(&runner, &fake, project)).await;
    runner.set_checkpoints(true);
    runner.shutdown().await;
    let trip = (round_trip(&db, 0.5).await, round_trip(&db, 0.9).await);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    println!(
        "(a) runner overhead per model call, {TOOL_CALLS} tool calls + answer = {calls} calls per run, {RUNS} runs, SQLite, zero-latency fake over loopback:"
    );
    println!(
        "    instrumented (wall − time inside provider requests): median {:.3} ms, p90 {:.3} ms, min {:.3} ms, max {:.3} ms",
        median(instrumented.clone()),
        p90(instrumented.clone()),
        instrumented.iter().copied().fold(f64::INFINITY, f64::min),
        instrumented.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "    baseline (wall − the same requests sent by the raw client): median {:.3} ms",
        median(baseline)
    );
    println!(
        "    run wall time: median {:.2} ms for {calls} model calls",
        median(walls)
    );
    println!(
        "    the same runs without checkpoints: median {:.3} ms, p90 {:.3} ms per model call",
        median(without.clone()),
        p90(without)
    );
    println!(
        "    checkpoints add per model call (paired differences, 41 checkpoints per run): median {:.3} ms, p90 {:.3} ms (target ≤ 0.1 ms)",
        median(added.clone()),
        p90(added)
    );
    println!(
        "    SQL statements per run (BEGIN/COMMIT not counted): {statements_on} with checkpoints, {statements_off} without"
    );
    println!(
        "    one statement's round trip on this machine (SELECT 1 through the pool, 2,000 times): median {:.0} µs, p90 {:.0} µs",
        trip.0, trip.1
    );
}

/// A percentile of the time `SELECT 1` takes through the pool (2,000 sent one after the
/// other), in µs: the floor under every statement the runner waits for (the runner's own
/// statements go through the same pool and the same SQLite worker threads).
async fn round_trip(db: &DatabaseConnection, percentile: f64) -> f64 {
    let mut times = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let at = Instant::now();
        aladdin::db::ping(db).await.expect("SELECT 1");
        times.push(at.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    times[((times.len() as f64 * percentile) as usize).min(times.len() - 1)]
}

/// One scripted run of `video-head-001`: its wall time (from `execute` until `wait`
/// returns) and the time spent inside its provider requests.
async fn timed_run(runner: &Runner, fake: &FakeLlm, project: Option<i32>) -> (Duration, Duration) {
    script(fake);
    let before = runner.provider_time();
    let requests_before = fake.request_count();
    let started = Instant::now();
    let ctx = RunContext {
        project_id: project,
        ..RunContext::default()
    };
    let queued = runner
        .execute("video-head-001", "Measure pacing.", ctx)
        .await
        .expect("queued");
    let row = runner.wait(queued.id).await.expect("ended");
    let wall = started.elapsed();
    assert_eq!(row.status, "completed", "{:?}", row.error_message);
    let provider = runner.provider_time();
    assert_eq!(provider.calls - before.calls, TOOL_CALLS as u64 + 1);
    assert_eq!(fake.request_count() - requests_before, TOOL_CALLS + 1);
    (wall, provider.total - before.total)
}

fn p90(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() * 9 / 10).min(values.len() - 1)]
}

/// The requests of a run, rebuilt: the agent's system prompt and tools, then one more
/// tool call and result per step, as the runner sends them.
async fn same_requests(db: &DatabaseConnection, model: &str) -> Vec<ChatRequest> {
    let agent = aladdin::db::agents::find_by_agent_id(db, "video-head-001")
        .await
        .expect("q")
        .expect("agent");
    let pacing = aladdin::db::custom_tools::find_by_name(db, "calculateScenePacing")
        .await
        .expect("q")
        .expect("tool");
    let project = aladdin::db::projects::find_by_slug(db, "epic-quest")
        .await
        .expect("q")
        .expect("project");
    let context = aladdin::domain::projects::context(&project).to_string();
    let tools = vec![
        ToolSpec {
            name: "getProjectContext".into(),
            description: "Returns the context of the project this run works on.".into(),
            input_schema: json!({"type": "object", "properties": {"projectId": {"type": ["integer", "string"]}}}),
        },
        ToolSpec {
            name: pacing.tool_name.clone(),
            description: pacing.description.clone(),
            input_schema: pacing.input_schema.clone(),
        },
    ];
    let mut messages = vec![Message::User {
        content: "Measure pacing.".into(),
    }];
    let mut requests = Vec::new();
    for n in 0..=TOOL_CALLS {
        requests.push(ChatRequest {
            model: model.to_owned(),
            system: agent.instructions_prompt.clone(),
            messages: messages.clone(),
            tools: tools.clone(),
            temperature: Some(0.6),
            max_tokens: None,
            cache_key: None,
        });
        let id = format!("call_{n}");
        messages.push(Message::Assistant {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: id.clone(),
                name: "getProjectContext".into(),
                input: json!({}),
            }],
        });
        messages.push(Message::ToolResult {
            tool_call_id: id,
            tool_name: "getProjectContext".into(),
            content: context.clone(),
            is_error: false,
        });
    }
    requests
}

/// Sends a run's requests with the raw client (no runner); returns the total time.
async fn replay(fake: &FakeLlm, settings: &Settings, requests: &[ChatRequest]) -> Duration {
    let provider_settings = ProviderSettings {
        openrouter_base_url: Some(fake.openai_base()),
        openrouter_api_key: settings.providers.openrouter_api_key.clone(),
        ..ProviderSettings::default()
    };
    let http = provider_settings.http_client().expect("client");
    let router = ProviderRouter::new(provider_settings, http);
    let (provider, _) = router
        .resolve("anthropic/claude-sonnet-4.5")
        .expect("route");
    script(fake);
    let mut total = Duration::ZERO;
    for req in requests {
        let started = Instant::now();
        provider.stream(req, &|_: &str| {}).await.expect("raw call");
        total += started.elapsed();
    }
    total
}

async fn in_flight() {
    let fake = FakeLlm::start_with_latency(Duration::from_millis(500)).await;
    let concurrency = IN_FLIGHT.to_string();
    let (db, settings, dir) = database(&fake, &[("RUNNER_CONCURRENCY", &concurrency)]).await;
    for _ in 0..IN_FLIGHT {
        fake.push(Reply::text("Done.").with_usage(100, 10).with_cost(0.0001));
    }
    let settings = Arc::new(settings);
    let runner = Arc::new(
        Runner::new(
            db.clone(),
            settings.clone(),
            RunnerOptions::from_settings(&settings),
        )
        .await
        .expect("runner"),
    );
    runner.start();

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let sampler = {
        let runner = runner.clone();
        tokio::spawn(async move {
            let mut peak = 0;
            loop {
                peak = peak.max(runner.running_count());
                tokio::time::sleep(Duration::from_millis(5)).await;
                if peak > 0 && runner.running_count() == 0 {
                    return peak;
                }
            }
        })
    };
    let queued = join_all((0..IN_FLIGHT).map(|n| {
        let runner = runner.clone();
        tokio::spawn(async move {
            runner
                .execute("video-head-001", &format!("run {n}"), RunContext::default())
                .await
                .expect("queued")
                .id
        })
    }))
    .await;
    let ids: Vec<i32> = queued.into_iter().map(|id| id.expect("joined")).collect();
    let queued_after = started.elapsed();
    let rows = join_all(ids.iter().map(|id| runner.wait(*id))).await;
    let wall = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let peak_running = sampler.await.unwrap_or(0);
    let waits: Vec<f64> = rows
        .iter()
        .flatten()
        .filter_map(|r| {
            r.started_at
                .map(|s| (s - r.created_at).num_milliseconds() as f64)
        })
        .collect();
    let runs: Vec<f64> = rows
        .iter()
        .flatten()
        .filter_map(|r| r.execution_time_ms.map(|ms| ms as f64))
        .collect();
    let completed = rows
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status == "completed"))
        .count();
    runner.shutdown().await;
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    println!(
        "(b) {IN_FLIGHT} executions against a fake with 500 ms latency, RUNNER_CONCURRENCY={IN_FLIGHT}, SQLite:"
    );
    println!(
        "    completed {completed}/{IN_FLIGHT}; peak running at once {peak_running}; all queued after {:.0} ms; wall time {:.0} ms",
        queued_after.as_secs_f64() * 1e3,
        wall.as_secs_f64() * 1e3
    );
    println!(
        "    queue wait (claimed − queued): median {:.0} ms, max {:.0} ms; run time: median {:.0} ms, max {:.0} ms",
        median(waits.clone()),
        waits.iter().copied().fold(0.0, f64::max),
        median(runs.clone()),
        runs.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "    CPU time used by the process (runner, SQLite and the fake server): {cpu:.2} s on {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "    peak resident memory (VmHWM, fake server included): {:.1} MB",
        vm_hwm_kib() as f64 / 1024.0
    );
    assert_eq!(completed, IN_FLIGHT, "every execution completes");
}

/// User + system CPU time of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th, stime the 15th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size of this process in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
