//! The HTTP surface. The whole route map is here, one group per line with its reason.

pub mod api;
pub mod health;

use std::path::PathBuf;

use actix_web::{HttpResponse, http::header, web};

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg
        // Health: unauthenticated, used by load balancers and the CLI.
        .service(health::healthz)
        // JSON API (Payload-shaped, its own token/API-key auth, JSON errors) and /metrics.
        .configure(api::configure)
        // Static assets: our stylesheet and vendored htmx, never a CDN.
        .service(
            actix_files::Files::new("/static", static_dir())
                .prefer_utf8(true)
                .use_etag(true),
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
