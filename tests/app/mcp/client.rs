//! Aladdin's agents calling tools on a real MCP server (the official Python SDK's), over
//! streamable HTTP and stdio: allow-lists, timeouts, expired sessions, unreachable servers,
//! admin-only writes and write-only header values.

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use sea_orm::ActiveValue::Set;
use serde_json::{Value, json};

use super::{PyServer, free_port, insert_server, python, script};
use crate::api::Api;
use crate::runner::support::{Rig, Wire, rig, rig_with};

const AGENT: &str = "story-head-001";

/// Creates MCP server `body` as an admin; its document.
async fn create_server(rig: &Rig, body: Value) -> Value {
    let admin = Api::as_role(&rig.app, Role::Admin).await;
    let reply = admin.post("/api/mcp-servers", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["doc"].clone()
}

async fn use_tools(rig: &Rig, names: Value) {
    rig.edit_agent(AGENT, |a| a.tool_names = Set(names)).await;
}

fn http_server(url: &str) -> Value {
    json!({"name": "calc", "transport": "http", "url": url, "isGlobal": true,
           "headers": {"X-Api-Key": "s3cret-value"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_a_tool_over_streamable_http() {
    let rig = rig(Wire::OpenRouter).await;
    let server = PyServer::start().await;
    create_server(&rig, http_server(&server.url)).await;
    use_tools(&rig, json!(["calc/add"])).await;
    rig.fake
        .push(Reply::tool_call("c1", "calc__add", json!({"a": 2, "b": 3})));
    rig.fake.push(Reply::text("Five."));
    let run = rig.run(AGENT, "Add 2 and 3").await;
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let results = rig.events_of(run.id, "tool_result").await;
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["toolName"], "calc/add");
    assert!(results[0]["error"].is_null(), "{results:?}");
    assert!(
        results[0]["output"].to_string().contains('5'),
        "{results:?}"
    );
    // The tool's schema was offered to the model under its wire name (`server__tool`); the
    // model's call by that name reached the `server/tool` tool.
    let offered = rig.requests()[0].to_string();
    assert!(offered.contains("\"calc__add\""), "{offered:.500}");
    assert!(
        !offered.contains("calc/add"),
        "providers accept no `/` in names"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_calls_a_tool_over_stdio_when_allowed() {
    let rig = rig_with(Wire::OpenRouter, |o| o.var("MCP_ALLOW_STDIO", "true")).await;
    create_server(
        &rig,
        json!({"name": "local", "transport": "stdio",
               "command": python().display().to_string(),
               "args": [script("server.py").display().to_string(), "stdio"],
               "isGlobal": true}),
    )
    .await;
    use_tools(&rig, json!(["local/add"])).await;
    rig.fake.push(Reply::tool_call(
        "c1",
        "local/add",
        json!({"a": 40, "b": 2}),
    ));
    rig.fake.push(Reply::text("42."));
    let run = rig.run(AGENT, "Add").await;
    assert_eq!(run.status, "completed");
    let results = rig.events_of(run.id, "tool_result").await;
    assert!(results[0]["error"].is_null(), "{results:?}");
    assert!(
        results[0]["output"].to_string().contains("42"),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_is_refused_at_connect_unless_allowed() {
    let rig = rig(Wire::OpenRouter).await;
    // Saved while stdio was allowed (saving one now is refused: see `admin::stdio_*`).
    insert_server(
        &rig.app.db,
        json!({"name": "local", "transport": "stdio", "command": "true", "isGlobal": true}),
    )
    .await;
    use_tools(&rig, json!(["local/add"])).await;
    rig.fake.push(Reply::text("Without tools."));
    let run = rig.run(AGENT, "Add").await;
    assert_eq!(run.status, "completed");
    let warnings = rig.events_of(run.id, "warning").await.to_vec();
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .is_some_and(|m| m.contains("MCP_ALLOW_STDIO"))),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_keeps_tools_out_of_the_offer_and_uncallable() {
    let rig = rig(Wire::OpenRouter).await;
    let server = PyServer::start().await;
    let mut body = http_server(&server.url);
    body["toolAllowList"] = json!(["add"]);
    create_server(&rig, body).await;
    use_tools(&rig, json!(["calc/add", "calc/secret"])).await;
    rig.fake
        .push(Reply::tool_call("c1", "calc__secret", json!({})));
    rig.fake.push(Reply::text("Done."));
    let run = rig.run(AGENT, "Tell the secret").await;
    assert_eq!(run.status, "completed");
    let offered = rig.requests()[0].to_string();
    assert!(offered.contains("calc__add"));
    assert!(!offered.contains("calc__secret"), "never offered");
    let results = rig.events_of(run.id, "tool_result").await;
    assert!(results[0]["error"].is_string(), "not callable: {results:?}");
    assert!(!results[0].to_string().contains("the secret"));
    let warnings = rig.events_of(run.id, "warning").await;
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .is_some_and(|m| m.contains("toolAllowList"))),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_timeout_bounds_each_call() {
    let rig = rig(Wire::OpenRouter).await;
    let server = PyServer::start().await;
    let mut body = http_server(&server.url);
    body["timeoutMs"] = json!(1000);
    create_server(&rig, body).await;
    use_tools(&rig, json!(["calc/slow"])).await;
    rig.fake
        .push(Reply::tool_call("c1", "calc__slow", json!({"seconds": 30})));
    rig.fake.push(Reply::text("Gave up."));
    let run = rig.run(AGENT, "Wait").await;
    assert_eq!(run.status, "completed");
    let results = rig.events_of(run.id, "tool_result").await;
    let error = results[0]["error"].as_str().expect("an error");
    assert!(error.contains("timed out after 1000 ms"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_reconnects_once_and_the_call_succeeds() {
    let rig = rig(Wire::OpenRouter).await;
    let server = PyServer::start().await;
    create_server(&rig, http_server(&server.url)).await;
    use_tools(&rig, json!(["calc/forget_sessions", "calc/add"])).await;
    rig.fake
        .push(Reply::tool_call("c1", "calc__forget_sessions", json!({})));
    rig.fake
        .push(Reply::tool_call("c2", "calc__add", json!({"a": 1, "b": 1})));
    rig.fake.push(Reply::text("Two."));
    let run = rig.run(AGENT, "Forget, then add").await;
    assert_eq!(run.status, "completed");
    let results = rig.events_of(run.id, "tool_result").await;
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results[0]["error"].is_null(), "{results:?}");
    assert!(
        results[1]["error"].is_null(),
        "the retried call succeeds: {results:?}"
    );
    assert!(
        results[1]["output"].to_string().contains('2'),
        "{results:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_is_a_warning_and_the_run_completes() {
    let rig = rig(Wire::OpenRouter).await;
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    create_server(&rig, http_server(&url)).await;
    use_tools(&rig, json!(["calc/add"])).await;
    rig.fake.push(Reply::text("Without tools."));
    let run = rig.run(AGENT, "Add").await;
    assert_eq!(run.status, "completed");
    let warnings = rig.events_of(run.id, "warning").await;
    assert!(
        warnings.iter().any(|w| w["message"]
            .as_str()
            .is_some_and(|m| m.contains("unreachable"))),
        "{warnings:?}"
    );
    assert!(!rig.requests()[0].to_string().contains("calc__add"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_write_servers_and_header_values_are_never_returned() {
    let rig = rig(Wire::OpenRouter).await;
    let server = PyServer::start().await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let refused = editor
        .post("/api/mcp-servers", http_server(&server.url))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body["errors"][0]["message"].is_string());

    let doc = create_server(&rig, http_server(&server.url)).await;
    let id = doc["id"].as_i64().expect("id");
    assert_eq!(doc["headers"], json!({"X-Api-Key": "********"}));
    assert!(!doc.to_string().contains("s3cret"));
    let patch = editor
        .patch(&format!("/api/mcp-servers/{id}"), json!({"timeoutMs": 5}))
        .await;
    assert_eq!(patch.status, 403, "{}", patch.body);

    let admin = Api::as_role(&rig.app, Role::Admin).await;
    let changed = admin
        .patch(
            &format!("/api/mcp-servers/{id}"),
            json!({"timeoutMs": 5000, "headers": {"X-Api-Key": "********", "X-Other": "v2"}}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert!(!changed.body.to_string().contains("s3cret"));
    let row = aladdin::db::mcp_servers::find_by_id(&rig.app.db, id as i32)
        .await
        .expect("query")
        .expect("row");
    assert_eq!(
        row.headers,
        json!({"X-Api-Key": "s3cret-value", "X-Other": "v2"}),
        "a masked value keeps the stored one"
    );
    let read = editor.get(&format!("/api/mcp-servers/{id}")).await;
    assert_eq!(read.status, 200);
    assert!(!read.body.to_string().contains("s3cret"));

    // Refresh discovers the tools with their schemas.
    let refreshed = editor
        .post(&format!("/api/mcp-servers/{id}/refresh"), json!({}))
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let tools = refreshed.body["doc"]["tools"].as_array().expect("tools");
    let add = tools.iter().find(|t| t["name"] == "add").expect("add");
    assert_eq!(add["inputSchema"]["properties"]["a"]["type"], "integer");

    // The agent form offers the discovered tools as `server/tool`.
    let browser = crate::admin::sign_in_as(&rig.app, Role::Editor).await;
    let form = browser.page("/admin/agents/new", 200).await;
    assert!(form.contains("calc/add"), "the agent form offers calc/add");
}
