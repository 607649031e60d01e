//! What every request handler shares.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::runner::Runner;

/// Shared application state, cloned into each worker as `web::Data`.
#[derive(Clone)]
pub struct AppState {
    /// The connection pool.
    pub db: DatabaseConnection,
    /// Settings the server started with.
    pub settings: Arc<Settings>,
    /// The agent runner (queue, workers, event streams).
    pub runner: Arc<Runner>,
}
