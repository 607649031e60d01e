//! Sandbox benchmarks.
//!
//! `cargo bench --bench sandbox` (release build). `BENCH_WORKERS` (comma-separated, default
//! `default,20`) picks the `SANDBOX_WORKERS` values of part (b); `default` leaves it unset.
//!
//! (a) A trivial tool call through `Sandbox::run`, everything included: waiting for a pool
//!     permit, the hop to a blocking thread, a fresh QuickJS runtime and realm, the bindings
//!     (`console`, the frozen `payload`), compiling the source, the call, `JSON.stringify` and
//!     reading the result back. Also an async tool awaiting one `payload` call. Target: median
//!     ≤ 1 ms.
//! (b) Runaway tools against the live server: the real app (real HTTP on a random port,
//!     SQLite, the runner) with 20 executions whose model (the fake LLM over loopback) calls a
//!     runaway tool — endless loops, sync and async, and memory bombs (objects, strings, typed
//!     arrays) — while one client GETs `/healthz` back to back on a keep-alive connection.
//!     Prints /healthz p50/p99/max before and during the burn, and how each of the 20 tool
//!     calls ended (each must be a failed tool_result with a clear error). Target: p99 ≤ 50 ms.
//!     Run once with the default pool (`SANDBOX_WORKERS` = CPUs) and once with 20 workers,
//!     where all 20 really burn at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::domain::agents::AgentInput;
use aladdin::domain::custom_tools::ToolInput;
use aladdin::domain::departments::DepartmentInput;
use aladdin::domain::projects::ProjectInput;
use aladdin::runner::RunContext;
use aladdin::sandbox::{DataApi, DataOp, Limits, Sandbox};
use aladdin::startup::Application;
use aladdin::testing::fake_llm::{FakeLlm, Reply};
use futures_util::future::{BoxFuture, join_all};
use serde_json::{Value, json};

const CALLS: usize = 2000;
const RUNAWAYS: usize = 20;
/// The loops' time limit.
const LOOP_TIMEOUT_MS: u32 = 2000;

/// The runaway tools, by name and code.
const TOOLS: &[(&str, &str)] = &[
    ("loopSync", "() => { for (;;) {} }"),
    ("loopAsync", "async () => { await null; while (true) {} }"),
    (
        "bombObjects",
        "() => { const a = []; for (;;) a.push({ n: a.length, more: [1, 2, 3] }); }",
    ),
    (
        "bombStrings",
        "() => { let s = 'x'; const keep = []; for (;;) { s = s + s; keep.push(s); } }",
    ),
    (
        "bombTypedArrays",
        "async () => { const keep = []; for (;;) keep.push(new Float64Array(1 << 18)); }",
    ),
];

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    trivial_calls()?;
    let pools = std::env::var("BENCH_WORKERS").unwrap_or_else(|_| "default,20".into());
    for pool in pools.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let workers = (pool != "default").then(|| pool.to_owned());
        runaways_vs_healthz(workers.as_deref())?;
    }
    Ok(())
}

// ---------- (a) trivial calls ----------

/// A data API that answers every call at once (the trivial tool never calls it; the async
/// variant calls `count`).
struct InstantApi;

impl DataApi for InstantApi {
    fn call(&self, _op: DataOp) -> BoxFuture<'static, Result<Value, String>> {
        Box::pin(async { Ok(json!({"totalDocs": 0})) })
    }
}

fn trivial_calls() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sandbox = Sandbox::default();
        let api: Arc<dyn DataApi> = Arc::new(InstantApi);
        let project = json!({"id": 1, "name": "Bench", "slug": "bench"});
        println!(
            "(a) trivial tool calls, {} sandbox workers, {CALLS} calls each after 100 warm-up calls",
            sandbox.workers()
        );
        let cases = [
            ("sync `(input) => ({ ok: true, n: input.n })`", "(input) => ({ ok: true, n: input.n })"),
            (
                "async, awaiting one payload.count",
                "async (input, { payload }) => (await payload.count({ collection: 'x' })).totalDocs",
            ),
        ];
        for (label, source) in cases {
            for n in 0..100 {
                let run = sandbox
                    .run(source, json!({ "n": n }), project.clone(), api.clone(), Limits::default())
                    .await;
                anyhow::ensure!(run.result.is_ok(), "{label}: {:?}", run.result);
            }
            let mut samples = Vec::with_capacity(CALLS);
            for n in 0..CALLS {
                let t = Instant::now();
                let run = sandbox
                    .run(source, json!({ "n": n }), project.clone(), api.clone(), Limits::default())
                    .await;
                samples.push(t.elapsed());
                anyhow::ensure!(run.result.is_ok(), "{label}: {:?}", run.result);
            }
            let s = Stats::of(samples);
            println!(
                "    {label}: median {} p90 {} p99 {} max {}  (target: median ≤ 1 ms)",
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.max)
            );
        }
        anyhow::Ok(())
    })
}

// ---------- (b) runaways vs /healthz ----------

fn runaways_vs_healthz(workers: Option<&str>) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!(
        "aladdin-bench-sandbox-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    // The server as in production: a default multi-threaded runtime, actix's own workers.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (app_url, fake, state) = server_rt.block_on(async {
        let fake = FakeLlm::start().await;
        let mut vars: BTreeMap<&str, String> = BTreeMap::from([
            (
                "DATABASE_URL",
                format!("sqlite://{}/aladdin.db?mode=rwc", dir.display()),
            ),
            ("BIND", "127.0.0.1:0".into()),
            ("SEED_DEMO", "false".into()),
            ("OPENROUTER_BASE_URL", fake.openai_base()),
            ("OPENROUTER_API_KEY", "sk-or-bench".into()),
            ("RUNNER_CONCURRENCY", "64".into()),
            ("RUST_LOG", "error".into()),
        ]);
        if let Some(w) = workers {
            vars.insert("SANDBOX_WORKERS", w.to_owned());
        }
        let settings = Settings::from_lookup(|k| vars.get(k).cloned())?;
        let app = Application::build(settings).await?;
        let state = app.state().clone();
        let url = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run());
        anyhow::Ok((url, fake, state))
    })?;
    let project = server_rt.block_on(setup(&state.db))?;
    println!(
        "\n(b) {RUNAWAYS} runaway tools vs GET /healthz — SANDBOX_WORKERS={} ({} workers), {} CPUs",
        workers.unwrap_or("unset"),
        state.runner.sandbox().workers(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    // The model: each run's first reply calls one runaway tool, its second ends the run. The
    // tool calls are served after 500 ms so that every run has asked before any tool ends (the
    // script is one queue shared by all runs).
    for i in 0..RUNAWAYS {
        let (name, _) = TOOLS[i % TOOLS.len()];
        fake.push(
            Reply::tool_call(format!("call_{i}"), name, json!({}))
                .delayed(Duration::from_millis(500)),
        );
    }
    for _ in 0..RUNAWAYS {
        fake.push(Reply::text("Done."));
    }

    // The client: its own runtime and thread, one keep-alive connection, back to back.
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let samples: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (samples, stop) = (samples.clone(), stop.clone());
        let url = format!("{app_url}/healthz");
        client_rt.spawn(async move {
            let http = reqwest::Client::builder().http1_only().build()?;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                let response = http.get(&url).send().await?;
                anyhow::ensure!(
                    response.status() == 200,
                    "/healthz answered {}",
                    response.status()
                );
                response.bytes().await?;
                let elapsed = t.elapsed();
                samples
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push((t, elapsed));
            }
            anyhow::Ok(())
        })
    };
    std::thread::sleep(Duration::from_secs(2));

    // The burn.
    let started = Instant::now();
    let runner = state.runner.clone();
    let runs = server_rt.block_on(async {
        let mut ids = Vec::new();
        for i in 0..RUNAWAYS {
            let ctx = RunContext {
                project_id: Some(project),
                ..RunContext::default()
            };
            ids.push(
                runner
                    .execute("runaway-agent", &format!("Run {i}"), ctx)
                    .await?
                    .id,
            );
        }
        let finished = join_all(ids.iter().map(|id| runner.wait(*id))).await;
        finished
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    let ended = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    client_rt.block_on(client)??;

    let samples = samples
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let before = Stats::of(
        samples
            .iter()
            .filter(|(t, _)| *t < started)
            .map(|(_, d)| *d)
            .collect(),
    );
    let during = Stats::of(
        samples
            .iter()
            .filter(|(t, _)| *t >= started && *t < ended)
            .map(|(_, d)| *d)
            .collect(),
    );
    println!(
        "    burn: {:.2} s from the first execute to the last run finished",
        (ended - started).as_secs_f64()
    );
    println!("    /healthz before: {}", before.line());
    println!(
        "    /healthz during: {}  (target: p99 ≤ 50 ms)",
        during.line()
    );

    // How each run's tool call ended.
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut clear = 0;
    for run in &runs {
        let events =
            server_rt.block_on(aladdin::db::executions::events_after(&state.db, run.id, 0))?;
        let results: Vec<&Value> = events
            .iter()
            .filter(|e| e.r#type == "tool_result")
            .map(|e| &e.data)
            .collect();
        let line = match results.as_slice() {
            [one] => match one["error"].as_str() {
                Some(error) => {
                    clear += 1;
                    format!("{}: {error}", one["toolName"].as_str().unwrap_or("?"))
                }
                None => format!("{}: NO ERROR (output {})", one["toolName"], one["output"]),
            },
            other => format!("{} tool results (expected 1)", other.len()),
        };
        *outcomes
            .entry(format!("run {} · {line}", run.status))
            .or_default() += 1;
    }
    for (line, n) in &outcomes {
        println!("    {n:>2} × {line}");
    }
    println!("    {clear}/{RUNAWAYS} tool calls ended with a tool error");
    drop(fake);
    drop(client_rt);
    drop(server_rt);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// A department, the runaway tools, an agent using them and a project; returns the project id.
async fn setup(db: &sea_orm::DatabaseConnection) -> anyhow::Result<i32> {
    let err = |e: aladdin::error::AppError| anyhow::anyhow!("{e:?}");
    let department = aladdin::db::departments::create(
        db,
        DepartmentInput::from_json(&json!({"slug": "bench", "name": "Bench"})).map_err(err)?,
    )
    .await
    .map_err(err)?;
    for (name, code) in TOOLS {
        let timeout = if name.starts_with("loop") {
            LOOP_TIMEOUT_MS
        } else {
            5000
        };
        let input = ToolInput::from_json(&json!({
            "toolName": name,
            "description": "A runaway tool.",
            "inputSchema": {"type": "object"},
            "executeFunction": code,
            "isGlobal": true,
            "timeoutMs": timeout.to_string(),
        }))
        .map_err(err)?;
        aladdin::db::custom_tools::create(db, input)
            .await
            .map_err(err)?;
    }
    let names: Vec<Value> = TOOLS.iter().map(|(n, _)| json!({"toolName": n})).collect();
    let agent = AgentInput::from_json(&json!({
        "agentId": "runaway-agent",
        "name": "Runaway agent",
        "department": department.id,
        "model": "openai/gpt-4o-mini",
        "toolNames": names,
        "maxAgentSteps": 5,
    }))
    .map_err(err)?;
    aladdin::db::agents::create(db, agent).await.map_err(err)?;
    let project = aladdin::db::projects::create(
        db,
        ProjectInput::from_json(&json!({"name": "Bench", "slug": "bench"})).map_err(err)?,
    )
    .await
    .map_err(err)?;
    Ok(project.id)
}

// ---------- figures ----------

struct Stats {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        let pct = |p: f64| {
            samples
                .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Self {
            n,
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }

    fn line(&self) -> String {
        format!(
            "n {} p50 {} p90 {} p99 {} max {}",
            self.n,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max)
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
