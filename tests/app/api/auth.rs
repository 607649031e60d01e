//! Login, me, logout, refresh-token, API keys (Payload's way and generated), rate limit.

use aladdin::domain::users::Role;
use serde_json::json;

use super::{Api, error_message, user_with_key, user_with_password};
use crate::admin::{PASSWORD as ADMIN_PASSWORD, create_user, sign_in};
use crate::helpers::{TestApp, TestOptions, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn login_returns_payloads_answer_and_an_http_only_cookie() {
    // Arrange
    let app = spawn_app().await;
    user_with_password(&app, Role::Editor, "Ed@Example.com", PASSWORD).await;
    // Act
    let reply = Api::anonymous(&app)
        .post(
            "/api/users/login",
            json!({"email": "ed@example.com", "password": PASSWORD}),
        )
        .await;
    // Assert
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "Authentication Passed");
    assert_eq!(reply.body["user"]["email"], "ed@example.com");
    assert_eq!(reply.body["user"]["collection"], "users");
    assert_eq!(reply.body["user"]["_strategy"], "local-jwt");
    let token = reply.body["token"].as_str().expect("token");
    assert!(token.len() >= 40);
    assert!(reply.body["exp"].as_i64().expect("exp") > chrono::Utc::now().timestamp());
    let cookie = reply
        .headers
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .expect("cookie");
    assert!(
        cookie.starts_with(&format!("payload-token={token}")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let text = reply.body.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
}

#[tokio::test]
async fn me_reads_every_credential_form_and_is_null_when_anonymous() {
    let app = spawn_app().await;
    user_with_password(&app, Role::Viewer, "vi@example.com", PASSWORD).await;
    let login = Api::anonymous(&app)
        .post(
            "/api/users/login",
            json!({"email": "vi@example.com", "password": PASSWORD}),
        )
        .await;
    let token = login.body["token"].as_str().expect("token").to_owned();

    let anonymous = Api::anonymous(&app).get("/api/users/me").await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.body, json!({"user": null, "message": "Account"}));

    for header in [format!("JWT {token}"), format!("Bearer {token}")] {
        let me = Api::header(&app, header).get("/api/users/me").await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["user"]["email"], "vi@example.com");
        assert_eq!(me.body["collection"], "users");
        assert_eq!(me.body["strategy"], "local-jwt");
        assert_eq!(me.body["token"], token.as_str());
        assert_eq!(me.body["exp"], login.body["exp"]);
    }
    // The cookie alone (a browser): the client keeps it from the login.
    app.client
        .post(app.url("/api/users/login"))
        .json(&json!({"email": "vi@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let me: serde_json::Value = app.get("/api/users/me").await.json().await.expect("json");
    assert_eq!(me["user"]["email"], "vi@example.com");
}

#[tokio::test]
async fn wrong_passwords_unknown_emails_and_missing_fields_are_refused() {
    let app = spawn_app().await;
    user_with_password(&app, Role::Admin, "ad@example.com", PASSWORD).await;
    let api = Api::anonymous(&app);
    for body in [
        json!({"email": "ad@example.com", "password": "wrong password"}),
        json!({"email": "nobody@example.com", "password": PASSWORD}),
    ] {
        let reply = api.post("/api/users/login", body).await;
        assert_eq!(reply.status, 401);
        assert_eq!(
            error_message(&reply.body),
            "The email or password provided is incorrect."
        );
    }
    let reply = api.post("/api/users/login", json!({})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["errors"][0]["name"], "ValidationError");
    assert_eq!(
        error_message(&reply.body),
        "The following fields are invalid: email, password"
    );
}

/// Logs in through the API; returns the token and its expiry.
async fn login(app: &TestApp, email: &str, password: &str) -> (String, i64) {
    let reply = Api::anonymous(app)
        .post(
            "/api/users/login",
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    (
        reply.body["token"].as_str().expect("token").to_owned(),
        reply.body["exp"].as_i64().expect("exp"),
    )
}

#[tokio::test]
async fn refresh_issues_a_new_token_and_the_old_one_keeps_working_until_it_expires() {
    // Arrange
    let app = spawn_app().await;
    user_with_password(&app, Role::Editor, "ro@example.com", PASSWORD).await;
    let (first, first_exp) = login(&app, "ro@example.com", PASSWORD).await;
    let with_first = Api::header(&app, format!("JWT {first}"));
    assert_eq!(with_first.get("/api/agents").await.status, 200);
    // Expiries are whole seconds: let one pass so that the new one is later.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // Act
    let refreshed = with_first.post("/api/users/refresh-token", json!({})).await;
    // Assert
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(refreshed.body["message"], "Token refresh successful.");
    assert_eq!(refreshed.body["strategy"], "local-jwt");
    assert_eq!(refreshed.body["user"]["email"], "ro@example.com");
    let second = refreshed.body["refreshedToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let second_exp = refreshed.body["exp"].as_i64().expect("exp");
    assert_ne!(first, second);
    assert!(second_exp > first_exp, "{second_exp} > {first_exp}");
    let cookie = refreshed
        .headers
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default();
    assert!(
        cookie.starts_with(&format!("payload-token={second}")),
        "{cookie}"
    );
    // Both tokens work, each with its own expiry.
    let me_first = with_first.get("/api/users/me").await;
    assert_eq!(me_first.body["user"]["email"], "ro@example.com");
    assert_eq!(me_first.body["exp"], first_exp);
    assert_eq!(
        with_first
            .post("/api/departments", json!({"slug": "kept", "name": "Kept"}))
            .await
            .status,
        201
    );
    let with_second = Api::header(&app, format!("Bearer {second}"));
    let me_second = with_second.get("/api/users/me").await;
    assert_eq!(me_second.body["exp"], second_exp);
    assert_eq!(
        with_second.get("/api/departments").await.body["totalDocs"],
        1
    );
    // An API key has no token to refresh.
    let (_, key) = user_with_key(&app, Role::Viewer).await;
    assert_eq!(
        Api::key(&app, &key)
            .post("/api/users/refresh-token", json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        Api::anonymous(&app)
            .post("/api/users/refresh-token", json!({}))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn logout_ends_only_the_session_of_its_token() {
    // Arrange: one user with two API tokens, a refreshed one, an API key and an admin session
    let app = spawn_app().await;
    let user = create_user(&app, "two@example.com", Role::Editor).await;
    let (first, _) = login(&app, "two@example.com", ADMIN_PASSWORD).await;
    let (second, _) = login(&app, "two@example.com", ADMIN_PASSWORD).await;
    let with_first = Api::header(&app, format!("JWT {first}"));
    let with_second = Api::header(&app, format!("JWT {second}"));
    let refreshed = with_second
        .post("/api/users/refresh-token", json!({}))
        .await;
    let third = refreshed.body["refreshedToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let with_third = Api::header(&app, format!("JWT {third}"));
    let key = aladdin::auth::tokens::generate();
    aladdin::db::users::set_api_key(
        &app.db,
        user.id,
        Some(aladdin::auth::tokens::hash(&key)),
        true,
    )
    .await
    .expect("key set");
    let browser = sign_in(&app, "two@example.com").await;
    // Every credential is verified (and cached) before the logout.
    for api in [
        &with_first,
        &with_second,
        &with_third,
        &Api::key(&app, &key),
    ] {
        assert_eq!(api.get("/api/agents").await.status, 200);
    }
    // Act
    let out = with_first.post("/api/users/logout", json!({})).await;
    // Assert
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["message"], "Logout successful.");
    let cookie = out
        .headers
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default();
    assert!(
        cookie.starts_with("payload-token=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    // The token used is dead at once, although it was cached a moment ago.
    assert_eq!(with_first.get("/api/agents").await.status, 401);
    assert_eq!(
        with_first.get("/api/users/me").await.body["user"],
        serde_json::Value::Null
    );
    assert_eq!(
        with_first
            .post("/api/users/refresh-token", json!({}))
            .await
            .status,
        401
    );
    // Everything else of the same user stays.
    assert_eq!(with_second.get("/api/agents").await.status, 200);
    assert_eq!(with_third.get("/api/agents").await.status, 200);
    assert_eq!(Api::key(&app, &key).get("/api/agents").await.status, 200);
    assert_eq!(browser.get("/admin/agents").await.status(), 200);
    // Logging out the second token leaves the third (its refresh) working.
    assert_eq!(
        with_second
            .post("/api/users/logout", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(with_second.get("/api/agents").await.status, 401);
    assert_eq!(with_third.get("/api/agents").await.status, 200);
    // Logging out without a user is Payload's 400.
    assert_eq!(
        Api::anonymous(&app)
            .post("/api/users/logout", json!({}))
            .await
            .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_racing_a_logout_do_not_keep_its_token_alive() {
    // Arrange: clients keep sending the token while it is logged out.
    let app = spawn_app().await;
    user_with_password(&app, Role::Viewer, "race@example.com", PASSWORD).await;
    let (token, _) = login(&app, "race@example.com", PASSWORD).await;
    let api = Api::header(&app, format!("JWT {token}"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hammers = Vec::new();
    for _ in 0..3 {
        let (api, stop) = (api.clone(), stop.clone());
        hammers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                api.get("/api/users/me").await;
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // Act
    let out = api.post("/api/users/logout", json!({})).await;
    assert_eq!(out.status, 200, "{}", out.body);
    // Assert: from the moment the logout answered, the token is refused, for longer than
    // the credential cache would keep a stale entry.
    let until = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let mut checked = 0;
    while std::time::Instant::now() < until {
        let me = api.get("/api/users/me").await;
        assert_eq!(me.body["user"], serde_json::Value::Null, "check {checked}");
        checked += 1;
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for hammer in hammers {
        hammer.await.expect("joined");
    }
    assert!(checked > 10, "{checked} checks");
}

#[tokio::test]
async fn an_api_key_chosen_the_payload_way_works_and_is_never_returned() {
    let app = spawn_app().await;
    let (admin, admin_key) = user_with_key(&app, Role::Admin).await;
    let (editor, _) = user_with_key(&app, Role::Editor).await;
    let chosen = "my-integration-key-0123456789abcdef";
    // Act: Payload's way
    let reply = Api::key(&app, &admin_key)
        .patch(
            &format!("/api/users/{}", editor.id),
            json!({"enableAPIKey": true, "apiKey": chosen}),
        )
        .await;
    // Assert
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["doc"]["enableAPIKey"], true);
    assert_eq!(reply.body["doc"]["hasAPIKey"], true);
    assert!(!reply.body.to_string().contains(chosen));
    let me = Api::key(&app, chosen).get("/api/users/me").await;
    assert_eq!(me.body["user"]["id"], editor.id);
    assert_eq!(me.body["strategy"], "api-key");
    assert!(me.body.get("token").is_none());
    // Disabling the key turns it off.
    Api::key(&app, &admin_key)
        .patch(
            &format!("/api/users/{}", editor.id),
            json!({"enableAPIKey": false}),
        )
        .await;
    assert_eq!(Api::key(&app, chosen).get("/api/agents").await.status, 401);
    // The admin's own key still works; a key that is too short is a field error.
    let short = Api::key(&app, &admin_key)
        .patch(
            &format!("/api/users/{}", admin.id),
            json!({"enableAPIKey": true, "apiKey": "short"}),
        )
        .await;
    assert_eq!(short.status, 400);
    assert_eq!(
        short.body["errors"][0]["data"]["errors"][0]["path"],
        "apiKey"
    );
}

#[tokio::test]
async fn a_generated_api_key_is_shown_once_and_replaces_the_previous_one() {
    let app = spawn_app().await;
    let (user, old_key) = user_with_key(&app, Role::Viewer).await;
    let api = Api::key(&app, &old_key);
    let reply = api
        .post(&format!("/api/users/{}/api-key", user.id), json!({}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["message"], "New API Key Generated.");
    let new_key = reply.body["apiKey"].as_str().expect("key").to_owned();
    assert_eq!(
        Api::key(&app, &new_key).get("/api/users/me").await.body["user"]["id"],
        user.id
    );
    assert_eq!(
        api.get("/api/agents").await.status,
        401,
        "the old key stops working"
    );
    let read = Api::key(&app, &new_key)
        .get(&format!("/api/users/{}", user.id))
        .await;
    assert_eq!(read.status, 200);
    assert!(!read.body.to_string().contains(&new_key));
    // Someone else's key: only admins.
    let (other, _) = user_with_key(&app, Role::Editor).await;
    let denied = Api::key(&app, &new_key)
        .post(&format!("/api/users/{}/api-key", other.id), json!({}))
        .await;
    assert_eq!(denied.status, 403);
}

#[tokio::test]
async fn repeated_failed_logins_are_rate_limited_per_email_and_address() {
    let app = spawn_app().await;
    user_with_password(&app, Role::Viewer, "rl@example.com", PASSWORD).await;
    let api = Api::anonymous(&app);
    for _ in 0..aladdin::auth::rate_limit::LoginLimits::default().per_account {
        let r = api
            .post(
                "/api/users/login",
                json!({"email": "rl@example.com", "password": "nope nope"}),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    // Even the right password is refused now, without being checked.
    let limited = api
        .post(
            "/api/users/login",
            json!({"email": "rl@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(limited.status, 429);
    assert!(error_message(&limited.body).starts_with("Too many failed login attempts"));
    assert!(limited.headers.get("retry-after").is_some());
}

#[tokio::test]
async fn disabled_users_cannot_use_their_key_or_log_in() {
    let app = spawn_app_with(TestOptions::default()).await;
    let (admin, admin_key) = user_with_key(&app, Role::Admin).await;
    let _ = admin;
    let user = user_with_password(&app, Role::Editor, "gone@example.com", PASSWORD).await;
    let reply = Api::key(&app, &admin_key)
        .patch(
            &format!("/api/users/{}", user.id),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let login = Api::anonymous(&app)
        .post(
            "/api/users/login",
            json!({"email": "gone@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, 401);
}
