//! What every request handler shares.

use std::sync::Arc;

use actix_web::cookie::Key;
use sea_orm::DatabaseConnection;

use crate::auth::api_credentials::CredentialCache;
use crate::auth::rate_limit::LoginLimiter;
use crate::config::Settings;
use crate::runner::Runner;

/// Shared application state, cloned into each worker as `web::Data`.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Settings the server started with.
    pub settings: Arc<Settings>,
    /// Signs and encrypts the admin session cookie (from `SECRET_KEY`, or stored in the database).
    pub cookie_key: Key,
    /// Failed sign-in attempts, shared by every worker of this process.
    pub login_limiter: Arc<LoginLimiter>,
    /// The agent runner (queue, workers, event streams).
    pub runner: Arc<Runner>,
    /// State of the JSON API kept across requests.
    pub api: ApiState,
}

/// State of the JSON API kept across requests (shared by every worker of this process).
#[derive(Debug, Clone, Default)]
pub struct ApiState {
    /// Recently verified tokens and API keys.
    pub credentials: Arc<CredentialCache>,
}
