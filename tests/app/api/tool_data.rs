//! Tool data over the JSON API: `/api/tool-data/{collection}?project=…` (isolated per
//! project) and `/api/{collection}` (a Payload collection whose `project` is a field), with
//! the same conventions and the same where-engine as the tools' `payload` API.

use aladdin::db;
use aladdin::domain::users::Role;
use aladdin::runner::tools::data_api::DbDataApi;
use aladdin::sandbox::DataOp;
use serde_json::{Value, json};

use super::{Api, error_message};
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn tool_documents_follow_the_collection_conventions_within_a_project() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let base = "/api/tool-data/world-rules?project=epic-quest";
    for (rule, order, era) in [
        ("Magic costs memory", 1, "first"),
        ("Dragons are extinct", 2, "second"),
        ("Iron breaks spells", 10, "first"),
    ] {
        let created = api
            .post(
                base,
                json!({"rule": rule, "order": order, "era": era, "id": 999}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["message"], "Document successfully created.");
        assert_eq!(created.body["doc"]["rule"], rule);
        assert_ne!(
            created.body["doc"]["id"], 999,
            "server fields cannot be set"
        );
    }
    let list = api.get(&format!("{base}&sort=-order")).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["totalDocs"], 3);
    assert_eq!(
        list.body["docs"][0]["rule"], "Iron breaks spells",
        "numbers sort as numbers"
    );
    let first_era = api
        .get(&format!(
            "{base}&where[era][equals]=first&where[order][greater_than]=1"
        ))
        .await;
    assert_eq!(first_era.body["totalDocs"], 1);
    assert_eq!(
        api.get("/api/tool-data/world-rules/count?project=epic-quest&where[rule][like]=spells")
            .await
            .body["totalDocs"],
        1
    );
    let id = first_era.body["docs"][0]["id"].as_i64().expect("id");
    let path = format!("/api/tool-data/world-rules/{id}?project=epic-quest");
    let patched = api.patch(&path, json!({"era": "third"})).await;
    assert_eq!(patched.body["doc"]["era"], "third");
    assert_eq!(patched.body["doc"]["rule"], "Iron breaks spells");
    assert_eq!(api.get(&path).await.body["era"], "third");
    let bulk = api
        .patch(
            &format!("{base}&where[era][equals]=first"),
            json!({"checked": true}),
        )
        .await;
    assert_eq!(bulk.body["message"], "Updated 1 Document successfully.");
    assert_eq!(
        api.delete(&path).await.body["message"],
        "Deleted successfully."
    );
    assert_eq!(api.get(&path).await.status, 404);
}

#[tokio::test]
async fn tool_data_needs_a_project_and_never_crosses_projects() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let other = api
        .post("/api/projects", json!({"name": "Other", "slug": "other"}))
        .await;
    let other_id = other.body["doc"]["id"].as_i64().expect("id");
    let doc = api
        .post(
            "/api/tool-data/notes?project=epic-quest",
            json!({"text": "secret"}),
        )
        .await;
    let id = doc.body["doc"]["id"].as_i64().expect("id");
    let missing = api.get("/api/tool-data/notes").await;
    assert_eq!(missing.status, 400);
    assert!(error_message(&missing.body).starts_with("The project query parameter is required"));
    assert_eq!(
        api.get("/api/tool-data/notes?project=nope").await.status,
        404
    );
    assert_eq!(
        api.get(&format!("/api/tool-data/notes?project={other_id}"))
            .await
            .body["totalDocs"],
        0
    );
    assert_eq!(
        api.get(&format!("/api/tool-data/notes/{id}?project={other_id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        api.delete(&format!("/api/tool-data/notes/{id}?project={other_id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get("/api/tool-data/Bad_Name?project=epic-quest")
            .await
            .status,
        400
    );
    let viewer = Api::as_role(&app, Role::Viewer).await;
    assert_eq!(
        viewer
            .post("/api/tool-data/notes?project=epic-quest", json!({"a": 1}))
            .await
            .status,
        403
    );
    assert_eq!(
        viewer
            .get("/api/tool-data/notes?project=epic-quest")
            .await
            .body["totalDocs"],
        1
    );
}

/// The demo project's id, and a second project's.
async fn two_projects(app: &crate::helpers::TestApp, api: &Api) -> (i64, i64) {
    let quest = db::projects::find_by_slug(&app.db, "epic-quest")
        .await
        .expect("query")
        .expect("the demo project")
        .id;
    let other = api
        .post("/api/projects", json!({"name": "Other", "slug": "other"}))
        .await;
    assert_eq!(other.status, 201, "{}", other.body);
    (
        i64::from(quest),
        other.body["doc"]["id"].as_i64().expect("id"),
    )
}

#[tokio::test]
async fn a_tool_data_collection_is_a_payload_collection_at_api_slug() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let (quest, other) = two_projects(&app, &api).await;
    // create: the project comes from the body (an id, or a slug)
    for (project, rule, era) in [
        (json!(quest), "Magic costs memory", "first"),
        (json!("epic-quest"), "Dragons are extinct", "second"),
        (json!(other), "Iron breaks spells", "first"),
    ] {
        let created = api
            .post(
                "/api/world-rules",
                json!({"project": project, "rule": rule, "era": era, "id": 999}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["message"], "Document successfully created.");
        assert_eq!(created.body["doc"]["collection"], "world-rules");
        assert_eq!(created.body["doc"]["rule"], rule);
        assert_ne!(created.body["doc"]["id"], 999);
    }
    let missing = api.post("/api/world-rules", json!({"rule": "x"})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.body["errors"][0]["name"], "ValidationError");
    assert_eq!(
        missing.body["errors"][0]["data"]["errors"][0]["path"],
        "project"
    );
    let unknown = api
        .post("/api/world-rules", json!({"project": 424242, "rule": "x"}))
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(
        unknown.body["errors"][0]["data"]["errors"][0]["path"],
        "project"
    );

    // find and count: every project, `project` an ordinary field
    let all = api.get("/api/world-rules?sort=rule").await;
    assert_eq!(all.status, 200);
    assert_eq!(all.body["totalDocs"], 3);
    assert_eq!(all.body["docs"][0]["rule"], "Dragons are extinct");
    let mine = api
        .get(&format!("/api/world-rules?where[project][equals]={quest}"))
        .await;
    assert_eq!(mine.body["totalDocs"], 2);
    let count = api
        .get(&format!(
            "/api/world-rules/count?where[project][equals]={other}&where[era][equals]=first"
        ))
        .await;
    assert_eq!(count.body, json!({"totalDocs": 1}));

    // findByID: the same document as at /api/tool-data
    let id = all.body["docs"][0]["id"].as_i64().expect("id");
    let by_id = api.get(&format!("/api/world-rules/{id}")).await;
    assert_eq!(by_id.status, 200);
    assert_eq!(by_id.body, all.body["docs"][0]);
    assert_eq!(
        api.get(&format!("/api/tool-data/world-rules/{id}?project={quest}"))
            .await
            .body,
        by_id.body
    );
    assert_eq!(api.get(&format!("/api/notes/{id}")).await.status, 404);

    // update by id: the project stays
    let patched = api
        .patch(
            &format!("/api/world-rules/{id}"),
            json!({"era": "third", "project": other}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.body["message"], "Updated successfully.");
    assert_eq!(
        (
            patched.body["doc"]["era"].clone(),
            patched.body["doc"]["project"].clone()
        ),
        (json!("third"), json!(quest))
    );

    // update and delete by where
    let bulk = api
        .patch(
            "/api/world-rules?where[era][equals]=first",
            json!({"checked": true}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);
    assert_eq!(bulk.body["message"], "Updated 2 Documents successfully.");
    let refused = api.delete("/api/world-rules").await;
    assert_eq!(refused.status, 400);
    let removed = api
        .delete(&format!("/api/world-rules?where[project][equals]={other}"))
        .await;
    assert_eq!(removed.body["message"], "Deleted 1 Document successfully.");
    assert_eq!(api.get("/api/world-rules/count").await.body["totalDocs"], 2);

    // delete by id
    let deleted = api.delete(&format!("/api/world-rules/{id}")).await;
    assert_eq!(deleted.body["message"], "Deleted successfully.");
    assert_eq!(deleted.body["doc"]["rule"], "Dragons are extinct");
    assert_eq!(api.get(&format!("/api/world-rules/{id}")).await.status, 404);
}

#[tokio::test]
async fn roles_apply_at_api_slug_and_built_in_and_reserved_names_never_reach_it() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = Api::as_role(&app, Role::Editor).await;
    let viewer = Api::as_role(&app, Role::Viewer).await;
    let created = editor
        .post("/api/notes", json!({"project": "epic-quest", "text": "hi"}))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["doc"]["id"].as_i64().expect("id");
    // viewers read, and only read
    assert_eq!(viewer.get("/api/notes").await.body["totalDocs"], 1);
    assert_eq!(viewer.get(&format!("/api/notes/{id}")).await.status, 200);
    for reply in [
        viewer
            .post("/api/notes", json!({"project": "epic-quest"}))
            .await,
        viewer
            .patch(&format!("/api/notes/{id}"), json!({"text": "x"}))
            .await,
        viewer.delete(&format!("/api/notes/{id}")).await,
        viewer
            .patch("/api/notes?where[text][equals]=hi", json!({"text": "x"}))
            .await,
        viewer.delete("/api/notes?where[text][equals]=hi").await,
    ] {
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
    assert_eq!(Api::anonymous(&app).get("/api/notes").await.status, 401);
    // built-in collections are still served by their own routes
    let agents = viewer.get("/api/agents?limit=1").await;
    assert!(
        agents.body["docs"][0]["agentId"].is_string(),
        "{}",
        agents.body
    );
    assert_eq!(
        viewer.get("/api/openapi.json").await.body["openapi"],
        "3.1.0"
    );
    let users = editor
        .post("/api/users", json!({"project": "epic-quest"}))
        .await;
    assert_ne!(users.status, 201, "{}", users.body);
    // reserved and non-slug names are no route, for everyone
    for path in [
        "/api/tool-data",
        "/api/tool-documents",
        "/api/payload-jobs",
        "/api/Notes",
        "/api/no_tes",
        "/api/tool-documents/count",
        "/api/payload-jobs/1",
    ] {
        for api in [&editor, &Api::anonymous(&app)] {
            let reply = api.get(path).await;
            assert_eq!(reply.status, 404, "{path}");
            assert_eq!(
                error_message(&reply.body),
                format!("Route not found \"{path}\"")
            );
        }
    }
    let reserved = editor
        .post(
            "/api/payload-jobs",
            json!({"project": "epic-quest", "text": "x"}),
        )
        .await;
    assert_eq!(reserved.status, 404);
    let at_tool_data = editor
        .post("/api/tool-data/approvals?project=epic-quest", json!({}))
        .await;
    assert_eq!(at_tool_data.status, 400);
    assert!(error_message(&at_tool_data.body).contains("built-in"));
}

/// The total of `where` on `notes` in the demo project, through the tools' `payload.count`
/// and through both API addresses (which must agree), or the tool's error message.
async fn count_everywhere(
    app: &crate::helpers::TestApp,
    api: &Api,
    project: &aladdin::entities::projects::Model,
    where_: Value,
) -> Result<u64, String> {
    let tools = DbDataApi::new(app.db.clone(), Some(project.clone()));
    let from_tool = tools
        .apply(DataOp::Count {
            collection: "notes".into(),
            r#where: Some(where_.clone()),
        })
        .await
        .map(|v| v["totalDocs"].as_u64().expect("a total"));
    let query = serde_urlencoded::to_string([("where", where_.to_string())]).expect("encoded");
    let scoped = api
        .get(&format!(
            "/api/tool-data/notes/count?project={}&{query}",
            project.id
        ))
        .await;
    let in_project = json!({"and": [where_, {"project": {"equals": project.id}}]});
    let open = api
        .get(&format!(
            "/api/notes/count?{}",
            serde_urlencoded::to_string([("where", in_project.to_string())]).expect("encoded")
        ))
        .await;
    match &from_tool {
        Ok(total) => {
            assert_eq!(scoped.body["totalDocs"], *total, "{where_}");
            assert_eq!(open.body["totalDocs"], *total, "{where_}");
        }
        Err(_) => {
            assert_eq!(scoped.status, 400, "{where_}: {}", scoped.body);
            assert_eq!(open.status, 400, "{where_}: {}", open.body);
        }
    }
    from_tool
}

#[tokio::test]
async fn every_operator_means_the_same_for_tools_and_the_api() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Editor).await;
    let project = db::projects::find_by_slug(&app.db, "epic-quest")
        .await
        .expect("query")
        .expect("the demo project");
    for data in [
        json!({"rule": "Every Spell costs a memory", "category": "magic", "score": 7,
               "tags": ["fire", "ice"], "stats": {"level": 3}, "flag": true}),
        json!({"rule": "Dragons sleep", "category": "beasts", "score": "8", "tags": ["wings"]}),
        json!({"rule": "50% of 100_000", "category": "magic", "score": 2.5, "missing": null}),
    ] {
        let created = api
            .post(
                &format!("/api/tool-data/notes?project={}", project.id),
                data,
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    // (where, total): the in-memory interpreter tools used to have answered some of these
    // differently (noted).
    for (where_, expected) in [
        (json!({"category": {"equals": "magic"}}), 2),
        (json!({"category": {"not_equals": "magic"}}), 1),
        (json!({"category": {"in": "magic,beasts"}}), 3),
        (json!({"category": {"not_in": ["magic"]}}), 1),
        (json!({"rule": {"like": "spell MEMORY"}}), 1),
        (json!({"rule": {"like": "spell dragons"}}), 0),
        (json!({"rule": {"contains": "ery spe"}}), 1),
        (json!({"rule": {"not_like": "dragons"}}), 2),
        // `%` and `_` are literal
        (json!({"rule": {"contains": "50%"}}), 1),
        (json!({"rule": {"contains": "0_0"}}), 1),
        (json!({"rule": {"contains": "1_0"}}), 0),
        (json!({"rule": {"contains": "5%f"}}), 0),
        (json!({"score": {"greater_than": 2}}), 2),
        (json!({"score": {"less_than_equal": "2.5"}}), 1),
        // only JSON numbers compare as numbers: "8" is text (was a number in memory)
        (json!({"score": {"greater_than": 7.5}}), 0),
        (json!({"score": {"equals": 8}}), 1),
        (json!({"stats.level": {"greater_than_equal": 3}}), 1),
        (json!({"flag": {"equals": true}}), 1),
        (json!({"flag": {"equals": "true"}}), 1),
        (json!({"missing": {"exists": false}}), 3),
        (json!({"tags": {"exists": true}}), 2),
        // an array is searched as its JSON text: `contains` finds an element...
        (json!({"tags": {"contains": "ice"}}), 1),
        // ...but `equals` compares the whole value (an element matched in memory)
        (json!({"tags": {"equals": "ice"}}), 0),
        (json!({"tags.1": {"equals": "ice"}}), 1),
        (json!({"stats": {"like": "level"}}), 1),
        (
            json!({"id": {"greater_than": 0}, "createdAt": {"greater_than": "2000-01-01"}}),
            3,
        ),
        (json!({"project": {"equals": project.id}}), 3),
        (json!({"collection": {"equals": "notes"}}), 3),
        (
            json!({"or": [{"category": {"equals": "beasts"}}, {"and": [{"score": {"less_than": 3}}, {"rule": {"contains": "%"}}]}]}),
            2,
        ),
        (json!({"or": []}), 3),
    ] {
        let total = count_everywhere(&app, &api, &project, where_.clone()).await;
        assert_eq!(total, Ok(expected), "{where_}");
    }
    // malformed wheres are errors, for tools as for the API (memory took `{field: value}`
    // for equals, and compared a word with a date as text)
    for (where_, message) in [
        (
            json!({"rule": {"near": 1}}),
            "Invalid operator “near” on “rule”",
        ),
        (json!({"category": "magic"}), "must be an object such as"),
        (
            json!({"createdAt": {"greater_than": "yesterday"}}),
            "expected a date",
        ),
        (json!({"or": {"a": 1}}), "must be a list of conditions"),
        (json!({"a'b": {"equals": 1}}), "cannot be queried: a'b"),
    ] {
        let error = count_everywhere(&app, &api, &project, where_.clone())
            .await
            .expect_err("an error");
        assert!(
            error.starts_with("payload.count: invalid where: ") && error.contains(message),
            "{where_}: {error}"
        );
    }
}
