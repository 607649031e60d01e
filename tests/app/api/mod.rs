//! The JSON API: Payload's REST conventions, auth, errors, OpenAPI, metrics, the official
//! client, and a property test that no query can make the server fail.

mod auth;
mod bulk;
mod chains;
mod collections;
mod errors;
mod evals;
mod executions;
mod fuzz;
mod meta;
mod payload_sdk;
mod queries;
mod roles;
mod runs;
mod snapshots;
mod tool_data;
mod versions;

use aladdin::auth::tokens;
use aladdin::db;
use aladdin::domain::users::Role;
use aladdin::entities::users;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

/// A user with an API key (no usable password: keys avoid argon2 in tests that do not test
/// login).
pub async fn user_with_key(app: &TestApp, role: Role) -> (users::Model, String) {
    let email = format!("{}-{}@example.com", role, uuid::Uuid::new_v4().simple());
    let user = db::users::create_with_password(&app.db, &email, "Test User", role, "!".into())
        .await
        .expect("user created");
    let key = tokens::generate();
    let user = db::users::set_api_key(&app.db, user.id, Some(tokens::hash(&key)), true)
        .await
        .expect("key set");
    (user, key)
}

/// A user who can log in with `password`.
pub async fn user_with_password(
    app: &TestApp,
    role: Role,
    email: &str,
    password: &str,
) -> users::Model {
    let hash = aladdin::auth::password::hash(secrecy::SecretString::from(password.to_owned()))
        .await
        .expect("hashed");
    db::users::create_with_password(&app.db, email, "Pat", role, hash)
        .await
        .expect("user created")
}

/// A JSON API client with fixed credentials (no cookie jar).
#[derive(Clone)]
pub struct Api {
    pub base: String,
    client: reqwest::Client,
    authorization: Option<String>,
}

/// A response: status and JSON body (every API response has one).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Value,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    /// Anonymous.
    pub fn anonymous(app: &TestApp) -> Self {
        Self {
            base: app.address.clone(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            authorization: None,
        }
    }

    /// With an API key.
    pub fn key(app: &TestApp, key: &str) -> Self {
        Self::header(app, format!("users API-Key {key}"))
    }

    /// With any `Authorization` header.
    pub fn header(app: &TestApp, value: String) -> Self {
        Self {
            authorization: Some(value),
            ..Self::anonymous(app)
        }
    }

    /// An admin, an editor or a viewer with a fresh API key.
    pub async fn as_role(app: &TestApp, role: Role) -> Self {
        let (_, key) = user_with_key(app, role).await;
        Self::key(app, &key)
    }

    /// Sends a request; the body must be JSON.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(auth) = &self.authorization {
            request = request.header("Authorization", auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{status} {path}: not JSON ({e}): {text:.300}"));
        Reply {
            status,
            body,
            headers,
        }
    }

    /// The `Authorization` header value (empty when anonymous).
    pub fn authorization_header(&self) -> String {
        self.authorization.clone().unwrap_or_default()
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

/// The `message` of the first error.
pub fn error_message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

/// The `agentId`s of a list, in order.
pub fn agent_ids(body: &Value) -> Vec<String> {
    body["docs"]
        .as_array()
        .map(|docs| {
            docs.iter()
                .filter_map(|d| d["agentId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The id of a department by slug.
pub async fn department_id(app: &TestApp, slug: &str) -> i32 {
    db::departments::find_by_slug(&app.db, slug)
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("department {slug}"))
        .id
}
