//! Approve → next provider request, measured: `cargo bench --bench approvals`.
//!
//! The real application (HTTP server, runner with its default options) on a fresh SQLite
//! database with the demo data, an agent whose `refund` tool always needs approval, and the
//! fake LLM over loopback (OpenRouter wire) scripted with one `refund` call per step, 42 steps
//! per run (a run makes at most 100 model calls). For each of 200 iterations: the run waits (`awaiting_approval`); the bench sends
//! `POST /api/approvals/{id}/approve` and measures from just before the request is sent to the
//! arrival of the model request that carries the approved call's result (the fake records its
//! arrival time): decision, resume on the same row, claim, rebuild from the checkpoint, the
//! tool call in the sandbox, and the provider request. The first 10 iterations are a warm-up.
//! Target: p99 ≤ 20 ms.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aladdin::config::Settings;
use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::{FakeLlm, Reply};
use serde_json::json;

const ITERATIONS: usize = 200;
const WARM_UP: usize = 10;
/// Approvals per run (a run makes at most 100 model calls).
const PER_RUN: usize = 42;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(measure());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn measure() {
    let fake = FakeLlm::start().await;
    let dir = std::env::temp_dir().join(format!(
        "aladdin-bench-approvals-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let vars: HashMap<String, String> = HashMap::from([
        (
            "DATABASE_URL".into(),
            format!("sqlite://{}/aladdin.db?mode=rwc", dir.display()),
        ),
        ("BIND".into(), "127.0.0.1:0".into()),
        ("SEED_DEMO".into(), "true".into()),
        ("OPENROUTER_BASE_URL".into(), fake.openai_base()),
        ("OPENROUTER_API_KEY".into(), "sk-or-bench".into()),
    ]);
    let settings =
        Settings::from_lookup(|k| vars.get(k).cloned().or_else(|| std::env::var(k).ok()))
            .expect("settings");
    let app = aladdin::startup::Application::build(settings)
        .await
        .expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    let runner = app.state().runner.clone();
    tokio::spawn(app.run());

    // An editor's API key, the tool, and an agent allowed enough steps.
    let user = aladdin::db::users::create_with_password(
        &db,
        "bench@example.com",
        "Bench",
        Role::Editor,
        "!".into(),
    )
    .await
    .expect("user");
    let key = aladdin::auth::tokens::generate();
    aladdin::db::users::set_api_key(&db, user.id, Some(aladdin::auth::tokens::hash(&key)), true)
        .await
        .expect("key");
    let tool = aladdin::domain::custom_tools::ToolInput::from_json(&json!({
        "toolName": "refund",
        "description": "Refunds an amount.",
        "inputSchema": {"type": "object", "properties": {"amount": {"type": "number"}}},
        "executeFunction": "async (input) => ({ refunded: input.amount })",
        "isGlobal": true,
        "approval": {"mode": "always"},
    }))
    .expect("tool input");
    aladdin::db::custom_tools::create(&db, tool)
        .await
        .expect("tool");
    let agent = aladdin::db::agents::find_by_agent_id(&db, "video-head-001")
        .await
        .expect("q")
        .expect("agent");
    let mut agent = sea_orm::IntoActiveModel::into_active_model(agent);
    agent.max_agent_steps = sea_orm::ActiveValue::Set(Some(1000));
    agent.tool_names = sea_orm::ActiveValue::Set(json!([{"toolName": "refund"}]));
    sea_orm::ActiveModelTrait::update(agent, &db)
        .await
        .expect("agent updated");

    // A run makes at most 100 model calls: the iterations are spread over runs of
    // `PER_RUN` approvals each.
    let client = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(ITERATIONS);
    let mut n = 0;
    while n < ITERATIONS + WARM_UP {
        let calls = PER_RUN.min(ITERATIONS + WARM_UP - n);
        for k in 0..calls {
            fake.push(Reply::tool_call(
                format!("c{}", n + k),
                "refund",
                json!({"amount": n + k}),
            ));
        }
        fake.push(Reply::text("Done."));
        let run = runner
            .execute("video-head-001", "Refund everyone.", Default::default())
            .await
            .expect("queued");
        for _ in 0..calls {
            let row = runner.wait(run.id).await.expect("settled");
            assert_eq!(
                row.status, "awaiting_approval",
                "iteration {n}: {:?}",
                row.error_message
            );
            let pending = aladdin::db::approvals::pending_of(&db, run.id)
                .await
                .expect("q");
            let id = pending[0].id;
            let before = fake.request_count();
            let sent = Instant::now();
            let reply = client
                .post(format!("{base}/api/approvals/{id}/approve"))
                .header("Authorization", format!("users API-Key {key}"))
                .json(&json!({}))
                .send()
                .await
                .expect("approve");
            assert_eq!(reply.status().as_u16(), 200);
            // A run that ended instead of asking the model again fails the bench.
            while fake.request_count() <= before {
                assert!(
                    sent.elapsed() < Duration::from_secs(10),
                    "iteration {n}: no model request 10 s after the approval"
                );
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            let arrived = fake.arrival(before).expect("the request just counted");
            if n >= WARM_UP {
                latencies.push(arrived.duration_since(sent).as_secs_f64() * 1000.0);
            }
            n += 1;
        }
        let done = runner.wait(run.id).await.expect("done");
        assert_eq!(done.status, "completed", "{:?}", done.error_message);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "approvals: approve → next provider request, {ITERATIONS} iterations (after {WARM_UP} warm-up), SQLite, HTTP POST approve to the fake's recorded arrival"
    );
    println!(
        "p50 {:.2} ms · p90 {:.2} ms · p99 {:.2} ms · max {:.2} ms (target p99 ≤ 20 ms)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies[latencies.len() - 1]
    );
    runner.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
