//! The dashboard: today's and the last 7 days' runs, success rate and spend, the slowest and
//! the most failing agents, recent failures, what is running now, and how much of everything
//! there is. Days are UTC days; "the last 7 days" are today and the 6 days before.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::history_filter::{start_of, today};
use super::{Chrome, Ctx};
use crate::db::{
    self,
    dashboard::{AgentWindow, Counts, WindowTotals},
    stats::FAILURE_STATUSES,
};
use crate::domain::executions::Status;
use crate::entities::agent_executions;
use crate::state::AppState;
use crate::web::{errors::PageError, htmx::render};

/// Days in the dashboard's window (today included).
pub const WINDOW_DAYS: u64 = 7;
/// Rows in each ranking and list.
const TOP: u64 = 5;
/// Active runs listed.
const ACTIVE: u64 = 10;
/// The runs listed as active: queued, running, or stopped waiting for someone.
const ACTIVE_STATUSES: [Status; 4] = [
    Status::Pending,
    Status::Running,
    Status::AwaitingApproval,
    Status::Paused,
];

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    counts: Counts,
    today: WindowTotals,
    week: WindowTotals,
    week_from: String,
    slowest: Vec<AgentWindow>,
    failing: Vec<AgentWindow>,
    failures: Vec<agent_executions::Model>,
    active: Vec<agent_executions::Model>,
    latest: Vec<agent_executions::Model>,
}

impl DashboardPage {
    /// Success rate of the week's finished runs, e.g. "93%" ("—" when none finished).
    fn success_rate(&self) -> String {
        rate(self.week.completed, self.week.finished)
            .map_or_else(|| "—".into(), |r| format!("{r}%"))
    }

    /// The executions list narrowed to `agent` over the window, with extra parameters.
    fn runs_href(&self, agent: &str, extra: &str) -> String {
        let query = serde_urlencoded::to_string([("agent", agent), ("from", &self.week_from)])
            .unwrap_or_default();
        format!("/admin/executions?{query}{extra}")
    }

    /// Share of `n` in the longest bar of a ranking, for the meters.
    fn share(n: i64, max: i64) -> i64 {
        if max <= 0 { 0 } else { n * 100 / max }
    }

    fn slowest_max(&self) -> i64 {
        self.slowest.first().map_or(0, AgentWindow::average_ms)
    }

    fn failing_max(&self) -> i64 {
        self.failing.first().map_or(0, |a| a.failed)
    }
}

/// `part` of `whole` in percent, rounded (None when `whole` is 0).
pub fn rate(part: i64, whole: i64) -> Option<i64> {
    (whole > 0).then(|| (part as f64 * 100.0 / whole as f64).round() as i64)
}

/// GET /admin
pub async fn show(ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let today = today();
    let week_start = today
        .checked_sub_days(chrono::Days::new(WINDOW_DAYS - 1))
        .unwrap_or(today);
    let since = start_of(week_start);
    let db = &state.db;
    let page = DashboardPage {
        chrome: ctx.chrome("dashboard"),
        counts: db::dashboard::counts(db).await?,
        today: db::dashboard::totals_since(db, start_of(today)).await?,
        week: db::dashboard::totals_since(db, since).await?,
        week_from: week_start.format("%Y-%m-%d").to_string(),
        slowest: db::dashboard::slowest_agents(db, since, TOP).await?,
        failing: db::dashboard::most_failing_agents(db, since, TOP).await?,
        failures: db::dashboard::latest_in(db, &FAILURE_STATUSES, TOP).await?,
        active: db::dashboard::latest_in(db, &ACTIVE_STATUSES, ACTIVE).await?,
        latest: db::executions::latest(db, None, 8).await?,
    };
    Ok(render(&page)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_round_and_have_no_value_without_runs() {
        assert_eq!(rate(2, 3), Some(67));
        assert_eq!(rate(0, 0), None);
        assert_eq!(DashboardPage::share(5, 10), 50);
        assert_eq!(DashboardPage::share(5, 0), 0);
    }
}
