//! `/api/openapi.json` describes every route that exists, `/api/docs` serves the vendored
//! Swagger UI, `/metrics` speaks Prometheus.

use aladdin::domain::users::Role;
use reqwest::Method;

use super::{Api, error_message};
use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

#[tokio::test]
async fn every_documented_operation_exists_and_nothing_is_undocumented() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Admin).await;
    let doc = api.get("/api/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("item").keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    // The router's own list of routes: a new route must be documented, and a documented
    // one must exist. Outside `/api`, the two documented routes.
    let mut expected: Vec<String> = aladdin::web::api::registry::registered()
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    expected.extend(["GET /metrics".to_owned(), "GET /healthz".to_owned()]);
    expected.sort();
    let missing: Vec<_> = expected
        .iter()
        .filter(|r| !documented.contains(r))
        .collect();
    let extra: Vec<_> = documented
        .iter()
        .filter(|r| !expected.contains(r))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "undocumented routes: {missing:?}; documented but not served: {extra:?}"
    );
    // The list is the real one, not an empty agreement.
    for route in [
        "POST /api/agents/{agentId}/execute",
        "POST /api/agent-chains/{chainId}/execute",
        "GET /api/agent-executions/{id}/events",
        "POST /api/agent-executions/{id}/cancel",
        "GET /api/tool-data/{collection}",
        "POST /api/users/login",
        "POST /api/users/{id}/api-key",
        "GET /api/docs/{tail}",
        "PATCH /api/agents/{id}",
    ] {
        assert!(documented.iter().any(|r| r == route), "{route}");
    }
    // Each one answers something other than "no such route" / "wrong method".
    for route in &documented {
        let (method, path) = route.split_once(' ').expect("route");
        let path = path
            .replace("{id}", "999999")
            .replace("{collection}", "notes")
            .replace("{agentId}", "no-such-agent")
            .replace("{chainId}", "no-such-chain")
            .replace("{tail}", "index.html");
        let url = if path.contains("tool-data") {
            format!("{path}?project=epic-quest")
        } else {
            path.clone()
        };
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
            .request(
                Method::from_bytes(method.as_bytes()).expect("method"),
                app.url(&url),
            )
            .header("Authorization", api.authorization_header())
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert!(
            status != 405 && !text.contains("Route not found"),
            "{route}: {status} {text:.200}"
        );
        assert!(status < 500, "{route}: {status}");
    }
}

#[tokio::test]
async fn the_docs_page_is_served_from_vendored_assets() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let redirect = client.get(app.url("/api/docs")).send().await.expect("sent");
    assert_eq!(redirect.status(), 302);
    assert_eq!(redirect.headers()["location"], "/api/docs/");
    let page = client
        .get(app.url("/api/docs/"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html:.300}");
    assert!(!html.contains("https://"), "no CDN: {html:.500}");
    let init = client
        .get(app.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .expect("sent");
    assert!(init.text().await.expect("js").contains("/api/openapi.json"));
    let missing = Api::anonymous(&app).get("/api/docs/nope.js").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_executions_by_status() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let api = Api::as_role(&app, Role::Viewer).await;
    super::executions::execution(&app, "pending").await;
    api.get("/api/agents").await;
    api.get("/api/agents/12345").await;
    let anonymous = Api::anonymous(&app).get("/metrics").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        error_message(&anonymous.body),
        "Unauthorized, you must be logged in to make this request."
    );
    let response = reqwest::Client::new()
        .get(app.url("/metrics"))
        .header("Authorization", api.authorization_header())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    for needle in [
        "# TYPE aladdin_http_requests_total counter",
        r#"route="/api/agents""#,
        r#"route="/api/agents/{id}""#,
        r#"status="404""#,
        "aladdin_http_request_duration_seconds_bucket",
        r#"aladdin_executions{status="pending"}"#,
        "aladdin_execution_queue_depth",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}
