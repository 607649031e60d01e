//! Decoder for OpenAI-compatible `chat.completion.chunk` streams (OpenAI, OpenRouter,
//! Ollama, vLLM, llama.cpp). Lenient about the quirks of compatible servers: missing
//! tool-call indexes, `null` fields, `finish_reason: "stop"` next to tool calls.

use serde_json::Value;

use super::error::{ProviderError, clean_message, error_message};
use super::http::StreamDecoder;
use super::{ChatResponse, StopReason, ToolCall, Usage, parse_tool_input};

/// One tool call being assembled from `delta.tool_calls` fragments.
#[derive(Debug, Default)]
struct PartialCall {
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// Accumulates a chat completion stream.
#[derive(Debug, Default)]
pub(crate) struct OpenAiDecoder {
    text: String,
    calls: Vec<PartialCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    id: Option<String>,
    model: Option<String>,
}

impl OpenAiDecoder {
    /// Merges one `delta.tool_calls[]` fragment into the call it continues, or starts one.
    fn merge_tool_call(&mut self, fragment: &Value) {
        let index = fragment.get("index").and_then(Value::as_u64);
        let id = fragment
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let existing = match (index, id) {
            // Some servers reuse index 0 for every call; a new id then means a new call.
            (Some(index), _) => self
                .calls
                .iter()
                .rposition(|c| c.index == Some(index))
                .filter(|&at| {
                    id.is_none_or(|id| self.calls[at].id.is_empty() || self.calls[at].id == id)
                }),
            (None, Some(id)) => self.calls.iter().position(|c| c.id == id),
            // No index and no id: a continuation of the latest call.
            (None, None) => self.calls.len().checked_sub(1),
        };
        let at = existing.unwrap_or_else(|| {
            self.calls.push(PartialCall {
                index,
                ..PartialCall::default()
            });
            self.calls.len() - 1
        });
        let call = &mut self.calls[at];
        if let Some(id) = id
            && call.id.is_empty()
        {
            call.id = id.to_owned();
        }
        let Some(function) = fragment.get("function") else {
            return;
        };
        if let Some(name) = function.get("name").and_then(Value::as_str)
            && call.name.is_empty()
        {
            call.name = name.to_owned();
        }
        match function.get("arguments") {
            Some(Value::String(part)) => call.arguments.push_str(part),
            Some(Value::Null) | None => {}
            // Some servers send the arguments as an object rather than JSON text.
            Some(other) => call.arguments.push_str(&other.to_string()),
        }
    }

    fn mid_stream_error(&self, chunk: &Value) -> ProviderError {
        let error = chunk.get("error").unwrap_or(&Value::Null);
        let status = match error.get("code") {
            Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Some(Value::String(s)) => s.parse::<u16>().ok(),
            _ => None,
        }
        .filter(|s| (400..=599).contains(s))
        .unwrap_or(502);
        let message = error_message(chunk).unwrap_or_else(|| "the generation failed".into());
        ProviderError::Http {
            status,
            message: clean_message(&message),
            retry_after: None,
        }
    }
}

impl StreamDecoder for OpenAiDecoder {
    const TERMINAL: &'static str = "[DONE]";

    fn feed(
        &mut self,
        _event: &str,
        data: &str,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<bool, ProviderError> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Value = serde_json::from_str(data)
            .map_err(|e| ProviderError::Malformed(format!("a stream chunk is not JSON: {e}")))?;
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            return Err(self.mid_stream_error(&chunk));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(parse_usage(usage));
        }
        if self.id.is_none() {
            self.id = chunk.get("id").and_then(Value::as_str).map(str::to_owned);
        }
        if self.model.is_none() {
            self.model = chunk
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        // Only the first choice is used: we never ask for n > 1.
        let Some(choice) = choices.and_then(|c| c.first()) else {
            return Ok(false);
        };
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta.get("content").and_then(Value::as_str)
                && !text.is_empty()
            {
                self.text.push_str(text);
                on_text(text);
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for fragment in calls {
                    self.merge_tool_call(fragment);
                }
            }
        }
        match choice.get("finish_reason").and_then(Value::as_str) {
            Some("error") => Err(self.mid_stream_error(&chunk)),
            Some(reason) => {
                self.finish_reason = Some(reason.to_owned());
                Ok(false)
            }
            None => Ok(false),
        }
    }

    fn finish(self) -> Result<ChatResponse, ProviderError> {
        let mut tool_calls = Vec::with_capacity(self.calls.len());
        for (n, call) in self.calls.into_iter().enumerate() {
            if call.name.is_empty() {
                return Err(ProviderError::Malformed(format!(
                    "tool call {n} has no name"
                )));
            }
            tool_calls.push(ToolCall {
                id: if call.id.is_empty() {
                    format!("call_{n}")
                } else {
                    call.id
                },
                name: call.name,
                input: parse_tool_input(&call.arguments),
            });
        }
        let stop_reason = match self.finish_reason.as_deref() {
            Some("length") => StopReason::MaxTokens,
            // Ollama has answered "stop" next to tool calls; the calls are what matter.
            _ if !tool_calls.is_empty() => StopReason::ToolUse,
            Some("stop") | None => StopReason::EndTurn,
            Some("tool_calls" | "function_call") => StopReason::ToolUse,
            Some(other) => StopReason::Other(other.to_owned()),
        };
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            stop_reason,
            usage: self.usage,
            id: self.id.filter(|id| !id.is_empty()),
            model: self.model.filter(|m| !m.is_empty()),
        })
    }
}

/// Reads `{prompt_tokens, completion_tokens, prompt_tokens_details?, cost?}`. OpenAI's
/// `prompt_tokens` includes the cached tokens (`prompt_tokens_details.cached_tokens`) and
/// OpenRouter's also the cache writes (`prompt_tokens_details.cache_write_tokens`): both are
/// taken out of the input count so that each token is counted, and priced, once.
fn parse_usage(usage: &Value) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let detail = |key: &str| {
        usage
            .pointer(&format!("/prompt_tokens_details/{key}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cache_read_tokens = detail("cached_tokens");
    let cache_write_tokens = detail("cache_write_tokens");
    Usage {
        input_tokens: count("prompt_tokens")
            .saturating_sub(cache_read_tokens)
            .saturating_sub(cache_write_tokens),
        cache_read_tokens,
        cache_write_tokens,
        output_tokens: count("completion_tokens"),
        cost: usage.get("cost").and_then(Value::as_f64),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// Feeds `chunks` (JSON values or `[DONE]`) and returns the response plus the deltas seen.
    fn decode(chunks: &[Value]) -> (Result<ChatResponse, ProviderError>, Vec<String>) {
        let seen = Mutex::new(Vec::new());
        let on_text = |t: &str| seen.lock().expect("not poisoned").push(t.to_owned());
        let mut decoder = OpenAiDecoder::default();
        for chunk in chunks {
            let data = match chunk {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match decoder.feed("", &data, &on_text) {
                Ok(true) => break,
                Ok(false) => {}
                Err(err) => return (Err(err), seen.into_inner().expect("not poisoned")),
            }
        }
        (decoder.finish(), seen.into_inner().expect("not poisoned"))
    }

    fn delta(delta: Value, finish: Value) -> Value {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    #[test]
    fn text_deltas_are_reported_and_concatenated() {
        let (response, seen) = decode(&[
            delta(json!({"role": "assistant", "content": ""}), Value::Null),
            delta(json!({"content": "Hel"}), Value::Null),
            delta(json!({"content": "lo"}), Value::Null),
            delta(json!({}), json!("stop")),
            json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "cost": 0.001}}),
            json!("[DONE]"),
        ]);
        let response = response.expect("decodes");
        assert_eq!(seen, ["Hel", "lo"]);
        assert_eq!(response.text, "Hello");
        assert_eq!(response.stop_reason, StopReason::EndTurn);
        let usage = response.usage.expect("usage reported");
        assert_eq!((usage.input_tokens, usage.output_tokens), (9, 2));
        assert_eq!(usage.cost, Some(0.001));
    }

    #[test]
    fn tool_calls_are_assembled_by_index_from_fragments() {
        let (response, _) = decode(&[
            delta(
                json!({"tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "lookup", "arguments": ""}}
                ]}),
                Value::Null,
            ),
            delta(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\":"}}]}),
                Value::Null,
            ),
            delta(
                json!({"tool_calls": [
                    {"index": 1, "id": "call_b", "function": {"name": "noop", "arguments": ""}},
                    {"index": 0, "function": {"arguments": " \"x\"}"}}
                ]}),
                Value::Null,
            ),
            delta(json!({}), json!("tool_calls")),
            json!("[DONE]"),
        ]);
        let response = response.expect("decodes");
        assert_eq!(response.stop_reason, StopReason::ToolUse);
        assert_eq!(response.usage, None);
        assert_eq!(
            response.tool_calls,
            [
                ToolCall {
                    id: "call_a".into(),
                    name: "lookup".into(),
                    input: json!({"q": "x"})
                },
                ToolCall {
                    id: "call_b".into(),
                    name: "noop".into(),
                    input: json!({})
                },
            ]
        );
    }

    #[test]
    fn a_reused_index_with_a_new_id_starts_a_new_call() {
        let (response, _) = decode(&[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}}]}),
                Value::Null,
            ),
            delta(
                json!({"tool_calls": [{"index": 0, "id": "b", "function": {"name": "g", "arguments": "{}"}}]}),
                json!("stop"),
            ),
            json!("[DONE]"),
        ]);
        let response = response.expect("decodes");
        let names: Vec<_> = response
            .tool_calls
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["f", "g"]);
        assert_eq!(response.stop_reason, StopReason::ToolUse);
    }

    #[test]
    fn unparseable_arguments_are_kept_raw() {
        let (response, _) = decode(&[
            delta(
                json!({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{oops"}}]}),
                json!("tool_calls"),
            ),
            json!("[DONE]"),
        ]);
        assert_eq!(
            response.expect("decodes").tool_calls[0].input,
            json!("{oops")
        );
    }

    #[test]
    fn length_means_max_tokens() {
        let (response, _) = decode(&[
            delta(json!({"content": "cut"}), json!("length")),
            json!("[DONE]"),
        ]);
        assert_eq!(
            response.expect("decodes").stop_reason,
            StopReason::MaxTokens
        );
    }

    #[test]
    fn a_mid_stream_error_chunk_becomes_an_http_error() {
        let (result, _) = decode(&[
            delta(json!({"content": "par"}), Value::Null),
            json!({"id": "c", "error": {"code": 502, "message": "Provider disconnected"},
                   "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}),
        ]);
        let err = result.expect_err("an error chunk fails the call");
        assert_eq!(err.to_string(), "HTTP 502: Provider disconnected");
        assert!(err.is_transient());
    }

    #[test]
    fn a_chunk_that_is_not_json_is_malformed() {
        let (result, _) = decode(&[json!("{\"choices\": [")]);
        assert!(matches!(result, Err(ProviderError::Malformed(_))));
    }
}
