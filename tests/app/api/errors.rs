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

#[tokio::test]
async fn malformed_and_oversized_bodies_are_json_errors() {
    let app = spawn_app_with(TestOptions::default().var("MAX_BODY_BYTES", "4096")).await;
    let (_, key) = super::user_with_key(&app, Role::Admin).await;
    let client = reqwest::Client::new();
    let send = |body: Vec<u8>, content_type: &'static str| {
        client
            .post(app.url("/api/departments"))
            .header("Authorization", format!("users API-Key {key}"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"{not json".to_vec(),
            400,
            "The request body is not valid JSON",
        ),
        (b"[1, 2]".to_vec(), 400, "The body must be a JSON object."),
        (
            b"{\"slug\": \"a\\u0000b\", \"name\": \"x\"}".to_vec(),
            400,
            "The request body must not contain NUL characters.",
        ),
        (
            vec![0xff, 0xfe, 0x00],
            400,
            "The request body is not valid JSON",
        ),
        (
            format!("{{\"name\": \"{}\"}}", "x".repeat(5000)).into_bytes(),
            413,
            "The request body is larger than the limit of 4096 bytes.",
        ),
        (
            format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
            400,
            "The request body is not valid JSON",
        ),
    ];
    for (body, status, message) in cases {
        let response = send(body, "application/json").await.expect("sent");
        assert_eq!(response.status().as_u16(), status);
        let json: serde_json::Value = response.json().await.expect("a JSON error");
        assert!(error_message(&json).starts_with(message), "{json}");
    }
    // Form bodies are not JSON either.
    let response = send(
        b"slug=a&name=b".to_vec(),
        "application/x-www-form-urlencoded",
    )
    .await
    .expect("sent");
    assert_eq!(response.status(), 400);
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
        13
    );
}
