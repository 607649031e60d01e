//! Experiments benchmarks, on SQLite (`cargo bench --bench experiments`).
//!
//! (a) What versions and experiments add to queueing a run: `runner::experiments::stamp`
//!     (the one statement reading the agent's last version and its running experiment, the
//!     weighted sticky choice and the snapshot overrides), per execution, with a running
//!     two-variant experiment; and the variant choice alone. Target: ≤ 0.05 ms.
//! (b) `GET /api/experiments/{id}/results`'s computation (`collections::experiments::results`)
//!     for an experiment with 100,000 executions over two variants. Target: ≤ 100 ms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::db;
use aladdin::domain::experiments::{ExperimentInput, choose, stored_variants};
use aladdin::entities::agent_executions;
use aladdin::testing::fake_llm::FakeLlm;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde_json::json;

const STAMPS: usize = 5_000;
const EXECUTIONS: usize = 100_000;
const RESULT_RUNS: usize = 20;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let fake = FakeLlm::start().await;
        let (db, dir, settings) = database(&fake).await;
        let agent = db::agents::find_by_agent_id(&db, "story-head-001")
            .await
            .expect("query")
            .expect("demo agent");
        let input = ExperimentInput::from_json(&json!({
            "name": "bench", "agent": agent.id, "status": "running",
            "variants": [
                {"name": "control", "weight": 70},
                {"name": "terse", "weight": 30, "overrides": {"instructionsPrompt": "Be terse.", "temperature": 0.2}}
            ]
        }))
        .expect("valid");
        let experiment = db::experiments::create(&db, input).await.expect("created");

        stamping(&db, &agent).await;
        queueing(&db, &settings).await;
        choice_only(experiment.id, &experiment.variants);
        results(&db, &agent, &experiment).await;
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    });
}

async fn database(fake: &FakeLlm) -> (DatabaseConnection, std::path::PathBuf, Settings) {
    let dir = std::env::temp_dir().join(format!(
        "aladdin-bench-experiments-{}",
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
    (db, dir, settings)
}

/// (a'') `Runner::execute` end to end on a runner that queues but never claims: an agent with
/// a running experiment against one without; the stamp's read runs beside the department's.
async fn queueing(db: &DatabaseConnection, settings: &Settings) {
    let opts = aladdin::runner::RunnerOptions::from_settings(settings);
    let runner =
        aladdin::runner::Runner::new(db.clone(), std::sync::Arc::new(settings.clone()), opts)
            .await
            .expect("runner");
    for (agent, label) in [
        ("world-head-001", "(a'') execute, agent without experiment"),
        (
            "story-head-001",
            "(a'') execute, agent with a running experiment",
        ),
    ] {
        for i in 0..200 {
            runner
                .execute(
                    agent,
                    "warm",
                    aladdin::runner::RunContext {
                        conversation_id: Some(format!("warm-{i}")),
                        ..Default::default()
                    },
                )
                .await
                .expect("queued");
        }
        let mut samples = Vec::with_capacity(2000);
        for i in 0..2000 {
            let ctx = aladdin::runner::RunContext {
                conversation_id: Some(format!("q-{i}")),
                ..Default::default()
            };
            let start = Instant::now();
            runner.execute(agent, "go", ctx).await.expect("queued");
            samples.push(start.elapsed());
        }
        summary(label, samples, Duration::from_millis(5));
    }
}

fn new_execution(
    agent: &aladdin::entities::agents::Model,
    i: usize,
) -> db::executions::NewExecution {
    db::executions::NewExecution {
        agent_id: Some(agent.id),
        agent_slug: agent.agent_id.clone(),
        department_id: Some(agent.department_id),
        project_id: None,
        episode_id: None,
        conversation_id: format!("conv-{i}"),
        parent_execution_id: None,
        prompt: "bench".into(),
        params: json!({}),
        max_retries: 3,
        agent_snapshot: json!({"model": "m", "instructionsPrompt": "p", "temperature": 0.7}),
        created_by: None,
        depth: 0,
        chain_id: None,
        run_state: None,
        trace_parent: None,
    }
}

fn summary(label: &str, mut samples: Vec<Duration>, target: Duration) {
    samples.sort_unstable();
    let n = samples.len();
    let p = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!(
        "{label}: n={n} mean={:.4} ms p50={:.4} ms p95={:.4} ms p99={:.4} ms (target ≤ {:.3} ms) {}",
        mean.as_secs_f64() * 1e3,
        p(0.5).as_secs_f64() * 1e3,
        p(0.95).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3,
        target.as_secs_f64() * 1e3,
        if p(0.5) <= target { "OK" } else { "OVER" }
    );
}

/// (a) The stamp of a queued run, as `Runner::execute` computes it.
async fn stamping(db: &DatabaseConnection, agent: &aladdin::entities::agents::Model) {
    // Warm the statement cache and the pages.
    for i in 0..200 {
        aladdin::runner::experiments::stamp(db, agent.id, new_execution(agent, i))
            .await
            .expect("stamp");
    }
    let mut samples = Vec::with_capacity(STAMPS);
    let mut terse = 0;
    for i in 0..STAMPS {
        let new = new_execution(agent, i);
        let start = Instant::now();
        let (_, stamp) = aladdin::runner::experiments::stamp(db, agent.id, new)
            .await
            .expect("stamp");
        samples.push(start.elapsed());
        terse += usize::from(stamp.variant.as_deref() == Some("terse"));
    }
    summary(
        "(a) stamp per queued execution (version + experiment read, variant choice, overrides)",
        samples,
        Duration::from_micros(50),
    );
    println!("    variant split: terse {terse} of {STAMPS}");
}

/// (a') The variant choice alone (no database).
fn choice_only(experiment_id: i32, variants: &serde_json::Value) {
    let variants = stored_variants(variants);
    let ids: Vec<String> = (0..100_000).map(|i| format!("conversation-{i}")).collect();
    let start = Instant::now();
    let mut terse = 0usize;
    for id in &ids {
        let v = choose(experiment_id, "conversation", &variants, id).expect("a variant");
        terse += usize::from(v.name == "terse");
    }
    let per = start.elapsed() / ids.len() as u32;
    println!(
        "(a') variant choice alone: {:.5} ms per choice over {} conversations (terse {terse})",
        per.as_secs_f64() * 1e3,
        ids.len()
    );
}

/// (b) Results of an experiment with 100,000 executions.
async fn results(
    db: &DatabaseConnection,
    agent: &aladdin::entities::agents::Model,
    experiment: &aladdin::entities::experiments::Model,
) {
    let loading = Instant::now();
    let statuses = ["completed", "completed", "completed", "failed", "timeout"];
    let ts = aladdin::domain::now();
    let mut batch = Vec::with_capacity(500);
    for i in 0..EXECUTIONS {
        let variant = if i % 10 < 7 { "control" } else { "terse" };
        let status = statuses[i % statuses.len()];
        batch.push(agent_executions::ActiveModel {
            agent_id: Set(Some(agent.id)),
            agent_slug: Set(agent.agent_id.clone()),
            department_id: Set(Some(agent.department_id)),
            conversation_id: Set(format!("c-{i}")),
            prompt: Set("p".into()),
            params: Set(json!({})),
            status: Set(status.into()),
            execution_time_ms: Set(Some(((i * 7919) % 5000) as i64 + 100)),
            input_tokens: Set(100),
            output_tokens: Set(50),
            total_tokens: Set(150 + (i % 100) as i64),
            estimated_cost: Set((status == "completed").then_some(0.001 + (i % 10) as f64 * 1e-4)),
            retry_count: Set(0),
            max_retries: Set(3),
            agent_snapshot: Set(json!({})),
            cancel_requested: Set(false),
            depth: Set(0),
            agent_version: Set(Some(1)),
            experiment_id: Set(Some(experiment.id)),
            variant: Set(Some(variant.into())),
            created_at: Set(ts),
            updated_at: Set(ts),
            ..Default::default()
        });
        if batch.len() == 500 {
            agent_executions::Entity::insert_many(std::mem::take(&mut batch))
                .exec(db)
                .await
                .expect("insert");
        }
    }
    if !batch.is_empty() {
        agent_executions::Entity::insert_many(batch)
            .exec(db)
            .await
            .expect("insert");
    }
    println!(
        "    loaded {EXECUTIONS} executions in {:.1} s",
        loading.elapsed().as_secs_f64()
    );
    // Warm up once (page cache), then measure.
    let first = aladdin::collections::experiments::results(db, experiment)
        .await
        .expect("results");
    let mut samples = Vec::with_capacity(RESULT_RUNS);
    for _ in 0..RESULT_RUNS {
        let start = Instant::now();
        let r = aladdin::collections::experiments::results(db, experiment)
            .await
            .expect("results");
        samples.push(start.elapsed());
        assert_eq!(r, first);
    }
    summary(
        "(b) results for 100,000 executions",
        samples,
        Duration::from_millis(100),
    );
    for v in &first.variants {
        println!(
            "    {}: runs {} successRate {:?} {:?} p50 {:?} p95 {:?} avgCost {:?}",
            v.name,
            v.runs,
            v.success_rate,
            v.success_rate_interval,
            v.p50_duration_ms,
            v.p95_duration_ms,
            v.avg_cost_usd
        );
    }
}
