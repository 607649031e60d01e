//! Payload's collection conventions: the list envelope, pagination, findByID, create /
//! update / delete answers, count, depth, and validation errors with field paths.

use aladdin::domain::users::Role;
use serde_json::{Value, json};

use super::{Api, agent_ids, department_id, error_message};
use crate::helpers::{TestOptions, spawn_app_with};

async fn demo() -> (crate::helpers::TestApp, Api) {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Admin).await;
    (app, api)
}

#[tokio::test]
async fn a_list_has_payloads_envelope_with_ten_documents_by_default() {
    let (_app, api) = demo().await;
    let reply = api.get("/api/agents").await;
    assert_eq!(reply.status, 200);
    let b = &reply.body;
    assert_eq!(b["docs"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        (
            b["totalDocs"].clone(),
            b["limit"].clone(),
            b["totalPages"].clone(),
            b["page"].clone(),
            b["pagingCounter"].clone()
        ),
        (json!(15), json!(10), json!(2), json!(1), json!(1))
    );
    assert_eq!(
        (b["hasPrevPage"].clone(), b["hasNextPage"].clone()),
        (json!(false), json!(true))
    );
    assert_eq!(
        (b["prevPage"].clone(), b["nextPage"].clone()),
        (Value::Null, json!(2))
    );
    let keys: Vec<&String> = b
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys.len(), 10, "{keys:?}");
}

#[tokio::test]
async fn pages_limits_and_pagination_false_follow_payload() {
    let (_app, api) = demo().await;
    let b = api
        .get("/api/agents?limit=3&page=2&sort=agentId")
        .await
        .body;
    assert_eq!(b["docs"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        (
            b["page"].clone(),
            b["totalPages"].clone(),
            b["pagingCounter"].clone()
        ),
        (json!(2), json!(5), json!(4))
    );
    assert_eq!(
        (b["prevPage"].clone(), b["nextPage"].clone()),
        (json!(1), json!(3))
    );
    let page5 = api
        .get("/api/agents?limit=3&page=5&sort=agentId")
        .await
        .body;
    assert_eq!(page5["docs"].as_array().map(Vec::len), Some(3));
    assert_eq!(page5["hasNextPage"], false);
    // Pages do not overlap and cover everything.
    let mut seen = Vec::new();
    for page in 1..=5 {
        seen.extend(agent_ids(
            &api.get(&format!("/api/agents?limit=3&page={page}&sort=-name"))
                .await
                .body,
        ));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 15);
    let beyond = api.get("/api/agents?page=99").await.body;
    assert_eq!(
        (
            beyond["docs"].clone(),
            beyond["page"].clone(),
            beyond["totalDocs"].clone()
        ),
        (json!([]), json!(99), json!(15))
    );
    let all = api.get("/api/agents?pagination=false&limit=100").await.body;
    assert_eq!(all["docs"].as_array().map(Vec::len), Some(15));
    assert_eq!(
        (all["totalPages"].clone(), all["hasNextPage"].clone()),
        (json!(1), json!(false))
    );
    let capped = api.get("/api/agents?limit=0").await.body;
    assert_eq!(capped["docs"].as_array().map(Vec::len), Some(15));
}

#[tokio::test]
async fn find_by_id_returns_the_bare_document_and_json_404s() {
    let (app, api) = demo().await;
    let story = department_id(&app, "story").await;
    let list = api
        .get("/api/agents?where[agentId][equals]=story-head-001&depth=0")
        .await
        .body;
    let id = list["docs"][0]["id"].as_i64().expect("id");
    let one = api.get(&format!("/api/agents/{id}?depth=0")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["agentId"], "story-head-001");
    assert_eq!(one.body["department"], story);
    assert!(one.body.get("doc").is_none(), "bare document");
    for bad in [
        "999999",
        "0",
        "-1",
        "abc",
        "1.5",
        "99999999999999999999",
        "%00",
        "1%20or%201=1",
    ] {
        let r = api.get(&format!("/api/agents/{bad}")).await;
        assert_eq!(r.status, 404, "{bad}");
        assert_eq!(error_message(&r.body), "Not Found");
    }
}

#[tokio::test]
async fn create_update_and_delete_answer_like_payload() {
    let (app, api) = demo().await;
    let world = department_id(&app, "world").await;
    // Create
    let created = api
        .post(
            "/api/agents",
            json!({"agentId": "map-maker-001", "name": "Map Maker", "department": world, "toolNames": [{"toolName": "saveWorldRule"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["message"], "Agent successfully created.");
    let doc = &created.body["doc"];
    let id = doc["id"].as_i64().expect("id");
    assert!(id > 0);
    assert_eq!(
        doc["department"]["slug"], "world",
        "populated at the default depth"
    );
    assert_eq!(doc["isActive"], true);
    // Update: only the fields given change
    let updated = api
        .patch(
            &format!("/api/agents/{id}"),
            json!({"name": "Cartographer"}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["message"], "Updated successfully.");
    assert_eq!(updated.body["doc"]["name"], "Cartographer");
    assert_eq!(
        updated.body["doc"]["toolNames"],
        json!([{"toolName": "saveWorldRule"}])
    );
    // Delete
    let deleted = api.delete(&format!("/api/agents/{id}")).await;
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["message"], "Deleted successfully.");
    assert_eq!(deleted.body["doc"]["name"], "Cartographer");
    assert_eq!(api.get(&format!("/api/agents/{id}")).await.status, 404);
    assert_eq!(api.delete(&format!("/api/agents/{id}")).await.status, 404);
    assert_eq!(
        api.patch(&format!("/api/agents/{id}"), json!({"name": "x"}))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn invalid_documents_list_every_field_with_its_path() {
    let (_app, api) = demo().await;
    let reply = api
        .post(
            "/api/agents",
            json!({"agentId": "Bad Id", "toolNames": [{"toolName": "ok"}, {"toolName": ""}], "maxAgentSteps": 500}),
        )
        .await;
    assert_eq!(reply.status, 400);
    let error = &reply.body["errors"][0];
    assert_eq!(error["name"], "ValidationError");
    assert_eq!(
        error["message"],
        "The following fields are invalid: agentId, department, maxAgentSteps, name, toolNames.1.toolName"
    );
    let paths: Vec<&str> = error["data"]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["path"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        paths,
        [
            "agentId",
            "department",
            "maxAgentSteps",
            "name",
            "toolNames.1.toolName"
        ]
    );
    assert!(error["data"]["errors"][0]["message"].is_string());
    // One field: Payload's singular wording.
    let one = api.post("/api/departments", json!({"slug": "sfx"})).await;
    assert_eq!(
        error_message(&one.body),
        "The following field is invalid: name"
    );
    // Unique values.
    let dup = api
        .post(
            "/api/departments",
            json!({"slug": "story", "name": "Again"}),
        )
        .await;
    assert_eq!(dup.status, 400);
    assert_eq!(
        dup.body["errors"][0]["data"]["errors"][0],
        json!({"path": "slug", "message": "Value must be unique."})
    );
    // A bad patch is validated as a whole document.
    let id = api.get("/api/departments?limit=1").await.body["docs"][0]["id"].clone();
    let bad = api
        .patch(
            &format!("/api/departments/{id}"),
            json!({"color": "red", "priority": "high"}),
        )
        .await;
    assert_eq!(
        error_message(&bad.body),
        "The following fields are invalid: color, priority"
    );
}

#[tokio::test]
async fn count_answers_total_docs() {
    let (_app, api) = demo().await;
    assert_eq!(
        api.get("/api/agents/count").await.body,
        json!({"totalDocs": 15})
    );
    assert_eq!(
        api.get("/api/agents/count?where[isDepartmentHead][equals]=true")
            .await
            .body,
        json!({"totalDocs": 7})
    );
    assert_eq!(
        api.get("/api/departments/count").await.body,
        json!({"totalDocs": 7})
    );
}

#[tokio::test]
async fn depth_zero_gives_ids_and_depth_one_populates_relations() {
    let (app, api) = demo().await;
    let story = department_id(&app, "story").await;
    let flat = api
        .get("/api/agents?where[agentId][equals]=story-head-001&depth=0")
        .await
        .body;
    assert_eq!(flat["docs"][0]["department"], story);
    let populated = api
        .get("/api/agents?where[agentId][equals]=story-head-001&depth=1")
        .await
        .body;
    assert_eq!(populated["docs"][0]["department"]["id"], story);
    assert_eq!(populated["docs"][0]["department"]["slug"], "story");
    let default = api
        .get("/api/agents?where[agentId][equals]=story-head-001")
        .await
        .body;
    assert_eq!(
        default["docs"][0]["department"]["name"], "Story",
        "Payload's default depth is 2"
    );
    // Tools: the departments they are shared with.
    let tools = api.get("/api/custom-tools?depth=1&limit=100").await.body;
    for tool in tools["docs"].as_array().expect("docs") {
        for department in tool["departments"].as_array().expect("departments") {
            assert!(department["slug"].is_string(), "{department}");
        }
    }
    let tools = api.get("/api/custom-tools?depth=0&limit=100").await.body;
    assert!(tools["docs"].as_array().expect("docs").iter().all(|t| {
        t["departments"]
            .as_array()
            .is_some_and(|d| d.iter().all(Value::is_i64))
    }));
}

/// A list reads the agents and their departments in one statement (a join), a document by
/// id reads them apart: both must give the same documents, filtered, sorted and paged alike.
#[tokio::test]
async fn listed_agents_match_their_documents_read_one_by_one() {
    let (_app, api) = demo().await;
    for depth in ["0", "1", "2"] {
        let all = api
            .get(&format!("/api/agents?limit=100&depth={depth}"))
            .await
            .body;
        let docs = all["docs"].as_array().expect("docs");
        assert_eq!(docs.len(), 15);
        for doc in docs {
            let one = api
                .get(&format!("/api/agents/{}?depth={depth}", doc["id"]))
                .await;
            assert_eq!(one.status, 200);
            assert_eq!(&one.body, doc, "depth {depth}");
        }
    }
    // A filter on the related collection, a sort and a second page, through the join.
    let page = api
        .get("/api/agents?where[department.slug][equals]=story&sort=-name&limit=1&page=2")
        .await
        .body;
    let story = api
        .get("/api/agents?where[department.slug][equals]=story&sort=-name&limit=100")
        .await
        .body;
    let names: Vec<&str> = story["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(names.len() >= 2, "{names:?}");
    let ascending = api
        .get("/api/agents?where[department.slug][equals]=story&sort=name&limit=100")
        .await
        .body;
    let mut reversed: Vec<&str> = ascending["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    reversed.reverse();
    assert_eq!(names, reversed, "the sort is applied through the join");
    assert_eq!(page["totalDocs"], names.len());
    assert_eq!(page["docs"][0]["name"], names[1]);
    assert_eq!(page["docs"][0]["department"]["slug"], "story");
    // Past the last page: no rows to carry the total, which is still right.
    let past = api.get("/api/agents?limit=10&page=9").await.body;
    assert_eq!(past["docs"], json!([]));
    assert_eq!(past["totalDocs"], 15);
    // pagination=false through the join.
    let uncounted = api.get("/api/agents?pagination=false&limit=3").await.body;
    assert_eq!(uncounted["docs"].as_array().map(Vec::len), Some(3));
    assert!(uncounted["docs"][0]["department"]["slug"].is_string());
}

#[tokio::test]
async fn every_collection_serves_the_same_conventions() {
    let (_app, api) = demo().await;
    for slug in [
        "agents",
        "departments",
        "custom-tools",
        "projects",
        "agent-executions",
        "models",
        "users",
    ] {
        let list = api.get(&format!("/api/{slug}?limit=2")).await;
        assert_eq!(list.status, 200, "{slug}: {}", list.body);
        assert!(
            list.body["docs"].is_array() && list.body["totalDocs"].is_u64(),
            "{slug}"
        );
        let count = api.get(&format!("/api/{slug}/count")).await;
        assert_eq!(count.body["totalDocs"], list.body["totalDocs"], "{slug}");
        if let Some(id) = list.body["docs"][0]["id"].as_i64() {
            let one = api.get(&format!("/api/{slug}/{id}")).await;
            assert_eq!(one.status, 200, "{slug}");
            assert_eq!(one.body["id"], id);
        }
    }
    let model = api
        .post("/api/models", json!({"modelId": "acme/one", "provider": "openrouter", "inputPricePerMTok": 1.5, "outputPricePerMTok": 2}))
        .await;
    assert_eq!(model.status, 201, "{}", model.body);
    assert_eq!(model.body["message"], "Model successfully created.");
    let project = api
        .post(
            "/api/projects",
            json!({"name": "Side Quest", "slug": "side-quest"}),
        )
        .await;
    assert_eq!(project.body["message"], "Project successfully created.");
    let tool = api
        .post(
            "/api/custom-tools",
            json!({"toolName": "rollDice", "description": "Rolls", "executeFunction": "async () => 4", "departments": [1]}),
        )
        .await;
    assert_eq!(tool.status, 201, "{}", tool.body);
    assert_eq!(tool.body["message"], "Custom Tool successfully created.");
    assert_eq!(tool.body["doc"]["departments"][0]["id"], 1);
    let broken = api
        .post(
            "/api/custom-tools",
            json!({"toolName": "broken", "description": "x", "executeFunction": "   "}),
        )
        .await;
    assert_eq!(broken.status, 400);
    assert_eq!(
        broken.body["errors"][0]["data"]["errors"][0]["path"],
        "executeFunction"
    );
}
