//! A run's spans, after the OpenTelemetry GenAI semantic conventions: `invoke_agent {name}`
//! per execution (its children's spans nest under the `execute_tool spawn_agents` span that
//! started them, a chain's steps under the chain's span), `chat {model}` per request to a
//! provider, `execute_tool {tool}` per tool call. Content (prompts, completions, tool
//! arguments and results) is added only with `OTEL_GENAI_CAPTURE_CONTENT`.
//!
//! Every function returns at once when traces are off ([`crate::traces::Traces::on`]): no
//! span, no attribute, no allocation. The run's span is the active one while the run's future
//! is polled ([`opentelemetry::context::FutureExt::with_context`]); a tool call's while the
//! call's future is, so a child started from it finds its parent in [`Context::current`].

use opentelemetry::trace::{
    Span as _, SpanKind, Status as SpanStatus, TraceContextExt, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;
use serde_json::{Value, json};

use super::Core;
use super::control::Stop;
use super::event::TokenUsage;
use super::finish::Ending;
use super::providers::{ChatRequest, ChatResponse, Message, Provider, ProviderError, StopReason};
use crate::domain::executions::Status;
use crate::entities::agent_executions;

/// The context of a run's `invoke_agent` span, started under `parent` (a child's: the
/// spawning tool call's context), else under the span stored with the queued row (the request
/// that queued it), else as a root. `None` when traces are off.
pub(crate) fn invoke_agent(
    core: &Core,
    row: &agent_executions::Model,
    parent: Option<Context>,
) -> Option<Context> {
    let tracer = core.traces.tracer()?;
    let parent = parent.unwrap_or_else(|| {
        let stored = crate::traces::remote_parent(row.trace_parent.as_deref(), None);
        crate::traces::context_of(stored.as_ref())
    });
    let snapshot = &row.agent_snapshot;
    let name = snapshot
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(&row.agent_slug)
        .to_owned();
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", "invoke_agent"),
        KeyValue::new("gen_ai.agent.id", row.agent_slug.clone()),
        KeyValue::new("gen_ai.agent.name", name.clone()),
        KeyValue::new("aladdin.execution.id", i64::from(row.id)),
    ];
    if !row.conversation_id.is_empty() {
        attributes.push(KeyValue::new(
            "gen_ai.conversation.id",
            row.conversation_id.clone(),
        ));
    }
    if let Some(parent_id) = row.parent_execution_id {
        attributes.push(KeyValue::new(
            "aladdin.execution.parent_id",
            i64::from(parent_id),
        ));
    }
    if let Some(model) = snapshot
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        attributes.push(KeyValue::new("gen_ai.request.model", model.to_owned()));
    }
    let span = tracer
        .span_builder(format!("invoke_agent {name}"))
        .with_kind(SpanKind::Internal)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// The provider and model the run starts with (known once its model chain is routed).
pub(crate) fn routed(core: &Core, provider: &str, model: &str) {
    if !core.traces.on() {
        return;
    }
    let cx = Context::current();
    let span = cx.span();
    span.set_attribute(KeyValue::new("gen_ai.provider.name", provider.to_owned()));
    span.set_attribute(KeyValue::new("gen_ai.request.model", model.to_owned()));
}

/// Records how the run ended on its span: status, usage, and the error.
pub(crate) fn ended(core: &Core, ending: &Ending) {
    if !core.traces.on() {
        return;
    }
    let cx = Context::current();
    let span = cx.span();
    usage(&span, &ending.usage);
    span.set_attribute(KeyValue::new(
        "aladdin.execution.status",
        ending.status.as_str().to_owned(),
    ));
    if let Some(error) = &ending.error
        && ending.status != Status::Completed
    {
        span.set_attribute(KeyValue::new("error.type", error.code.clone()));
        span.set_status(SpanStatus::error(error.message.clone()));
    }
}

/// Records that the run stopped to wait (`paused`, `awaiting_approval`) with its usage so far.
pub(crate) fn waiting(core: &Core, status: Status, so_far: &TokenUsage) {
    if !core.traces.on() {
        return;
    }
    let cx = Context::current();
    let span = cx.span();
    usage(&span, so_far);
    span.set_attribute(KeyValue::new(
        "aladdin.execution.status",
        status.as_str().to_owned(),
    ));
}

/// Ends a run's span; `crashed`: its task panicked.
pub(crate) fn end_run(cx: Option<Context>, crashed: bool) {
    let Some(cx) = cx else {
        return;
    };
    let span = cx.span();
    if crashed {
        span.set_attribute(KeyValue::new("error.type", "internal"));
        span.set_status(SpanStatus::error("the run task panicked"));
    }
    span.end();
}

fn usage(span: &opentelemetry::trace::SpanRef<'_>, usage: &TokenUsage) {
    let input = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
    span.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", count(input)));
    span.set_attribute(KeyValue::new(
        "gen_ai.usage.output_tokens",
        count(usage.output_tokens),
    ));
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `chat {model}` span for one request to `provider`, under the run's span.
pub(crate) fn chat(core: &Core, provider: &dyn Provider, req: &ChatRequest) -> Option<Span> {
    let tracer = core.traces.tracer()?;
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", "chat"),
        KeyValue::new("gen_ai.provider.name", provider.name()),
        KeyValue::new("gen_ai.request.model", req.model.clone()),
    ];
    if let Some((host, port)) = provider.server() {
        attributes.push(KeyValue::new("server.address", host));
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    if let Some(t) = req.temperature {
        attributes.push(KeyValue::new("gen_ai.request.temperature", t));
    }
    if core.traces.capture_content() {
        if !req.system.is_empty() {
            let system = json!([{"type": "text", "content": req.system}]);
            attributes.push(KeyValue::new(
                "gen_ai.system_instructions",
                system.to_string(),
            ));
        }
        attributes.push(KeyValue::new(
            "gen_ai.input.messages",
            Value::Array(req.messages.iter().map(message).collect()).to_string(),
        ));
    }
    Some(
        tracer
            .span_builder(format!("chat {}", req.model))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(tracer, &Context::current()),
    )
}

/// Ends a `chat` span with the provider's answer.
pub(crate) fn chat_answered(
    core: &Core,
    span: Option<Span>,
    req: &ChatRequest,
    res: &ChatResponse,
) {
    let Some(mut span) = span else {
        return;
    };
    let model = res.model.clone().unwrap_or_else(|| req.model.clone());
    span.set_attribute(KeyValue::new("gen_ai.response.model", model));
    if let Some(id) = &res.id {
        span.set_attribute(KeyValue::new("gen_ai.response.id", id.clone()));
    }
    let reason = finish_reason(&res.stop_reason);
    span.set_attribute(KeyValue::new(
        "gen_ai.response.finish_reasons",
        opentelemetry::Value::Array(
            vec![opentelemetry::StringValue::from(reason.to_owned())].into(),
        ),
    ));
    if let Some(u) = res.usage {
        let input = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
        span.set_attribute(KeyValue::new("gen_ai.usage.input_tokens", count(input)));
        span.set_attribute(KeyValue::new(
            "gen_ai.usage.output_tokens",
            count(u.output_tokens),
        ));
        if u.cache_read_tokens > 0 {
            span.set_attribute(KeyValue::new(
                "gen_ai.usage.cache_read.input_tokens",
                count(u.cache_read_tokens),
            ));
        }
        if u.cache_write_tokens > 0 {
            span.set_attribute(KeyValue::new(
                "gen_ai.usage.cache_creation.input_tokens",
                count(u.cache_write_tokens),
            ));
        }
    }
    if core.traces.capture_content() {
        let mut parts = Vec::new();
        if !res.text.is_empty() {
            parts.push(json!({"type": "text", "content": res.text}));
        }
        for call in &res.tool_calls {
            parts.push(json!({"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.input}));
        }
        let output = json!([{"role": "assistant", "parts": parts, "finish_reason": reason}]);
        span.set_attribute(KeyValue::new("gen_ai.output.messages", output.to_string()));
    }
    span.end();
}

/// Ends a `chat` span on a provider error.
pub(crate) fn chat_failed(span: Option<Span>, error: &ProviderError) {
    let Some(mut span) = span else {
        return;
    };
    let kind = match error {
        ProviderError::Http { status, .. } => status.to_string(),
        other => other.code().to_owned(),
    };
    span.set_attribute(KeyValue::new("error.type", kind));
    span.set_status(SpanStatus::error(error.to_string()));
    span.end();
}

/// The `error.type` of a span cut short by `stop`.
fn stop_kind(stop: Stop) -> &'static str {
    match stop {
        Stop::Timeout => "timeout",
        Stop::Cancelled | Stop::ParentEnded => "cancelled",
        Stop::Shutdown | Stop::LeaseLost => "interrupted",
    }
}

/// Ends a span (a `chat` or `execute_tool`) cut short by the deadline, a cancel or shutdown.
pub(crate) fn stopped(span: Option<Span>, stop: Stop) {
    let Some(mut span) = span else {
        return;
    };
    let kind = stop_kind(stop);
    span.set_attribute(KeyValue::new("error.type", kind));
    span.set_status(SpanStatus::error(format!("stopped: {kind}")));
    span.end();
}

/// The finish reason as the conventions name it.
fn finish_reason(reason: &StopReason) -> &str {
    match reason {
        StopReason::EndTurn => "stop",
        StopReason::ToolUse => "tool_call",
        StopReason::MaxTokens => "length",
        StopReason::Other(other) => other,
    }
}

/// A message in the conventions' shape (`role` and typed `parts`).
fn message(m: &Message) -> Value {
    match m {
        Message::User { content } => {
            json!({"role": "user", "parts": [{"type": "text", "content": content}]})
        }
        Message::Assistant { text, tool_calls } => {
            let mut parts = Vec::new();
            if !text.is_empty() {
                parts.push(json!({"type": "text", "content": text}));
            }
            for call in tool_calls {
                parts.push(json!({"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.input}));
            }
            json!({"role": "assistant", "parts": parts})
        }
        Message::ToolResult {
            tool_call_id,
            content,
            ..
        } => json!({"role": "tool", "parts": [
            {"type": "tool_call_response", "id": tool_call_id, "response": content}
        ]}),
    }
}

/// An `execute_tool {name}` span and the context to run the call in (its children nest
/// under it). MCP tools (`server/tool`) are `extension`s, the others `function`s.
pub(crate) fn execute_tool(
    core: &Core,
    name: &str,
    call_id: &str,
    input: &Value,
) -> Option<Context> {
    let tracer = core.traces.tracer()?;
    let kind = if name.contains('/') {
        "extension"
    } else {
        "function"
    };
    let mut attributes = vec![
        KeyValue::new("gen_ai.operation.name", "execute_tool"),
        KeyValue::new("gen_ai.tool.name", name.to_owned()),
        KeyValue::new("gen_ai.tool.call.id", call_id.to_owned()),
        KeyValue::new("gen_ai.tool.type", kind),
    ];
    if core.traces.capture_content() {
        attributes.push(KeyValue::new(
            "gen_ai.tool.call.arguments",
            input.to_string(),
        ));
    }
    let parent = Context::current();
    let span = tracer
        .span_builder(format!("execute_tool {name}"))
        .with_kind(SpanKind::Internal)
        .with_attributes(attributes)
        .start_with_context(tracer, &parent);
    Some(parent.with_span(span))
}

/// Ends a tool call's span: `error` is why it failed (`error.type`: `kind`).
pub(crate) fn tool_done(
    core: &Core,
    cx: Option<Context>,
    result: &Result<Value, String>,
    kind: &'static str,
) {
    let Some(cx) = cx else {
        return;
    };
    let span = cx.span();
    match result {
        Ok(output) => {
            if core.traces.capture_content() {
                span.set_attribute(KeyValue::new("gen_ai.tool.call.result", output.to_string()));
            }
        }
        Err(message) => {
            span.set_attribute(KeyValue::new("error.type", kind));
            span.set_status(SpanStatus::error(message.clone()));
            if core.traces.capture_content() {
                span.set_attribute(KeyValue::new("gen_ai.tool.call.result", message.clone()));
            }
        }
    }
    span.end();
}

/// Ends a tool call's span cut short by the deadline, a cancel or shutdown.
pub(crate) fn tool_stopped(cx: Option<Context>, stop: Stop) {
    let Some(cx) = cx else {
        return;
    };
    let span = cx.span();
    let kind = stop_kind(stop);
    span.set_attribute(KeyValue::new("error.type", kind));
    span.set_status(SpanStatus::error(format!("stopped: {kind}")));
    span.end();
}
