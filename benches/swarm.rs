//! Swarm benchmarks, on SQLite with the fake LLM server over loopback.
//!
//! `cargo bench --bench swarm`
//!
//! (a) One parent spawning 50 children in one `spawn_agents` call, against a fake that takes
//!     200 ms per request. The critical path holds three requests (the parent's tool call,
//!     the children side by side, the parent's answer): 600 ms of provider latency. Reported:
//!     the wall time beyond it. Target: < 1 s.
//! (b) Overhead per child execution (everything but the provider): a parent makes 20
//!     `spawn_agents` calls of one child each, against a zero-latency fake; the same parent
//!     making 20 calls of the built-in `getProjectContext` instead is the baseline. Per child:
//!     ((wall − time inside provider requests) of the spawning run − the same of the baseline
//!     run) / 20 — inserting, starting, running and finishing the child and reporting it back,
//!     minus a plain tool call. Target: median ≤ 1 ms. The SQL statements of each kind of run
//!     (sqlx's statement log) are counted once after the timed runs. The demo budgets stay
//!     active (every model call reserves and settles) with limits raised so that no run
//!     pauses.
//! (b') The same against the tests' fake, which pauses 5 ms inside the first line of each
//!     text answer (the children's; the baseline's calls are tool calls). Excluded as provider
//!     time, the pause still leaves every thread idle: each child then finishes on threads
//!     that must be woken, as after a real provider's answer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::runner::{RunContext, Runner, RunnerOptions};
use aladdin::testing::fake_llm::{FakeLlm, Reply};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, IntoActiveModel};
use serde_json::{Value, json};

mod sql_count;

const CHILDREN: usize = 50;
const LATENCY: Duration = Duration::from_millis(200);
const SEQUENTIAL: usize = 20;
const RUNS: usize = 40;
const PARENT: &str = "story-head-001";
const CHILD: &str = "world-builder-001";

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    sql_count::install();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        wide_swarm().await;
        overhead_per_child(false).await;
        overhead_per_child(true).await;
    });
}

/// A migrated, seeded SQLite database in a temporary directory, the parent allowed to spawn
/// the child and to make many model calls, and a started runner.
async fn prepared(fake: &FakeLlm) -> (Runner, DatabaseConnection, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "aladdin-bench-swarm-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let vars: HashMap<String, String> = HashMap::from([
        (
            "DATABASE_URL".into(),
            format!("sqlite://{}/aladdin.db?mode=rwc", dir.display()),
        ),
        ("OPENROUTER_BASE_URL".into(), fake.openai_base()),
        ("OPENROUTER_API_KEY".into(), "sk-or-bench".into()),
        ("AGENT_MAX_FANOUT".into(), CHILDREN.to_string()),
    ]);
    let settings =
        Settings::from_lookup(|k| vars.get(k).cloned().or_else(|| std::env::var(k).ok()))
            .expect("settings");
    let db = aladdin::startup::connect_and_migrate(&settings)
        .await
        .expect("database");
    aladdin::seed::run(&db).await.expect("demo data");
    let parent = aladdin::db::agents::find_by_agent_id(&db, PARENT)
        .await
        .expect("q")
        .expect("agent");
    let mut parent = parent.into_active_model();
    parent.spawnable_agents = Set(json!([{ "agentId": CHILD }]));
    parent.max_agent_steps = Set(Some(50));
    parent.update(&db).await.expect("parent updated");
    // The demo budgets stay (each model call reserves and settles), with room for every run.
    for budget in aladdin::db::budgets::all(&db).await.expect("budgets") {
        let mut budget = budget.into_active_model();
        budget.limit_micros = Set(1_000_000_000_000);
        budget.update(&db).await.expect("budget updated");
    }
    let settings = Arc::new(settings);
    let runner = Runner::new(
        db.clone(),
        settings.clone(),
        RunnerOptions::from_settings(&settings),
    )
    .await
    .expect("runner");
    runner.start();
    (runner, db, dir)
}

fn spawn(id: String, children: usize) -> Reply {
    let agents: Vec<Value> = (0..children)
        .map(|n| json!({"agentId": CHILD, "prompt": format!("part {n}")}))
        .collect();
    Reply::tool_call(id, "spawn_agents", json!({ "agents": agents }))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn p90(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() * 9 / 10).min(values.len() - 1)]
}

/// Scripts a run of `SEQUENTIAL` spawn_agents calls of one child each.
fn script_spawning(fake: &FakeLlm) {
    for n in 0..SEQUENTIAL {
        fake.push(spawn(format!("s{n}"), 1));
        fake.push(Reply::text("child done").with_usage(50, 5));
    }
    fake.push(Reply::text("done").with_usage(500, 20));
}

/// Scripts the baseline: `SEQUENTIAL` calls of getProjectContext.
fn script_baseline(fake: &FakeLlm) {
    for n in 0..SEQUENTIAL {
        fake.push(Reply::tool_call(
            format!("t{n}"),
            "getProjectContext",
            json!({}),
        ));
    }
    fake.push(Reply::text("done").with_usage(500, 20));
}

/// Runs the parent once; its wall time and the time spent inside provider requests.
async fn timed_run(runner: &Runner, db: &DatabaseConnection) -> (Duration, Duration) {
    timed_run_counted(runner, db, false).await.0
}

/// [`timed_run`], and the SQL statements sent from `execute` until `wait` returns, when
/// `count`.
async fn timed_run_counted(
    runner: &Runner,
    db: &DatabaseConnection,
    count: bool,
) -> ((Duration, Duration), u64) {
    let before = runner.provider_time();
    let started = Instant::now();
    let run = async {
        let queued = runner
            .execute(PARENT, "Work with your team.", RunContext::default())
            .await
            .expect("queued");
        runner.wait(queued.id).await.expect("ended")
    };
    let (row, statements) = if count {
        sql_count::statements(run).await
    } else {
        (run.await, 0)
    };
    let wall = started.elapsed();
    assert_eq!(row.status, "completed", "{:?}", row.error_message);
    let children = aladdin::db::executions::unfinished_descendants(db, row.id)
        .await
        .expect("q");
    assert!(children.is_empty(), "no child is left unfinished");
    (
        (wall, runner.provider_time().total - before.total),
        statements,
    )
}

async fn wide_swarm() {
    let fake = FakeLlm::start_with_latency(LATENCY).await;
    let (runner, db, dir) = prepared(&fake).await;
    let mut beyond = Vec::new();
    for run in 0..4 {
        fake.push(spawn("swarm".into(), CHILDREN));
        for _ in 0..CHILDREN {
            fake.push(Reply::text("part done").with_usage(50, 5));
        }
        fake.push(Reply::text("all done").with_usage(500, 20));
        let (wall, _) = timed_run(&runner, &db).await;
        if run > 0 {
            beyond.push((wall.as_secs_f64() - 3.0 * LATENCY.as_secs_f64()) * 1e3);
        }
    }
    runner.shutdown().await;
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    println!(
        "(a) 1 parent × {CHILDREN} children in one spawn_agents call, fake latency {} ms (critical path 3 requests = {} ms), SQLite, 3 runs after a warm-up:",
        LATENCY.as_millis(),
        3 * LATENCY.as_millis()
    );
    println!(
        "    wall time beyond the fake's latency: median {:.0} ms, max {:.0} ms (target < 1000 ms)",
        median(beyond.clone()),
        beyond.iter().copied().fold(0.0, f64::max)
    );
}

/// (b), against a fake that answers at once (`paused`: one that pauses 5 ms inside each text
/// answer, as the tests' fake does).
async fn overhead_per_child(paused: bool) {
    let fake = FakeLlm::start().await;
    if !paused {
        fake.without_pauses();
    }
    let (runner, db, dir) = prepared(&fake).await;
    let mut per_child = Vec::new();
    let mut raw = Vec::new();
    let mut single = Vec::new();
    for run in 0..RUNS + 2 {
        script_spawning(&fake);
        let (wall, inside) = timed_run(&runner, &db).await;
        script_baseline(&fake);
        let (base_wall, base_inside) = timed_run(&runner, &db).await;
        if run < 2 {
            continue; // warm-up
        }
        fake.push(Reply::text("alone").with_usage(50, 5));
        let (one_wall, one_inside) = timed_run(&runner, &db).await;
        single.push(one_wall.saturating_sub(one_inside).as_secs_f64() * 1e3);
        let spawning = wall.saturating_sub(inside).as_secs_f64() * 1e3;
        let baseline = base_wall.saturating_sub(base_inside).as_secs_f64() * 1e3;
        per_child.push((spawning - baseline) / SEQUENTIAL as f64);
        raw.push(spawning / SEQUENTIAL as f64);
    }
    script_spawning(&fake);
    let (_, spawning_sql) = timed_run_counted(&runner, &db, true).await;
    script_baseline(&fake);
    let (_, baseline_sql) = timed_run_counted(&runner, &db, true).await;
    fake.push(Reply::text("alone").with_usage(50, 5));
    let (_, single_sql) = timed_run_counted(&runner, &db, true).await;
    runner.shutdown().await;
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
    if paused {
        println!(
            "(b') the same, the fake pausing 5 ms inside each text answer (the children's, not the baseline's tool calls): the threads go idle during each child's call and wake cold after it, as after any real provider's:"
        );
    } else {
        println!(
            "(b) overhead per child execution, {SEQUENTIAL} spawn_agents calls of one child per run, {RUNS} runs, SQLite, zero-latency fake:"
        );
    }
    println!(
        "    per child (spawning run − baseline run of getProjectContext calls, provider time excluded): median {:.3} ms, p90 {:.3} ms, min {:.3} ms, max {:.3} ms (target ≤ 1 ms)",
        median(per_child.clone()),
        p90(per_child.clone()),
        per_child.iter().copied().fold(f64::INFINITY, f64::min),
        per_child.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    );
    println!(
        "    per spawn step of the parent, child included, provider time excluded: median {:.3} ms",
        median(raw)
    );
    println!(
        "    for comparison, a whole top-level run of one model call, provider time excluded (queue, claim, run, finish): median {:.3} ms, p90 {:.3} ms",
        median(single.clone()),
        p90(single)
    );
    println!(
        "    SQL statements (BEGIN/COMMIT not counted): per child {:.1} (spawning run {spawning_sql} − baseline {baseline_sql}, / {SEQUENTIAL}); a top-level run of one model call {single_sql}",
        (spawning_sql as f64 - baseline_sql as f64) / SEQUENTIAL as f64
    );
}
