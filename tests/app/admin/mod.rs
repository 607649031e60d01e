//! The admin panel over real HTTP: a browser-like client per signed-in user, with its cookie
//! jar and the session's CSRF token.

mod agent_page;
mod agents;
mod approvals;
mod budget_wait;
mod chains;
mod custom_tools;
mod dashboard;
mod departments;
pub mod executions;
mod lists;
mod models;
mod projects;
mod roles;
mod run_page;
mod spend;
mod stream;
mod tool_data;
mod tree;
mod users;
mod versions;
mod xss;

use aladdin::{db, domain::users::Role, entities::users as user_rows};
use reqwest::{Response, header};

use crate::helpers::{TestApp, client};

/// The password of every user created by [`create_user`].
pub const PASSWORD: &str = "password123";

/// argon2id of [`PASSWORD`], computed once so that tests do not pay for hashing.
const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$56CRY7kg/HzN7R5w9kk/NQ$AQ29tZy6q4lG0o3aQtob0B5piT1Ni2yhXHY83TqZv5Q";

/// Creates a user with [`PASSWORD`].
pub async fn create_user(app: &TestApp, email: &str, role: Role) -> user_rows::Model {
    db::users::create_with_password(&app.db, email, "Test User", role, PASSWORD_HASH.to_owned())
        .await
        .expect("user created")
}

/// A signed-in browser.
pub struct Browser {
    /// Its client (own cookie jar, no redirects followed).
    pub client: reqwest::Client,
    /// The session's CSRF token.
    pub csrf: String,
    /// The app's address.
    pub base: String,
}

/// Value of `<meta name="csrf-token" content="…">`.
pub fn csrf_from(html: &str) -> Option<String> {
    let start =
        html.find("name=\"csrf-token\" content=\"")? + "name=\"csrf-token\" content=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The value of the first hidden `csrf_token` field (sign-in and first-user forms).
pub fn form_token(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// Submits the sign-in form with a fresh client; returns the client and the response.
pub async fn submit_login(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> Response {
    let page = client
        .get(app.url("/admin/login"))
        .send()
        .await
        .expect("login page");
    let html = page.text().await.expect("html");
    let token = form_token(&html).expect("login form has a token");
    client
        .post(app.url("/admin/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("csrf_token", token.as_str()),
            ("next", ""),
        ])
        .send()
        .await
        .expect("login posted")
}

/// Creates a user of `role` and signs them in.
pub async fn sign_in_as(app: &TestApp, role: Role) -> Browser {
    let email = format!(
        "{}-{}@example.com",
        role.as_str(),
        uuid::Uuid::new_v4().simple()
    );
    create_user(app, &email, role).await;
    sign_in(app, &email).await
}

/// Signs in an existing user (password [`PASSWORD`]).
pub async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let client = client();
    let response = submit_login(app, &client, email, PASSWORD).await;
    assert_eq!(response.status(), 303, "sign-in succeeds");
    let html = client
        .get(app.url("/admin/account"))
        .send()
        .await
        .expect("account")
        .text()
        .await
        .expect("html");
    let csrf = csrf_from(&html).expect("pages carry the CSRF token");
    Browser {
        client,
        csrf,
        base: app.address.clone(),
    }
}

impl Browser {
    /// Absolute URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET a page.
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// GET as htmx does (`HX-Request: true`).
    pub async fn get_hx(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("HX-Request", "true")
            .send()
            .await
            .expect("request sent")
    }

    /// POST a form with the CSRF token field.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut body: Vec<(&str, &str)> = fields.to_vec();
        body.push(("csrf_token", &self.csrf));
        self.client
            .post(self.url(path))
            .form(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// POST as htmx does: the token in `X-CSRF-Token`.
    pub async fn post_hx(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.url(path))
            .header("HX-Request", "true")
            .header("X-CSRF-Token", &self.csrf)
            .form(fields)
            .send()
            .await
            .expect("request sent")
    }

    /// GET a page and return its HTML, asserting the status.
    pub async fn page(&self, path: &str, status: u16) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), status, "GET {path}");
        response.text().await.expect("html")
    }
}

/// The `Location` of a redirect.
pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
