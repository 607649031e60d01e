//! Property test against the running server: generated query strings (valid and broken
//! bracket syntax, operators, values of every shape) never produce a 500 nor leak SQL.

use aladdin::domain::users::Role;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::helpers::{TestOptions, spawn_app_with};

const FIELDS: &[&str] = &[
    "name",
    "agentId",
    "maxAgentSteps",
    "isActive",
    "createdAt",
    "id",
    "department",
    "department.slug",
    "department.priority",
    "toolNames.toolName",
    "toolNames",
    "executionSettings.temperature",
    "outputSchema",
    "outputSchema.title",
    "performanceMetrics.successRate",
    "lastExecutedAt",
    "password",
    "",
    "a'b",
    "x\"y",
    "department..slug",
    "metadata.a.b",
    "era",
    "order",
    "status",
    "agent.department.slug",
    "tokenUsage.totalTokens",
];
const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "like",
    "not_like",
    "contains",
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "exists",
    "near",
    "all",
    "EQUALS",
    "",
];
const PATHS: &[&str] = &[
    "/api/agents",
    "/api/agents/count",
    "/api/custom-tools",
    "/api/agent-executions",
    "/api/departments/count",
    "/api/users",
    "/api/tool-data/notes",
    "/api/tool-data/notes/count",
    "/api/models",
];

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ,._%'\"\\\\;()\\[\\]{}<>éü✓-]{0,12}",
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("%00".to_owned()),
        Just("%FF%FE".to_owned()),
        Just("NaN".to_owned()),
        Just("-1e400".to_owned()),
        Just("99999999999999999999999".to_owned()),
        Just("2026-01-01T00:00:00Z".to_owned()),
        Just("0000-00-00".to_owned()),
        Just("%".repeat(30)),
        Just("x".repeat(2_000)),
        Just(",,,".to_owned()),
        Just("{\"equals\":1}".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(FIELDS).prop_map(str::to_owned),
        2 => prop::sample::select(OPERATORS).prop_map(str::to_owned),
        1 => Just("and".to_owned()),
        1 => Just("or".to_owned()),
        1 => (0u32..4).prop_map(|i| i.to_string()),
        1 => Just("999999".to_owned()),
        1 => Just(String::new()),
    ]
}

/// One `key=value` pair: mostly `where[...]`, sometimes the other list parameters.
fn pair() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (prop::collection::vec(segment(), 1..7), value())
            .prop_map(|(segs, v)| format!("where[{}]={}", segs.join("]["), v)),
        2 => (prop::sample::select(FIELDS), prop::sample::select(OPERATORS), value())
            .prop_map(|(f, o, v)| format!("where[{f}][{o}]={v}")),
        1 => value().prop_map(|v| format!("where={v}")),
        1 => (prop::sample::select(&["sort", "limit", "page", "depth", "pagination", "project", "where[", "]"][..]), value())
            .prop_map(|(k, v)| format!("{k}={v}")),
        1 => "[^&#]{0,20}",
    ]
}

#[test]
fn no_query_string_makes_the_server_fail_or_leak_sql() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (app, key) = runtime.block_on(async {
        let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
        let (_, key) = super::user_with_key(&app, Role::Admin).await;
        (app, key)
    });
    let client = reqwest::Client::new();
    let cases = std::env::var("API_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::sample::select(PATHS),
        prop::collection::vec(pair(), 0..6),
    );
    runner
        .run(&strategy, |(path, pairs)| {
            let mut query = pairs.join("&");
            if path.contains("tool-data") {
                query.push_str("&project=epic-quest");
            }
            let url = format!("{}{path}?{query}", app.address);
            let (status, body) = runtime.block_on(async {
                let response = client
                    .get(&url)
                    .header("Authorization", format!("users API-Key {key}"))
                    .send()
                    .await
                    .expect("sent");
                (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                )
            });
            prop_assert!(status < 500, "{status} for {url}: {body:.300}");
            prop_assert!(
                serde_json::from_str::<serde_json::Value>(&body).is_ok(),
                "not JSON for {url}: {body:.300}"
            );
            if status >= 400 {
                for leak in [
                    "sqlx",
                    "SQLite",
                    "sqlite",
                    "syntax error",
                    "postgres",
                    "Postgres",
                    "DbErr",
                    "database",
                    "SELECT",
                    "error returned from",
                ] {
                    prop_assert!(!body.contains(leak), "{leak} leaked for {url}: {body:.300}");
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    drop(app);
}

/// Field names of the writable collections and of `execute`, plus names no collection has.
const BODY_FIELDS: &[&str] = &[
    "name",
    "slug",
    "agentId",
    "prompt",
    "projectId",
    "conversationId",
    "episodeId",
    "metadata",
    "wait",
    "description",
    "department",
    "model",
    "instructionsPrompt",
    "toolNames",
    "executionSettings",
    "outputSchema",
    "maxAgentSteps",
    "isActive",
    "priority",
    "color",
    "toolName",
    "executeFunction",
    "inputSchema",
    "modelId",
    "provider",
    "contextWindow",
    "email",
    "password",
    "role",
    "disabled",
    "enableAPIKey",
    "apiKey",
    "status",
    "project",
    "id",
    "",
    "a\u{0}b",
];

/// Body-taking routes (ids of demo documents; the body is what varies).
const BODY_ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/agents/story-head-001/execute"),
    ("POST", "/api/agents"),
    ("PATCH", "/api/agents/2"),
    ("POST", "/api/departments"),
    ("PATCH", "/api/departments/2"),
    ("POST", "/api/custom-tools"),
    ("POST", "/api/projects"),
    ("PATCH", "/api/projects/1"),
    ("POST", "/api/models"),
    ("POST", "/api/users"),
    ("POST", "/api/users/login"),
    ("POST", "/api/tool-data/notes?project=epic-quest"),
    ("PATCH", "/api/agents?where[agentId][equals]=no-such-agent"),
];

fn json_leaf() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        Just(json!(u64::MAX)),
        Just(json!(1e300)),
        "[a-z0-9 ._%'\"\\\\{}<>éü✓-]{0,16}".prop_map(Value::String),
        Just(Value::String("x\u{0}y".into())),
        Just(Value::String("\u{0}".into())),
        Just(Value::String("x".repeat(5_000))),
        Just(Value::String("2026-01-01T00:00:00Z".into())),
        Just(Value::String("{\"type\": \"object\"}".into())),
        Just(Value::String("-1".into())),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(prop::sample::select(BODY_FIELDS), inner, 0..4).prop_map(
                |m| serde_json::Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )
            ),
        ]
    })
}

/// Generated bodies (every field name the API knows, values of every type, NUL characters,
/// huge numbers, nesting) sent to the body-taking routes never make the server fail: every
/// answer is below 500 and JSON, on SQLite and PostgreSQL alike.
#[test]
fn no_body_makes_the_server_fail() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (app, key) = runtime.block_on(async {
        let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
        let (_, key) = super::user_with_key(&app, Role::Admin).await;
        (app, key)
    });
    let client = reqwest::Client::new();
    let cases = std::env::var("API_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(150);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let body = prop::collection::btree_map(prop::sample::select(BODY_FIELDS), json_value(), 0..6);
    let strategy = (prop::sample::select(BODY_ROUTES), body);
    runner
        .run(&strategy, |((method, path), body)| {
            let body: serde_json::Map<String, serde_json::Value> =
                body.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            let url = format!("{}{path}", app.address);
            let (status, text) = runtime.block_on(async {
                let response = client
                    .request(
                        reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
                        &url,
                    )
                    .header("Authorization", format!("users API-Key {key}"))
                    .json(&body)
                    .send()
                    .await
                    .expect("sent");
                (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                )
            });
            let shown = serde_json::Value::Object(body).to_string();
            prop_assert!(
                status < 500,
                "{status} for {method} {path} {shown:.300}: {text:.300}"
            );
            let json = serde_json::from_str::<serde_json::Value>(&text);
            prop_assert!(json.is_ok(), "not JSON for {method} {path}: {text:.300}");
            if status >= 400 {
                let json = json.unwrap_or_default();
                prop_assert!(
                    json["errors"][0]["message"].is_string() || json["message"].is_string(),
                    "no envelope for {method} {path}: {text:.300}"
                );
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    drop(app);
}
