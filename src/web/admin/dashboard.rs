//! The dashboard: how much of everything there is, and the latest runs.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Chrome, Ctx};
use crate::db::{self, dashboard::Counts};
use crate::domain::executions::Status;
use crate::entities::agent_executions;
use crate::state::AppState;
use crate::web::{errors::PageError, htmx::render};

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    counts: Counts,
    statuses: Vec<(Status, i64)>,
    latest: Vec<agent_executions::Model>,
}

impl DashboardPage {
    /// Share of `n` in all executions, in percent (for the status bars).
    fn share(&self, n: &i64) -> u64 {
        if self.counts.executions == 0 {
            0
        } else {
            (*n as f64 * 100.0 / self.counts.executions as f64).round() as u64
        }
    }
}

/// GET /admin
pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let counts = db::dashboard::counts(&state.db).await?;
    let by_status: HashMap<String, i64> = db::executions::status_counts(&state.db).await?;
    let statuses = Status::ALL
        .iter()
        .map(|s| (*s, by_status.get(s.as_str()).copied().unwrap_or(0)))
        .collect();
    let latest = db::executions::latest(&state.db, None, 10).await?;
    let page = DashboardPage {
        chrome: ctx.chrome("dashboard"),
        counts,
        statuses,
        latest,
    };
    Ok(render(&page)?)
}
