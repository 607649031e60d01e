//! Variant choice through the real `Runner::execute`, on a runner that queues but never
//! claims (not started): the stamps and the snapshot of each queued run are what a worker
//! would run.

use aladdin::db;
use aladdin::domain::experiments::ExperimentInput;
use aladdin::runner::{RunContext, Runner};
use serde_json::json;

use super::support::settings_for;
use aladdin::testing::fake_llm::FakeLlm;

/// A fresh seeded database and a runner that is not started.
async fn queue_only() -> (Runner, sea_orm::DatabaseConnection, crate::helpers::DbGuard) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeLlm::start().await;
    let (url, guard) = crate::helpers::fresh_database().await;
    let settings = settings_for(&url, &fake);
    let db = aladdin::startup::connect_and_migrate(&settings)
        .await
        .expect("database");
    aladdin::seed::run(&db).await.expect("demo data");
    let opts = aladdin::runner::RunnerOptions::from_settings(&settings);
    let runner = Runner::new(db.clone(), std::sync::Arc::new(settings), opts)
        .await
        .expect("runner");
    (runner, db, guard)
}

async fn experiment(db: &sea_orm::DatabaseConnection, agent: i32, sticky: &str) -> i32 {
    let input = ExperimentInput::from_json(&json!({
        "name": "70/30", "agent": agent, "status": "running", "stickyBy": sticky,
        "variants": [
            {"name": "control", "weight": 70},
            {"name": "terse", "weight": 30, "overrides": {"instructionsPrompt": "Be terse.", "model": "openai/gpt-4o-mini", "temperature": 0.1}}
        ]
    }))
    .expect("valid");
    db::experiments::create(db, input)
        .await
        .expect("created")
        .id
}

fn in_conversation(id: String) -> RunContext {
    RunContext {
        conversation_id: Some(id),
        ..RunContext::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_runs_follow_a_70_30_split_and_carry_their_variant() {
    let (runner, db, _guard) = queue_only().await;
    let agent = db::agents::find_by_agent_id(&db, "story-head-001")
        .await
        .expect("query")
        .expect("demo agent");
    let exp = experiment(&db, agent.id, "conversation").await;

    let mut terse = 0;
    for i in 0..1000 {
        let row = runner
            .execute("story-head-001", "Go", in_conversation(format!("conv-{i}")))
            .await
            .expect("queued");
        assert_eq!(row.experiment_id, Some(exp));
        assert_eq!(row.agent_version, Some(1));
        match row.variant.as_deref() {
            Some("terse") => {
                terse += 1;
                assert_eq!(row.agent_snapshot["instructionsPrompt"], "Be terse.");
                assert_eq!(row.agent_snapshot["model"], "openai/gpt-4o-mini");
                assert_eq!(row.agent_snapshot["temperature"], 0.1);
            }
            Some("control") => {
                assert_eq!(
                    row.agent_snapshot["instructionsPrompt"],
                    agent.instructions_prompt
                );
            }
            other => panic!("unexpected variant {other:?}"),
        }
    }
    // 30% ± 5 points.
    assert!((250..=350).contains(&terse), "terse got {terse} of 1000");

    // Once stopped, runs get no variant.
    db::experiments::set_status(&db, exp, "stopped")
        .await
        .expect("stopped");
    let row = runner
        .execute("story-head-001", "Go", RunContext::default())
        .await
        .expect("queued");
    assert_eq!(row.experiment_id, None);
    assert_eq!(row.variant, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_keeps_its_variant() {
    let (runner, db, _guard) = queue_only().await;
    let agent = db::agents::find_by_agent_id(&db, "world-head-001")
        .await
        .expect("query")
        .expect("demo agent");
    experiment(&db, agent.id, "conversation").await;
    let mut seen = std::collections::HashSet::new();
    for c in 0..20 {
        let conversation = format!("sticky-{c}");
        let first = runner
            .execute("world-head-001", "1", in_conversation(conversation.clone()))
            .await
            .expect("queued")
            .variant;
        for _ in 0..5 {
            let again = runner
                .execute("world-head-001", "2", in_conversation(conversation.clone()))
                .await
                .expect("queued")
                .variant;
            assert_eq!(again, first, "conversation {conversation}");
        }
        seen.insert(first);
    }
    // 20 conversations at 70/30 all landing on one side would be a broken hash.
    assert_eq!(seen.len(), 2, "{seen:?}");
}
