//! Users: created by administrators; roles, password resets, API keys and disabling, with the
//! last administrator protected.

use aladdin::{auth::tokens, db, domain::users::Role};

use super::{PASSWORD, create_user, location, sign_in, sign_in_as, submit_login};
use crate::helpers::{client, spawn_app};

#[tokio::test]
async fn an_admin_creates_a_user_who_can_then_sign_in() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let response = admin
        .post(
            "/admin/users",
            &[
                ("email", "Grace@Example.com"),
                ("name", "Grace"),
                ("role", "viewer"),
                ("password", "s3cret-pass"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let user = db::users::find_by_email(&app.db, "grace@example.com")
        .await
        .expect("q")
        .expect("created");
    assert_eq!(user.role, "viewer");
    assert_ne!(user.password_hash, "s3cret-pass", "stored hashed");
    assert_eq!(
        submit_login(&app, &client(), "grace@example.com", "s3cret-pass")
            .await
            .status(),
        303
    );
}

#[tokio::test]
async fn invalid_users_are_refused_at_their_fields() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    create_user(&app, "taken@example.com", Role::Viewer).await;
    let response = admin
        .post(
            "/admin/users",
            &[
                ("email", "taken@example.com"),
                ("role", "overlord"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.expect("html");
    assert!(html.contains("id=\"role-err\">Must be one of admin, editor, viewer."));
    assert!(html.contains("id=\"password-err\">Must be at least 8 characters."));
    let duplicate = admin
        .post(
            "/admin/users",
            &[
                ("email", "taken@example.com"),
                ("role", "viewer"),
                ("password", "long-enough"),
            ],
        )
        .await;
    assert_eq!(duplicate.status(), 422);
    assert!(
        duplicate
            .text()
            .await
            .expect("html")
            .contains("id=\"email-err\">Value must be unique.")
    );
}

#[tokio::test]
async fn changing_a_role_takes_effect_on_the_next_request() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let bob = create_user(&app, "bob@example.com", Role::Viewer).await;
    let bob_browser = sign_in(&app, "bob@example.com").await;
    assert_eq!(bob_browser.get("/admin/agents/new").await.status(), 403);
    let response = admin
        .post(
            &format!("/admin/users/{}", bob.id),
            &[
                ("email", "bob@example.com"),
                ("name", "Bob"),
                ("role", "editor"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(bob_browser.get("/admin/agents/new").await.status(), 200);
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_disabled() {
    let app = spawn_app().await;
    let admin = create_user(&app, "root@example.com", Role::Admin).await;
    let browser = sign_in(&app, "root@example.com").await;
    let demote = browser
        .post(
            &format!("/admin/users/{}", admin.id),
            &[("email", "root@example.com"), ("role", "editor")],
        )
        .await;
    assert_eq!(demote.status(), 422);
    assert!(
        demote
            .text()
            .await
            .expect("html")
            .contains("This is the last administrator")
    );
    let disable = browser
        .post(&format!("/admin/users/{}/disable", admin.id), &[])
        .await;
    assert_eq!(disable.status(), 303);
    let page = browser.page(location(&disable), 200).await;
    assert!(page.contains("This is the last administrator and cannot be disabled."));
    let user = db::users::find_by_id(&app.db, admin.id)
        .await
        .expect("q")
        .expect("exists");
    assert_eq!((user.role.as_str(), user.disabled), ("admin", false));
}

#[tokio::test]
async fn an_api_key_is_shown_once_and_stored_hashed() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let bob = create_user(&app, "bob@example.com", Role::Editor).await;
    let response = admin
        .post(&format!("/admin/users/{}/api-key", bob.id), &[])
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    let start = html.find("<code id=\"new-api-key\">").expect("key shown")
        + "<code id=\"new-api-key\">".len();
    let key = &html[start..start + 43];
    let stored = db::users::find_by_id(&app.db, bob.id)
        .await
        .expect("q")
        .expect("exists");
    assert_eq!(
        stored.api_key_hash.as_deref(),
        Some(tokens::hash(key).as_str())
    );
    assert!(stored.enable_api_key);
    let again = admin.page(&format!("/admin/users/{}", bob.id), 200).await;
    assert!(!again.contains(key), "never shown again");
    assert!(again.contains("active key"));
    let revoked = admin
        .post(&format!("/admin/users/{}/api-key/revoke", bob.id), &[])
        .await;
    assert_eq!(revoked.status(), 303);
    assert!(
        db::users::find_by_id(&app.db, bob.id)
            .await
            .expect("q")
            .expect("exists")
            .api_key_hash
            .is_none()
    );
}

#[tokio::test]
async fn a_password_reset_signs_the_user_out_and_sets_the_new_password() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let bob = create_user(&app, "bob@example.com", Role::Editor).await;
    let bob_browser = sign_in(&app, "bob@example.com").await;
    let short = admin
        .post(
            &format!("/admin/users/{}/password", bob.id),
            &[("password", "short")],
        )
        .await;
    assert_eq!(short.status(), 422);
    let response = admin
        .post(
            &format!("/admin/users/{}/password", bob.id),
            &[("password", "brand-new-pass")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(bob_browser.get("/admin").await.status(), 303, "signed out");
    assert_eq!(
        submit_login(&app, &client(), "bob@example.com", PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        submit_login(&app, &client(), "bob@example.com", "brand-new-pass")
            .await
            .status(),
        303
    );
}
