//! The OpenAI chat completions wire format, as OpenAI and OpenRouter send it.

use serde_json::{Value, json};

use super::reply::{Completion, FakeUsage, Reply, split};
use super::{Frame, Rendered, next_id, unix_now};

/// Renders `reply` for a request to `/chat/completions`.
pub(super) fn render(reply: &Reply, request: &Value) -> Rendered {
    let streaming = request.get("stream").and_then(Value::as_bool) == Some(true);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model");
    let chunks = Chunks {
        id: format!("chatcmpl-{}", next_id()),
        created: unix_now(),
        model: model.to_owned(),
        usage_null: request.pointer("/stream_options/include_usage") == Some(&json!(true)),
    };
    match reply {
        Reply::Status {
            status,
            retry_after,
            message,
        } => Rendered::error(*status, *retry_after, error_body(*status, message)),
        Reply::Complete(c) if !streaming => Rendered::json(200, complete_body(c, &chunks)),
        Reply::Complete(c) => Rendered::stream(stream(c, &chunks)),
        Reply::MidStreamError { message } if !streaming => {
            Rendered::error(502, None, error_body(502, message))
        }
        Reply::MidStreamError { message } => {
            let mut error = chunks.delta(json!({"content": ""}), json!("error"));
            error["error"] = json!({"code": 502, "message": message});
            error["provider"] = json!("fake");
            Rendered::stream(vec![
                chunks.data(&chunks.role()),
                Frame::Data(format!("data: {error}\n\n")),
            ])
        }
        Reply::HangAfterFirstChunk => Rendered::stream(first_frames(&chunks, Frame::Hang)),
        Reply::DropStream => Rendered::stream(first_frames(&chunks, Frame::Abort)),
        Reply::MalformedJson => Rendered::stream(vec![
            chunks.data(&chunks.role()),
            Frame::Data(format!(
                "data: {{\"id\":\"{}\",\"choices\":[{{\"delta\":{{\"content\":\"hi\"}}\n\n",
                chunks.id
            )),
            Frame::Data("data: [DONE]\n\n".into()),
        ]),
        // Hang, Raw and Delay are handled before rendering.
        Reply::Hang | Reply::Raw { .. } | Reply::Delay(..) => Rendered::Hang,
    }
}

/// The body of an error response.
pub(super) fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        429 => ("requests", json!("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", Value::Null),
        _ => ("server_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Builds `chat.completion.chunk` objects sharing one id.
struct Chunks {
    id: String,
    created: u64,
    model: String,
    /// OpenAI adds `"usage": null` to every chunk when the client asked for usage.
    usage_null: bool,
}

impl Chunks {
    fn delta(&self, delta: Value, finish_reason: Value) -> Value {
        let mut chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        if self.usage_null {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn role(&self) -> Value {
        self.delta(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        )
    }

    fn data(&self, chunk: &Value) -> Frame {
        Frame::Data(format!("data: {chunk}\n\n"))
    }
}

fn first_frames(chunks: &Chunks, end: Frame) -> Vec<Frame> {
    vec![
        chunks.data(&chunks.role()),
        chunks.data(&chunks.delta(json!({"content": "Hel"}), Value::Null)),
        end,
    ]
}

fn finish_reason(c: &Completion) -> &'static str {
    match (c.truncated, c.tool_calls.is_empty()) {
        (true, _) => "length",
        (false, false) => "tool_calls",
        (false, true) => "stop",
    }
}

/// OpenAI's usage object: `prompt_tokens` counts every prompt token, the cached ones
/// (`prompt_tokens_details.cached_tokens`, always present) included; OpenRouter adds the
/// cache writes (`prompt_tokens_details.cache_write_tokens`) and `cost`.
fn usage_json(usage: FakeUsage) -> Value {
    let prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
    let mut json = json!({
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0},
    });
    if usage.cache_write_tokens > 0 {
        json["prompt_tokens_details"]["cache_write_tokens"] = json!(usage.cache_write_tokens);
    }
    if let Some(cost) = usage.cost {
        json["cost"] = json!(cost);
    }
    json
}

fn stream(c: &Completion, chunks: &Chunks) -> Vec<Frame> {
    // OpenRouter sends keep-alive comments; clients must skip them.
    let mut frames = vec![
        Frame::Data(": OPENROUTER PROCESSING\n\n".into()),
        chunks.data(&chunks.role()),
    ];
    for (n, part) in split(&c.text, c.chunks).into_iter().enumerate() {
        let line = format!(
            "data: {}\n\n",
            chunks.delta(json!({"content": part}), Value::Null)
        );
        if n == 0 {
            // Cut the first event in two writes, so clients must reassemble lines.
            let mut cut = line.len() / 2;
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            frames.push(Frame::Data(line[..cut].to_owned()));
            frames.push(Frame::Pause);
            frames.push(Frame::Data(line[cut..].to_owned()));
        } else {
            frames.push(Frame::Data(line));
        }
    }
    for (index, call) in c.tool_calls.iter().enumerate() {
        let head = json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                          "function": {"name": call.name, "arguments": ""}}]});
        frames.push(chunks.data(&chunks.delta(head, Value::Null)));
        for part in split(&call.input.to_string(), 3) {
            let more = json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]});
            frames.push(chunks.data(&chunks.delta(more, Value::Null)));
        }
    }
    frames.push(chunks.data(&chunks.delta(json!({}), json!(finish_reason(c)))));
    if let Some(usage) = c.usage.filter(|_| chunks.usage_null) {
        let mut last = chunks.delta(json!({}), Value::Null);
        last["choices"] = json!([]);
        last["usage"] = usage_json(usage);
        frames.push(chunks.data(&last));
    }
    frames.push(Frame::Data("data: [DONE]\n\n".into()));
    frames
}

fn complete_body(c: &Completion, chunks: &Chunks) -> Value {
    let mut message = json!({"role": "assistant", "content": c.text, "refusal": null});
    if !c.tool_calls.is_empty() {
        let calls: Vec<Value> = c
            .tool_calls
            .iter()
            .map(|call| json!({"id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": call.input.to_string()}}))
            .collect();
        message["tool_calls"] = json!(calls);
        if c.text.is_empty() {
            message["content"] = Value::Null;
        }
    }
    json!({
        "id": chunks.id, "object": "chat.completion", "created": chunks.created, "model": chunks.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(c)}],
        "usage": usage_json(c.usage.unwrap_or_default()),
    })
}
