//! Every answer is JSON: unknown routes, wrong methods, bad bodies, oversized bodies,
//! missing credentials and roles.

use aladdin::domain::users::Role;
use reqwest::Method;
use serde_json::json;

use super::{Api, error_message};
use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_api_routes_are_json_404s() {
    let app = spawn_app().await;
    let api = Api::as_role(&app, Role::Admin).await;
    for path in [
        "/api/Nope",
        "/api/agents/1/nope",
        "/api/",
        "/api",
        "/api/users/me/x",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            error_message(&reply.body),
            format!("Route not found \"{path}\""),
            "{path}"
        );
    }
}

#[tokio::test]
async fn wrong_methods_are_json_405s() {
    let app = spawn_app().await;
    let api = Api::as_role(&app, Role::Admin).await;
    for (method, path) in [
        (Method::PUT, "/api/agents"),
        (Method::POST, "/api/agents/count"),
        (Method::PUT, "/api/agents/1"),
        (Method::POST, "/api/agent-executions"),
        (Method::PATCH, "/api/agent-executions/1"),
        (Method::DELETE, "/api/agent-executions/1"),
        (Method::GET, "/api/users/login"),
        (Method::GET, "/api/agent-executions/1/cancel"),
        (Method::POST, "/api/openapi.json"),
    ] {
        let reply = api.send(method.clone(), path, None).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert!(
            error_message(&reply.body).starts_with(&format!("Method {method} is not allowed")),
            "{}",
            reply.body
        );
    }
}

/// A bad body and what it must be answered with.
struct BadBody {
    kind: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    status: u16,
    message: &'static str,
    /// The field path named by a validation error, when the fault is in a field.
    path: Option<&'static str>,
}

fn bad_bodies() -> Vec<BadBody> {
    let json = Some("application/json");
    let bad = |kind, body: &[u8], content_type, status, message, path| BadBody {
        kind,
        body: body.to_vec(),
        content_type,
        status,
        message,
        path,
    };
    vec![
        bad(
            "malformed JSON",
            b"{\"prompt\": ",
            json,
            400,
            "The request body is not valid JSON",
            None,
        ),
        bad(
            "not UTF-8",
            &[0xff, 0xfe, 0x00],
            json,
            400,
            "The request body is not valid JSON",
            None,
        ),
        bad(
            "too deep",
            format!("{}{}", "[".repeat(200), "]".repeat(200)).as_bytes(),
            json,
            400,
            "The request body is not valid JSON",
            None,
        ),
        bad(
            "an array",
            b"[1, 2]",
            json,
            400,
            "The body must be a JSON object.",
            None,
        ),
        bad(
            "a string",
            b"\"prompt\"",
            json,
            400,
            "The body must be a JSON object.",
            None,
        ),
        bad(
            "a number",
            b"42",
            json,
            400,
            "The body must be a JSON object.",
            None,
        ),
        bad(
            "null",
            b"null",
            json,
            400,
            "The body must be a JSON object.",
            None,
        ),
        bad(
            "text content type",
            b"{}",
            Some("text/plain"),
            415,
            "The request body must be JSON",
            None,
        ),
        bad(
            "no content type",
            b"{\"prompt\": \"x\"}",
            None,
            415,
            "The request body must be JSON",
            None,
        ),
        bad(
            "a form",
            b"prompt=x&projectId=1",
            Some("application/x-www-form-urlencoded"),
            415,
            "The request body must be JSON",
            None,
        ),
        bad(
            "NUL in a string",
            b"{\"prompt\": \"a\\u0000b\", \"name\": \"x\"}",
            json,
            400,
            "The following field is invalid: prompt",
            Some("prompt"),
        ),
        bad(
            "NUL deep inside",
            b"{\"metadata\": {\"tags\": [\"ok\", \"\\u0000\"]}}",
            json,
            400,
            "The following field is invalid: metadata.tags.1",
            Some("metadata.tags.1"),
        ),
        bad(
            "oversized",
            format!("{{\"prompt\": \"{}\"}}", "x".repeat(5000)).as_bytes(),
            json,
            413,
            "The request body is larger than the limit of 4096 bytes.",
            None,
        ),
    ]
}

/// Every `POST` and `PATCH` route the router has (its own list, so a new route is covered
/// without being named here) answers every kind of bad body in the envelope, as JSON, with
/// the field's path when the fault is in a field, and never with a 500.
#[tokio::test]
async fn every_body_taking_route_refuses_bad_bodies_in_the_envelope() {
    let app = spawn_app_with(
        TestOptions::default()
            .with_demo_data()
            .var("MAX_BODY_BYTES", "4096"),
    )
    .await;
    let api = Api::as_role(&app, Role::Admin).await;
    let routes: Vec<_> = aladdin::web::api::registry::registered()
        .await
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PATCH" | "PUT"))
        .collect();
    for expected in [
        "POST /api/agents/{agentId}/execute",
        "POST /api/agent-executions/{id}/cancel",
        "POST /api/users/login",
        "POST /api/users/logout",
        "POST /api/users/refresh-token",
        "POST /api/users/{id}/api-key",
        "PATCH /api/agents/{id}",
        "POST /api/tool-data/{collection}",
    ] {
        assert!(
            routes.iter().any(|r| r.to_string() == expected),
            "{expected} not in {routes:?}"
        );
    }
    let runs_before = api.get("/api/agent-executions/count").await.body["totalDocs"].clone();
    let client = reqwest::Client::new();
    for route in &routes {
        // A real document where there is one: the body is refused before it matters.
        let path = route
            .pattern
            .replace("{agentId}", "story-head-001")
            .replace("{collection}", "world-rules")
            .replace("{id}", "1");
        let method = Method::from_bytes(route.method.as_bytes()).expect("method");
        for bad in bad_bodies() {
            let mut request = client
                .request(method.clone(), app.url(&format!("{path}?project=1")))
                .header("Authorization", api.authorization_header())
                .body(bad.body.clone());
            if let Some(content_type) = bad.content_type {
                request = request.header("Content-Type", content_type);
            }
            let response = request.send().await.expect("sent");
            let what = format!("{route}, {}", bad.kind);
            assert_eq!(response.status().as_u16(), bad.status, "{what}");
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert_eq!(content_type, "application/json", "{what}");
            let json: serde_json::Value = response.json().await.expect("a JSON error");
            assert_eq!(
                json["errors"].as_array().map(Vec::len),
                Some(1),
                "{what}: {json}"
            );
            assert!(
                error_message(&json).starts_with(bad.message),
                "{what}: {json}"
            );
            match bad.path {
                Some(path) => {
                    assert_eq!(json["errors"][0]["name"], "ValidationError", "{what}");
                    assert_eq!(
                        json["errors"][0]["data"]["errors"],
                        json!([{"path": path, "message": "Must not contain NUL characters."}]),
                        "{what}"
                    );
                }
                None => assert!(json["errors"][0].get("data").is_none(), "{what}: {json}"),
            }
        }
    }
    // No run was started by any of them.
    assert_eq!(
        api.get("/api/agent-executions/count").await.body["totalDocs"],
        runs_before
    );
}

/// Wrong types are validation errors on the field's path: no number, boolean or object is
/// taken for a string.
#[tokio::test]
async fn wrong_types_are_refused_on_their_path() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Admin).await;
    let project = api.get("/api/projects?limit=1").await.body["docs"][0]["id"].clone();
    let runs_before = api.get("/api/agent-executions/count").await.body["totalDocs"].clone();
    for (method, path, body, field) in [
        (
            Method::POST,
            "/api/agents/story-head-001/execute",
            json!({"prompt": 42, "projectId": project}),
            "prompt",
        ),
        (
            Method::POST,
            "/api/agents/story-head-001/execute",
            json!({"prompt": "Go", "projectId": project, "conversationId": {"a": 1}}),
            "conversationId",
        ),
        (
            Method::POST,
            "/api/agents/story-head-001/execute",
            json!({"prompt": ["Go"], "projectId": project}),
            "prompt",
        ),
        (
            Method::POST,
            "/api/departments",
            json!({"slug": "typed", "name": 7}),
            "name",
        ),
        (
            Method::PATCH,
            "/api/agents/1",
            json!({"description": true}),
            "description",
        ),
        (
            Method::POST,
            "/api/users/login",
            json!({"email": 42, "password": "x"}),
            "email",
        ),
    ] {
        let reply = api.send(method.clone(), path, Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{method} {path} {body}: {}", reply.body);
        assert_eq!(
            reply.body["errors"][0]["name"], "ValidationError",
            "{}",
            reply.body
        );
        let paths: Vec<_> = reply.body["errors"][0]["data"]["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["path"].as_str()).collect())
            .unwrap_or_default();
        assert!(paths.contains(&field), "{method} {path}: {}", reply.body);
    }
    // No run was started by any of them.
    assert_eq!(
        api.get("/api/agent-executions/count").await.body["totalDocs"],
        runs_before
    );
    // A string is still a string.
    let reply = api
        .post(
            "/api/departments",
            json!({"slug": "typed", "name": "Typed"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// A NUL character in a path parameter is a 404, not a database error.
#[tokio::test]
async fn nul_in_a_path_is_not_found() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Admin).await;
    for (method, path) in [
        (Method::POST, "/api/agents/story-head%00-001/execute"),
        (Method::GET, "/api/tool-data/a%00b?project=1"),
        (Method::GET, "/api/agents/1%00"),
    ] {
        let body = (method == Method::POST).then(|| json!({"prompt": "x", "projectId": 1}));
        let reply = api.send(method.clone(), path, body).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
        assert_eq!(error_message(&reply.body), "Not Found");
    }
}

#[tokio::test]
async fn missing_credentials_are_401_and_roles_403() {
    let app = spawn_app().await;
    let anonymous = Api::anonymous(&app);
    for path in [
        "/api/agents",
        "/api/agents/count",
        "/api/agents/1",
        "/api/models",
        "/api/tool-data/x?project=1",
    ] {
        let reply = anonymous.get(path).await;
        assert_eq!(reply.status, 401, "{path}");
        assert_eq!(
            error_message(&reply.body),
            "Unauthorized, you must be logged in to make this request."
        );
    }
    let bogus = Api::header(&app, "Bearer not-a-token".into());
    assert_eq!(bogus.get("/api/agents").await.status, 401);
    let viewer = Api::as_role(&app, Role::Viewer).await;
    let reply = viewer
        .post("/api/departments", json!({"slug": "x", "name": "X"}))
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        error_message(&reply.body),
        "You are not allowed to perform this action."
    );
}

#[tokio::test]
async fn bulk_operations_without_a_where_are_refused() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Admin).await;
    for query in [
        "",
        "?where=",
        "?where=%7B%7D",
        "?where=%7B%22or%22%3A%5B%5D%7D",
        "?limit=5",
    ] {
        let update = api
            .patch(&format!("/api/agents{query}"), json!({"isActive": false}))
            .await;
        assert_eq!(update.status, 400, "{query}: {}", update.body);
        assert_eq!(
            error_message(&update.body),
            "Missing 'where' query of documents to update.",
            "{query}"
        );
        let delete = api.delete(&format!("/api/agents{query}")).await;
        assert_eq!(delete.status, 400, "{query}");
        assert_eq!(
            error_message(&delete.body),
            "Missing 'where' query of documents to delete."
        );
    }
    assert_eq!(
        api.get("/api/agents/count?where[isActive][equals]=true")
            .await
            .body["totalDocs"],
        15
    );
}
