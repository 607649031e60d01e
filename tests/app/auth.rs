//! Sign-in, sign-out, the first user, server-side sessions, CSRF and the sign-in rate limit.

use aladdin::{db, domain::users::Role, entities::sessions};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::admin::{
    PASSWORD, create_user, csrf_from, form_token, location, sign_in, sign_in_as, submit_login,
};
use crate::helpers::{client, spawn_app};

#[tokio::test]
async fn anonymous_users_are_redirected_to_login_with_the_page_they_wanted() {
    // Arrange
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Admin).await;
    // Act
    let response = app.get("/admin/agents?q=story").await;
    // Assert
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/admin/login?next=%2Fadmin%2Fagents%3Fq%3Dstory"
    );
}

#[tokio::test]
async fn htmx_requests_of_anonymous_users_get_hx_redirect() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/admin/agents"))
        .header("HX-Request", "true")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["HX-Redirect"]
            .to_str()
            .expect("ascii")
            .starts_with("/admin/login")
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_with_a_message_and_keeps_the_email() {
    // Arrange
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Editor).await;
    // Act
    let response = submit_login(&app, &app.client, "ada@example.com", "not-the-password").await;
    // Assert
    assert_eq!(response.status(), 401);
    let html = response.text().await.expect("html");
    assert!(html.contains("Invalid email or password."));
    assert!(html.contains("value=\"ada@example.com\""));
    assert_eq!(app.get("/admin").await.status(), 303, "still signed out");
}

#[tokio::test]
async fn an_unknown_email_gets_the_same_message() {
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Editor).await;
    let response = submit_login(&app, &app.client, "nobody@example.com", PASSWORD).await;
    assert_eq!(response.status(), 401);
    assert!(
        response
            .text()
            .await
            .expect("html")
            .contains("Invalid email or password.")
    );
}

#[tokio::test]
async fn the_right_password_signs_in_with_a_hardened_cookie_and_a_server_side_session() {
    // Arrange
    let app = spawn_app().await;
    let user = create_user(&app, "Ada@Example.com", Role::Editor).await;
    // Act
    let response = submit_login(&app, &app.client, "ada@example.com", PASSWORD).await;
    // Assert
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aladdin_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(
        !cookie.contains("Secure"),
        "not Secure unless COOKIE_SECURE"
    );
    let rows = sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user.id))
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(
        rows, 1,
        "the session is stored in the database with its user"
    );
    let dashboard = app.get("/admin").await;
    assert_eq!(dashboard.status(), 200);
    assert!(dashboard.text().await.expect("html").contains("Dashboard"));
}

#[tokio::test]
async fn sign_in_returns_to_the_requested_page_but_never_off_site() {
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Editor).await;
    for (next, expected) in [
        ("/admin/agents?q=x", "/admin/agents?q=x"),
        ("https://evil.example/", "/admin"),
        ("//evil.example", "/admin"),
    ] {
        let browser = client();
        let page = browser
            .get(app.url("/admin/login"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        let token = form_token(&page).expect("token");
        let response = browser
            .post(app.url("/admin/login"))
            .form(&[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("next", next),
            ])
            .send()
            .await
            .expect("sent");
        assert_eq!(location(&response), expected, "next={next}");
    }
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account_with_a_clear_message() {
    // Arrange
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Editor).await;
    for _ in 0..5 {
        let response = submit_login(&app, &app.client, "ada@example.com", "wrong-password").await;
        assert_eq!(response.status(), 401);
    }
    // Act: even the right password is refused now
    let response = submit_login(&app, &app.client, "ada@example.com", PASSWORD).await;
    // Assert
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let html = response.text().await.expect("html");
    assert!(
        html.contains("Too many failed sign-in attempts for this account"),
        "{html}"
    );
    // Another account from the same address is not locked by these five failures.
    create_user(&app, "bob@example.com", Role::Editor).await;
    let other = submit_login(&app, &client(), "bob@example.com", PASSWORD).await;
    assert_eq!(other.status(), 303);
}

#[tokio::test]
async fn the_sign_in_form_needs_its_csrf_token() {
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Editor).await;
    // No token cookie, no field: refused before the password is checked.
    let response = app
        .client
        .post(app.url("/admin/login"))
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn the_first_user_is_created_from_the_setup_page_as_an_admin() {
    // Arrange: an empty users table sends the sign-in page to the setup page
    let app = spawn_app().await;
    let response = app.get("/admin/login").await;
    assert_eq!(location(&response), "/admin/setup");
    let page = app.get("/admin/setup").await.text().await.expect("html");
    let token = form_token(&page).expect("token");
    // Act: invalid first, then valid
    let invalid = app
        .client
        .post(app.url("/admin/setup"))
        .form(&[
            ("name", "Ada"),
            ("email", "not-an-email"),
            ("password", "short"),
            ("password_confirm", "short"),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(invalid.status(), 422);
    let html = invalid.text().await.expect("html");
    assert!(html.contains("Must be a valid email address."));
    assert!(html.contains("Must be at least 8 characters."));
    assert!(html.contains("value=\"not-an-email\""), "input kept");
    let created = app
        .client
        .post(app.url("/admin/setup"))
        .form(&[
            ("name", "Ada"),
            ("email", "ada@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("sent");
    // Assert: an admin, signed in
    assert_eq!(created.status(), 303);
    assert_eq!(location(&created), "/admin");
    let user = db::users::find_by_email(&app.db, "ada@example.com")
        .await
        .expect("query")
        .expect("created");
    assert_eq!(user.role, "admin");
    assert_eq!(app.get("/admin/users").await.status(), 200);
}

#[tokio::test]
async fn the_setup_page_is_closed_once_a_user_exists() {
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Admin).await;
    assert_eq!(location(&app.get("/admin/setup").await), "/admin/login");
    // Even a forged submission creates nothing.
    let login = app.get("/admin/login").await.text().await.expect("html");
    let token = form_token(&login).expect("token");
    let response = app
        .client
        .post(app.url("/admin/setup"))
        .form(&[
            ("name", "Eve"),
            ("email", "eve@example.com"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 303);
    assert!(
        db::users::find_by_email(&app.db, "eve@example.com")
            .await
            .expect("query")
            .is_none()
    );
}

#[tokio::test]
async fn logout_deletes_the_session_so_the_old_cookie_is_useless() {
    // Arrange
    let app = spawn_app().await;
    let browser = sign_in_as(&app, Role::Editor).await;
    // Act
    let response = browser.post("/admin/logout", &[]).await;
    // Assert
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/login?signed_out=1");
    assert_eq!(
        sessions::Entity::find()
            .count(&app.db)
            .await
            .expect("count"),
        0
    );
    assert_eq!(browser.get("/admin").await.status(), 303);
}

#[tokio::test]
async fn state_changing_requests_without_the_csrf_token_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let browser = sign_in_as(&app, Role::Editor).await;
    let form = [("slug", "ops"), ("name", "Ops")];
    // Act / Assert: no token, a wrong token, then the right one (field and header)
    let missing = browser
        .client
        .post(browser.url("/admin/departments"))
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), 403);
    assert!(
        missing
            .text()
            .await
            .expect("html")
            .contains("did not come from this site")
    );
    let wrong = browser
        .client
        .post(browser.url("/admin/departments"))
        .header("X-CSRF-Token", "forged")
        .form(&form)
        .send()
        .await
        .expect("sent");
    assert_eq!(wrong.status(), 403);
    assert!(
        db::departments::find_by_slug(&app.db, "ops")
            .await
            .expect("query")
            .is_none()
    );
    assert_eq!(
        browser.post("/admin/departments", &form).await.status(),
        303
    );
    let header = browser.post_hx("/admin/departments/bulk-delete", &[]).await;
    assert_eq!(
        header.status(),
        200,
        "the header token works for htmx requests"
    );
}

#[tokio::test]
async fn changing_ones_password_signs_out_the_other_sessions_only() {
    // Arrange: two browsers of the same user
    let app = spawn_app().await;
    create_user(&app, "ada@example.com", Role::Viewer).await;
    let laptop = sign_in(&app, "ada@example.com").await;
    let phone = sign_in(&app, "ada@example.com").await;
    // Act: wrong current password, then right
    let refused = laptop
        .post(
            "/admin/account/password",
            &[
                ("current_password", "nope-nope"),
                ("new_password", "new-password-1"),
                ("confirm_password", "new-password-1"),
            ],
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .expect("html")
            .contains("This is not your current password.")
    );
    let changed = laptop
        .post(
            "/admin/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "new-password-1"),
                ("confirm_password", "new-password-1"),
            ],
        )
        .await;
    // Assert
    assert_eq!(changed.status(), 303);
    assert_eq!(
        laptop.get("/admin").await.status(),
        200,
        "this browser continues"
    );
    assert_eq!(
        phone.get("/admin").await.status(),
        303,
        "the other session is revoked"
    );
    let fresh = submit_login(&app, &client(), "ada@example.com", "new-password-1").await;
    assert_eq!(fresh.status(), 303);
}

#[tokio::test]
async fn a_disabled_user_is_signed_out_at_once_and_cannot_sign_in() {
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let user = create_user(&app, "bob@example.com", Role::Editor).await;
    let bob = sign_in(&app, "bob@example.com").await;
    let response = admin
        .post(&format!("/admin/users/{}/disable", user.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(bob.get("/admin").await.status(), 303);
    let again = submit_login(&app, &client(), "bob@example.com", PASSWORD).await;
    assert_eq!(again.status(), 401);
    assert!(
        again
            .text()
            .await
            .expect("html")
            .contains("This account is disabled.")
    );
}

#[tokio::test]
async fn pages_carry_the_session_csrf_token_for_htmx() {
    let app = spawn_app().await;
    let browser = sign_in_as(&app, Role::Viewer).await;
    let html = browser.page("/admin/agents", 200).await;
    assert_eq!(csrf_from(&html).as_deref(), Some(browser.csrf.as_str()));
    assert!(html.contains("name=\"csrf-param\" content=\"csrf_token\""));
}

#[tokio::test]
async fn without_secret_key_a_cookie_key_is_generated_and_kept_in_the_database() {
    let app = spawn_app().await;
    let stored = db::settings::get(&app.db, "session_cookie_key")
        .await
        .expect("query")
        .expect("stored on first start");
    assert_eq!(stored.len(), 88, "64 random bytes, base64");
}

#[tokio::test]
async fn with_secret_key_and_cookie_secure_the_cookie_is_secure_and_nothing_is_stored() {
    let app = crate::helpers::spawn_app_with(
        crate::helpers::TestOptions::default()
            .var("SECRET_KEY", "k".repeat(64))
            .var("COOKIE_SECURE", "true"),
    )
    .await;
    assert!(
        db::settings::get(&app.db, "session_cookie_key")
            .await
            .expect("query")
            .is_none()
    );
    create_user(&app, "ada@example.com", Role::Editor).await;
    let response = submit_login(&app, &client(), "ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("aladdin_session="))
        .expect("session cookie")
        .to_owned();
    assert!(cookie.contains("Secure"));
}

#[tokio::test]
async fn metrics_accept_an_admins_session_and_refuse_other_sessions() {
    // Arrange
    let app = spawn_app().await;
    let admin = sign_in_as(&app, Role::Admin).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    // Act
    let response = admin.get("/metrics").await;
    // Assert: an admin reads the exposition in the browser
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("text");
    assert!(text.contains("aladdin_http_requests_total"), "{text}");
    // Other roles' sessions: 403 in the API's envelope; nobody: 401.
    for browser in [&editor, &viewer] {
        let refused = browser.get("/metrics").await;
        assert_eq!(refused.status(), 403);
        let body: serde_json::Value = refused.json().await.expect("json");
        assert_eq!(
            body["errors"][0]["message"],
            "You are not allowed to perform this action."
        );
    }
    assert_eq!(app.get("/metrics").await.status(), 401);
    // Signed out, the admin's cookie is worth nothing.
    assert_eq!(admin.post("/admin/logout", &[]).await.status(), 303);
    assert_eq!(admin.get("/metrics").await.status(), 401);
}
