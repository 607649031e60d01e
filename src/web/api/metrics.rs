//! `GET /metrics`: Prometheus text format, for any user with an API credential (Prometheus can
//! send an API key: `authorization: {type: "users API-Key", credentials: <key>}`), and for an
//! admin signed in to the admin panel, who can open it in the browser. Other users' admin
//! sessions get 403; anonymous requests 401.

use actix_web::{HttpResponse, web};

use super::errors::{ApiError, ApiResult};
use super::extract::ApiUser;
use crate::state::AppState;
use crate::telemetry_metrics;
use crate::web::session::TypedSession;

/// The exposition. Mounted with the admin's session middleware, so that the session cookie
/// is read.
pub async fn metrics(
    state: web::Data<AppState>,
    auth: ApiUser,
    session: TypedSession,
) -> ApiResult {
    if auth.authenticated().is_none() {
        match session.current_user(&state.db).await? {
            Some(user) if user.is_admin() => {}
            Some(_) => return Err(ApiError::forbidden()),
            None => return Err(ApiError::unauthorized()),
        }
    }
    let body = telemetry_metrics::render(&state.db).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}
