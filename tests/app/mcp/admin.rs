//! The MCP servers' admin pages: admins create, edit, delete and refresh (against the Python
//! SDK's server); editors and viewers read; header values never reach the HTML; stdio is
//! refused at save (admin and API) unless `MCP_ALLOW_STDIO=true`; the agent form offers the
//! discovered tools.

use aladdin::db;
use aladdin::domain::users::Role;
use serde_json::json;

use super::{PyServer, free_port, insert_server};
use crate::admin::{location, sign_in_as};
use crate::api::Api;
use crate::helpers::{TestOptions, spawn_app, spawn_app_with};

const STDIO_REFUSED: &str = "stdio servers are disabled; set MCP_ALLOW_STDIO=true";

/// The fields of an http server's form with one header row.
fn http_form<'a>(
    name: &'a str,
    url: &'a str,
    header: (&'a str, &'a str),
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("transport", "http"),
        ("url", url),
        ("command", ""),
        ("args", ""),
        ("header_name", header.0),
        ("header_value", header.1),
        ("header_name", ""),
        ("header_value", ""),
        ("toolAllowList", ""),
        ("timeoutMs", "30000"),
        ("approval.mode", "never"),
        ("approval.when", ""),
        ("approval.timeoutMinutes", ""),
        ("isGlobal", "true"),
        ("isActive", "true"),
    ]
}

/// The page's text with askama's quote escapes undone.
fn unescaped(html: &str) -> String {
    html.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

async fn server_named(
    app: &crate::helpers::TestApp,
    name: &str,
) -> aladdin::entities::mcp_servers::Model {
    db::mcp_servers::find_by_names(&app.db, &[name.to_owned()])
        .await
        .expect("query")
        .pop()
        .expect("the server exists")
}

#[tokio::test]
async fn an_admin_creates_edits_and_deletes_a_server_and_header_values_never_reach_the_page() {
    // Arrange
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;

    // Act: create with a secret header.
    let created = admin
        .post(
            "/admin/mcp-servers",
            &http_form(
                "docs",
                "https://mcp.example.com/mcp",
                ("X-Api-Key", "s3cret-value"),
            ),
        )
        .await;

    // Assert
    assert_eq!(created.status(), 303);
    let row = server_named(&app, "docs").await;
    assert_eq!(location(&created), format!("/admin/mcp-servers/{}", row.id));
    assert_eq!(row.headers, json!({"X-Api-Key": "s3cret-value"}));
    let page = admin
        .page(&format!("/admin/mcp-servers/{}", row.id), 200)
        .await;
    assert!(
        page.contains("value=\"X-Api-Key\""),
        "the header's name is shown"
    );
    assert!(page.contains("•••• set"), "the header is marked as set");
    assert!(
        !page.contains("s3cret"),
        "the header's value is never rendered"
    );
    let list = admin.page("/admin/mcp-servers", 200).await;
    assert!(list.contains(">docs</a>") && list.contains("https://mcp.example.com/mcp"));
    assert!(!list.contains("s3cret"));

    // An empty value keeps the stored one; other fields change.
    let form = http_form("docs", "https://mcp.example.com/v2", ("X-Api-Key", ""));
    let saved = admin
        .post(&format!("/admin/mcp-servers/{}", row.id), &form)
        .await;
    assert_eq!(saved.status(), 303);
    let row = server_named(&app, "docs").await;
    assert_eq!(row.headers, json!({"X-Api-Key": "s3cret-value"}));
    assert_eq!(row.url.as_deref(), Some("https://mcp.example.com/v2"));

    // A ticked "remove" drops the header; a new row adds one.
    let mut form = http_form("docs", "https://mcp.example.com/v2", ("X-Api-Key", ""));
    form.extend([
        ("header_remove", "X-Api-Key"),
        ("header_name", "Authorization"),
        ("header_value", "Bearer t0ken"),
    ]);
    let saved = admin
        .post(&format!("/admin/mcp-servers/{}", row.id), &form)
        .await;
    assert_eq!(saved.status(), 303);
    let row = server_named(&app, "docs").await;
    assert_eq!(row.headers, json!({"Authorization": "Bearer t0ken"}));
    let page = admin
        .page(&format!("/admin/mcp-servers/{}", row.id), 200)
        .await;
    assert!(!page.contains("t0ken") && page.contains("value=\"Authorization\""));

    // Delete.
    let deleted = admin
        .post(&format!("/admin/mcp-servers/{}/delete", row.id), &[])
        .await;
    assert_eq!(deleted.status(), 303);
    assert!(
        db::mcp_servers::find_by_id(&app.db, row.id)
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn a_new_header_needs_a_value_and_the_form_says_so() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let response = admin
        .post(
            "/admin/mcp-servers",
            &http_form("docs", "ftp://nope", ("X-Api-Key", "")),
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"url-err\">Must be an http"), "{html}");
    assert!(html.contains("A value is required."));
}

#[tokio::test]
async fn editors_and_viewers_see_servers_read_only() {
    // Arrange
    let app = spawn_app().await;
    let server = insert_server(
        &app.db,
        json!({"name": "docs", "url": "https://mcp.example.com/mcp", "isGlobal": true,
               "headers": {"X-Api-Key": "s3cret-value"}}),
    )
    .await;
    let id = server.id;

    for role in [Role::Editor, Role::Viewer] {
        let browser = sign_in_as(&app, role).await;

        // Act / Assert: the list and the page are readable, without write controls.
        let list = browser.page("/admin/mcp-servers", 200).await;
        assert!(list.contains(">docs</a>"), "{role:?} sees the server");
        assert!(
            !list.contains("/admin/mcp-servers/new"),
            "{role:?}: no New button"
        );
        assert!(!list.contains("/refresh"), "{role:?}: no Refresh");
        assert!(!list.contains("/delete"), "{role:?}: no Delete");
        let page = browser.page(&format!("/admin/mcp-servers/{id}"), 200).await;
        assert!(page.contains("<fieldset class=\"form-body\" disabled>"));
        assert!(!page.contains("/refresh") && !page.contains("s3cret"));

        // Every write is refused.
        assert_eq!(browser.get("/admin/mcp-servers/new").await.status(), 403);
        let form = http_form("other", "https://x.example.com/mcp", ("X-A", "b"));
        assert_eq!(
            browser.post("/admin/mcp-servers", &form).await.status(),
            403
        );
        let path = format!("/admin/mcp-servers/{id}");
        assert_eq!(browser.post(&path, &form).await.status(), 403);
        for action in ["refresh", "delete", "active"] {
            let response = browser.post(&format!("{path}/{action}"), &[]).await;
            assert_eq!(response.status(), 403, "{role:?} {action}");
        }
    }
    let row = db::mcp_servers::find_by_id(&app.db, id)
        .await
        .expect("q")
        .expect("kept");
    assert_eq!(row.name, "docs");
    assert!(row.tools_refreshed_at.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_shows_the_tools_the_server_offers_with_their_schemas() {
    // Arrange
    let app = spawn_app().await;
    let python = PyServer::start().await;
    let server = insert_server(
        &app.db,
        json!({"name": "calc", "url": python.url, "isGlobal": true, "toolAllowList": ["add", "slow"]}),
    )
    .await;
    let admin = sign_in_as(&app, Role::Admin).await;

    // Act
    let refreshed = admin
        .post(&format!("/admin/mcp-servers/{}/refresh", server.id), &[])
        .await;

    // Assert
    assert_eq!(refreshed.status(), 303);
    assert_eq!(
        location(&refreshed),
        format!("/admin/mcp-servers/{}#tools", server.id)
    );
    let page = unescaped(
        &admin
            .page(&format!("/admin/mcp-servers/{}", server.id), 200)
            .await,
    );
    assert!(
        page.contains("calc: 4 tools discovered."),
        "the toast counts them"
    );
    assert!(page.contains("calc/add") && page.contains("Add two integers."));
    // The input schema, pretty-printed.
    assert!(page.contains("\"a\": {"), "{page}");
    assert!(page.contains("\"type\": \"integer\""));
    assert!(page.contains("calc/secret") && page.contains("not in the allow-list"));
    let list = admin.page("/admin/mcp-servers", 200).await;
    assert!(list.contains("<td class=\"num\">4</td>") && list.contains("just now"));
}

#[tokio::test]
async fn refreshing_an_unreachable_server_says_why_and_keeps_its_tools() {
    // Arrange: nothing listens on the port.
    let app = spawn_app().await;
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let server = insert_server(
        &app.db,
        json!({"name": "gone", "url": url, "timeoutMs": 2000}),
    )
    .await;
    db::mcp_servers::set_tools(
        &app.db,
        server.id,
        json!([{"name": "old", "description": "", "inputSchema": {}}]),
    )
    .await
    .expect("tools");
    let admin = sign_in_as(&app, Role::Admin).await;

    // Act
    let refreshed = admin
        .post(&format!("/admin/mcp-servers/{}/refresh", server.id), &[])
        .await;

    // Assert: back to the page with an error toast, not a 500.
    assert_eq!(refreshed.status(), 303);
    let page = admin
        .page(&format!("/admin/mcp-servers/{}", server.id), 200)
        .await;
    assert!(
        page.contains("The MCP server could not be reached"),
        "{page}"
    );
    assert!(
        page.contains("gone/old"),
        "the last refresh's tools are kept"
    );
}

#[tokio::test]
async fn stdio_is_refused_at_save_in_the_admin_unless_enabled() {
    let stdio = |name| {
        vec![
            ("name", name),
            ("transport", "stdio"),
            ("url", ""),
            ("command", "/usr/bin/true"),
            ("args", "--flag"),
            ("approval.mode", "never"),
            ("isActive", "true"),
        ]
    };
    // Off (the default): a field error on transport, nothing stored.
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let refused = admin.post("/admin/mcp-servers", &stdio("local")).await;
    assert_eq!(refused.status(), 422);
    let html = unescaped(&refused.text().await.expect("html"));
    assert!(
        html.contains(&format!("id=\"transport-err\">{STDIO_REFUSED}")),
        "{html}"
    );
    assert!(
        db::mcp_servers::find_by_names(&app.db, &["local".into()])
            .await
            .expect("q")
            .is_empty()
    );

    // On: saved.
    let app = spawn_app_with(TestOptions::default().var("MCP_ALLOW_STDIO", "true")).await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let saved = admin.post("/admin/mcp-servers", &stdio("local")).await;
    assert_eq!(saved.status(), 303);
    let row = server_named(&app, "local").await;
    assert_eq!(
        (row.command.as_deref(), row.args.clone()),
        (Some("/usr/bin/true"), json!(["--flag"]))
    );
}

#[tokio::test]
async fn stdio_is_refused_at_save_by_the_api_unless_enabled() {
    // Arrange
    let app = spawn_app().await;
    let admin = Api::as_role(&app, Role::Admin).await;
    let body = json!({"name": "local", "transport": "stdio", "command": "/usr/bin/true"});

    // Act / Assert: create is a 400 with the field path.
    let refused = admin.post("/api/mcp-servers", body.clone()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let error = &refused.body["errors"][0]["data"]["errors"][0];
    assert_eq!(error["path"], "transport");
    assert_eq!(error["message"], STDIO_REFUSED);

    // An http server may not become stdio either.
    let http = insert_server(
        &app.db,
        json!({"name": "web", "url": "https://x.example.com/mcp"}),
    )
    .await;
    let switched = admin
        .patch(
            &format!("/api/mcp-servers/{}", http.id),
            json!({"transport": "stdio", "command": "/usr/bin/true"}),
        )
        .await;
    assert_eq!(switched.status, 400, "{}", switched.body);

    // A stdio server saved while allowed can still be switched off, but not given a new command.
    let stored = insert_server(&app.db, body).await;
    let path = format!("/api/mcp-servers/{}", stored.id);
    let off = admin.patch(&path, json!({"isActive": false})).await;
    assert_eq!(off.status, 200, "{}", off.body);
    let moved = admin.patch(&path, json!({"command": "/bin/sh"})).await;
    assert_eq!(moved.status, 400, "{}", moved.body);
    assert_eq!(
        moved.body["errors"][0]["data"]["errors"][0]["path"],
        "transport"
    );

    // With MCP_ALLOW_STDIO=true it is created.
    let app = spawn_app_with(TestOptions::default().var("MCP_ALLOW_STDIO", "true")).await;
    let admin = Api::as_role(&app, Role::Admin).await;
    let created = admin
        .post(
            "/api/mcp-servers",
            json!({"name": "local", "transport": "stdio", "command": "/usr/bin/true"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
}

#[tokio::test]
async fn the_agent_form_offers_the_allowed_tools_of_active_servers() {
    // Arrange: two refreshed servers, one inactive; an allow-list keeps `secret` out.
    let app = spawn_app().await;
    let tools = json!([
        {"name": "add", "description": "Add two integers.", "inputSchema": {"type": "object"}},
        {"name": "secret", "description": "Kept out.", "inputSchema": {"type": "object"}}
    ]);
    let calc = insert_server(
        &app.db,
        json!({"name": "calc", "url": "https://calc.example.com/mcp", "toolAllowList": ["add"]}),
    )
    .await;
    let off = insert_server(
        &app.db,
        json!({"name": "off", "url": "https://off.example.com/mcp", "isActive": false}),
    )
    .await;
    for id in [calc.id, off.id] {
        db::mcp_servers::set_tools(&app.db, id, tools.clone())
            .await
            .expect("tools");
    }
    let editor = sign_in_as(&app, Role::Editor).await;

    // Act
    let form = editor.page("/admin/agents/new", 200).await;

    // Assert
    assert!(
        form.contains("value=\"calc/add\""),
        "the allowed tool is offered"
    );
    assert!(!form.contains("calc/secret"), "the allow-list keeps it out");
    assert!(
        !form.contains("off/add"),
        "inactive servers are not offered"
    );
}

#[tokio::test]
async fn the_nav_links_to_the_mcp_servers() {
    let app = spawn_app().await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let page = viewer.page("/admin", 200).await;
    assert!(page.contains("href=\"/admin/mcp-servers\""));
}
