//! The role matrix: every admin route × anonymous / viewer / editor / admin → the status each
//! must get. Anonymous users are always sent to sign in; a 403 means the role was refused.
//! Destructive routes target a missing id (999999), so that "allowed" shows as 404 and the
//! rows stay for the next role.

use aladdin::domain::users::Role;

use super::{create_user, location, sign_in_as};
use crate::helpers::{TestOptions, spawn_app_with};

/// (method, path, viewer, editor, admin). `{agent}` and friends are replaced by real ids.
const MATRIX: &[(&str, &str, u16, u16, u16)] = &[
    ("GET", "/admin", 200, 200, 200),
    ("GET", "/admin/account", 200, 200, 200),
    ("POST", "/admin/account/password", 422, 422, 422),
    // Agents
    ("GET", "/admin/agents", 200, 200, 200),
    ("GET", "/admin/agents/new", 403, 200, 200),
    ("POST", "/admin/agents", 403, 422, 422),
    ("GET", "/admin/agents/{agent}", 200, 200, 200),
    ("POST", "/admin/agents/{agent}", 403, 422, 422),
    ("GET", "/admin/agents/{agent}/duplicate", 403, 200, 200),
    ("POST", "/admin/agents/999999/delete", 403, 404, 404),
    ("POST", "/admin/agents/999999/active", 403, 404, 404),
    ("POST", "/admin/agents/bulk-delete", 403, 303, 303),
    // Departments
    ("GET", "/admin/departments", 200, 200, 200),
    ("GET", "/admin/departments/new", 403, 200, 200),
    ("POST", "/admin/departments", 403, 422, 422),
    ("GET", "/admin/departments/{department}", 200, 200, 200),
    ("POST", "/admin/departments/{department}", 403, 422, 422),
    (
        "GET",
        "/admin/departments/{department}/duplicate",
        403,
        200,
        200,
    ),
    ("POST", "/admin/departments/999999/delete", 403, 404, 404),
    ("POST", "/admin/departments/999999/active", 403, 404, 404),
    ("POST", "/admin/departments/bulk-delete", 403, 303, 303),
    // Custom tools
    ("GET", "/admin/custom-tools", 200, 200, 200),
    ("GET", "/admin/custom-tools/new", 403, 200, 200),
    ("POST", "/admin/custom-tools", 403, 422, 422),
    ("GET", "/admin/custom-tools/{tool}", 200, 200, 200),
    ("POST", "/admin/custom-tools/{tool}", 403, 422, 422),
    ("GET", "/admin/custom-tools/{tool}/duplicate", 403, 200, 200),
    ("POST", "/admin/custom-tools/999999/delete", 403, 404, 404),
    ("POST", "/admin/custom-tools/999999/active", 403, 404, 404),
    ("POST", "/admin/custom-tools/bulk-delete", 403, 303, 303),
    // Projects
    ("GET", "/admin/projects", 200, 200, 200),
    ("GET", "/admin/projects/new", 403, 200, 200),
    ("POST", "/admin/projects", 403, 422, 422),
    ("GET", "/admin/projects/{project}", 200, 200, 200),
    ("POST", "/admin/projects/{project}", 403, 422, 422),
    ("GET", "/admin/projects/{project}/duplicate", 403, 200, 200),
    ("POST", "/admin/projects/999999/delete", 403, 404, 404),
    ("POST", "/admin/projects/bulk-delete", 403, 303, 303),
    // Models: everyone reads, only admins change
    ("GET", "/admin/models", 200, 200, 200),
    ("GET", "/admin/models/new", 403, 403, 200),
    ("POST", "/admin/models", 403, 403, 422),
    ("GET", "/admin/models/{model}", 200, 200, 200),
    ("POST", "/admin/models/{model}", 403, 403, 422),
    ("GET", "/admin/models/{model}/duplicate", 403, 403, 200),
    ("POST", "/admin/models/999999/delete", 403, 403, 404),
    ("POST", "/admin/models/bulk-delete", 403, 403, 303),
    // Executions (read-only)
    ("GET", "/admin/executions", 200, 200, 200),
    ("GET", "/admin/executions/999999", 404, 404, 404),
    // Tool data
    ("GET", "/admin/tool-data", 200, 200, 200),
    ("GET", "/admin/tool-data/999999", 404, 404, 404),
    ("POST", "/admin/tool-data/999999/delete", 403, 404, 404),
    ("POST", "/admin/tool-data/bulk-delete", 403, 303, 303),
    // Users: administrators only
    ("GET", "/admin/users", 403, 403, 200),
    ("GET", "/admin/users/new", 403, 403, 200),
    ("POST", "/admin/users", 403, 403, 422),
    ("GET", "/admin/users/{user}", 403, 403, 200),
    ("POST", "/admin/users/{user}", 403, 403, 422),
    ("POST", "/admin/users/{user}/password", 403, 403, 422),
    ("POST", "/admin/users/{user}/api-key", 403, 403, 200),
    ("POST", "/admin/users/{user}/api-key/revoke", 403, 403, 303),
    ("POST", "/admin/users/{user}/disable", 403, 403, 303),
    ("POST", "/admin/users/{user}/enable", 403, 403, 303),
    // Unknown pages
    ("GET", "/admin/no-such-page", 404, 404, 404),
];

#[tokio::test]
async fn every_admin_route_enforces_its_role() {
    // Arrange: demo content (ids 1 exist) and a user to act on
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let target = create_user(&app, "target@example.com", Role::Viewer).await;
    let path_of = |template: &str| {
        template
            .replace("{agent}", "1")
            .replace("{department}", "1")
            .replace("{tool}", "1")
            .replace("{project}", "1")
            .replace("{model}", "1")
            .replace("{user}", &target.id.to_string())
    };
    let mut failures = Vec::new();

    // Anonymous: every route sends the browser to sign in.
    for (method, template, ..) in MATRIX {
        let path = path_of(template);
        let request = match *method {
            "GET" => app.client.get(app.url(&path)),
            _ => app.client.post(app.url(&path)).form(&[("x", "y")]),
        };
        let response = request.send().await.expect("sent");
        if response.status() != 303 || !location(&response).starts_with("/admin/login") {
            failures.push(format!(
                "anonymous {method} {path}: {} → {}",
                response.status(),
                location(&response)
            ));
        }
    }

    // Each role, with a valid CSRF token so that only the role decides.
    for (role, column) in [(Role::Viewer, 0), (Role::Editor, 1), (Role::Admin, 2)] {
        let browser = sign_in_as(&app, role).await;
        for (method, template, viewer, editor, admin) in MATRIX {
            let expected = [*viewer, *editor, *admin][column];
            let path = path_of(template);
            let response = match *method {
                "GET" => browser.get(&path).await,
                _ => browser.post(&path, &[]).await,
            };
            if response.status().as_u16() != expected {
                failures.push(format!(
                    "{role} {method} {path}: expected {expected}, got {}",
                    response.status()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role matrix failures:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn a_forbidden_page_explains_itself_and_htmx_gets_a_toast() {
    let app = spawn_app_with(TestOptions::default()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let page = viewer.get("/admin/users").await;
    assert_eq!(page.status(), 403);
    let html = page.text().await.expect("html");
    assert!(html.contains("Not allowed"));
    assert!(html.contains("Your role does not allow this action."));
    let fragment = viewer
        .post_hx("/admin/agents/1/active", &[("active", "false")])
        .await;
    assert_eq!(fragment.status(), 403);
    assert_eq!(fragment.headers()["hx-reswap"], "none");
    let toast = fragment.text().await.expect("html");
    assert!(toast.contains("hx-swap-oob=\"beforeend:#toasts\""));
    assert!(toast.contains("toast-error"));
}

#[tokio::test]
async fn the_ui_hides_what_a_role_may_not_do() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let list = viewer.page("/admin/agents", 200).await;
    assert!(!list.contains("New agent"));
    assert!(!list.contains("/admin/agents/1/delete"));
    assert!(
        !list.contains("href=\"/admin/users\""),
        "no Users entry in the navigation"
    );
    let form = viewer.page("/admin/agents/1/edit", 200).await;
    assert!(form.contains("Read-only"));
    assert!(form.contains("<fieldset class=\"form-body\" disabled>"));
    let editor = sign_in_as(&app, Role::Editor).await;
    let list = editor.page("/admin/agents", 200).await;
    assert!(list.contains("New agent"));
    assert!(list.contains("/admin/agents/1/delete"));
    let models = editor.page("/admin/models", 200).await;
    assert!(
        !models.contains("New model"),
        "editors read the price table only"
    );
}
