//! Payload's `where`: every operator, nested and/or, JSON-string where, relation subfields,
//! array and JSON paths, values converted by type, sort, and query errors.

use aladdin::domain::users::Role;
use serde_json::json;

use super::{Api, agent_ids, error_message};
use crate::helpers::{TestApp, TestOptions, spawn_app_with};

async fn demo() -> (TestApp, Api) {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Viewer).await;
    (app, api)
}

async fn count(api: &Api, query: &str) -> u64 {
    let reply = api.get(&format!("/api/agents/count?{query}")).await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.body["totalDocs"].as_u64().expect("totalDocs")
}

#[tokio::test]
async fn every_operator_filters_by_the_fields_type() {
    let (_app, api) = demo().await;
    let cases: &[(&str, u64)] = &[
        ("where[isDepartmentHead][equals]=true", 7),
        ("where[isDepartmentHead][equals]=false", 8),
        ("where[maxAgentSteps][equals]=20", 4),
        ("where[maxAgentSteps][not_equals]=20", 11),
        ("where[maxAgentSteps][in]=10,8", 4),
        (
            "where[maxAgentSteps][in][0]=10&where[maxAgentSteps][in][1]=8",
            4,
        ),
        ("where[maxAgentSteps][not_in]=20,15", 4),
        ("where[maxAgentSteps][greater_than]=15", 4),
        ("where[maxAgentSteps][greater_than_equal]=15", 11),
        ("where[maxAgentSteps][less_than]=10", 1),
        ("where[maxAgentSteps][less_than_equal]=10", 4),
        ("where[name][like]=head%20of", 7),
        ("where[name][like]=OF%20head", 7),
        ("where[name][contains]=PROCESSOR", 2),
        ("where[name][not_like]=head", 8),
        ("where[model][equals]=openai/gpt-4o-mini", 1),
        ("where[model][like]=claude", 13),
        ("where[outputSchema][exists]=true", 2),
        ("where[outputSchema][exists]=false", 13),
        ("where[lastExecutedAt][exists]=false", 15),
        ("where[createdAt][greater_than]=2000-01-01", 15),
        ("where[createdAt][less_than]=2000-01-01T00:00:00Z", 0),
        ("where[agentId][equals]=nobody", 0),
        ("where[name][like]=", 15),
        ("where[maxAgentSteps][in]=", 0),
    ];
    for (query, expected) in cases {
        assert_eq!(count(&api, query).await, *expected, "{query}");
    }
}

#[tokio::test]
async fn and_or_nest_in_brackets_and_in_json() {
    let (_app, api) = demo().await;
    let or =
        "where[or][0][agentId][equals]=story-head-001&where[or][1][agentId][equals]=world-head-001";
    assert_eq!(count(&api, or).await, 2);
    let nested = "where[and][0][isDepartmentHead][equals]=false&where[and][1][or][0][maxAgentSteps][equals]=10&where[and][1][or][1][maxAgentSteps][equals]=8";
    assert_eq!(count(&api, nested).await, 4);
    let json_where = json!({"and": [{"isDepartmentHead": {"equals": false}}, {"or": [{"maxAgentSteps": {"equals": 10}}, {"maxAgentSteps": {"equals": 8}}]}]});
    let encoded: String = url_encode(&json_where.to_string());
    assert_eq!(count(&api, &format!("where={encoded}")).await, 4);
    // Two conditions on one field are both applied.
    assert_eq!(
        count(
            &api,
            "where[maxAgentSteps][greater_than]=8&where[maxAgentSteps][less_than]=20"
        )
        .await,
        10
    );
}

#[tokio::test]
async fn relations_arrays_and_json_paths_can_be_queried() {
    let (_app, api) = demo().await;
    assert_eq!(count(&api, "where[department.slug][equals]=story").await, 4);
    assert_eq!(
        count(&api, "where[department.slug][in]=world,character").await,
        5
    );
    assert_eq!(count(&api, "where[department.name][like]=wor").await, 3);
    assert_eq!(
        count(&api, "where[toolNames.toolName][equals]=saveWorldRule").await,
        2
    );
    assert_eq!(
        count(
            &api,
            "where[toolNames.toolName][not_equals]=getProjectContext"
        )
        .await,
        2
    );
    assert_eq!(
        count(&api, "where[toolNames.toolName][contains]=plot").await,
        2
    );
    assert_eq!(
        count(
            &api,
            "where[executionSettings.temperature][greater_than_equal]=0.7"
        )
        .await,
        9
    );
    assert_eq!(
        count(&api, "where[executionSettings.temperature][equals]=0.3").await,
        2
    );
    assert_eq!(
        count(&api, "where[performanceMetrics.totalExecutions][equals]=0").await,
        15
    );
    // The relation's id, by number or through the related document.
    let story = api
        .get("/api/departments?where[slug][equals]=story")
        .await
        .body["docs"][0]["id"]
        .clone();
    assert_eq!(
        count(&api, &format!("where[department][equals]={story}")).await,
        4
    );
    assert_eq!(
        count(&api, &format!("where[department.id][not_equals]={story}")).await,
        11
    );
    // Executions reach through two relations.
    let reply = api
        .get("/api/agent-executions/count?where[agent.department.slug][equals]=story")
        .await;
    assert_eq!(reply.body, json!({"totalDocs": 0}));
    // Departments of tools (many-to-many).
    let tools = api
        .get("/api/custom-tools/count?where[departments][exists]=false")
        .await;
    assert_eq!(tools.status, 200, "{}", tools.body);
}

#[tokio::test]
async fn sort_is_comma_separated_with_minus_for_descending() {
    let (_app, api) = demo().await;
    let asc = agent_ids(&api.get("/api/agents?sort=agentId&limit=3").await.body);
    assert_eq!(
        asc,
        [
            "audio-head-001",
            "character-designer-001",
            "character-head-001"
        ]
    );
    let desc = agent_ids(&api.get("/api/agents?sort=-agentId&limit=2").await.body);
    assert_eq!(desc, ["world-processor-001", "world-head-001"]);
    let two = agent_ids(
        &api.get("/api/agents?sort=-maxAgentSteps,agentId&limit=5")
            .await
            .body,
    );
    assert_eq!(
        two,
        [
            "character-head-001",
            "production-head-001",
            "story-head-001",
            "world-head-001",
            "audio-head-001"
        ]
    );
    let by_temperature = agent_ids(
        &api.get("/api/agents?sort=executionSettings.temperature&limit=2")
            .await
            .body,
    );
    assert_eq!(
        by_temperature,
        ["scene-pacing-analyst-001", "world-processor-001"]
    );
    // Unknown sort fields are skipped, as Payload does.
    assert_eq!(
        api.get("/api/agents?sort=nope,-agentId&limit=1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn unknown_paths_bad_operators_and_bad_values_are_400s() {
    let (_app, api) = demo().await;
    let cases: &[(&str, &str)] = &[
        (
            "where[nope][equals]=1",
            "The following path cannot be queried: nope",
        ),
        (
            "where[nope][equals]=1&where[or][0][zip][exists]=true",
            "The following paths cannot be queried: nope, zip",
        ),
        (
            "where[department.nope][equals]=1",
            "The following path cannot be queried: department.nope",
        ),
        (
            "where[maxAgentSteps][equals]=ten",
            "Invalid value for “maxAgentSteps” (equals): expected a number.",
        ),
        (
            "where[isActive][equals]=yes",
            "Invalid value for “isActive” (equals): expected true or false.",
        ),
        (
            "where[createdAt][greater_than]=yesterday",
            "Invalid value for “createdAt” (greater_than): expected a date (RFC 3339, YYYY-MM-DD or milliseconds).",
        ),
    ];
    for (query, message) in cases {
        let reply = api.get(&format!("/api/agents?{query}")).await;
        assert_eq!(reply.status, 400, "{query}");
        assert_eq!(error_message(&reply.body), *message, "{query}");
    }
    for query in [
        "where[name][near]=1,2",
        "where[name]=x",
        "where[name][equals]=a&where[name]=b",
        "where={bad json",
        "where[or]=x",
        "where[maxAgentSteps][like]=1",
        "where[isActive][greater_than]=true",
    ] {
        let reply = api.get(&format!("/api/agents?{query}")).await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert!(!error_message(&reply.body).is_empty());
    }
    // Password and key hashes are not queryable at all.
    let admin = api.get("/api/users?where[password][exists]=true").await;
    assert_eq!(admin.status, 403, "viewers do not list users");
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
