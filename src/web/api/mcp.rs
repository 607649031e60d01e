//! Aladdin as an MCP server: `/api/mcp` over streamable HTTP, with the REST API's credentials
//! and roles. Each active agent is a tool `run_<agentId>` (`{prompt, projectId?}` → output
//! text, structured output, execution id); `get_execution {id}` and `list_agents` read.
//! Progress notifications follow the run's event stream while it runs.
//!
//! The protocol is `rmcp`'s: its `StreamableHttpService` (a tower service over `http` 1
//! types) sits behind one actix handler that authenticates the caller, converts the request,
//! puts the caller and the shared state into the request's extensions (rmcp hands the request
//! parts to every tool call) and streams rmcp's response back. Viewers list and read; only
//! editors and admins run agents.

use std::sync::{Arc, OnceLock};

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use rmcp::ErrorData as McpError;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities,
    ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Map, Value, json};

use super::errors::{ApiError, method_not_allowed};
use super::extract::ApiUser;
use crate::auth::current_user::CurrentUser;
use crate::collections::executions::render;
use crate::domain::fields::relation_id;
use crate::runner::RunContext;
use crate::state::AppState;
use crate::{db, entities::agents};

/// The prefix of the tools that run an agent.
pub const RUN_PREFIX: &str = "run_";

/// Mounts `/api/mcp` (POST messages, GET the server's stream, DELETE a session).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/mcp")
            .route(web::post().to(serve))
            .route(web::get().to(serve))
            .route(web::delete().to(serve))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/mcp-servers/{id}/refresh")
            .route(web::post().to(refresh))
            .default_service(web::to(method_not_allowed)),
    );
}

/// `POST /api/mcp-servers/{id}/refresh` (editors and admins): connects to the server, lists
/// its tools and stores them (`tools`, `toolsRefreshedAt`); `{doc, message}`. An unreachable
/// server is a 502 saying why.
async fn refresh(
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    use crate::collections::Collection as _;
    use crate::collections::mcp_servers::McpServers;
    auth.require_editor()?;
    let id = super::extract::parse_id(&id)?;
    let server = db::mcp_servers::find_by_id(&state.db, id)
        .await
        .map_err(crate::error::AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    let allow_stdio = state.settings.runner.mcp_allow_stdio;
    let stored = crate::runner::tools::mcp::discover(server, allow_stdio)
        .await
        .map_err(|e| {
            ApiError::Status(
                actix_web::http::StatusCode::BAD_GATEWAY,
                format!("The MCP server could not be reached: {e}."),
            )
        })?;
    let count = stored.as_array().map_or(0, Vec::len);
    let row = db::mcp_servers::set_tools(&state.db, id, stored).await?;
    let doc = McpServers::render(&state.db, vec![row], 0)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(json!({
        "doc": doc,
        "message": format!("{count} tools discovered."),
    })))
}

type Service = StreamableHttpService<AladdinMcp, LocalSessionManager>;

/// One rmcp service for the process: it holds no state of its own (the caller and the app
/// state travel with each request), only the sessions.
fn service() -> &'static Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| {
        // Callers authenticate with a bearer token on every request, so the loopback-only
        // Host check (DNS rebinding protection for unauthenticated local servers) is off.
        let config = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .with_sse_keep_alive(Some(std::time::Duration::from_secs(15)));
        StreamableHttpService::new(
            || Ok(AladdinMcp),
            Arc::new(LocalSessionManager::default()),
            config,
        )
    })
}

/// The caller of an MCP request, as rmcp hands it to the tools.
#[derive(Clone)]
struct Caller {
    user: CurrentUser,
    state: web::Data<AppState>,
}

/// `/api/mcp`: 401 without credentials; otherwise rmcp answers.
async fn serve(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let user = auth.require()?.clone();
    let mut builder = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let mut request = builder
        .body(http_body_util::Full::new(body))
        .map_err(|e| ApiError::bad_request(format!("The request cannot be read: {e}.")))?;
    request.extensions_mut().insert(Caller { user, state });
    let response = service().handle(request).await;
    let (parts, body) = response.into_parts();
    let status = actix_web::http::StatusCode::from_u16(parts.status.as_u16())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    // Proxies must not buffer the event stream.
    out.append_header(("x-accel-buffering", "no"));
    Ok(out.streaming(body.into_data_stream()))
}

/// The MCP server handler (one per session; stateless).
#[derive(Clone, Copy)]
pub struct AladdinMcp;

fn caller(ctx: &RequestContext<RoleServer>) -> Result<Caller, McpError> {
    ctx.extensions
        .get::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| McpError::invalid_request("Not authenticated.", None))
}

fn object(value: Value) -> Arc<Map<String, Value>> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(Map::new()),
    }
}

fn run_tool(agent: &agents::Model) -> Tool {
    let description = if agent.description.trim().is_empty() {
        format!("Run the agent {} ({}).", agent.name, agent.agent_id)
    } else {
        format!("Run the agent {}: {}", agent.name, agent.description)
    };
    Tool::new(
        format!("{RUN_PREFIX}{}", agent.agent_id),
        description,
        object(json!({
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "description": "What to ask the agent."},
                "projectId": {"type": ["integer", "string"], "description": "The project the agent's tools work on (id)."}
            },
            "required": ["prompt"]
        })),
    )
}

fn fixed_tools() -> Vec<Tool> {
    vec![
        Tool::new(
            "list_agents",
            "List the active agents (agentId, name, description, model, and the tool that runs each).",
            object(json!({"type": "object", "properties": {}})),
        ),
        Tool::new(
            "get_execution",
            "Read an execution (status, output, usage, error) by its id.",
            object(json!({
                "type": "object",
                "properties": {"id": {"type": "integer", "description": "The execution id."}},
                "required": ["id"]
            })),
        ),
    ]
}

async fn active_agents(state: &AppState) -> Result<Vec<agents::Model>, McpError> {
    let all = db::agents::list_all(&state.db)
        .await
        .map_err(|e| internal(&e))?;
    Ok(all.into_iter().filter(|a| a.is_active).collect())
}

fn internal(e: &dyn std::fmt::Display) -> McpError {
    tracing::error!(error = %e, "MCP request failed");
    McpError::internal_error("The server could not answer; see its log.", None)
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

fn tool_json(value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

impl ServerHandler for AladdinMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("aladdin", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Aladdin's agents: call list_agents, then run_<agentId> with a prompt; \
                 get_execution reads a run by id.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = caller(&ctx)?;
        let mut tools = fixed_tools();
        tools.extend(active_agents(&caller.state).await?.iter().map(run_tool));
        // The result type is non-exhaustive: built from its default, then filled.
        #[allow(clippy::field_reassign_with_default)]
        let result = {
            let mut result = ListToolsResult::default();
            result.tools = tools;
            result
        };
        Ok(result)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller(&ctx)?;
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        let result = match request.name.as_ref() {
            "list_agents" => list_agents(&caller).await?,
            "get_execution" => get_execution(&caller, &args).await?,
            name => match name.strip_prefix(RUN_PREFIX) {
                Some(agent_id) => run_agent(&caller, agent_id, &args, &ctx).await?,
                None => {
                    return Err(McpError::invalid_params(
                        format!("Unknown tool {name}."),
                        None,
                    ));
                }
            },
        };
        Ok(result.into())
    }
}

async fn list_agents(caller: &Caller) -> Result<CallToolResult, McpError> {
    let agents: Vec<Value> = active_agents(&caller.state)
        .await?
        .iter()
        .map(|a| {
            json!({
                "agentId": a.agent_id,
                "name": a.name,
                "description": a.description,
                "model": a.model,
                "tool": format!("{RUN_PREFIX}{}", a.agent_id),
                "hasOutputSchema": a.output_schema.is_some(),
            })
        })
        .collect();
    Ok(tool_json(json!({ "agents": agents })))
}

async fn get_execution(caller: &Caller, args: &Value) -> Result<CallToolResult, McpError> {
    let Some(id) = args.get("id").and_then(relation_id) else {
        return Ok(tool_error(
            "id: must be the id of an execution (a positive integer).",
        ));
    };
    let state = &caller.state;
    let Some(row) = db::executions::find_by_id(&state.db, id)
        .await
        .map_err(|e| internal(&e))?
    else {
        return Ok(tool_error(format!("Execution not found: {id}.")));
    };
    let doc = render(&state.db, std::slice::from_ref(&row), 0)
        .await
        .map_err(|e| internal(&e))?
        .pop();
    let value = serde_json::to_value(doc).map_err(|e| internal(&e))?;
    Ok(tool_json(value))
}

async fn run_agent(
    caller: &Caller,
    agent_id: &str,
    args: &Value,
    ctx: &RequestContext<RoleServer>,
) -> Result<CallToolResult, McpError> {
    if !caller.user.can_edit() {
        return Ok(tool_error(
            "Forbidden: running an agent needs an editor or admin; this token is a viewer's.",
        ));
    }
    let Some(prompt) = args
        .get("prompt")
        .and_then(Value::as_str)
        .filter(|p| !p.trim().is_empty())
    else {
        return Ok(tool_error(
            "prompt: this field is required (a non-empty string).",
        ));
    };
    let project_id = match args.get("projectId") {
        None | Some(Value::Null) => None,
        Some(v) => match relation_id(v) {
            Some(id) => Some(id),
            None => {
                return Ok(tool_error(
                    "projectId: must be the id of an existing project.",
                ));
            }
        },
    };
    let runner = &caller.state.runner;
    let context = RunContext {
        project_id,
        created_by: Some(caller.user.id),
        ..RunContext::default()
    };
    let row = match runner.execute(agent_id, prompt, context).await {
        Ok(row) => row,
        Err(e @ crate::runner::RunError::Db(_)) => return Err(internal(&e)),
        Err(e) => return Ok(tool_error(e.to_string())),
    };
    let token = ctx.meta.get_progress_token();
    let mut events = runner
        .subscribe(row.id, 0)
        .await
        .map_err(|e| internal(&e))?;
    let mut progress = 0.0;
    while let Some(item) = events.next().await {
        if let Some(token) = &token {
            progress += 1.0;
            let mut note = ProgressNotificationParam::new(token.clone(), progress);
            note.message = Some(progress_message(&item));
            // A client that stopped listening to progress does not stop the run.
            let _ = ctx.peer.notify_progress(note).await;
        }
        if item.is_terminal() {
            break;
        }
    }
    let row = runner.wait(row.id).await.map_err(|e| internal(&e))?;
    let value = json!({
        "executionId": row.id,
        "status": row.status,
        "outputText": row.output_text,
        "output": row.output,
        "error": row.error_message,
    });
    let text = row
        .output_text
        .clone()
        .or_else(|| row.error_message.clone())
        .unwrap_or_default();
    let mut result = if row.status == "completed" {
        CallToolResult::success(vec![ContentBlock::text(text)])
    } else {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "Execution {} ended {}: {text}",
            row.id, row.status
        ))])
    };
    result.structured_content = Some(value);
    Ok(result)
}

/// One line per event: its type, and its text for text deltas.
fn progress_message(item: &crate::runner::SharedItem) -> String {
    let json: Value = serde_json::from_str(item.json()).unwrap_or(Value::Null);
    let kind = item.kind();
    match json
        .get("text")
        .or_else(|| json.get("delta"))
        .and_then(Value::as_str)
    {
        Some(text) => format!("{kind}: {text}"),
        None => kind.to_owned(),
    }
}
