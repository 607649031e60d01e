//! Tool calls: a multi-step run with a real demo tool writing project data, input validation
//! fed back to the model, structured output through `set_output`, the built-ins, the
//! warnings for tools that cannot be loaded, and a tool counting and paging a collection of
//! more than ten thousand documents.

use aladdin::db;
use aladdin::domain::users::Role;
use aladdin::entities::custom_tools;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend, Statement,
};
use serde_json::{Value, json};

use super::support::{Rig, Wire, rig};
use crate::on_both_wires;

on_both_wires!(
    a_multi_step_tool_run_saves_a_world_rule_in_the_project,
    invalid_tool_input_goes_back_to_the_model_as_the_tool_result,
    structured_output_arrives_through_set_output_after_a_rejected_attempt,
);

/// Whether any string inside `value` contains `needle`.
pub fn mentions(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| mentions(v, needle)),
        Value::Object(map) => map.values().any(|v| mentions(v, needle)),
        _ => false,
    }
}

/// Names of the tools offered in a request body (either wire format).
fn offered_tools(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    t["function"]["name"]
                        .as_str()
                        .or_else(|| t["name"].as_str())
                })
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

const RULE: &str = "Every spell costs its caster one memory, and lost memories never return.";

async fn a_multi_step_tool_run_saves_a_world_rule_in_the_project(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake
        .push(Reply::tool_call("call_1", "getProjectContext", json!({})).with_usage(50, 5));
    rig.fake.push(
        Reply::tool_call(
            "call_2",
            "saveWorldRule",
            json!({"category": "magic", "rule": RULE, "importance": "critical"}),
        )
        .with_usage(80, 20),
    );
    rig.fake
        .push(Reply::text("Saved the rule.").with_usage(120, 8));

    // Act
    let run = rig
        .run("world-builder-001", "Define how magic is paid for.")
        .await;

    // Assert: completed after three model calls, the events in order
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output_text.as_deref(), Some("Saved the rule."));
    assert_eq!(run.output, Some(json!("Saved the rule.")));
    assert_eq!(rig.fake.request_count(), 3);
    assert_eq!(
        rig.kinds(run.id).await,
        [
            "start",
            "status",
            "usage",
            "tool_call",
            "tool_result",
            "usage",
            "tool_call",
            "tool_result",
            "usage",
            "text",
            "finish",
            "status"
        ]
    );
    let seqs: Vec<i64> = rig
        .events(run.id)
        .await
        .iter()
        .filter_map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<i64>>());

    // Assert: the project context went back to the model, the rule was saved in the project
    let results = rig.events_of(run.id, "tool_result").await;
    assert_eq!(results[0]["output"]["slug"], "epic-quest");
    assert_eq!(results[1]["output"]["saved"], true, "{}", results[1]);
    assert!(
        results[1]["console"]
            .as_str()
            .is_some_and(|c| c.contains("saved world rule"))
    );
    assert!(results[1]["durationMs"].is_u64());
    assert!(mentions(&rig.requests()[1]["messages"], "Epic Quest"));
    assert!(mentions(&rig.requests()[2]["messages"], "rulesInCategory"));
    let project = rig.project_id().await;
    let docs = db::tool_documents::scoped(project, "world-rules")
        .all(&rig.app.db)
        .await
        .expect("docs");
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].data["rule"], RULE);
    assert_eq!(docs[0].data["importance"], "critical");

    // Assert: tool metrics counted once, atomically
    let tool = db::custom_tools::find_by_name(&rig.app.db, "saveWorldRule")
        .await
        .expect("q")
        .expect("tool");
    assert_eq!((tool.total_calls, tool.failed_calls), (1, 0));
}

async fn invalid_tool_input_goes_back_to_the_model_as_the_tool_result(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake.push(Reply::tool_call(
        "call_1",
        "saveWorldRule",
        json!({"category": "dragons"}),
    ));
    rig.fake.push(Reply::text("I will fix my input next time."));

    // Act
    let run = rig.run("world-builder-001", "Save a rule.").await;

    // Assert: the validation errors are the tool result, in the next request
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let result = &rig.events_of(run.id, "tool_result").await[0];
    let error = result["error"].as_str().expect("an error");
    assert!(
        error.starts_with("Invalid input for saveWorldRule"),
        "{error}"
    );
    assert!(error.contains("\"rule\" is a required property"), "{error}");
    assert!(error.contains("at /category"), "{error}");
    let next = &rig.requests()[1]["messages"];
    assert!(mentions(next, "\"rule\" is a required property"), "{next}");
    assert!(mentions(next, "Invalid input for saveWorldRule"), "{next}");

    // Assert: the tool never ran
    let tool = db::custom_tools::find_by_name(&rig.app.db, "saveWorldRule")
        .await
        .expect("q")
        .expect("tool");
    assert_eq!(tool.total_calls, 0);
}

fn screenplay() -> Value {
    json!({
        "screenplay": "INT. MAP ROOM - NIGHT\n\nMIRA studies the shifting map.",
        "scenes": [{"sceneNumber": 1, "heading": "INT. MAP ROOM - NIGHT", "type": "dialogue",
                    "summary": "Mira finds the map has moved.", "characters": ["Mira"], "estimatedPages": 1.5}]
    })
}

async fn structured_output_arrives_through_set_output_after_a_rejected_attempt(wire: Wire) {
    // Arrange
    let rig = rig(wire).await;
    rig.fake.push(Reply::tool_call(
        "call_1",
        "set_output",
        json!({"screenplay": "too short"}),
    ));
    rig.fake
        .push(Reply::tool_call("call_2", "set_output", screenplay()));

    // Act
    let run = rig.run("story-processor-001", "Write scene one.").await;

    // Assert: the valid output ends the run at once
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output, Some(screenplay()));
    assert!(
        run.output_text
            .as_deref()
            .is_some_and(|t| t.contains("\"sceneNumber\": 1"))
    );
    assert_eq!(rig.fake.request_count(), 2);
    let first = &rig.requests()[0];
    assert!(
        offered_tools(first).contains(&"set_output".to_owned()),
        "{first}"
    );
    assert!(
        !first.to_string().contains("json-schema.org"),
        "$schema is stripped for providers"
    );
    assert!(mentions(first, "call the `set_output` tool"));
    assert!(mentions(
        &rig.requests()[1]["messages"],
        "\"scenes\" is a required property"
    ));
    let finish = &rig.events_of(run.id, "finish").await[0];
    assert_eq!(finish["output"], screenplay());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_agent_that_answers_in_prose_fails_with_invalid_output() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.fake
        .push(Reply::text("Here is your screenplay, in prose."));

    // Act
    let run = rig.run("story-processor-001", "Write scene one.").await;

    // Assert
    assert_eq!(run.status, "failed");
    assert_eq!(run.error_code.as_deref(), Some("invalid_output"));
    assert_eq!(
        run.output_text.as_deref(),
        Some("Here is your screenplay, in prose.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_structured_agent_that_answers_with_valid_json_text_completes() {
    let rig = rig(Wire::Anthropic).await;
    rig.fake
        .push(Reply::text(format!("```json\n{}\n```", screenplay())));
    let run = rig.run("story-processor-001", "Write scene one.").await;
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output, Some(screenplay()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_project_context_refuses_another_project() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    rig.fake.push(Reply::tool_calls(vec![
        (
            "c1".into(),
            "getProjectContext".into(),
            json!({"projectId": 424242}),
        ),
        (
            "c2".into(),
            "getProjectContext".into(),
            json!({"projectId": "epic-quest"}),
        ),
    ]));
    rig.fake.push(Reply::text("ok"));

    // Act
    let run = rig.run("video-head-001", "What are we making?").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let results = rig.events_of(run.id, "tool_result").await;
    assert!(
        results[0]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Access denied")),
        "{}",
        results[0]
    );
    assert_eq!(results[0]["output"], Value::Null);
    assert_eq!(results[1]["output"]["name"], "Epic Quest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_and_broken_tools_become_warnings_and_the_run_goes_on() {
    // Arrange: a tool whose code does not compile, and a name that does not exist
    let rig = rig(Wire::OpenRouter).await;
    let ts = aladdin::domain::now();
    custom_tools::ActiveModel {
        tool_name: Set("brokenTool".into()),
        display_name: Set("Broken".into()),
        description: Set("Never compiles".into()),
        input_schema: Set(json!({"type": "object"})),
        example_inputs: Set(json!([])),
        execute_function: Set("async (input) => { return (".into()),
        is_global: Set(true),
        is_active: Set(true),
        timeout_ms: Set(1000),
        version: Set("1".into()),
        total_calls: Set(0),
        failed_calls: Set(0),
        total_execution_time_ms: Set(0),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(&rig.app.db)
    .await
    .expect("tool inserted");
    let names = json!([{"toolName": "saveWorldRule"}, {"toolName": "noSuchTool"}, {"toolName": "brokenTool"},
                       {"toolName": "validatePlotStructure"}]);
    rig.edit_agent("world-builder-001", |a| a.tool_names = Set(names))
        .await;
    rig.fake.push(Reply::text("Done."));

    // Act
    let run = rig.run("world-builder-001", "Go.").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let warnings: Vec<String> = rig
        .events_of(run.id, "warning")
        .await
        .iter()
        .filter_map(|w| w["message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        warnings.contains(
            &"Tool noSuchTool is not available: no custom tool has this name.".to_owned()
        ),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(
            &"Tool validatePlotStructure is not available: it is neither global nor shared with the agent's department."
                .to_owned()
        ),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("Tool brokenTool was skipped: its code does not compile")),
        "{warnings:?}"
    );
    let start = &rig.events_of(run.id, "start").await[0];
    assert_eq!(
        start["tools"],
        json!(["getProjectContext", "saveWorldRule"])
    );
    assert_eq!(
        offered_tools(&rig.requests()[0]),
        ["getProjectContext", "saveWorldRule"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_tool_name_from_the_model_is_answered_with_the_available_tools() {
    let rig: Rig = rig(Wire::Anthropic).await;
    rig.fake.push(Reply::tool_call("c1", "rm_rf", json!({})));
    rig.fake.push(Reply::text("ok"));
    let run = rig.run("video-head-001", "Go.").await;
    assert_eq!(run.status, "completed");
    let result = &rig.events_of(run.id, "tool_result").await[0];
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("Unknown tool `rm_rf`")),
        "{result}"
    );
}

/// Inserts `count` documents `{n, parity}` (n = 1..=count) into `collection` of `project` in
/// one SQL statement, as a big tool data collection would have grown.
async fn insert_numbered(db: &DatabaseConnection, project: i32, collection: &str, count: i32) {
    let backend = db.get_database_backend();
    let (object, marks) = match backend {
        DbBackend::Postgres => (
            "jsonb_build_object('n', i, 'parity', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END)",
            ["$1", "$2", "$3", "$4", "$5"],
        ),
        _ => (
            "json_object('n', i, 'parity', CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END)",
            ["?"; 5],
        ),
    };
    let [
        count_mark,
        collection_mark,
        project_mark,
        created_mark,
        updated_mark,
    ] = marks;
    let sql = format!(
        "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {count_mark}) \
         INSERT INTO tool_documents (collection, project_id, data, created_at, updated_at) \
         SELECT {collection_mark}, {project_mark}, {object}, {created_mark}, {updated_mark} FROM seq"
    );
    let now = aladdin::domain::now();
    let inserted = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                count.into(),
                collection.into(),
                project.into(),
                now.into(),
                now.into(),
            ],
        ))
        .await
        .expect("documents inserted");
    assert_eq!(
        inserted.rows_affected(),
        u64::try_from(count).expect("count")
    );
}

const PROBE: &str = r#"async (input, { payload }) => {
  const all = await payload.count({ collection: 'numbered' });
  const even = await payload.count({ collection: 'numbered', where: { parity: { equals: 'even' } } });
  const late = await payload.find({ collection: 'numbered', sort: 'n', limit: 100, page: 101 });
  const top = await payload.find({ collection: 'numbered', where: { n: { greater_than: 10000 } }, sort: '-n', limit: 10 });
  const odd = await payload.count({ collection: 'numbered', where: { and: [{ n: { greater_than: 10040 } }, { parity: { not_equals: 'even' } }] } });
  return {
    all: all.totalDocs, even: even.totalDocs,
    late: { totalDocs: late.totalDocs, totalPages: late.totalPages, page: late.page, hasNextPage: late.hasNextPage,
            hasPrevPage: late.hasPrevPage, count: late.docs.length, first: late.docs[0].n, last: late.docs[late.docs.length - 1].n },
    top: { totalDocs: top.totalDocs, first: top.docs[0].n, collection: top.docs[0].collection },
    odd: odd.totalDocs,
  };
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_and_pages_are_exact_past_ten_thousand_documents() {
    // Arrange: 10,050 documents in the demo project, 7 in another, and a tool that reads them
    let rig = rig(Wire::OpenRouter).await;
    let quest = rig.project_id().await;
    let admin = crate::api::Api::as_role(&rig.app, Role::Admin).await;
    let other = admin
        .post("/api/projects", json!({"name": "Other", "slug": "other"}))
        .await;
    let other = i32::try_from(other.body["doc"]["id"].as_i64().expect("id")).expect("id");
    insert_numbered(&rig.app.db, quest, "numbered", 10_050).await;
    insert_numbered(&rig.app.db, other, "numbered", 7).await;
    let ts = aladdin::domain::now();
    custom_tools::ActiveModel {
        tool_name: Set("probeNumbered".into()),
        display_name: Set("Probe".into()),
        description: Set("Counts and pages the numbered documents".into()),
        input_schema: Set(json!({"type": "object"})),
        example_inputs: Set(json!([])),
        execute_function: Set(PROBE.into()),
        is_global: Set(true),
        is_active: Set(true),
        timeout_ms: Set(30_000),
        version: Set("1".into()),
        total_calls: Set(0),
        failed_calls: Set(0),
        total_execution_time_ms: Set(0),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(&rig.app.db)
    .await
    .expect("tool inserted");
    rig.edit_agent("world-builder-001", |a| {
        a.tool_names = Set(json!([{"toolName": "probeNumbered"}]))
    })
    .await;
    rig.fake
        .push(Reply::tool_call("call_1", "probeNumbered", json!({})));
    rig.fake.push(Reply::text("Counted."));

    // Act: the tool runs in the sandbox
    let run = rig.run("world-builder-001", "Count the documents.").await;

    // Assert: exact totals and late pages in the sandbox, within the run's project
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let result = &rig.events_of(run.id, "tool_result").await[0];
    assert_eq!(
        result["output"],
        json!({
            "all": 10_050, "even": 5_025,
            "late": {"totalDocs": 10_050, "totalPages": 101, "page": 101, "hasNextPage": false,
                     "hasPrevPage": true, "count": 50, "first": 10_001, "last": 10_050},
            "top": {"totalDocs": 50, "first": 10_050, "collection": "numbered"},
            "odd": 5,
        }),
        "{result}"
    );

    // Assert: the same through /api/tool-data/{collection}
    let late = admin
        .get("/api/tool-data/numbered?project=epic-quest&sort=n&limit=100&page=101")
        .await;
    assert_eq!(
        (
            late.body["totalDocs"].clone(),
            late.body["totalPages"].clone(),
            late.body["docs"][0]["n"].clone(),
            late.body["docs"].as_array().map(Vec::len)
        ),
        (json!(10_050), json!(101), json!(10_001), Some(50)),
    );
    let even = admin
        .get("/api/tool-data/numbered/count?project=epic-quest&where[parity][equals]=even")
        .await;
    assert_eq!(even.body["totalDocs"], 5_025);

    // Assert: and through /api/{collection}, across projects or narrowed to one
    assert_eq!(
        admin.get("/api/numbered/count").await.body["totalDocs"],
        10_057
    );
    let last = admin
        .get(&format!(
            "/api/numbered?where[project][equals]={quest}&sort=-n&limit=1000&page=11"
        ))
        .await;
    assert_eq!(
        (
            last.body["totalDocs"].clone(),
            last.body["totalPages"].clone(),
            last.body["docs"][0]["n"].clone(),
            last.body["docs"].as_array().map(Vec::len)
        ),
        (json!(10_050), json!(11), json!(50), Some(50)),
    );
    let theirs = admin
        .get(&format!(
            "/api/numbered/count?where[project][equals]={other}&where[parity][equals]=odd"
        ))
        .await;
    assert_eq!(theirs.body["totalDocs"], 4);
}
