//! The HTTP surface. The whole route map is here, one group per line with its reason.

pub mod admin;
pub mod api;
pub mod auth;
pub mod csrf;
mod error_mapping;
pub mod errors;
pub mod health;
pub mod htmx;
pub(crate) mod released;
pub mod request_metrics;
pub mod require_login;
pub mod session;
pub mod session_store;
pub mod sse;
pub mod traces;

use std::path::PathBuf;

use actix_web::{HttpResponse, http::header, middleware::from_fn, web};

use crate::state::AppState;
use require_login::require_login;
use session_store::DbSessionStore;

/// Cache key of the static assets in page links (`?v=`): changes with each release.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig, state: &AppState) {
    let sessions = || {
        session::middleware(
            DbSessionStore::new(state.db.clone()),
            state.cookie_key.clone(),
            state.settings.server.cookie_secure,
        )
    };
    cfg
        // Health: unauthenticated, used by load balancers and the CLI.
        .service(health::healthz)
        // Metrics: API credentials (Prometheus) or an admin's session (a browser).
        .service(
            web::resource("/metrics")
                .route(web::get().to(api::metrics::metrics))
                .default_service(web::to(api::errors::method_not_allowed))
                .wrap(sessions()),
        )
        // JSON API (Payload-shaped, its own token/API-key auth, JSON errors).
        .configure(api::configure)
        // Static assets: our stylesheet and vendored htmx, never a CDN.
        .service(
            actix_files::Files::new("/static", static_dir())
                .prefer_utf8(true)
                .use_etag(true),
        )
        // Admin (HTML): server-side sessions; errors become toasts for htmx requests.
        .service(
            web::scope("/admin")
                .app_data(web::PayloadConfig::new(
                    state.settings.server.max_body_bytes,
                ))
                // Sign-in and first user: before any session, with their own CSRF cookie.
                .configure(auth::configure)
                // Everything else needs a signed-in user and a CSRF token on every change.
                .service(
                    web::scope("")
                        .wrap(from_fn(csrf::require_token))
                        .wrap(from_fn(require_login))
                        .configure(auth::configure_signed_in)
                        .configure(admin::configure),
                )
                .wrap(from_fn(errors::htmx_errors))
                .wrap(sessions()),
        )
        .route(
            "/",
            web::get().to(|| async {
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/admin"))
                    .finish()
            }),
        );
}

/// `static/` next to the working directory, else the one of the source tree.
pub fn static_dir() -> PathBuf {
    let local = PathBuf::from("static");
    if local.is_dir() {
        local
    } else {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
    }
}
