//! Decoder for Anthropic Messages API streams: `message_start`, `content_block_*`,
//! `message_delta`, `message_stop`, `ping` and `error` events. Unknown event and block
//! types are ignored, as Anthropic asks clients to do.

use serde_json::Value;

use super::error::{ProviderError, clean_message, status_for_error_type};
use super::http::StreamDecoder;
use super::{ChatResponse, StopReason, ToolCall, Usage, parse_tool_input};

/// A content block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        id: String,
        name: String,
        /// Concatenated `input_json_delta.partial_json`.
        json: String,
        /// `content_block.input` from the start event, used when no delta arrives.
        initial: Value,
    },
    /// Thinking and other block types: their deltas are ignored.
    Other,
}

/// Accumulates a Messages API stream.
#[derive(Debug, Default)]
pub(crate) struct AnthropicDecoder {
    text: String,
    blocks: Vec<(u64, Block)>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
    id: Option<String>,
    model: Option<String>,
}

impl AnthropicDecoder {
    /// Merges a `usage` object. Anthropic's `input_tokens` already leaves out the cache
    /// reads (`cache_read_input_tokens`) and writes (`cache_creation_input_tokens`), which
    /// are kept apart. Fields that are absent keep their earlier value (`message_delta`
    /// usually carries output only).
    fn add_usage(&mut self, usage: &Value) {
        let count = |key: &str| usage.get(key).and_then(Value::as_u64);
        let current = self.usage.get_or_insert_with(Usage::default);
        if let Some(input) = count("input_tokens") {
            current.input_tokens = input;
        }
        if let Some(read) = count("cache_read_input_tokens") {
            current.cache_read_tokens = read;
        }
        if let Some(write) = count("cache_creation_input_tokens") {
            current.cache_write_tokens = write;
        }
        if let Some(output) = count("output_tokens") {
            current.output_tokens = output;
        }
    }

    fn push_text(&mut self, text: &str, on_text: &(dyn Fn(&str) + Send + Sync)) {
        if !text.is_empty() {
            self.text.push_str(text);
            on_text(text);
        }
    }

    fn block_mut(&mut self, index: u64) -> Option<&mut Block> {
        self.blocks
            .iter_mut()
            .rev()
            .find(|(i, _)| *i == index)
            .map(|(_, block)| block)
    }

    fn error_event(&self, json: &Value) -> ProviderError {
        let error = json.get("error").unwrap_or(&Value::Null);
        let kind = error
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("api_error");
        let message = error.get("message").and_then(Value::as_str).unwrap_or(kind);
        ProviderError::Http {
            status: status_for_error_type(kind),
            message: clean_message(message),
            retry_after: None,
        }
    }
}

impl StreamDecoder for AnthropicDecoder {
    const TERMINAL: &'static str = "message_stop";

    fn feed(
        &mut self,
        event: &str,
        data: &str,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<bool, ProviderError> {
        let json: Value = serde_json::from_str(data).map_err(|e| {
            ProviderError::Malformed(format!("the data of a {event:?} event is not JSON: {e}"))
        })?;
        let kind = json.get("type").and_then(Value::as_str).unwrap_or(event);
        let index = json.get("index").and_then(Value::as_u64).unwrap_or(0);
        match kind {
            "message_start" => {
                if let Some(usage) = json.pointer("/message/usage") {
                    self.add_usage(usage);
                }
                let field = |key: &str| {
                    json.pointer(&format!("/message/{key}"))
                        .and_then(Value::as_str)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                };
                self.id = field("id");
                self.model = field("model");
            }
            "content_block_start" => {
                let block = json.get("content_block").unwrap_or(&Value::Null);
                let text = |key: &str| block.get(key).and_then(Value::as_str).unwrap_or_default();
                let started = match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        self.push_text(text("text"), on_text);
                        Block::Text
                    }
                    Some("tool_use") => Block::ToolUse {
                        id: text("id").to_owned(),
                        name: text("name").to_owned(),
                        json: String::new(),
                        initial: block.get("input").cloned().unwrap_or(Value::Null),
                    },
                    _ => Block::Other,
                };
                self.blocks.push((index, started));
            }
            "content_block_delta" => {
                let delta = json.get("delta").unwrap_or(&Value::Null);
                let Some(block) = self.block_mut(index) else {
                    return Err(ProviderError::Malformed(format!(
                        "a delta for content block {index}, which never started"
                    )));
                };
                match (block, delta.get("type").and_then(Value::as_str)) {
                    (Block::Text, Some("text_delta")) => {
                        let text = delta.get("text").and_then(Value::as_str);
                        self.push_text(text.unwrap_or_default(), on_text);
                    }
                    (Block::ToolUse { json, .. }, Some("input_json_delta")) => {
                        let part = delta.get("partial_json").and_then(Value::as_str);
                        json.push_str(part.unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(reason) = json.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_owned());
                }
                if let Some(usage) = json.get("usage") {
                    self.add_usage(usage);
                }
            }
            "message_stop" => return Ok(true),
            "error" => return Err(self.error_event(&json)),
            // ping, content_block_stop, and event types added after this was written.
            _ => {}
        }
        Ok(false)
    }

    fn finish(self) -> Result<ChatResponse, ProviderError> {
        let mut tool_calls = Vec::new();
        for (_, block) in self.blocks {
            if let Block::ToolUse {
                id,
                name,
                json,
                initial,
            } = block
            {
                if id.is_empty() || name.is_empty() {
                    return Err(ProviderError::Malformed(
                        "a tool_use block has no id or name".into(),
                    ));
                }
                let input = if !json.trim().is_empty() {
                    parse_tool_input(&json)
                } else if initial.is_object() {
                    initial
                } else {
                    parse_tool_input("")
                };
                tool_calls.push(ToolCall { id, name, input });
            }
        }
        let stop_reason = match self.stop_reason.as_deref() {
            Some("end_turn") => StopReason::EndTurn,
            Some("tool_use") => StopReason::ToolUse,
            Some("max_tokens") => StopReason::MaxTokens,
            Some(other) => StopReason::Other(other.to_owned()),
            None if tool_calls.is_empty() => StopReason::EndTurn,
            None => StopReason::ToolUse,
        };
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            stop_reason,
            usage: self.usage,
            id: self.id,
            model: self.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// Feeds `(event, data)` pairs and returns the response plus the text deltas seen.
    fn decode(events: &[(&str, Value)]) -> (Result<ChatResponse, ProviderError>, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let on_text = |t: &str| seen.lock().expect("not poisoned").push(t.to_owned());
        let mut decoder = AnthropicDecoder::default();
        for (event, data) in events {
            match decoder.feed(event, &data.to_string(), &on_text) {
                Ok(true) => return (decoder.finish(), seen.into_inner().expect("not poisoned")),
                Ok(false) => {}
                Err(err) => return (Err(err), seen.into_inner().expect("not poisoned")),
            }
        }
        (Err(ProviderError::StreamDropped("test".into())), Vec::new())
    }

    fn start(input_tokens: u64) -> (&'static str, Value) {
        (
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-x", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
        )
    }

    fn stop(reason: &str, output_tokens: u64) -> [(&'static str, Value); 2] {
        [
            (
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": null},
                "usage": {"output_tokens": output_tokens}}),
            ),
            ("message_stop", json!({"type": "message_stop"})),
        ]
    }

    #[test]
    fn text_deltas_are_reported_and_usage_is_merged() {
        let mut events = vec![
            start(25),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ),
            ("ping", json!({"type": "ping"})),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": " there"}}),
            ),
            (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
        ];
        events.extend(stop("end_turn", 15));
        let (response, seen) = decode(&events);
        let response = response.expect("decodes");
        assert_eq!(seen, ["Hi", " there"]);
        assert_eq!(response.text, "Hi there");
        assert_eq!(response.stop_reason, StopReason::EndTurn);
        assert_eq!(
            response.usage,
            Some(Usage {
                input_tokens: 25,
                output_tokens: 15,
                cost: None,
                ..Usage::default()
            })
        );
    }

    #[test]
    fn tool_input_is_assembled_from_partial_json() {
        let delta = |part: &str| {
            (
                "content_block_delta",
                json!({"type": "content_block_delta",
            "index": 1, "delta": {"type": "input_json_delta", "partial_json": part}}),
            )
        };
        let mut events = vec![
            start(10),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": "Checking."}}),
            ),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {}}}),
            ),
            delta(""),
            delta("{\"city\": \"Os"),
            delta("lo\"}"),
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}}),
            ),
        ];
        events.extend(stop("tool_use", 40));
        let (response, seen) = decode(&events);
        let response = response.expect("decodes");
        assert_eq!(seen, ["Checking."]);
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(
            response.tool_calls,
            [
                ToolCall {
                    id: "toolu_1".into(),
                    name: "weather".into(),
                    input: json!({"city": "Oslo"})
                },
                ToolCall {
                    id: "toolu_2".into(),
                    name: "now".into(),
                    input: json!({})
                },
            ]
        );
    }

    #[test]
    fn an_overloaded_error_event_is_a_transient_529() {
        let (result, _) = decode(&[
            start(1),
            (
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
        ]);
        let err = result.expect_err("error events fail the call");
        assert_eq!(err.to_string(), "HTTP 529: Overloaded");
        assert!(err.is_transient());
    }

    #[test]
    fn an_invalid_request_error_event_is_final() {
        let (result, _) = decode(&[(
            "error",
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}),
        )]);
        assert!(!result.expect_err("fails").is_transient());
    }

    #[test]
    fn max_tokens_and_malformed_data_are_reported() {
        let mut events = vec![start(1)];
        events.extend(stop("max_tokens", 4096));
        assert_eq!(
            decode(&events).0.expect("decodes").stop_reason,
            StopReason::MaxTokens
        );

        let mut decoder = AnthropicDecoder::default();
        let result = decoder.feed("content_block_delta", "{\"type\":", &|_: &str| {});
        assert!(matches!(result, Err(ProviderError::Malformed(_))));
    }
}
