//! The JSON API under `/api`, shaped like PayloadCMS's REST API so that Payload clients
//! (`@payloadcms/sdk`, plain `fetch`) work unchanged. See `docs::openapi` for the contract.
//!
//! Authentication is its own (tokens, API keys, the `payload-token` cookie) and every
//! answer is JSON, errors included: unknown paths are a JSON 404, wrong methods a JSON 405.

pub mod agents;
pub mod auth;
pub(crate) mod collection;
pub mod custom_tools;
pub mod departments;
pub mod docs;
pub mod errors;
pub mod executions;
pub mod extract;
pub mod metrics;
pub mod models;
pub mod projects;
pub mod rate_limit;
pub mod runs;
pub mod tool_data;
pub mod users;
pub mod views;

use std::sync::Arc;

use actix_web::web;

use collection::routes as collection_routes;

/// State of the API kept across requests.
#[derive(Debug, Clone, Default)]
pub struct ApiState {
    /// Failed logins per email and address.
    pub login_limiter: Arc<rate_limit::LoginLimiter>,
}

/// Mounts `/api`. Fixed paths (`/users/login`, `/agent-executions/{id}/cancel`,
/// `/{slug}/count`) are registered before the `/{slug}/{id}` patterns they would match.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .configure(auth::routes)
            .configure(users::routes)
            .configure(executions::routes)
            .configure(runs::routes)
            .configure(collection_routes::<agents::Agents>)
            .configure(collection_routes::<departments::Departments>)
            .configure(collection_routes::<custom_tools::CustomTools>)
            .configure(collection_routes::<projects::Projects>)
            .configure(collection_routes::<executions::Executions>)
            .configure(collection_routes::<models::Models>)
            .configure(collection_routes::<users::Users>)
            .configure(tool_data::routes)
            .configure(docs::routes)
            .default_service(web::to(errors::route_not_found)),
    )
    .route("/metrics", web::get().to(metrics::metrics));
}
