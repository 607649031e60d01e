//! `GET /healthz`: the process is up and the database answers.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use crate::{db, state::AppState};

/// 200 `{"status":"ok","database":"ok"}` when a query succeeds, 503 otherwise.
#[get("/healthz")]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match db::ping(&state.db).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the database does not answer");
            HttpResponse::ServiceUnavailable()
                .json(json!({"status": "error", "database": "unavailable"}))
        }
    }
}
