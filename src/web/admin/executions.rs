//! Executions: the history list (filters in the URL, sort, pagination) and a run's page with
//! its stored event timeline, rendered with the live page's event fragment. (The live run
//! page, `/admin/agents/{agentId}/run`, streams new runs.)

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sea_orm::EntityTrait;

use super::history_filter::{self, LIST, ParsedFilter};
use super::list::{ListQuery, ListView};
use super::{Chrome, Ctx, fmt, parse_id};
use crate::db;
use crate::domain::executions::Status;
use crate::entities::{
    agent_executions, agent_executions::Model, agents, departments, execution_events, projects,
};
use crate::error::AppError;
use crate::runner::StreamItem;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{page_or_fragment, render};
use crate::web::sse::EventFragment;

/// The history's path.
pub(super) const BASE: &str = "/admin/executions";

#[derive(Template)]
#[template(path = "admin/executions/list.html", blocks = ["list"])]
struct ExecutionsPage {
    chrome: Chrome,
    list: ListView,
    parsed: ParsedFilter,
    rows: Vec<Model>,
    statuses: [Status; Status::ALL.len()],
    agents: Vec<agents::Model>,
    departments: Vec<departments::Model>,
    projects: Vec<projects::Model>,
    children: HashMap<i32, i64>,
}

impl ExecutionsPage {
    /// How many runs this run started.
    fn child_count(&self, id: &i32) -> i64 {
        self.children.get(id).copied().unwrap_or(0)
    }

    fn project_name(&self, id: &Option<i32>) -> Option<&str> {
        let id = (*id)?;
        self.projects
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.name.as_str())
    }
}

#[derive(Template)]
#[template(path = "admin/executions/show.html")]
struct ExecutionPage {
    chrome: Chrome,
    run: Model,
    project: Option<projects::Model>,
    events: Vec<TimelineItem>,
    feedback: super::experiments::FeedbackCard,
    subruns: Vec<SubRun>,
    datasets: Vec<(i32, String)>,
    /// What holds a run paused by a budget, and the controls.
    budget_wait: Option<super::budget_wait::BudgetWait>,
}

/// Levels of sub-runs shown under an execution (deeper ones are on their own pages).
const TREE_DEPTH: usize = 3;

/// A sub-run (or a chain's step) as a nested, expandable card, with its own sub-runs.
#[derive(Template)]
#[template(path = "admin/executions/_subrun.html")]
struct SubRun {
    run: Model,
    children: Vec<SubRun>,
    /// It has sub-runs deeper than the tree shows.
    more: i64,
}

impl askama::filters::HtmlSafe for SubRun {}

impl SubRun {
    fn output(&self) -> Option<String> {
        match (&self.run.output_text, &self.run.output) {
            (Some(text), _) if !text.is_empty() => Some(text.clone()),
            (_, Some(v)) if !v.is_null() => serde_json::to_string_pretty(v).ok(),
            _ => None,
        }
    }

    fn usage(&self) -> String {
        let cost = self
            .run
            .estimated_cost
            .map_or_else(|| "—".to_owned(), |c| fmt::usd(&c));
        format!("{} tokens · {cost}", fmt::int(&self.run.total_tokens))
    }

    fn duration(&self) -> String {
        self.run
            .execution_time_ms
            .map_or_else(String::new, |ms| fmt::duration_ms(&ms))
    }
}

/// The sub-runs of `root`, `TREE_DEPTH` levels deep, each level in one query.
async fn subruns(state: &AppState, root: i32) -> Result<Vec<SubRun>, AppError> {
    let mut levels: Vec<Vec<Model>> = Vec::new();
    let mut parents = vec![root];
    for _ in 0..TREE_DEPTH {
        let rows = db::executions::children_of(&state.db, &parents).await?;
        if rows.is_empty() {
            break;
        }
        parents = rows.iter().map(|r| r.id).collect();
        levels.push(rows);
    }
    let deeper = db::executions::child_counts(&state.db, &parents).await?;
    let mut below: HashMap<i32, Vec<SubRun>> = HashMap::new();
    for (depth, level) in levels.into_iter().enumerate().rev() {
        let mut here: HashMap<i32, Vec<SubRun>> = HashMap::new();
        for run in level {
            let children = below.remove(&run.id).unwrap_or_default();
            let more = if depth + 1 == TREE_DEPTH {
                deeper.get(&run.id).copied().unwrap_or(0)
            } else {
                0
            };
            let parent = run.parent_execution_id.unwrap_or(root);
            here.entry(parent).or_default().push(SubRun {
                run,
                children,
                more,
            });
        }
        below = here;
    }
    Ok(below.remove(&root).unwrap_or_default())
}

/// One stored event of the timeline: its stored type, the live page's fragment view model
/// (a row this version cannot read renders as a warning) and its time.
struct TimelineItem {
    stored: String,
    event: EventFragment,
    time: String,
}

impl From<&execution_events::Model> for TimelineItem {
    fn from(row: &execution_events::Model) -> Self {
        Self {
            stored: row.r#type.clone(),
            event: EventFragment::of(&StreamItem::from_row(row)),
            time: row.created_at.format("%H:%M:%S%.3f").to_string(),
        }
    }
}

impl ExecutionPage {
    fn pretty(value: &serde_json::Value) -> String {
        serde_json::to_string_pretty(value).unwrap_or_default()
    }

    fn output_json(&self) -> Option<String> {
        self.run
            .output
            .as_ref()
            .filter(|v| v.is_object() || v.is_array())
            .map(Self::pretty)
    }

    /// The caller's metadata, when there is any.
    fn metadata(&self) -> Option<String> {
        match &self.run.params {
            serde_json::Value::Null => None,
            serde_json::Value::Object(map) if map.is_empty() => None,
            other => Some(Self::pretty(other)),
        }
    }

    fn error_details(&self) -> Option<String> {
        self.run
            .error_details
            .as_ref()
            .filter(|v| !v.is_null())
            .map(Self::pretty)
    }

    fn snapshot_field(&self, key: &str) -> String {
        match &self.run.agent_snapshot[key] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The routing rule that chose the model, in words.
    fn routing(&self) -> Option<String> {
        let routing = &self.run.agent_snapshot["routing"];
        let model = routing["model"].as_str()?;
        let rule = routing["rule"].as_u64().unwrap_or(0) + 1;
        Some(format!("rule {rule} of modelRouting chose {model}"))
    }

    /// The fallback chain the run had.
    fn fallbacks(&self) -> Vec<String> {
        self.run.agent_snapshot["fallbackModels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `tokenUsage.byModel` as rows: model, calls, tokens, cost.
    fn by_model(&self) -> Vec<(String, String, String, String)> {
        let Some(serde_json::Value::Object(models)) = &self.run.usage_by_model else {
            return Vec::new();
        };
        models
            .iter()
            .map(|(model, u)| {
                let cost = u["estimatedCost"]
                    .as_f64()
                    .map_or_else(|| "—".to_owned(), |c| super::fmt::usd(&c));
                (
                    model.clone(),
                    u["calls"].to_string(),
                    super::fmt::int(&u["totalTokens"].as_i64().unwrap_or(0)),
                    cost,
                )
            })
            .collect()
    }

    /// Where the cost figure comes from, in words.
    fn cost_source(&self) -> &'static str {
        match self.run.cost_source.as_deref() {
            Some("provider") => "reported by the provider",
            Some("price_table") => "computed from the price table",
            Some(_) => "no price known for this model",
            None if self.is_live() => "known when the run ends",
            None => "no model call was made",
        }
    }

    /// Still queued or running: the live page can follow it.
    fn is_live(&self) -> bool {
        Status::parse(&self.run.status).is_some_and(|s| !s.is_terminal())
    }

    /// The executions list narrowed to this run's conversation.
    fn conversation_href(&self) -> String {
        let query =
            serde_urlencoded::to_string([("conversation", self.run.conversation_id.as_str())])
                .unwrap_or_default();
        format!("{BASE}?{query}")
    }

    /// The run page with this run's prompt and project filled in.
    fn run_again_href(&self) -> String {
        let mut pairs = vec![("prompt", self.run.prompt.clone())];
        if let Some(project) = self.run.project_id {
            pairs.push(("project", project.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        format!("/admin/agents/{}/run?{query}", self.run.agent_slug)
    }
}

/// GET /admin/executions
async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = ListQuery::from_request(&req);
    let parsed = history_filter::parse(&query);
    let (page, list) = LIST
        .fetch(
            &state.db,
            agent_executions::Entity::find(),
            &query,
            &parsed.filter,
        )
        .await?;
    let ids: Vec<i32> = page.items.iter().map(|r| r.id).collect();
    let view = ExecutionsPage {
        chrome: ctx.chrome("executions"),
        list,
        parsed,
        rows: page.items,
        statuses: Status::ALL,
        agents: db::agents::list_all(&state.db).await?,
        departments: db::departments::list_all(&state.db).await?,
        projects: db::projects::list_for_picker(&state.db).await?,
        children: db::executions::child_counts(&state.db, &ids).await?,
    };
    Ok(page_or_fragment(ctx.hx, &view, &view.as_list())?)
}

/// GET /admin/executions/{id}
async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let run = db::executions::find_by_id(&state.db, parse_id(&path)?)
        .await?
        .ok_or_else(AppError::not_found)?;
    let project = match run.project_id {
        Some(id) => db::projects::find_by_id(&state.db, id).await?,
        None => None,
    };
    let events = db::executions::events_after(&state.db, run.id, 0)
        .await?
        .iter()
        .map(TimelineItem::from)
        .collect();
    let feedback = super::experiments::FeedbackCard::load(&state.db, run.id, ctx.user.id).await?;
    let subruns = subruns(&state, run.id).await?;
    let budget_wait = super::budget_wait::BudgetWait::load(&state.db, &run, &ctx).await?;
    Ok(render(&ExecutionPage {
        chrome: ctx.chrome("executions"),
        run,
        project,
        events,
        feedback,
        subruns,
        datasets: super::evals::dataset_choices(&state.db).await?,
        budget_wait,
    })?)
}

/// Mounts the execution pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/executions").route(web::get().to(list)))
        .service(web::resource("/executions/{id}").route(web::get().to(show)));
}
