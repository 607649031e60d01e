//! What every request handler shares.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;

/// Shared application state, cloned into each worker as `web::Data`.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Settings the server started with.
    pub settings: Arc<Settings>,
    /// State of the JSON API (login rate limit).
    pub api: crate::web::api::ApiState,
}
