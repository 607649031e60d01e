//! Starting runs and following them, over the same runner as the admin and the CLI:
//! `POST /api/agents/{agentId}/execute`, `POST /api/agent-chains/{chainId}/execute` and
//! `GET /api/agent-executions/{id}/events`.

use actix_web::{HttpRequest, HttpResponse, Responder as _, http::header, web};
use actix_web_lab::sse;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::Value;

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use crate::collections::executions::{ExecutionResponse, render};
use crate::domain::fields::Fields;
use crate::error::AppError;
use crate::runner::{RunContext, SharedItem};
use crate::state::AppState;

/// Mounts the endpoints (before the collections' `/{id}` routes).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents/{agentId}/execute")
            .route(web::post().to(execute_agent))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/agent-chains/{chainId}/execute")
            .route(web::post().to(execute_chain))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/agent-executions/{id}/events")
            .route(web::get().to(stream_events))
            .default_service(web::to(method_not_allowed)),
    );
}

/// The answer to `execute`: the execution, a message, and where to follow it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecuteResponse {
    doc: ExecutionResponse,
    message: String,
    events_url: String,
}

/// What `execute` accepts: `{prompt, projectId, conversationId?, episodeId?, metadata?, wait?,
/// previousExecution?}` (`previousExecution`: start from that run's whole conversation).
struct ExecuteRequest {
    prompt: String,
    wait: bool,
    context: RunContext,
}

impl ExecuteRequest {
    fn from_json(body: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(body)?;
        let prompt = f.string("prompt", true, 200_000);
        let project_id = f.relation("projectId", true);
        let conversation_id =
            Some(f.string("conversationId", false, 200)).filter(|c| !c.is_empty());
        let episode_id = Some(f.string("episodeId", false, 200)).filter(|e| !e.is_empty());
        let metadata = f
            .json("metadata")
            .unwrap_or_else(|| Value::Object(Default::default()));
        if !metadata.is_object() {
            f.error("metadata", "Must be a JSON object.");
        }
        let wait = f.boolean("wait", false);
        let previous_execution = f.relation("previousExecution", false);
        f.finish()?;
        Ok(Self {
            prompt,
            wait,
            context: RunContext {
                project_id,
                conversation_id,
                episode_id,
                metadata,
                previous_execution,
                ..RunContext::default()
            },
        })
    }
}

/// What to run: an agent or a chain, by its slug.
enum Target<'a> {
    Agent(&'a str),
    Chain(&'a str),
}

/// `POST /api/agents/{agentId}/execute` (editors): queues a run; 202 with the execution and
/// its event-stream URL, or, with `wait: true` (body or query), 200 once it has finished.
async fn execute_agent(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    agent_id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    execute(req, state, auth, Target::Agent(&agent_id), body).await
}

/// `POST /api/agent-chains/{chainId}/execute` (editors): queues a run of the chain, the same
/// way and with the same body as an agent's.
async fn execute_chain(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    chain_id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    execute(req, state, auth, Target::Chain(&chain_id), body).await
}

async fn execute(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    target: Target<'_>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let mut request = ExecuteRequest::from_json(&body.0)?;
    request.wait |= req.query_string().split('&').any(|p| p == "wait=true");
    request.context.created_by = Some(user.id);
    request.context.trace_parent = crate::web::traces::span_of(&req);
    let runner = &state.runner;
    let queued = match target {
        Target::Agent(agent_id) => {
            runner
                .execute(agent_id, &request.prompt, request.context)
                .await
        }
        Target::Chain(chain_id) => {
            runner
                .execute_chain(chain_id, &request.prompt, request.context)
                .await
        }
    };
    let mut row = queued.map_err(AppError::from)?;
    if request.wait {
        row = runner.wait(row.id).await.map_err(AppError::from)?;
    }
    let doc = render(&state.db, std::slice::from_ref(&row), 0)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    let (status, message) = if request.wait {
        (
            actix_web::http::StatusCode::OK,
            format!("Execution {}.", row.status),
        )
    } else {
        (
            actix_web::http::StatusCode::ACCEPTED,
            "Execution queued.".to_owned(),
        )
    };
    Ok(HttpResponse::build(status).json(ExecuteResponse {
        events_url: format!("/api/agent-executions/{}/events", row.id),
        doc,
        message,
    }))
}

/// `GET /api/agent-executions/{id}/events`: the run's events as SSE, JSON data, the seq as
/// the event id and the event type as its name. Resumes after `Last-Event-ID` (or `?after=N`);
/// a finished run sends its history and the stream ends. Idle streams get a keep-alive comment
/// every `SSE_KEEP_ALIVE_MS`; a client that goes away only drops its stream, never the run.
async fn stream_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    auth.require()?;
    let id = parse_id(&id)?;
    let after = resume_point(&req);
    let events = state
        .runner
        .subscribe(id, after)
        .await
        .map_err(AppError::from)?;
    let events = events.map(|item| sse::Event::Data(to_sse(&item)));
    let mut response = sse::Sse::from_infallible_stream(events)
        .with_keep_alive(state.settings.server.sse_keep_alive)
        .respond_to(&req)
        .map_into_boxed_body();
    // Proxies (nginx) must not buffer the stream.
    response.headers_mut().insert(
        header::HeaderName::from_static("x-accel-buffering"),
        header::HeaderValue::from_static("no"),
    );
    Ok(response)
}

/// The last seq the client has: `Last-Event-ID`, else `?after=`, else 0 (everything).
fn resume_point(req: &HttpRequest) -> i64 {
    let header = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let query = || {
        req.query_string()
            .split('&')
            .find_map(|p| p.strip_prefix("after="))
            .and_then(|v| v.parse::<i64>().ok())
    };
    header.or_else(query).unwrap_or(0).max(0)
}

/// The JSON of an item is encoded once and shared by every watcher of the run.
fn to_sse(item: &SharedItem) -> sse::Data {
    let data = sse::Data::new(item.json().to_owned()).event(item.event.kind());
    match item.seq {
        Some(seq) => data.id(seq.to_string()),
        None => data,
    }
}
