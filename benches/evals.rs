//! Eval run benchmark, on SQLite with the fake LLM server over loopback.
//!
//! `cargo bench --bench evals`
//!
//! One eval run of a 200-case dataset (each case an ordinary execution with a `contains`
//! check) against a fake provider that takes 100 ms per request, with the default
//! `EVAL_CONCURRENCY` and `RUNNER_CONCURRENCY`. Reported: the wall time from starting the run
//! to its end (`completed`, totals summed). Target: ≤ 3 s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::runner::{Runner, RunnerOptions};
use aladdin::testing::fake_llm::FakeLlm;
use serde_json::json;

const CASES: usize = 200;
const LATENCY: Duration = Duration::from_millis(100);
const AGENT: &str = "scene-pacing-analyst-001";
const RUNS: usize = 3;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}

async fn bench() {
    let fake = FakeLlm::start_with_latency(LATENCY).await;
    let dir = std::env::temp_dir().join(format!(
        "aladdin-bench-evals-{}",
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
    ]);
    let settings =
        Settings::from_lookup(|k| vars.get(k).cloned().or_else(|| std::env::var(k).ok()))
            .expect("settings");
    let db = aladdin::startup::connect_and_migrate(&settings)
        .await
        .expect("database");
    aladdin::seed::run(&db).await.expect("demo data");
    let agent = aladdin::db::agents::find_by_agent_id(&db, AGENT)
        .await
        .expect("q")
        .expect("agent");
    let cases: Vec<_> = (0..CASES)
        .map(|i| json!({"prompt": format!("Case {i}: report the pacing."), "expected": {"contains": "ok"}}))
        .collect();
    let input = aladdin::domain::evals::DatasetInput::from_json(
        &json!({"name": "bench", "agent": agent.id, "cases": cases}),
    )
    .expect("valid dataset");
    let dataset = aladdin::db::evals::create_dataset(&db, input)
        .await
        .expect("dataset");
    println!(
        "eval run of {CASES} cases, fake latency {} ms, EVAL_CONCURRENCY {}, RUNNER_CONCURRENCY {}",
        LATENCY.as_millis(),
        settings.runner.eval_concurrency,
        settings.runner.concurrency
    );
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
    let mut walls = Vec::new();
    for n in 0..RUNS {
        let run = aladdin::db::evals::insert_run(
            &db,
            aladdin::db::evals::NewRun {
                dataset_id: dataset.id,
                agent_id: agent.id,
                version: None,
                variant: None,
                overrides: None,
                total_cases: i32::try_from(CASES).expect("fits"),
                created_by: None,
            },
        )
        .await
        .expect("run");
        let started = Instant::now();
        runner.start_eval(run.id);
        let ended = loop {
            let row = aladdin::db::evals::find_run(&db, run.id)
                .await
                .expect("q")
                .expect("run");
            if row.status != "pending" && row.status != "running" {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let wall = started.elapsed();
        assert_eq!(ended.status, "completed");
        assert_eq!(
            ended.passed_cases,
            i32::try_from(CASES).expect("fits"),
            "every case passed"
        );
        println!(
            "run {}: {:.2} s wall, passRate {:?}",
            n + 1,
            wall.as_secs_f64(),
            ended.pass_rate
        );
        walls.push(wall.as_secs_f64());
    }
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    println!(
        "median wall time: {median:.2} s (target ≤ 3 s; floor {:.2} s = {CASES} × {} ms / EVAL_CONCURRENCY): {}",
        (CASES as f64 / settings.runner.eval_concurrency as f64).ceil() * LATENCY.as_secs_f64(),
        LATENCY.as_millis(),
        if median <= 3.0 { "OK" } else { "MISSED" }
    );
    runner.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
