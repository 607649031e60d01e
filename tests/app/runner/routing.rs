//! `modelRouting`: the first rule whose `when` matches `{promptLength, department,
//! metadata.*}` picks the model; the decision is in the execution's snapshot. The in-memory
//! where-engine that decides gives the same answers as the SQL engine of the API.

use aladdin::domain::routing::{ROUTING_FIELDS, routing_document};
use aladdin::query::{Dialect, memory, sql, where_clause};
use aladdin::runner::RunContext;
use aladdin::testing::fake_llm::Reply;
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::{Value, json};

use super::support::{Wire, rig};
use crate::on_both_wires;

on_both_wires!(each_routing_predicate_picks_its_model_and_the_snapshot_says_so);

async fn each_routing_predicate_picks_its_model_and_the_snapshot_says_so(wire: Wire) {
    // Arrange: one rule per predicate, first match wins
    let rig = rig(wire).await;
    rig.edit_agent("video-head-001", |a| {
        a.model_routing = Set(json!([
            {"when": {"promptLength": {"greater_than": 40}}, "model": "anthropic/claude-haiku-4.5"},
            {"when": {"metadata.tier": {"equals": "free"}}, "model": "anthropic/claude-3.5-haiku"},
            {"when": {"department": {"equals": "video"}, "metadata.draft": {"exists": true}}, "model": "anthropic/claude-3.5-sonnet"},
        ]));
    })
    .await;
    let cases = [
        (
            "A prompt that is longer than forty characters, surely.",
            json!({}),
            Some((0, "anthropic/claude-haiku-4.5")),
        ),
        (
            "Short.",
            json!({"tier": "free"}),
            Some((1, "anthropic/claude-3.5-haiku")),
        ),
        (
            "Short.",
            json!({"draft": 1}),
            Some((2, "anthropic/claude-3.5-sonnet")),
        ),
        ("Short.", json!({"tier": "pro"}), None),
    ];
    for (prompt, metadata, expected) in cases {
        rig.fake.push(Reply::text("ok"));
        let ctx = RunContext {
            metadata: metadata.clone(),
            ..rig.context().await
        };
        let run = rig.run_with("video-head-001", prompt, ctx).await;

        // Assert: the model used, the snapshot, the start event and the request
        assert_eq!(run.status, "completed", "{:?}", run.error_message);
        let snapshot = &run.agent_snapshot;
        let model = match expected {
            Some((rule, model)) => {
                assert_eq!(
                    snapshot["routing"],
                    json!({"rule": rule, "model": model}),
                    "{metadata}"
                );
                model
            }
            None => {
                assert_eq!(snapshot["routing"], Value::Null, "{metadata}");
                "anthropic/claude-sonnet-4.5"
            }
        };
        assert_eq!(snapshot["model"], model);
        if let Some((rule, _)) = expected {
            let viewer =
                crate::admin::sign_in_as(&rig.app, aladdin::domain::users::Role::Viewer).await;
            let page = viewer.get(&format!("/admin/executions/{}", run.id)).await;
            let html = page.text().await.expect("html");
            let said = format!("rule {} of modelRouting chose {model}", rule + 1);
            assert!(html.contains(&said), "{said}");
        }
        assert_eq!(rig.events_of(run.id, "start").await[0]["model"], model);
        let sent = rig.requests().last().cloned().expect("a request");
        let sent_model = sent["model"].as_str().unwrap_or_default().to_owned();
        let bare = model.trim_start_matches("anthropic/").replace('.', "-");
        assert!(
            sent_model == model || sent_model == bare,
            "{sent_model} for {model}"
        );
    }
}

#[tokio::test]
async fn bad_routing_rules_are_refused_with_their_field_path() {
    let app =
        crate::helpers::spawn_app_with(crate::helpers::TestOptions::default().with_demo_data())
            .await;
    let api = crate::api::Api::as_role(&app, aladdin::domain::users::Role::Editor).await;
    let agents = api
        .get("/api/agents?where[agentId][equals]=video-head-001")
        .await;
    let id = agents.body["docs"][0]["id"].clone();
    let reply = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/agents/{id}"),
            Some(json!({
                "modelRouting": [
                    {"when": {"promptLength": {"longer_than": 10}}, "model": "m"},
                    {"when": {"tokens": {"equals": 1}}, "model": "m"},
                ],
                "fallbackModels": [{"model": ""}],
            })),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let errors = reply.body["errors"].to_string();
    for path in [
        "modelRouting.0.when",
        "modelRouting.1.when",
        "fallbackModels.0.model",
    ] {
        assert!(errors.contains(path), "{path} in {errors}");
    }
    assert!(errors.contains("longer_than"), "{errors}");

    // A valid rule is saved and returned as sent
    let rules = json!([{"when": {"metadata.tier": {"in": ["free", "trial"]}}, "model": "openai/gpt-4o-mini"}]);
    let saved = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/agents/{id}"),
            Some(
                json!({"modelRouting": rules, "fallbackModels": [{"model": "openai/gpt-4o-mini"}]}),
            ),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(saved.body["doc"]["modelRouting"], rules);
    assert_eq!(
        saved.body["doc"]["fallbackModels"],
        json!([{"model": "openai/gpt-4o-mini"}])
    );
}

/// The routing documents of the equivalence test.
fn documents() -> Vec<Value> {
    vec![
        routing_document(
            "short",
            "video",
            &json!({"tier": "free", "n": 3, "tags": "a b"}),
        ),
        routing_document(
            &"x".repeat(500),
            "story",
            &json!({"tier": "pro", "n": 10.5}),
        ),
        routing_document(
            "mid length prompt",
            "video",
            &json!({"draft": true, "n": "7"}),
        ),
        routing_document("", "audio", &json!({})),
    ]
}

/// Conditions covering every operator on each kind of routing field.
fn conditions() -> Vec<Value> {
    vec![
        json!({"promptLength": {"greater_than": 10}}),
        json!({"promptLength": {"less_than_equal": 5}}),
        json!({"promptLength": {"in": [0, 17]}}),
        json!({"promptLength": {"not_in": "5,500"}}),
        json!({"department": {"equals": "video"}}),
        json!({"department": {"not_equals": "video"}}),
        json!({"department": {"like": "VID"}}),
        json!({"department": {"not_like": "o"}}),
        json!({"department": {"contains": "ud"}}),
        json!({"department": {"greater_than": "story"}}),
        json!({"metadata.tier": {"equals": "free"}}),
        json!({"metadata.tier": {"not_equals": "free"}}),
        json!({"metadata.tier": {"exists": false}}),
        json!({"metadata.n": {"greater_than": 5}}),
        json!({"metadata.n": {"equals": 7}}),
        json!({"metadata.n": {"in": [3, "7"]}}),
        json!({"metadata.draft": {"equals": true}}),
        json!({"metadata.tags": {"like": "b a"}}),
        json!({"metadata": {"contains": "pro"}}),
        json!({"or": [{"metadata.tier": {"equals": "pro"}}, {"promptLength": {"equals": 0}}]}),
        json!({"and": [{"department": {"equals": "video"}}, {"promptLength": {"less_than": 10}}]}),
    ]
}

#[tokio::test]
async fn the_in_memory_engine_gives_the_sql_engines_answers() {
    // Arrange: the routing documents as rows of a table shaped like the routing field map
    let (url, _guard) = crate::helpers::fresh_database().await;
    let db = Database::connect(&url).await.expect("database");
    let dialect = Dialect::from(db.get_database_backend());
    let json_type = if dialect == Dialect::Postgres {
        "JSONB"
    } else {
        "TEXT"
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE model_routing (id INTEGER PRIMARY KEY, prompt_length BIGINT, department TEXT, metadata {json_type})"
    ))
    .await
    .expect("table");
    let docs = documents();
    for (i, doc) in docs.iter().enumerate() {
        let cast = if dialect == Dialect::Postgres {
            "::jsonb"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO model_routing VALUES ({i}, {}, '{}', '{}'{cast})",
            doc["promptLength"],
            doc["department"].as_str().unwrap_or_default(),
            doc["metadata"]
        );
        db.execute_unprepared(&sql).await.expect("row");
    }

    for condition in conditions() {
        // Act
        let parsed = where_clause::parse(&condition).expect("parses");
        let in_memory: Vec<usize> = (0..docs.len())
            .filter(|i| memory::matches(&ROUTING_FIELDS, &parsed, &docs[*i]).expect("evaluates"))
            .collect();
        let (filter, values) = sql::render(&ROUTING_FIELDS, &parsed, dialect).expect("renders");
        let statement = Statement::from_sql_and_values(
            db.get_database_backend(),
            format!("SELECT id FROM model_routing WHERE {filter} ORDER BY id"),
            values,
        );
        let in_sql: Vec<usize> = db
            .query_all_raw(statement)
            .await
            .expect("query")
            .iter()
            .map(|row| row.try_get::<i32>("", "id").expect("id") as usize)
            .collect();

        // Assert
        assert_eq!(in_memory, in_sql, "{condition}");
    }
}
