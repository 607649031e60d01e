//! MCP servers (`/api/mcp-servers`): servers whose tools agents call as `server/tool`. Only
//! admins create, change or delete them (a URL or a command reaches the network or the
//! machine); everyone reads them. Header values are write-only: the document shows the
//! header names with masked values, and a masked or empty value in an update keeps the
//! stored one. `tools` is read-only: what the last refresh discovered.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col};
use super::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::config::Settings;
use crate::db;
use crate::domain::mcp_servers::{McpServerInput, masked};
use crate::domain::{fields::merge, iso};
use crate::entities::mcp_servers;
use crate::error::{AppError, AppResult};
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "mcp_servers",
    fields: &[
        ID,
        col("name", "name", Scalar::Text),
        col("transport", "transport", Scalar::Text),
        col("url", "url", Scalar::Text),
        col("timeoutMs", "timeout_ms", Scalar::Int),
        col("isGlobal", "is_global", Scalar::Bool),
        col("isActive", "is_active", Scalar::Bool),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The MCP servers collection.
pub struct McpServers;

/// An MCP server as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerResponse {
    /// Id.
    pub id: i32,
    /// Slug-like unique name; agents name its tools `name/tool`.
    pub name: String,
    /// `http` (streamable HTTP) or `stdio` (a local command; needs `MCP_ALLOW_STDIO=true`).
    pub transport: String,
    /// Endpoint (http).
    pub url: Option<String>,
    /// Command (stdio).
    pub command: Option<String>,
    /// Arguments of the command.
    pub args: Vec<String>,
    /// Header names; values are write-only and shown as `********`.
    #[schema(value_type = Object)]
    pub headers: Value,
    /// Only these tools are offered and callable (empty: all).
    pub tool_allow_list: Vec<String>,
    /// Longest a call may take, in ms.
    pub timeout_ms: i32,
    /// Approval rule `{mode: never|always|conditional}` (default never).
    #[schema(value_type = Object)]
    pub approval: Value,
    /// Departments it is shared with (ids).
    pub departments: Vec<i32>,
    /// Shared with every department.
    pub is_global: bool,
    /// Whether agents may use it.
    pub is_active: bool,
    /// Tools discovered by the last refresh: `[{name, description, inputSchema}]`.
    #[schema(value_type = Vec<Object>)]
    pub tools: Value,
    /// When the tools were last refreshed (RFC 3339).
    pub tools_refreshed_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl From<&mcp_servers::Model> for McpServerResponse {
    fn from(m: &mcp_servers::Model) -> Self {
        Self {
            id: m.id,
            name: m.name.clone(),
            transport: m.transport.clone(),
            url: m.url.clone(),
            command: m.command.clone(),
            args: strings(&m.args),
            headers: masked(&m.headers),
            tool_allow_list: strings(&m.tool_allow_list),
            timeout_ms: m.timeout_ms,
            approval: m.approval.clone(),
            departments: m
                .department_ids
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_i64)
                        .filter_map(|n| i32::try_from(n).ok())
                        .collect()
                })
                .unwrap_or_default(),
            is_global: m.is_global,
            is_active: m.is_active,
            tools: m.tools.clone(),
            tools_refreshed_at: m.tools_refreshed_at.as_ref().map(iso),
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

/// The field error of a stdio server saved while `MCP_ALLOW_STDIO` is off.
pub const STDIO_DISABLED: &str = "stdio servers are disabled; set MCP_ALLOW_STDIO=true";

/// Whether saving `body` over `stored` makes (or changes what runs in) a stdio server.
fn saves_stdio(stored: Option<&mcp_servers::Model>, body: &Value) -> bool {
    let given = |key: &str| body.get(key).filter(|v| !v.is_null());
    let transport = match given("transport") {
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return false, // not a transport at all: the domain says so
        None => stored.map_or("http", |row| row.transport.as_str()),
    };
    if transport != "stdio" {
        return false;
    }
    let Some(row) = stored.filter(|row| row.transport == "stdio") else {
        return true;
    };
    let command = given("command").map(|c| c.as_str().unwrap_or_default());
    let same_command = command.is_none_or(|c| c == row.command.as_deref().unwrap_or_default());
    let same_args = given("args").is_none_or(|args| *args == row.args);
    !(same_command && same_args)
}

fn stored_headers(row: &mcp_servers::Model) -> Map<String, Value> {
    row.headers.as_object().cloned().unwrap_or_default()
}

impl Collection for McpServers {
    const SLUG: &'static str = "mcp-servers";
    const SINGULAR: &'static str = "MCP Server";
    const PLURAL: &'static str = "MCP Servers";
    const ACCESS: &'static str = "Read: any user. Write: admins (a URL or a command reaches the network or the machine). Header values are write-only.";
    type Entity = mcp_servers::Entity;
    type View = McpServerResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    fn can_write(user: &CurrentUser) -> bool {
        user.is_admin()
    }

    /// stdio servers are refused at save unless `MCP_ALLOW_STDIO=true` (they are also refused
    /// when a session connects). A stdio server saved while it was allowed may still be
    /// changed (deactivated, renamed, moved to http) as long as the command it runs stays
    /// the same.
    fn admit(settings: &Settings, stored: Option<&Row<Self>>, body: &Value) -> AppResult<()> {
        if settings.runner.mcp_allow_stdio || !saves_stdio(stored, body) {
            return Ok(());
        }
        Err(AppError::field("transport", STDIO_DISABLED))
    }

    async fn render(
        _db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        _depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        Ok(rows.iter().map(McpServerResponse::from).collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::mcp_servers::create(db, McpServerInput::from_json(body, &Map::new())?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let stored = stored_headers(&row);
        let doc = merge(Self::document(db, row.clone()).await?, patch);
        let input = McpServerInput::from_json(&doc, &stored)?;
        db::mcp_servers::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::mcp_servers::delete(db, row.id).await
    }
}
