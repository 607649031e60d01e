//! Roles as in the admin panel: viewers read, editors write content, admins manage users
//! and the price table; users read and change themselves.

use aladdin::domain::users::Role;
use serde_json::json;

use super::{Api, error_message, user_with_key};
use crate::helpers::{TestOptions, spawn_app_with};

#[tokio::test]
async fn viewers_read_editors_write_content_admins_manage_users_and_models() {
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = Api::as_role(&app, Role::Viewer).await;
    let editor = Api::as_role(&app, Role::Editor).await;
    let admin = Api::as_role(&app, Role::Admin).await;
    let project = json!({"name": "P", "slug": "p-1"});
    assert_eq!(viewer.get("/api/projects").await.status, 200);
    assert_eq!(
        viewer.post("/api/projects", project.clone()).await.status,
        403
    );
    assert_eq!(editor.post("/api/projects", project).await.status, 201);
    let model = json!({"modelId": "x/y", "provider": "openrouter", "inputPricePerMTok": 1, "outputPricePerMTok": 1});
    assert_eq!(viewer.get("/api/models").await.status, 200);
    assert_eq!(editor.post("/api/models", model.clone()).await.status, 403);
    assert_eq!(admin.post("/api/models", model).await.status, 201);
    assert_eq!(editor.get("/api/users").await.status, 403);
    assert_eq!(admin.get("/api/users").await.status, 200);
    let user =
        json!({"email": "new@example.com", "password": "long enough pass", "role": "viewer"});
    assert_eq!(editor.post("/api/users", user.clone()).await.status, 403);
    let created = admin.post("/api/users", user).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["message"], "User successfully created.");
    assert!(!created.body.to_string().contains("long enough pass"));
}

#[tokio::test]
async fn users_read_and_update_themselves_but_not_their_role_or_others() {
    let app = spawn_app_with(TestOptions::default()).await;
    let (me, key) = user_with_key(&app, Role::Editor).await;
    let (other, _) = user_with_key(&app, Role::Viewer).await;
    let api = Api::key(&app, &key);
    assert_eq!(api.get(&format!("/api/users/{}", me.id)).await.status, 200);
    assert_eq!(
        api.get(&format!("/api/users/{}", other.id)).await.status,
        403
    );
    let renamed = api
        .patch(&format!("/api/users/{}", me.id), json!({"name": "Renamed"}))
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["doc"]["name"], "Renamed");
    assert_eq!(
        api.patch(&format!("/api/users/{}", me.id), json!({"role": "admin"}))
            .await
            .status,
        403
    );
    assert_eq!(
        api.patch(&format!("/api/users/{}", other.id), json!({"name": "x"}))
            .await
            .status,
        403
    );
    assert_eq!(
        api.delete(&format!("/api/users/{}", other.id)).await.status,
        403
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_disabled_or_deleted() {
    let app = spawn_app_with(TestOptions::default()).await;
    let (admin, key) = user_with_key(&app, Role::Admin).await;
    let api = Api::key(&app, &key);
    let path = format!("/api/users/{}", admin.id);
    let demote = api.patch(&path, json!({"role": "editor"})).await;
    assert_eq!(demote.status, 400);
    assert_eq!(
        demote.body["errors"][0]["data"]["errors"][0]["path"],
        "role"
    );
    assert_eq!(
        api.patch(&path, json!({"disabled": true})).await.status,
        400
    );
    let delete = api.delete(&path).await;
    assert_eq!(delete.status, 409);
    assert_eq!(
        error_message(&delete.body),
        "The last enabled admin cannot be deleted."
    );
    // With a second admin, demotion works.
    let (_, _) = user_with_key(&app, Role::Admin).await;
    assert_eq!(
        api.patch(&path, json!({"role": "editor"})).await.status,
        200
    );
}
