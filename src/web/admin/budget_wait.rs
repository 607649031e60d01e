//! What the run page and the execution page show for a run `paused` by a budget: which
//! budget holds it (the one its last `budget_reached` names, linked), whether that budget has
//! more room now than when it refused the call (a new period, a raised limit) and the
//! controls: Resume for editors when it has, Resume over budget for admins always (the API's
//! `allowOverBudget` resume). Editors without the room see that the run waits for the budget.

use askama::Template;
use sea_orm::{ConnectionTrait, DbErr};

use super::Ctx;
use crate::db;
use crate::domain::budgets::{PAUSED_REASON, to_micros};
use crate::domain::executions::Status;
use crate::domain::users::Role;
use crate::entities::agent_executions;

/// The budget notice of a paused run (`#budget-wait`).
#[derive(Debug, Clone, Template)]
#[template(path = "admin/executions/_budget_wait.html")]
pub struct BudgetWait {
    /// The run.
    pub run_id: i32,
    /// The budget that refused its call (id, name), if it still exists.
    pub budget: Option<(i32, String)>,
    /// The budget has more room now than when it refused (or is gone or inactive).
    pub room: bool,
    /// The viewer may resume runs (editors).
    pub can_resume: bool,
    /// The viewer may resume it over its budget (admins).
    pub can_override: bool,
    /// CSRF token of the forms.
    pub csrf: String,
}

impl askama::filters::HtmlSafe for BudgetWait {}

impl BudgetWait {
    /// The notice for `run`, when it is paused by a budget.
    pub async fn load(
        db: &impl ConnectionTrait,
        run: &agent_executions::Model,
        ctx: &Ctx,
    ) -> Result<Option<Self>, DbErr> {
        if run.status != Status::Paused.as_str()
            || run.paused_reason.as_deref() != Some(PAUSED_REASON)
        {
            return Ok(None);
        }
        let reached = db::executions::last_event(db, run.id, "budget_reached").await?;
        let (budget, room) = match reached {
            Some(event) => {
                let data = &event.data;
                let id = data["budgetId"]
                    .as_i64()
                    .and_then(|id| i32::try_from(id).ok());
                let found = match id {
                    Some(id) => db::budgets::find_by_id(db, id).await?,
                    None => None,
                };
                match found {
                    Some(b) => {
                        // What was left when the call was refused, and what is left now.
                        let then = to_micros(data["limitUsd"].as_f64().unwrap_or(0.0))
                            - to_micros(data["spentUsd"].as_f64().unwrap_or(0.0));
                        let now = b.limit_micros - b.spent_micros - b.reserved_micros;
                        let room = !b.is_active || now > then;
                        (Some((b.id, b.name)), room)
                    }
                    None => (None, true),
                }
            }
            // A chain waiting for its step: the step is what resumes.
            None => (None, false),
        };
        Ok(Some(Self {
            run_id: run.id,
            budget,
            room,
            can_resume: ctx.require(Role::Editor).is_ok() && run.chain_id.is_none(),
            can_override: ctx.require(Role::Admin).is_ok() && run.chain_id.is_none(),
            csrf: ctx.session.csrf_token(),
        }))
    }
}
