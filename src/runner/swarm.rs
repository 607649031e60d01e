//! Carrying out a `spawn_agents` call: check the request against the agent's
//! `spawnableAgents`, `AGENT_MAX_FANOUT` and `AGENT_MAX_DEPTH` (a refusal is a tool error the
//! model can act on), start the children side by side, report each start and finish on the
//! parent, and answer with their results in the order asked.

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use sea_orm::DbErr;
use serde_json::{Value, json};

use super::agent_loop::{LoopCx, LoopError};
use super::family::{self, Child, Family};
use super::log::EventLog;
use super::providers::ToolCall;
use super::tools::ToolOutcome;
use crate::db;
use crate::entities::{agent_executions, agents, departments};

/// One child asked for.
struct Order {
    agent_id: String,
    prompt: String,
}

/// Runs the children a `spawn_agents` call asks for (its input already matches the schema).
pub(crate) async fn spawn_agents(
    cx: &LoopCx<'_>,
    log: &mut EventLog,
    call: &ToolCall,
) -> Result<ToolOutcome, LoopError> {
    let orders = orders(&call.input);
    let agents = match check(cx, &orders).await? {
        Ok(agents) => agents,
        Err(refusal) => return Ok(ToolOutcome::error(refusal)),
    };
    let mut children = Vec::with_capacity(orders.len());
    for (order, (agent, department)) in orders.iter().zip(&agents) {
        let child = cx
            .family
            .start(agent, department.as_ref(), order.prompt.clone(), &call.id)
            .await?;
        log.append(family::start_event(&child))?;
        children.push(child);
    }
    let rows = cx
        .interrupts
        .race(join_all(cx.family, log, &children))
        .await??;
    let results: Vec<Value> = rows.iter().map(result_entry).collect();
    Ok(ToolOutcome::ok(json!({ "results": results })))
}

/// Waits for every child, appending each `subagent_finish` as it ends; rows in order.
pub(crate) async fn join_all(
    family: &Family,
    log: &mut EventLog,
    children: &[Child],
) -> Result<Vec<agent_executions::Model>, LoopError> {
    let mut pending: FuturesUnordered<_> = children
        .iter()
        .enumerate()
        .map(|(i, child)| async move { (i, family.join(child).await) })
        .collect();
    let mut rows: Vec<Option<agent_executions::Model>> = vec![None; children.len()];
    while let Some((i, row)) = pending.next().await {
        let row = row?;
        log.append(family::finish_event(&children[i], &row))?;
        rows[i] = Some(row);
    }
    Ok(rows.into_iter().flatten().collect())
}

fn orders(input: &Value) -> Vec<Order> {
    input["agents"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| Order {
                    agent_id: item["agentId"]
                        .as_str()
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                    prompt: item["prompt"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An agent with its department.
type Started = (agents::Model, Option<departments::Model>);

/// The agents of `orders` (with their departments), or why the call is refused (nothing is
/// started then).
async fn check(cx: &LoopCx<'_>, orders: &[Order]) -> Result<Result<Vec<Started>, String>, DbErr> {
    let limits = &cx.core.settings.runner;
    if orders.is_empty() {
        return Ok(Err(
            "spawn_agents needs at least one agent in `agents`.".into()
        ));
    }
    if orders.len() > limits.max_fanout {
        return Ok(Err(format!(
            "Too many agents: spawn_agents starts at most {} agents per call, and this call asked \
             for {}. Split the work into several calls.",
            limits.max_fanout,
            orders.len()
        )));
    }
    let depth = cx.family.depth();
    if depth + 1 > limits.max_depth {
        return Ok(Err(format!(
            "Too deep: this run is at depth {depth} and runs may nest at most {} levels deep \
             (AGENT_MAX_DEPTH), so it cannot spawn agents. Do this work yourself.",
            limits.max_depth
        )));
    }
    let mut refused: Vec<&str> = orders
        .iter()
        .map(|o| o.agent_id.as_str())
        .filter(|id| !cx.spawnable.iter().any(|s| s == id))
        .collect();
    refused.dedup();
    if !refused.is_empty() {
        return Ok(Err(format!(
            "Not allowed: this agent may not spawn {}. Agents it may spawn: {}.",
            refused.join(", "),
            cx.spawnable.join(", ")
        )));
    }
    let mut names: Vec<&str> = orders.iter().map(|o| o.agent_id.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let rows = db::agents::find_with_departments(&cx.core.db, &names).await?;
    let mut found = Vec::with_capacity(orders.len());
    for order in orders {
        match rows
            .iter()
            .find(|(agent, _)| agent.agent_id == order.agent_id)
        {
            Some((agent, department)) if agent.is_active => {
                found.push((agent.clone(), department.clone()));
            }
            _ => {
                return Ok(Err(format!(
                    "Unavailable: agent {} is inactive or no longer exists, so it cannot be \
                     spawned.",
                    order.agent_id
                )));
            }
        }
    }
    Ok(Ok(found))
}

/// A child's entry in the tool result.
fn result_entry(row: &agent_executions::Model) -> Value {
    json!({
        "agentId": row.agent_slug,
        "executionId": row.id,
        "status": row.status,
        "outputText": row.output_text,
        "output": row.output,
        "error": row.error_message,
    })
}
