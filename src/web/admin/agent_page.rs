//! The agent page (`/admin/agents/{id}`): performance metrics, charts of the last 30 days
//! drawn as SVG on the server, and recent runs. The form moved to `/admin/agents/{id}/edit`;
//! saving still posts to `/admin/agents/{id}` (the shared collection handlers).

use actix_web::{HttpResponse, guard, web};
use askama::Template;
use chrono::NaiveDate;

use super::agents::Agents;
use super::charts::{self, Chart, Scale, Series};
use super::crud::{FormState, Resource};
use super::form::FormErrors;
use super::history_filter::{start_of, today};
use super::{Chrome, Ctx, fmt, parse_id};
use crate::db::{self, stats::DayRow, stats::UsageTotals};
use crate::entities::{agent_executions, agents::Model, departments};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::render;

/// Days shown by the charts.
pub const CHART_DAYS: u32 = 30;
/// Runs listed on the page.
const RECENT: u64 = 10;

#[derive(Template)]
#[template(path = "admin/agents/show.html")]
struct AgentPage {
    chrome: Chrome,
    agent: Model,
    department: Option<departments::Model>,
    usage: UsageTotals,
    runs_chart: Chart,
    charts: Vec<Chart>,
    recent: Vec<agent_executions::Model>,
}

impl AgentPage {
    fn success_rate(&self) -> String {
        super::agents::success_rate(&self.agent).map_or_else(|| "—".into(), |r| format!("{r}%"))
    }

    fn average_time(&self) -> String {
        let a = &self.agent;
        if a.total_executions > 0 {
            fmt::duration_ms(&(a.total_execution_time_ms / a.total_executions))
        } else {
            "—".into()
        }
    }

    /// The tool names the agent is limited to (empty: every tool shared with it).
    fn tools(&self) -> Vec<&str> {
        self.agent
            .tool_names
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|t| t["toolName"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The charts of an agent page for `days` (oldest first), from the per-day rows: runs per day
/// (stacked by outcome) first, then success rate, average duration, tokens and cost.
pub fn agent_charts(days: &[NaiveDate], rows: &[DayRow]) -> (Chart, Vec<Chart>) {
    let by_day = |f: &dyn Fn(&DayRow) -> Option<f64>| -> Vec<Option<f64>> {
        days.iter()
            .map(|d| rows.iter().find(|r| r.date() == Some(*d)).and_then(f))
            .collect()
    };
    let series = |name: &str, class, f: &dyn Fn(&DayRow) -> Option<f64>| Series {
        name: name.to_owned(),
        class,
        values: by_day(f),
    };
    let runs = charts::bars(
        charts::WIDE,
        "runs",
        "Runs per day",
        days,
        &[
            series("Completed", "series-2", &|r| Some(r.completed as f64)),
            series("Failed", "series-3", &|r| Some(r.failed as f64)),
            series("Other", "history-series-other", &|r| {
                Some((r.runs - r.completed - r.failed) as f64)
            }),
        ],
        Scale::Count,
    );
    let rate =
        |r: &DayRow| (r.finished > 0).then(|| r.completed as f64 * 100.0 / r.finished as f64);
    let average = |r: &DayRow| (r.timed > 0).then(|| r.time_ms as f64 / r.timed as f64);
    let others = vec![
        charts::line(
            charts::NARROW,
            "success",
            "Success rate",
            days,
            &[series("Success rate", "series-2", &rate)],
            Scale::Percent,
        ),
        charts::line(
            charts::NARROW,
            "duration",
            "Average duration",
            days,
            &[series("Average duration", "series-1", &average)],
            Scale::DurationMs,
        ),
        charts::bars(
            charts::NARROW,
            "tokens",
            "Tokens per day",
            days,
            &[series("Tokens", "series-5", &|r| Some(r.tokens as f64))],
            Scale::Tokens,
        ),
        charts::bars(
            charts::NARROW,
            "cost",
            "Cost per day",
            days,
            &[series("Cost", "series-4", &|r| r.cost)],
            Scale::Usd,
        ),
    ];
    (runs, others)
}

/// GET /admin/agents/{id}
async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let agent = find(&state, &path).await?;
    let days = charts::last_days(today(), CHART_DAYS);
    let since = days
        .first()
        .copied()
        .map_or_else(crate::domain::now, start_of);
    let daily = db::stats::daily_for_agent(&state.db, agent.id, since).await?;
    let (runs_chart, mut charts) = agent_charts(&days, &daily);
    charts.push(super::experiments::feedback_chart(&state.db, agent.id, &days, since).await?);
    Ok(render(&AgentPage {
        chrome: ctx.chrome("agents"),
        department: db::departments::find_by_id(&state.db, agent.department_id).await?,
        usage: db::stats::usage_for_agent(&state.db, agent.id).await?,
        recent: db::executions::latest(&state.db, Some(agent.id), RECENT).await?,
        runs_chart,
        charts,
        agent,
    })?)
}

/// GET /admin/agents/{id}/edit: the agent's form (read-only below editors).
async fn edit(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let agent = find(&state, &path).await?;
    let form = FormState {
        action: format!("{}/{}", Agents::BASE, agent.id),
        values: Agents::values(&state.db, &agent).await?,
        errors: FormErrors::default(),
        editing: Some((agent.id, Agents::label(&agent))),
        copy_of: None,
    };
    let page = Agents::form_page(&state, ctx.chrome(Agents::NAV), form, Some(&agent)).await?;
    Ok(render(&page)?)
}

async fn find(state: &AppState, raw: &str) -> Result<Model, AppError> {
    db::agents::find_by_id(&state.db, parse_id(raw)?)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Mounts the agent page and the form's new address. Mounted before the collection's routes:
/// only GET of a numeric id is taken here, so `/agents/new` and POST `/agents/{id}` (save)
/// still reach the shared handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents/{id:\\d+}")
            .guard(guard::Get())
            .to(show),
    )
    .service(web::resource("/agents/{id:\\d+}/edit").route(web::get().to(edit)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, runs: i64, completed: i64, failed: i64) -> DayRow {
        DayRow {
            day: day.into(),
            runs,
            completed,
            failed,
            finished: completed + failed,
            timed: completed + failed,
            time_ms: (completed + failed) * 1000,
            tokens: runs * 100,
            cost: None,
        }
    }

    #[test]
    fn every_chart_covers_the_same_days_and_days_without_runs_are_gaps() {
        let days = charts::last_days(NaiveDate::from_ymd_opt(2025, 3, 30).unwrap_or_default(), 30);
        let rows = [row("2025-03-02", 3, 2, 1), row("2025-03-29", 1, 1, 0)];
        let (runs, others) = agent_charts(&days, &rows);
        assert_eq!(
            runs.bars.len(),
            3,
            "2 completed + 1 failed segment, then 1 completed"
        );
        let success = &others[0];
        assert_eq!(success.dots.len(), 2);
        assert_eq!(success.dots[0].title, "Mar 2: 67%");
        assert!(others[3].empty, "no run was priced");
    }
}
