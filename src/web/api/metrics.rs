//! `GET /metrics`: Prometheus text format, for any authenticated user (Prometheus can send
//! an API key: `authorization: {type: "users API-Key", credentials: <key>}`).

use actix_web::{HttpResponse, web};

use super::errors::ApiResult;
use super::extract::ApiUser;
use crate::state::AppState;
use crate::telemetry_metrics;

/// The exposition.
pub async fn metrics(state: web::Data<AppState>, auth: ApiUser) -> ApiResult {
    auth.require()?;
    let body = telemetry_metrics::render(&state.db).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
