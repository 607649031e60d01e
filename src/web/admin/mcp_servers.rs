//! MCP servers: list, form (header values write-only), delete, and the Refresh action that
//! connects to a server and stores the tools it offers. Only admins change them or refresh
//! them (a URL or a command reaches the network or the machine); everyone else reads.

mod document;

use actix_web::{HttpResponse, web};
use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::Value;

use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use super::{Chrome, Ctx, parse_id};
use crate::collections::mcp_servers::McpServers as McpServersCollection;
use crate::db;
use crate::domain::users::Role;
use crate::entities::{departments, mcp_servers, mcp_servers::Model};
use crate::error::{AppError, AppResult};
use crate::query::Where;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, see_other};

/// The fields of the form as the crud handlers see them (the document is built by
/// [`document::of`]: headers, lists and the approval rule need more than one input each).
const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("transport", Kind::Text),
    ("url", Kind::Text),
    ("command", Kind::Text),
    ("timeoutMs", Kind::Text),
    ("departments", Kind::Many),
    ("isGlobal", Kind::Bool),
    ("isActive", Kind::Bool),
];

/// The server list: searched by name and URL.
static LIST: ListSpec = ListSpec {
    base: <McpServers as Resource>::BASE,
    map: &crate::collections::mcp_servers::FIELDS,
    search: &["name", "url"],
    sorts: &[
        ("name", "name"),
        ("transport", "transport"),
        ("updated", "updatedAt"),
    ],
    default_sort: "name",
    missing_last: &[],
};

/// The server list.
#[derive(Template)]
#[template(path = "admin/mcp_servers/list.html", blocks = ["list"])]
pub struct McpServersPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
}

/// A discovered tool as the form page shows it.
pub struct ToolView {
    /// `server/tool`.
    name: String,
    /// Its description.
    description: String,
    /// Its input schema, pretty JSON.
    schema: String,
    /// Whether the allow-list lets it through.
    allowed: bool,
}

/// A server's form, with the tools its last refresh discovered.
#[derive(Template)]
#[template(path = "admin/mcp_servers/form.html")]
pub struct McpServerForm {
    chrome: Chrome,
    form: FormState,
    departments: Vec<departments::Model>,
    /// Header names stored (their values are set, never shown).
    stored_headers: Vec<String>,
    /// Header rows of the form: name, whether its value is stored.
    header_rows: Vec<(String, bool)>,
    tools: Vec<ToolView>,
    refreshed: Option<String>,
    allow_stdio: bool,
}

/// MCP servers as a managed collection.
pub struct McpServers;

impl Resource for McpServers {
    type Collection = McpServersCollection;
    type ListPage = McpServersPage;
    type FormPage = McpServerForm;
    const BASE: &'static str = "/admin/mcp-servers";
    const NOUN: &'static str = "MCP server";
    const PLURAL: &'static str = "MCP servers";
    const NAV: &'static str = "mcp";
    const WRITE_ROLE: Role = Role::Admin;
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    async fn values(_db: &DatabaseConnection, row: &Model) -> AppResult<FormValues> {
        Ok(document::values(row))
    }

    fn document(values: &FormValues) -> Value {
        document::of(values)
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("transport", "http");
        values.set("timeoutMs", "30000");
        values.set("approval.mode", "never");
        values.set("isActive", "true");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let name = values.get("name").to_owned();
        values.set("name", format!("{name}-copy"));
    }

    async fn set_active(db: &DatabaseConnection, id: i32, active: bool) -> AppResult<Model> {
        db::mcp_servers::set_active(db, id, active).await
    }

    fn is_active(row: &Model) -> bool {
        row.is_active
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<McpServersPage> {
        let (page, list) = LIST
            .fetch(
                &state.db,
                mcp_servers::Entity::find(),
                query,
                &filter(query),
            )
            .await?;
        Ok(McpServersPage {
            chrome,
            list,
            rows: page.items,
        })
    }

    fn list_fragment(page: &McpServersPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            mcp_servers::Entity::find(),
            mcp_servers::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Model>,
    ) -> AppResult<McpServerForm> {
        let stored_headers: Vec<String> = row
            .and_then(|r| r.headers.as_object())
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        let header_rows = document::header_rows(&form.values, &stored_headers);
        Ok(McpServerForm {
            chrome,
            departments: db::departments::list_all(&state.db).await?,
            tools: row.map(tool_views).unwrap_or_default(),
            refreshed: row
                .and_then(|r| r.tools_refreshed_at.as_ref())
                .map(super::fmt::datetime),
            allow_stdio: state.settings.runner.mcp_allow_stdio,
            stored_headers,
            header_rows,
            form,
        })
    }
}

impl McpServersPage {
    fn tool_count(&self, row: &Model) -> usize {
        row.tools.as_array().map_or(0, Vec::len)
    }

    fn refreshed(&self, row: &Model) -> String {
        row.tools_refreshed_at
            .as_ref()
            .map_or_else(|| "never".to_owned(), super::fmt::ago)
    }
}

fn tool_views(row: &Model) -> Vec<ToolView> {
    let allow: Vec<&str> = row
        .tool_allow_list
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    row.tools
        .as_array()
        .into_iter()
        .flatten()
        .map(|tool| {
            let name = tool["name"].as_str().unwrap_or_default();
            ToolView {
                allowed: allow.is_empty() || allow.contains(&name),
                name: format!("{}/{name}", row.name),
                description: tool["description"].as_str().unwrap_or_default().to_owned(),
                schema: serde_json::to_string_pretty(&tool["inputSchema"]).unwrap_or_default(),
            }
        })
        .collect()
}

/// The list's filter: `q`, `transport` and `active` (yes/no).
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [
            query
                .text("transport")
                .map(|transport| equals("transport", transport)),
            query.flag("active").map(|yes| equals("isActive", yes)),
        ],
    )
}

/// POST /admin/mcp-servers/{id}/refresh (admins): connects, lists the server's tools and
/// stores them; back to the server's page with a toast saying how many, or why it could not
/// be reached.
async fn refresh(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let id = parse_id(&path)?;
    let server = db::mcp_servers::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let name = server.name.clone();
    let allow_stdio = state.settings.runner.mcp_allow_stdio;
    match crate::runner::tools::mcp::discover(server, allow_stdio).await {
        Ok(tools) => {
            let count = tools.as_array().map_or(0, Vec::len);
            db::mcp_servers::set_tools(&state.db, id, tools).await?;
            let noun = if count == 1 { "tool" } else { "tools" };
            ctx.flash(
                Toast::success("Tools refreshed")
                    .with_text(format!("{name}: {count} {noun} discovered.")),
            );
        }
        Err(e) => ctx.flash(Toast::error(
            "The MCP server could not be reached",
            format!("{name}: {e}. The tools of its last refresh are kept."),
        )),
    }
    Ok(see_other(&format!("{}/{id}#tools", McpServers::BASE)))
}

/// Mounts the Refresh action (the crud routes are mounted with the other collections).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/mcp-servers/{id}/refresh").route(web::post().to(refresh)));
}
