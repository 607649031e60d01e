//! The live run page: a form that starts an execution of an agent, the watch page that follows
//! it over SSE (htmx's SSE extension), the stream itself and the Cancel action.

use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, Ctx, parse_id};
use crate::db;
use crate::domain::executions::Status;
use crate::domain::users::Role;
use crate::entities::{agent_executions, agents, projects};
use crate::error::AppError;
use crate::runner::{RunContext, RunError};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, hx_redirect, render};
use crate::web::sse;

#[derive(Template)]
#[template(path = "admin/run/form.html")]
struct RunPage {
    chrome: Chrome,
    agent: agents::Model,
    projects: Vec<projects::Model>,
    prefill: Prefill,
}

/// Values the run form starts with ("Run again", "Continue conversation").
#[derive(Debug, Default, Deserialize)]
struct Prefill {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    project: Option<i32>,
    #[serde(default)]
    conversation: String,
}

impl Prefill {
    /// Whether project `id` is the preselected one.
    fn selected(&self, id: impl std::borrow::Borrow<i32>) -> bool {
        self.project == Some(*id.borrow())
    }
}

/// The run form as posted.
#[derive(Debug, Deserialize)]
struct RunForm {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    conversation: String,
}

#[derive(Template)]
#[template(path = "admin/run/watch.html")]
struct WatchPage {
    chrome: Chrome,
    run: agent_executions::Model,
    finished: bool,
}

/// An agent by numeric id or by its agentId slug.
async fn find_agent(state: &AppState, raw: &str) -> Result<agents::Model, AppError> {
    let found = match raw.parse::<i32>() {
        Ok(id) => db::agents::find_by_id(&state.db, id).await?,
        Err(_) => db::agents::find_by_agent_id(&state.db, raw).await?,
    };
    found.ok_or_else(|| AppError::NotFound("Not Found".into()))
}

async fn find_run(state: &AppState, raw: &str) -> Result<agent_executions::Model, AppError> {
    db::executions::find_by_id(&state.db, parse_id(raw)?)
        .await?
        .ok_or_else(|| AppError::NotFound("Not Found".into()))
}

/// GET /admin/agents/{id}/run
async fn form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    prefill: web::Query<Prefill>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let agent = find_agent(&state, &path).await?;
    Ok(render(&RunPage {
        chrome: ctx.chrome("agents"),
        agent,
        projects: db::projects::list_for_picker(&state.db).await?,
        prefill: prefill.into_inner(),
    })?)
}

/// POST /admin/agents/{id}/run
async fn start(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Form<RunForm>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let agent = find_agent(&state, &path).await?;
    let prompt = body.prompt.trim();
    if prompt.is_empty() {
        return Err(AppError::field("prompt", "A prompt is required.").into());
    }
    let project_id = match body.project.trim() {
        "" => None,
        raw => Some(parse_id(raw).map_err(|_| AppError::field("project", "Unknown project."))?),
    };
    let ctx_run = RunContext {
        project_id,
        conversation_id: Some(body.conversation.clone()),
        created_by: Some(ctx.user.id),
        ..RunContext::default()
    };
    let run = state
        .runner
        .execute(&agent.agent_id, prompt, ctx_run)
        .await
        .map_err(AppError::from)?;
    Ok(hx_redirect(
        ctx.hx,
        &format!("/admin/executions/{}/watch", run.id),
    ))
}

/// GET /admin/executions/{id}/watch
async fn watch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let run = find_run(&state, &path).await?;
    let finished = Status::parse(&run.status).is_none_or(Status::is_terminal);
    Ok(render(&WatchPage {
        chrome: ctx.chrome("executions"),
        run,
        finished,
    })?)
}

/// GET /admin/executions/{id}/stream: the run's events as SSE, resumable with `Last-Event-ID`.
async fn stream(
    _ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<impl Responder, PageError> {
    let id = parse_id(&path)?;
    let events = state
        .runner
        .subscribe(id, sse::resume_after(&req))
        .await
        .map_err(AppError::from)?;
    Ok(sse::respond(events))
}

/// POST /admin/executions/{id}/cancel
async fn cancel(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    match state.runner.cancel(id).await {
        Ok(_) => ctx.flash(Toast::success("Run cancelled")),
        Err(RunError::AlreadyFinished(status)) => ctx.flash(Toast::error(
            "Nothing to cancel",
            format!("This run already ended ({status})."),
        )),
        Err(e) => return Err(AppError::from(e).into()),
    }
    Ok(hx_redirect(
        ctx.hx,
        &format!("/admin/executions/{id}/watch"),
    ))
}

/// Mounts the run page, the watch page, the stream and Cancel.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents/{id}/run")
            .route(web::get().to(form))
            .route(web::post().to(start)),
    )
    .service(web::resource("/executions/{id}/watch").route(web::get().to(watch)))
    .service(web::resource("/executions/{id}/stream").route(web::get().to(stream)))
    .service(web::resource("/executions/{id}/cancel").route(web::post().to(cancel)));
}
