//! Executions: a read-only list with filters, and a detail page with the stored event
//! timeline. (The live run page, `/admin/agents/{agentId}/run`, streams new runs.)

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::list::{ListQuery, ListView, fetch_page};
use super::{Chrome, Ctx, parse_id};
use crate::db::{self, executions::ExecutionFilter, list::Sort};
use crate::domain::executions::Status;
use crate::entities::{agent_executions::Model, agents, execution_events, projects};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{page_or_fragment, render};

const BASE: &str = "/admin/executions";
const SORTS: &[&str] = &["created", "status", "agent", "time", "tokens", "cost"];

#[derive(Template)]
#[template(path = "admin/executions/list.html", blocks = ["list"])]
struct ExecutionsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    statuses: [Status; 6],
    agents: Vec<agents::Model>,
    projects: Vec<projects::Model>,
}

impl ExecutionsPage {
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
    events: Vec<EventView>,
}

/// One stored event as the timeline shows it.
struct EventView {
    seq: i64,
    kind: String,
    iso: String,
    time: String,
    data: String,
}

impl From<execution_events::Model> for EventView {
    fn from(ev: execution_events::Model) -> Self {
        Self {
            seq: ev.seq,
            iso: crate::domain::iso(&ev.created_at),
            time: ev.created_at.format("%H:%M:%S%.3f").to_string(),
            data: serde_json::to_string_pretty(&ev.data).unwrap_or_default(),
            kind: ev.r#type,
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
}

/// GET /admin/executions
async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = ListQuery::from_request(&req);
    let filter = ExecutionFilter {
        q: query.q(),
        status: query
            .get("status")
            .and_then(Status::parse)
            .map(|s| s.as_str().to_owned()),
        agent: query.get("agent").map(str::to_owned),
        project_id: query.id("project"),
    };
    let sort = query.sort(SORTS, "-created");
    let page = fetch_page(&query, |limit, page| {
        db::executions::search(&state.db, &filter, &sort, limit, page)
    })
    .await?;
    let view = ExecutionsPage {
        chrome: ctx.chrome("executions"),
        list: query.view(BASE, sort.clone(), "-created", page.page, page.total),
        rows: page.items,
        statuses: Status::ALL,
        agents: db::agents::search(
            &state.db,
            &Default::default(),
            &Sort::parse("agentId"),
            0,
            1,
        )
        .await?
        .items,
        projects: db::projects::list_for_picker(&state.db).await?,
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
        .ok_or_else(|| AppError::NotFound("Not Found".into()))?;
    let project = match run.project_id {
        Some(id) => db::projects::find_by_id(&state.db, id).await?,
        None => None,
    };
    let events = db::executions::events_after(&state.db, run.id, 0)
        .await?
        .into_iter()
        .map(EventView::from)
        .collect();
    Ok(render(&ExecutionPage {
        chrome: ctx.chrome("executions"),
        run,
        project,
        events,
    })?)
}

/// Mounts the execution pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/executions").route(web::get().to(list)))
        .service(web::resource("/executions/{id}").route(web::get().to(show)));
}
