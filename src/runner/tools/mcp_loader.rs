//! The MCP part of loading a run's tools: the agent's `server/tool` names, grouped by server;
//! one session per server (connected now, reused by every call of the run); only tools the
//! server's allow-list lets through are offered. A server that is missing, inactive, not
//! shared with the agent's department or unreachable, and a tool it does not have or does
//! not allow, are warnings; the run goes on without them.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};

use super::mcp::{McpSession, McpTool};
use super::{Tool as _, ToolSet, schema};
use crate::db;
use crate::domain::approvals::Rule;
use crate::entities::mcp_servers;
use crate::runner::snapshot::AgentConfig;

/// Whether a tool name names an MCP tool (`server/tool`).
pub(crate) fn is_mcp_name(name: &str) -> bool {
    name.split_once('/')
        .is_some_and(|(s, t)| !s.is_empty() && !t.is_empty())
}

fn shared_with(server: &mcp_servers::Model, department_id: i32) -> bool {
    server.is_global
        || server.department_ids.as_array().is_some_and(|ids| {
            ids.iter()
                .any(|id| id.as_i64() == Some(department_id.into()))
        })
}

/// Adds the MCP tools `config` names to `tools`.
pub(crate) async fn load(
    db: &DatabaseConnection,
    config: &AgentConfig,
    allow_stdio: bool,
    tools: &mut ToolSet,
    warnings: &mut Vec<String>,
) -> Result<(), DbErr> {
    let wanted: Vec<(&str, &str)> = config
        .tool_names
        .iter()
        .filter(|n| is_mcp_name(n))
        .filter_map(|n| n.split_once('/'))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut names: Vec<String> = wanted.iter().map(|(s, _)| (*s).to_owned()).collect();
    names.dedup();
    let servers = db::mcp_servers::find_by_names(db, &names).await?;
    let mut seen: Vec<&str> = Vec::new();
    for (server_name, _) in &wanted {
        if seen.contains(server_name) {
            continue;
        }
        seen.push(server_name);
        let asked: Vec<&str> = wanted
            .iter()
            .filter(|(s, _)| s == server_name)
            .map(|(_, t)| *t)
            .collect();
        let Some(server) = servers.iter().find(|s| s.name == *server_name) else {
            warnings.push(format!(
                "MCP server {server_name} is not available: no MCP server has this name; its tools ({}) are not offered.",
                asked.join(", ")
            ));
            continue;
        };
        if !server.is_active || !shared_with(server, config.department_id) {
            let why = if server.is_active {
                "it is neither global nor shared with the agent's department"
            } else {
                "it is inactive"
            };
            warnings.push(format!("MCP server {server_name} is not available: {why}."));
            continue;
        }
        let session = McpSession::new(server.clone(), allow_stdio);
        let offered = match session.list_tools().await {
            Ok(list) => list,
            Err(e) => {
                warnings.push(format!(
                    "MCP server {server_name} is unreachable ({e}); the run goes on without its tools."
                ));
                continue;
            }
        };
        for tool in asked {
            if !session.allows(tool) {
                warnings.push(format!(
                    "Tool {server_name}/{tool} is not available: the server's toolAllowList does not include it."
                ));
                continue;
            }
            let Some(remote) = offered.iter().find(|t| t.name == tool) else {
                warnings.push(format!(
                    "Tool {server_name}/{tool} is not available: the server does not offer it."
                ));
                continue;
            };
            let tool = Arc::new(McpTool::new(session.clone(), remote));
            match schema::compile(tool.input_schema()) {
                Ok(validator) => {
                    let name = tool.name().to_owned();
                    if tools.add(tool, Arc::new(validator)) {
                        tools.set_approval(&name, Rule::from_stored(&server.approval));
                    }
                }
                Err(e) => warnings.push(format!(
                    "Tool {server_name}/{tool} was skipped: its inputSchema is not a valid JSON Schema: {e}.",
                    tool = remote.name
                )),
            }
        }
    }
    Ok(())
}
