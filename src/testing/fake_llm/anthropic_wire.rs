//! The Anthropic Messages API wire format, events named and shaped as the API sends them.

use serde_json::{Value, json};

use super::reply::{Completion, FakeUsage, Reply, split};
use super::{Frame, Rendered, next_id};

/// Renders `reply` for a request to `/v1/messages`.
pub(super) fn render(reply: &Reply, request: &Value) -> Rendered {
    let streaming = request.get("stream").and_then(Value::as_bool) == Some(true);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model");
    let id = format!("msg_fake{}", next_id());
    match reply {
        Reply::Status { status, retry_after, message } => Rendered::error(*status, *retry_after, error_body(*status, message)),
        Reply::Complete(c) if !streaming => Rendered::json(200, complete_body(c, &id, model)),
        Reply::Complete(c) => Rendered::stream(stream(c, &id, model)),
        Reply::MidStreamError { message } if !streaming => Rendered::error(529, None, error_body(529, message)),
        Reply::MidStreamError { message } => Rendered::stream(vec![
            message_start(&id, model, FakeUsage::default()),
            event("ping", json!({"type": "ping"})),
            event("error", error_body(529, message)),
        ]),
        Reply::HangAfterFirstChunk => Rendered::stream(first_frames(&id, model, Frame::Hang)),
        Reply::DropStream => Rendered::stream(first_frames(&id, model, Frame::Abort)),
        Reply::MalformedJson => Rendered::stream(vec![
            message_start(&id, model, FakeUsage::default()),
            Frame::Data("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\n\n".into()),
            event("message_stop", json!({"type": "message_stop"})),
        ]),
        // Hang, Raw and Delay are handled before rendering.
        Reply::Hang | Reply::Raw { .. } | Reply::Delay(..) => Rendered::Hang,
    }
}

/// The body of an error response or `error` event.
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"})
}

fn event(name: &str, data: Value) -> Frame {
    Frame::Data(format!("event: {name}\ndata: {data}\n\n"))
}

/// The Messages API's usage object: `input_tokens` leaves out the cache reads and writes,
/// which are reported apart (always present, zero when the cache was not used).
fn usage_json(usage: FakeUsage, output_tokens: u64) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": output_tokens,
    })
}

fn message_start(id: &str, model: &str, usage: FakeUsage) -> Frame {
    event(
        "message_start",
        json!({"type": "message_start", "message": {
        "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": usage_json(usage, 1)}}),
    )
}

fn text_delta(index: usize, text: &str) -> Frame {
    event(
        "content_block_delta",
        json!({"type": "content_block_delta", "index": index,
        "delta": {"type": "text_delta", "text": text}}),
    )
}

fn first_frames(id: &str, model: &str, end: Frame) -> Vec<Frame> {
    vec![
        message_start(id, model, FakeUsage::default()),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        text_delta(0, "Hel"),
        end,
    ]
}

fn stop_reason(c: &Completion) -> &'static str {
    match (c.truncated, c.tool_calls.is_empty()) {
        (true, _) => "max_tokens",
        (false, false) => "tool_use",
        (false, true) => "end_turn",
    }
}

fn stream(c: &Completion, id: &str, model: &str) -> Vec<Frame> {
    let usage = c.usage.unwrap_or_default();
    let mut frames = vec![message_start(id, model, usage)];
    let mut index = 0;
    if !c.text.is_empty() {
        frames.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ));
        frames.push(event("ping", json!({"type": "ping"})));
        for part in split(&c.text, c.chunks) {
            frames.push(text_delta(0, &part));
        }
        frames.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for call in &c.tool_calls {
        frames.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}),
        ));
        let parts = std::iter::once(String::new()).chain(split(&call.input.to_string(), 3));
        for part in parts {
            frames.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": part}}),
            ));
        }
        frames.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    }
    frames.push(event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason(c), "stop_sequence": null},
        "usage": {"output_tokens": usage.output_tokens}}),
    ));
    frames.push(event("message_stop", json!({"type": "message_stop"})));
    frames
}

fn complete_body(c: &Completion, id: &str, model: &str) -> Value {
    let mut content = Vec::new();
    if !c.text.is_empty() {
        content.push(json!({"type": "text", "text": c.text}));
    }
    for call in &c.tool_calls {
        content.push(
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}),
        );
    }
    let usage = c.usage.unwrap_or_default();
    json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": stop_reason(c), "stop_sequence": null,
        "usage": usage_json(usage, usage.output_tokens),
    })
}
