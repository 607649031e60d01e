//! The live run page: a form that starts an execution of an agent and, next to it, the
//! run's transcript followed live over SSE (htmx's SSE extension); the watch page (the same
//! transcript alone), the stream itself and the Cancel action.
//!
//! With htmx, Run swaps the transcript panel in place and pushes
//! `/admin/agents/{agentId}/run?execution={id}`; without it, the POST redirects there.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::form::FormErrors;
use super::{Chrome, Ctx, fmt, parse_id};
use crate::db;
use crate::domain::users::Role;
use crate::entities::{agent_executions, agents, projects};
use crate::error::{AppError, FieldErrors};
use crate::runner::{RunContext, RunError};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, hx_redirect, render, render_with_status, see_other, toast_only};
use crate::web::sse::{self, LiveRun, live};

/// Earlier runs of a conversation shown above a continued run's prompt, at most.
const EARLIER_TURNS: u64 = 10;

#[derive(Template)]
#[template(path = "admin/run/form.html")]
struct RunPage {
    chrome: Chrome,
    form: RunFormFragment,
    panel: Option<LivePanel>,
}

/// The run form (`#run-form`): re-rendered alone, with its errors, when a run is refused.
#[derive(Template)]
#[template(path = "admin/run/_form.html")]
struct RunFormFragment {
    agent: agents::Model,
    projects: Vec<projects::Model>,
    values: RunValues,
    errors: FormErrors,
    csrf: String,
}

impl askama::filters::HtmlSafe for RunFormFragment {}

impl RunFormFragment {
    /// Whether the "Conversation & metadata" section starts open.
    fn more_open(&self) -> bool {
        !self.values.conversation.trim().is_empty()
            || !self.values.metadata.trim().is_empty()
            || self.errors.get("conversation").is_some()
            || self.errors.get("metadata").is_some()
    }
}

/// The form's values, as posted or prefilled from the query ("Run again", "Continue the
/// conversation"); `execution` (query only) shows that run next to the form.
#[derive(Debug, Default, Deserialize)]
struct RunValues {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    conversation: String,
    #[serde(default)]
    metadata: String,
    #[serde(default)]
    execution: String,
    /// The execution whose whole conversation the run starts from ("Continue from this
    /// run"), if any.
    #[serde(default)]
    previous: String,
}

/// A run request that passed the form's checks.
struct ValidRun {
    prompt: String,
    context: RunContext,
}

impl RunValues {
    /// Whether project `id` is the selected one.
    fn selected(&self, id: &i32) -> bool {
        self.project.trim() == id.to_string()
    }

    /// Checks every field; errors are keyed by field name.
    fn validate(&self) -> Result<ValidRun, FieldErrors> {
        let mut errors = FieldErrors::new();
        let (prompt, project_id) = prompt_and_project(&self.prompt, &self.project, &mut errors);
        let conversation = self.conversation.trim();
        if conversation.chars().count() > 200 {
            errors.insert("conversation".into(), "At most 200 characters.".into());
        }
        let metadata = match parse_metadata(&self.metadata) {
            Ok(value) => value,
            Err(message) => {
                errors.insert("metadata".into(), message);
                Value::Null
            }
        };
        let previous = self.previous.trim();
        let previous_execution = match previous {
            "" => None,
            raw => match raw.parse::<i32>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    errors.insert(
                        "prompt".into(),
                        "The run to continue from is unknown.".into(),
                    );
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidRun {
            prompt: prompt.to_owned(),
            context: RunContext {
                project_id,
                conversation_id: Some(conversation.to_owned()).filter(|c| !c.is_empty()),
                metadata,
                previous_execution,
                ..RunContext::default()
            },
        })
    }
}

/// The prompt (required, trimmed) and the project (empty: none) of a run form; errors go in
/// `errors` under `prompt` and `project`.
pub(super) fn prompt_and_project<'a>(
    prompt: &'a str,
    project: &str,
    errors: &mut FieldErrors,
) -> (&'a str, Option<i32>) {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        errors.insert("prompt".into(), "A prompt is required.".into());
    } else if prompt.chars().count() > 200_000 {
        errors.insert("prompt".into(), "At most 200 000 characters.".into());
    }
    let project_id = match project.trim() {
        "" => None,
        raw => raw.parse::<i32>().ok().filter(|id| *id > 0).or_else(|| {
            errors.insert("project".into(), "Unknown project.".into());
            None
        }),
    };
    (prompt, project_id)
}

/// The metadata field: empty is `{}`; anything else must be a JSON object.
fn parse_metadata(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("Must be a JSON object, like {\"episode\": 3}.".into()),
        Err(e) => Err(format!("Invalid JSON: {e}.")),
    }
}

/// A run's transcript panel (`#run-panel`), connected to its stream.
#[derive(Template)]
#[template(path = "admin/run/_panel.html")]
struct LivePanel {
    run: LiveRun,
    status: String,
    finished: bool,
    csrf: String,
    usage: live::UsageView,
    started: String,
    started_time: String,
    earlier: Vec<Turn>,
    /// What holds a run paused by a budget, and the controls.
    budget_wait: Option<super::budget_wait::BudgetWait>,
}

impl askama::filters::HtmlSafe for LivePanel {}

/// An earlier run of the same conversation, as the runner sends it to the model.
struct Turn {
    id: i32,
    prompt: String,
    answer: String,
}

impl LivePanel {
    async fn load(
        state: &AppState,
        row: &agent_executions::Model,
        ctx: &Ctx,
    ) -> Result<Self, AppError> {
        let earlier = db::executions::completed_in_conversation(
            &state.db,
            &row.conversation_id,
            row.id,
            EARLIER_TURNS,
        )
        .await?
        .into_iter()
        .map(|r| Turn {
            id: r.id,
            answer: r
                .output_text
                .clone()
                .filter(|t| !t.is_empty())
                .or_else(|| r.output.as_ref().map(|o| o.to_string()))
                .unwrap_or_default(),
            prompt: r.prompt,
        })
        .collect();
        let finished = live::is_finished(&row.status);
        let budget_wait = super::budget_wait::BudgetWait::load(&state.db, row, ctx).await?;
        Ok(Self {
            run: LiveRun::of(row, ctx.require(Role::Editor).is_ok()),
            status: row.status.clone(),
            finished,
            csrf: ctx.session.csrf_token(),
            usage: if finished {
                live::UsageView::of_row(row)
            } else {
                live::UsageView::default()
            },
            started: fmt::datetime(&row.created_at),
            started_time: row
                .created_at
                .with_timezone(&chrono::Utc)
                .format("%H:%M")
                .to_string(),
            earlier,
            budget_wait,
        })
    }

    fn actions(&self) -> live::RunActions<'_> {
        live::RunActions {
            run: &self.run,
            finished: self.finished,
            csrf: &self.csrf,
            oob: false,
        }
    }

    fn footer(&self) -> live::UsageFooter<'_> {
        live::UsageFooter {
            usage: &self.usage,
            oob: false,
        }
    }

    /// The conversation id, shortened for the header.
    fn short_conversation(&self) -> String {
        let c = &self.run.conversation_id;
        if c.chars().count() > 13 {
            format!(
                "…{}",
                c.chars().skip(c.chars().count() - 12).collect::<String>()
            )
        } else {
            c.clone()
        }
    }
}

#[derive(Template)]
#[template(path = "admin/run/watch.html")]
struct WatchPage {
    chrome: Chrome,
    panel: LivePanel,
}

/// An agent by numeric id or by its agentId slug.
async fn find_agent(state: &AppState, raw: &str) -> Result<agents::Model, AppError> {
    let found = match raw.parse::<i32>() {
        Ok(id) => db::agents::find_by_id(&state.db, id).await?,
        Err(_) => db::agents::find_by_agent_id(&state.db, raw).await?,
    };
    found.ok_or_else(AppError::not_found)
}

async fn find_run(state: &AppState, raw: &str) -> Result<agent_executions::Model, AppError> {
    db::executions::find_by_id(&state.db, parse_id(raw)?)
        .await?
        .ok_or_else(AppError::not_found)
}

async fn form_fragment(
    state: &AppState,
    ctx: &Ctx,
    agent: agents::Model,
    values: RunValues,
    errors: FieldErrors,
) -> Result<RunFormFragment, AppError> {
    Ok(RunFormFragment {
        agent,
        projects: db::projects::list_for_picker(&state.db).await?,
        values,
        errors: FormErrors::new(errors),
        csrf: ctx.session.csrf_token(),
    })
}

/// GET /admin/agents/{id}/run (`?execution=` shows that run of the agent beside the form).
async fn form(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RunValues>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let agent = find_agent(&state, &path).await?;
    let mut values = query.into_inner();
    let shown = match values.execution.trim().parse::<i32>() {
        Ok(id) => db::executions::find_by_id(&state.db, id)
            .await?
            .filter(|run| run.agent_slug == agent.agent_id),
        Err(_) => None,
    };
    let panel = match &shown {
        Some(run) => Some(LivePanel::load(&state, run, &ctx).await?),
        None => None,
    };
    if let Some(run) = &shown
        && values.prompt.is_empty()
    {
        values.prompt = run.prompt.clone();
        values.project = run.project_id.map(|p| p.to_string()).unwrap_or_default();
    }
    let form = form_fragment(&state, &ctx, agent, values, FieldErrors::new()).await?;
    Ok(render(&RunPage {
        chrome: ctx.chrome("agents"),
        form,
        panel,
    })?)
}

/// POST /admin/agents/{id}/run: starts the run, or re-renders the form with its errors (422).
async fn start(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Form<RunValues>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let agent = find_agent(&state, &path).await?;
    let values = body.into_inner();
    let valid = match values.validate() {
        Ok(valid) => valid,
        Err(errors) => return refuse(&ctx, &state, agent, values, errors).await,
    };
    let context = RunContext {
        created_by: Some(ctx.user.id),
        ..valid.context
    };
    let run = match state
        .runner
        .execute(&agent.agent_id, &valid.prompt, context)
        .await
    {
        Ok(run) => run,
        Err(RunError::ProjectNotFound(_)) => {
            let errors = FieldErrors::from([("project".into(), "Unknown project.".into())]);
            return refuse(&ctx, &state, agent, values, errors).await;
        }
        Err(RunError::PreviousExecution(message)) => {
            let errors = FieldErrors::from([("prompt".into(), message)]);
            return refuse(&ctx, &state, agent, values, errors).await;
        }
        Err(e) => return Err(AppError::from(e).into()),
    };
    let location = format!("/admin/agents/{}/run?execution={}", agent.agent_id, run.id);
    if !ctx.hx.fragment {
        return Ok(see_other(&location));
    }
    let mut response = render(&LivePanel::load(&state, &run, &ctx).await?)?;
    if let Ok(value) = header::HeaderValue::from_str(&location) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("hx-push-url"), value);
    }
    Ok(response)
}

/// The form again with its errors and the input kept: 422, in place of the form for htmx.
async fn refuse(
    ctx: &Ctx,
    state: &AppState,
    agent: agents::Model,
    values: RunValues,
    errors: FieldErrors,
) -> Result<HttpResponse, PageError> {
    let form = form_fragment(state, ctx, agent, values, errors).await?;
    if !ctx.hx.fragment {
        let page = RunPage {
            chrome: ctx.chrome("agents"),
            form,
            panel: None,
        };
        return Ok(render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)?);
    }
    let mut response = render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &form)?;
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("hx-retarget"),
        header::HeaderValue::from_static("#run-form"),
    );
    headers.insert(
        header::HeaderName::from_static("hx-reswap"),
        header::HeaderValue::from_static("outerHTML"),
    );
    Ok(response)
}

/// GET /admin/executions/{id}/watch
async fn watch(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let run = find_run(&state, &path).await?;
    let panel = LivePanel::load(&state, &run, &ctx).await?;
    Ok(render(&WatchPage {
        chrome: ctx.chrome("executions"),
        panel,
    })?)
}

/// GET /admin/executions/{id}/stream: the run's events as SSE, resumable with `Last-Event-ID`.
async fn stream(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<impl Responder, PageError> {
    let row = find_run(&state, &path).await?;
    let after = sse::resume_after(&req);
    let events = state
        .runner
        .subscribe(row.id, after)
        .await
        .map_err(AppError::from)?;
    let can_edit = ctx.require(Role::Editor).is_ok();
    // `?card=1`: the stream of a sub-run's card inside its parent's transcript.
    let run = if req.query_string().split('&').any(|p| p == "card=1") {
        LiveRun::card(&row, can_edit)
    } else {
        LiveRun::of(&row, can_edit)
    };
    let keep_alive = state.settings.server.sse_keep_alive;
    // Proxies (nginx) must not buffer the stream.
    Ok(sse::respond(events, run, after, keep_alive)
        .customize()
        .insert_header(("x-accel-buffering", "no")))
}

/// POST /admin/executions/{id}/cancel: a toast for htmx (the stream shows the outcome),
/// else back to the run.
async fn cancel(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    let toast = match state.runner.cancel(id).await {
        Ok(_) => Toast::success("Run cancelled"),
        Err(RunError::AlreadyFinished(status)) => Toast::error(
            "Nothing to cancel",
            format!("This run already ended ({status})."),
        ),
        Err(e) => return Err(AppError::from(e).into()),
    };
    if ctx.hx.fragment {
        return Ok(toast_only(StatusCode::OK, &[toast])?);
    }
    ctx.flash(toast);
    Ok(see_other(&format!("/admin/executions/{id}/watch")))
}

/// POST /admin/executions/{id}/resume (editors): continues a stopped run from its checkpoint
/// and opens its live page; a toast when it cannot.
async fn resume(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    resume_run(ctx, &state, &path, false).await
}

/// POST /admin/executions/{id}/resume-over-budget (admins): the API's `allowOverBudget`
/// resume: a run paused by a budget continues and ignores its budgets from now on (its spend
/// is still counted).
async fn resume_over_budget(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    resume_run(ctx, &state, &path, true).await
}

async fn resume_run(
    ctx: Ctx,
    state: &AppState,
    path: &str,
    over_budget: bool,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(path)?;
    let resumed = state
        .runner
        .resume_with(id, Some(ctx.user.email.clone()), over_budget)
        .await;
    let toast = match resumed {
        Ok(_) if over_budget => Toast::success("Run resumed over its budget"),
        Ok(_) => Toast::success("Run resumed"),
        Err(RunError::NotResumable(why)) => Toast::error("Cannot resume", why),
        Err(e) => return Err(AppError::from(e).into()),
    };
    let ok = toast.tone == crate::web::htmx::Tone::Success;
    if ctx.hx.fragment && !ok {
        return Ok(toast_only(StatusCode::CONFLICT, &[toast])?);
    }
    ctx.flash(toast);
    Ok(hx_redirect(
        ctx.hx,
        &format!("/admin/executions/{id}/watch"),
    ))
}

/// Mounts the run page, the watch page, the stream, Cancel, Resume and Resume over budget.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents/{id}/run")
            .route(web::get().to(form))
            .route(web::post().to(start)),
    )
    .service(web::resource("/executions/{id}/watch").route(web::get().to(watch)))
    .service(web::resource("/executions/{id}/stream").route(web::get().to(stream)))
    .service(web::resource("/executions/{id}/cancel").route(web::post().to(cancel)))
    .service(web::resource("/executions/{id}/resume").route(web::post().to(resume)))
    .service(
        web::resource("/executions/{id}/resume-over-budget")
            .route(web::post().to(resume_over_budget)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_must_be_a_json_object() {
        assert_eq!(parse_metadata("  "), Ok(serde_json::json!({})));
        assert_eq!(
            parse_metadata(r#"{"episode": 3}"#),
            Ok(serde_json::json!({"episode": 3}))
        );
        assert!(parse_metadata("[1]").is_err_and(|e| e.contains("JSON object")));
        assert!(parse_metadata("{oops").is_err_and(|e| e.starts_with("Invalid JSON")));
    }
}
