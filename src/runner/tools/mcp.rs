//! Tools of MCP servers (the `mcp-servers` collection), called through `rmcp` over
//! streamable HTTP or a child process's stdio. A run opens one session per server it uses
//! ([`McpSession`]) and reuses it for every call; the session ends with the run. A call
//! that fails at the transport (the server forgot the session: HTTP 404 on its session id,
//! or the connection dropped) reconnects once and is retried once. Each call is bounded by
//! the server's `timeoutMs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolOutcome};
use crate::entities::mcp_servers;

type Client = RunningService<RoleClient, ()>;

/// One server's session for one run.
pub struct McpSession {
    server: mcp_servers::Model,
    allow_stdio: bool,
    client: tokio::sync::Mutex<Option<Arc<Client>>>,
}

/// A tool the server offers: its name on the server, description and input schema.
#[derive(Debug, Clone)]
pub struct RemoteTool {
    /// The name on the server.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its input schema.
    pub input_schema: Value,
}

impl RemoteTool {
    /// As stored in the server's `tools`.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "description": self.description, "inputSchema": self.input_schema})
    }
}

impl McpSession {
    /// A session to `server`, not yet connected.
    pub fn new(server: mcp_servers::Model, allow_stdio: bool) -> Arc<Self> {
        Arc::new(Self {
            server,
            allow_stdio,
            client: tokio::sync::Mutex::new(None),
        })
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.server.name
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(
            u64::try_from(self.server.timeout_ms)
                .unwrap_or(30_000)
                .max(1),
        )
    }

    /// Whether the server's allow-list lets `tool` through (an empty list allows all).
    pub fn allows(&self, tool: &str) -> bool {
        match self.server.tool_allow_list.as_array() {
            Some(list) if !list.is_empty() => list.iter().any(|t| t.as_str() == Some(tool)),
            _ => true,
        }
    }

    async fn connect(&self) -> Result<Client, String> {
        let server = &self.server;
        let connecting = async {
            match server.transport.as_str() {
                "stdio" => {
                    if !self.allow_stdio {
                        return Err("the stdio transport is off (MCP_ALLOW_STDIO=false)".into());
                    }
                    let command = server.command.clone().unwrap_or_default();
                    let mut cmd = tokio::process::Command::new(command);
                    if let Some(args) = server.args.as_array() {
                        cmd.args(args.iter().filter_map(Value::as_str));
                    }
                    let transport = TokioChildProcess::builder(cmd)
                        .stderr(std::process::Stdio::null())
                        .spawn()
                        .map_err(|e| format!("the command could not start: {e}"))?
                        .0;
                    ().serve(transport).await.map_err(|e| e.to_string())
                }
                _ => {
                    let url = server.url.clone().unwrap_or_default();
                    let mut config = StreamableHttpClientTransportConfig::with_uri(url)
                        .reinit_on_expired_session(false);
                    let mut custom = HashMap::new();
                    if let Some(headers) = server.headers.as_object() {
                        for (name, value) in headers {
                            let value = value.as_str().unwrap_or_default();
                            if name.eq_ignore_ascii_case("authorization")
                                && let Some(token) = value.strip_prefix("Bearer ")
                            {
                                config = config.auth_header(token.trim());
                                continue;
                            }
                            let (Ok(n), Ok(v)) = (
                                http::HeaderName::from_bytes(name.as_bytes()),
                                http::HeaderValue::from_str(value),
                            ) else {
                                return Err(format!("header {name} is not valid"));
                            };
                            custom.insert(n, v);
                        }
                    }
                    let client = reqwest::Client::builder()
                        .connect_timeout(self.timeout())
                        .build()
                        .map_err(|e| e.to_string())?;
                    let transport = StreamableHttpClientTransport::with_client(
                        client,
                        config.custom_headers(custom),
                    );
                    ().serve(transport).await.map_err(|e| e.to_string())
                }
            }
        };
        match tokio::time::timeout(self.timeout(), connecting).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.server.timeout_ms)),
        }
    }

    async fn client(&self, fresh: bool) -> Result<Arc<Client>, String> {
        let mut slot = self.client.lock().await;
        if fresh || slot.is_none() {
            *slot = None;
            *slot = Some(Arc::new(self.connect().await?));
        }
        slot.clone().ok_or_else(|| "not connected".to_owned())
    }

    /// Connects (if not yet) and lists the server's tools.
    pub async fn list_tools(&self) -> Result<Vec<RemoteTool>, String> {
        let client = self.client(false).await?;
        let tools = tokio::time::timeout(self.timeout(), client.peer().list_all_tools())
            .await
            .map_err(|_| format!("no answer within {} ms", self.server.timeout_ms))?
            .map_err(|e| e.to_string())?;
        Ok(tools
            .into_iter()
            .map(|t| RemoteTool {
                name: t.name.to_string(),
                description: t.description.map(|d| d.to_string()).unwrap_or_default(),
                input_schema: Value::Object((*t.input_schema).clone()),
            })
            .collect())
    }

    /// Calls `tool`; a transport failure reconnects once and retries once.
    pub async fn call(&self, tool: &str, input: Value) -> Result<Value, String> {
        let arguments = match input {
            Value::Object(map) => Some(map),
            Value::Null => None,
            other => return Err(format!("the input must be an object, not {other}")),
        };
        let mut fresh = false;
        loop {
            let client = self.client(fresh).await?;
            let mut params = CallToolRequestParams::new(tool.to_owned());
            params.arguments = arguments.clone();
            match tokio::time::timeout(self.timeout(), client.peer().call_tool(params)).await {
                Err(_) => {
                    return Err(format!(
                        "{}/{tool} timed out after {} ms (the server's timeoutMs)",
                        self.server.name, self.server.timeout_ms
                    ));
                }
                Ok(Ok(result)) => return outcome(result),
                Ok(Err(e)) if !fresh => {
                    tracing::info!(server = %self.server.name, error = %e, "MCP call failed at the transport; reconnecting once");
                    fresh = true;
                }
                Ok(Err(e)) => return Err(format!("{}/{tool} failed: {e}", self.server.name)),
            }
        }
    }
}

/// Connects to `server` and lists its tools, as stored in its `tools` (a refresh); the error
/// says why the server could not be reached.
pub async fn discover(server: mcp_servers::Model, allow_stdio: bool) -> Result<Value, String> {
    let tools = McpSession::new(server, allow_stdio).list_tools().await?;
    Ok(Value::Array(
        tools.iter().map(RemoteTool::to_json).collect(),
    ))
}

fn outcome(result: CallToolResult) -> Result<Value, String> {
    let text: Vec<String> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    if result.is_error == Some(true) {
        return Err(if text.is_empty() {
            "the tool reported an error".into()
        } else {
            text.join("\n")
        });
    }
    if let Some(structured) = result.structured_content {
        return Ok(structured);
    }
    Ok(match text.as_slice() {
        [one] => serde_json::from_str(one).unwrap_or_else(|_| Value::String(one.clone())),
        many => Value::String(many.join("\n")),
    })
}

/// One tool of an MCP server, offered to the model as `server/tool`.
pub struct McpTool {
    name: String,
    remote: String,
    description: String,
    input_schema: Value,
    session: Arc<McpSession>,
}

impl McpTool {
    /// The tool `remote` of `session`'s server.
    pub fn new(session: Arc<McpSession>, remote: &RemoteTool) -> Self {
        Self {
            name: format!("{}/{}", session.name(), remote.name),
            remote: remote.name.clone(),
            description: remote.description.clone(),
            input_schema: remote.input_schema.clone(),
            session,
        }
    }
}

impl Tool for McpTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    fn call<'a>(&'a self, input: Value, _ctx: &'a ToolContext) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move {
            ToolOutcome {
                result: self.session.call(&self.remote, input).await,
                console: None,
            }
        })
    }
}
