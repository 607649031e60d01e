//! Human in the loop. Before a tool call runs, the loop asks [`gate`]: a call whose rule
//! (the agent's `approvalRules` entry for the tool, else the tool's or its MCP server's
//! `approval`) applies to its input gets an `approvals` row and waits; the run stops as
//! `awaiting_approval` with no worker slot, lease or deadline clock. A decision
//! ([`decide`], from any instance, or the expiry sweeper) is one conditional UPDATE plus the
//! `approval_decided` event; when nothing of the run is pending any more it is resumed on
//! the same row (`Runner::resume`'s path), and the resumed loop finds the decision here and
//! makes the call once (with the edited input), or answers it with the rejection.

use std::time::Duration;

use sea_orm::DbErr;
use serde_json::{Value, json};

use super::Core;
use super::agent_loop::LoopCx;
use super::event::{Event, StreamItem};
use super::log::to_row;
use super::providers::ToolCall;
use crate::db;
use crate::db::approvals::{Decision, NewApproval};
use crate::domain::approvals::{ApprovalStatus, Rule, rejection_message};
use crate::domain::{iso, now};
use crate::entities::approvals;

/// Attempts of a webhook delivery.
const WEBHOOK_ATTEMPTS: u32 = 4;
/// Overdue approvals expired per sweep.
const SWEEP_BATCH: u64 = 100;

/// What to do with one tool call.
#[derive(Debug)]
pub(crate) enum Gate {
    /// Make the call with this input (no rule applies, or it was approved).
    Run(Value),
    /// Answer it with this tool error (rejected, expired, or it cannot wait).
    Refuse(String),
    /// It waits for a person; `Some` when the approval was just requested.
    Wait(Option<approvals::Model>),
}

/// The rule that governs `tool` in this run: the agent's override, else the tool's own.
fn rule_for<'a>(cx: &'a LoopCx<'_>, tool: &str) -> Option<&'a Rule> {
    cx.approval_rules
        .iter()
        .find(|r| r.tool_name == tool)
        .map(|r| &r.rule)
        .or_else(|| cx.tools.approval(tool))
}

/// Whether a call just made by the model needs approval (no database read): a valid call
/// whose rule applies to its input.
pub(crate) fn may_need_approval(cx: &LoopCx<'_>, call: &ToolCall, valid: bool) -> bool {
    valid && rule_for(cx, &call.name).is_some_and(|r| r.applies(&call.input))
}

/// Decides what happens to `call`. `valid`: the call names a tool of the run and its input
/// matches the schema (an invalid call is answered with the problem, never held).
pub(crate) async fn gate(cx: &LoopCx<'_>, call: &ToolCall, valid: bool) -> Result<Gate, DbErr> {
    let execution_id = cx.tool_ctx.execution_id;
    let core = cx.core;
    if let Some(found) = db::approvals::find_for_call(&core.db, execution_id, &call.id).await? {
        return Ok(match ApprovalStatus::parse(&found.status) {
            Some(ApprovalStatus::Approved) => Gate::Run(found.input),
            Some(ApprovalStatus::Pending) => Gate::Wait(None),
            Some(status) => Gate::Refuse(refusal(core, status, &found).await?),
            None => Gate::Refuse("The approval of this call cannot be read.".into()),
        });
    }
    if !may_need_approval(cx, call, valid) {
        return Ok(Gate::Run(call.input.clone()));
    }
    if !cx.can_wait {
        return Ok(Gate::Refuse(format!(
            "{} needs a person's approval, which a sub-run cannot wait for; it was not made.",
            call.name
        )));
    }
    // An agent rule has no timeout of its own: the tool's applies.
    let timeout = rule_for(cx, &call.name)
        .and_then(|r| r.timeout_minutes)
        .or_else(|| {
            cx.tools
                .approval(&call.name)
                .and_then(|r| r.timeout_minutes)
        });
    let expires_at = timeout.map(|m| now() + chrono::Duration::minutes(m));
    let row = db::approvals::insert_pending(
        &core.writer,
        NewApproval {
            execution_id,
            tool_call_id: call.id.clone(),
            tool_name: call.name.clone(),
            input: call.input.clone(),
            expires_at,
        },
    )
    .await?;
    Ok(Gate::Wait(Some(row)))
}

/// The tool error of a rejected or expired call.
async fn refusal(
    core: &Core,
    status: ApprovalStatus,
    row: &approvals::Model,
) -> Result<String, DbErr> {
    let by = match row.decided_by {
        Some(id) => db::users::find_by_id(&core.db, id).await?.map(|u| u.email),
        None => None,
    };
    Ok(rejection_message(
        status,
        by.as_deref(),
        row.comment.as_deref(),
    ))
}

/// The `approval_requested` event of a new approval.
pub(crate) fn requested_event(row: &approvals::Model) -> Event {
    Event::ApprovalRequested {
        approval_id: row.id,
        tool_call_id: row.tool_call_id.clone(),
        tool_name: row.tool_name.clone(),
        input: row.input.clone(),
    }
}

/// A decision asked for by a person or the sweeper.
#[derive(Debug, Clone)]
pub struct DecisionRequest {
    /// `approved`, `rejected` or `expired`.
    pub status: ApprovalStatus,
    /// The deciding user's id and email (none for an expiry).
    pub by: Option<(i32, String)>,
    /// Their comment.
    pub comment: Option<String>,
    /// The edited input of an approval (already validated).
    pub input: Option<Value>,
}

/// Why a decision was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    /// No approval with this id.
    #[error("Approval not found: {0}")]
    NotFound(i32),
    /// It was decided already (or expired).
    #[error("This approval was already decided ({0}).")]
    AlreadyDecided(String),
    /// The edited input does not match the tool's schema: `(field path, problem)`.
    #[error("The edited input does not match the tool's input schema.")]
    InvalidInput(Vec<(String, String)>),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// Records a decision (exactly once), appends `approval_decided`, and resumes the run when
/// none of its approvals is pending any more.
pub(crate) async fn decide(
    core: &Core,
    id: i32,
    request: DecisionRequest,
) -> Result<approvals::Model, DecideError> {
    let found = db::approvals::find_by_id(&core.db, id)
        .await?
        .ok_or(DecideError::NotFound(id))?;
    if found.status != ApprovalStatus::Pending.as_str() {
        return Err(DecideError::AlreadyDecided(found.status));
    }
    if let Some(input) = &request.input {
        check_edited_input(core, &found.tool_name, input).await?;
    }
    let event = Event::ApprovalDecided {
        approval_id: id,
        decision: request.status.as_str().to_owned(),
        by: request.by.as_ref().map(|(_, email)| email.clone()),
        comment: request.comment.clone(),
    };
    let item = StreamItem::stored(0, event);
    let decision = Decision {
        status: request.status,
        by: request.by.as_ref().map(|(id, _)| *id),
        comment: request.comment.clone(),
        input: request.input.clone(),
    };
    let Some((row, seq)) =
        db::approvals::decide(&core.writer, id, &decision, &to_row(&item)).await?
    else {
        let now = db::approvals::find_by_id(&core.db, id).await?;
        return Err(DecideError::AlreadyDecided(
            now.map_or_else(|| "deleted".into(), |r| r.status),
        ));
    };
    super::finish::publish_numbered(core, row.execution_id, vec![item], seq);
    resume_if_decided(core, row.execution_id, request.by.map(|(_, e)| e)).await?;
    Ok(row)
}

/// Resumes execution `id` when it is `awaiting_approval` and nothing of it is pending. Two
/// deciders (or a decider and the run suspending itself) may both get here: the reopen is
/// conditional, so one of them resumes it.
pub(crate) async fn resume_if_decided(
    core: &Core,
    id: i32,
    by: Option<String>,
) -> Result<(), DbErr> {
    if !db::approvals::pending_of(&core.db, id).await?.is_empty() {
        return Ok(());
    }
    match super::reopen(core, id, by, true, false).await {
        Ok(_) | Err(super::RunError::NotResumable(_)) => Ok(()),
        Err(super::RunError::Db(e)) => Err(e),
        Err(other) => {
            tracing::warn!(run.id = id, error = %other, "could not resume after an approval");
            Ok(())
        }
    }
}

/// The input schema of `tool` as the run would check it: a custom tool's, an MCP tool's as
/// its server last listed it; other tools (built-ins) are checked when the call is made.
async fn tool_schema(core: &Core, tool: &str) -> Result<Option<Value>, DbErr> {
    if let Some((server, name)) = tool.split_once('/') {
        let found = db::mcp_servers::find_by_names(&core.db, &[server.to_owned()]).await?;
        let Some(row) = found.into_iter().next() else {
            return Ok(None);
        };
        return Ok(row.tools.as_array().and_then(|tools| {
            tools
                .iter()
                .find(|t| t["name"] == name)
                .map(|t| t["inputSchema"].clone())
        }));
    }
    Ok(db::custom_tools::find_by_name(&core.db, tool)
        .await?
        .map(|t| t.input_schema))
}

/// Checks an edited input against the tool's schema; problems name `input.<path>`.
async fn check_edited_input(core: &Core, tool: &str, input: &Value) -> Result<(), DecideError> {
    if !input.is_object() {
        return Err(DecideError::InvalidInput(vec![(
            "input".into(),
            "Must be a JSON object (the tool's input).".into(),
        )]));
    }
    let Some(schema) = tool_schema(core, tool).await? else {
        return Ok(());
    };
    let Ok(validator) = jsonschema::validator_for(&schema) else {
        return Ok(());
    };
    let problems: Vec<(String, String)> = validator
        .iter_errors(input)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let path = pointer
                .split('/')
                .filter(|s| !s.is_empty())
                .fold(String::from("input"), |acc, s| format!("{acc}.{s}"));
            (path, e.to_string())
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(DecideError::InvalidInput(problems))
    }
}

/// Expires overdue approvals (a rejection each); called periodically by every instance.
pub(crate) async fn sweep(core: &Core) -> Result<usize, DbErr> {
    let mut expired = 0;
    for row in db::approvals::overdue(&core.db, now(), SWEEP_BATCH).await? {
        let request = DecisionRequest {
            status: ApprovalStatus::Expired,
            by: None,
            comment: None,
            input: None,
        };
        match decide(core, row.id, request).await {
            Ok(_) => expired += 1,
            Err(DecideError::Db(e)) => return Err(e),
            // Decided meanwhile by someone else: nothing to do.
            Err(_) => {}
        }
    }
    Ok(expired)
}

/// Sends the request to `APPROVAL_WEBHOOK_URL` in the background, retried with backoff; a
/// failure is logged and never touches the run.
pub(crate) fn notify(core: &Core, row: &approvals::Model) {
    let Some(url) = core.settings.runner.approval_webhook_url.clone() else {
        return;
    };
    let body = json!({
        "type": "approval_requested",
        "approval": {
            "id": row.id,
            "execution": row.execution_id,
            "toolCallId": row.tool_call_id,
            "toolName": row.tool_name,
            "input": row.input,
            "status": row.status,
            "expiresAt": row.expires_at.as_ref().map(iso),
            "createdAt": iso(&row.created_at),
        },
    });
    let id = row.id;
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            let sent = client
                .post(&url)
                .timeout(Duration::from_secs(10))
                .json(&body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(approval.id = id, attempt, status = %r.status(), "approval webhook refused")
                }
                Err(e) => {
                    tracing::warn!(approval.id = id, attempt, error = %e, "approval webhook failed")
                }
            }
            if attempt < WEBHOOK_ATTEMPTS {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
        tracing::error!(approval.id = id, "approval webhook gave up");
    });
}
