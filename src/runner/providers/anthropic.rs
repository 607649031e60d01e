//! Anthropic Messages API client: `POST {base}/v1/messages` with `stream: true`.

use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::anthropic_stream::AnthropicDecoder;
use super::http::{Timeouts, stream_chat};
use super::{ChatRequest, ChatResponse, Message, Provider, ProviderError};

/// API version header sent with every request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Output cap sent when the request sets none (the API requires one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Client for the Anthropic Messages API. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct AnthropicProvider {
    http: reqwest::Client,
    endpoint: String,
    api_key: SecretString,
    timeouts: Timeouts,
}

impl AnthropicProvider {
    /// A client for `base_url` (`https://api.anthropic.com`; a trailing `/v1` is accepted).
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        api_key: SecretString,
        idle_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        Self {
            http,
            endpoint: format!("{base}/v1/messages"),
            api_key,
            timeouts: Timeouts {
                idle: idle_timeout,
                connect: connect_timeout,
            },
        }
    }

    /// The JSON body sent for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        request_body(req)
    }

    async fn call(
        &self,
        req: &ChatRequest,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<ChatResponse, ProviderError> {
        let secret = self.api_key.expose_secret();
        let mut key = reqwest::header::HeaderValue::from_str(secret)
            .map_err(|_| ProviderError::Malformed("the API key is not a valid header".into()))?;
        key.set_sensitive(true);
        let request = self
            .http
            .post(&self.endpoint)
            .header("x-api-key", key)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&request_body(req));
        let decoder = AnthropicDecoder::default();
        stream_chat(request, self.timeouts, Some(secret), decoder, on_text).await
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    fn server(&self) -> Option<(String, u16)> {
        super::server_of(&self.endpoint)
    }

    fn stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_text: &'a (dyn Fn(&str) + Send + Sync),
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>> {
        Box::pin(self.call(req, on_text))
    }
}

/// The `cache_control` marker of a prompt-cache breakpoint (5-minute ephemeral cache).
fn breakpoint() -> Value {
    json!({"type": "ephemeral"})
}

/// A tool call id the Messages API accepts (`^[a-zA-Z0-9_-]+$`): ids made by another
/// provider (after a fallback) may carry other characters.
fn tool_id(id: &str) -> String {
    let id: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() { "call".into() } else { id }
}

/// Builds the Messages API body.
///
/// With a cache key, three prompt-cache breakpoints are set (of the four the API allows):
/// the system prompt, the last tool (so the tool list is cached) and the last block of the
/// conversation (so the next step reads the whole prefix from the cache).
///
/// Consecutive messages of one role are merged into one message (so the results of one
/// round of tool calls travel in one user message), with `tool_result` blocks first as the
/// API requires. Empty assistant turns are dropped: the API rejects empty content.
fn request_body(req: &ChatRequest) -> Value {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &req.messages {
        let (role, blocks) = match message {
            Message::User { content } => ("user", vec![json!({"type": "text", "text": content})]),
            Message::Assistant { text, tool_calls } => {
                let mut blocks = Vec::with_capacity(tool_calls.len() + 1);
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for call in tool_calls {
                    // The API only takes an object here; unparseable arguments (kept as a
                    // string) were already reported to the model through the tool result.
                    let input = if call.input.is_object() {
                        call.input.clone()
                    } else {
                        json!({})
                    };
                    blocks.push(json!({"type": "tool_use", "id": tool_id(&call.id), "name": super::wire_tool_name(&call.name), "input": input}));
                }
                ("assistant", blocks)
            }
            Message::ToolResult {
                tool_call_id,
                content,
                is_error,
                ..
            } => (
                "user",
                vec![
                    json!({"type": "tool_result", "tool_use_id": tool_id(tool_call_id),
                            "content": content, "is_error": is_error}),
                ],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last_role, last_blocks)) if *last_role == role => last_blocks.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let cache = req.cache_key.is_some();
    let mut messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            // Stable: keeps the order within tool results and within the other blocks.
            blocks.sort_by_key(|b| b["type"] != "tool_result");
            json!({"role": role, "content": blocks})
        })
        .collect();

    if cache
        && let Some(last) = messages
            .last_mut()
            .and_then(|m| m["content"].as_array_mut())
            .and_then(|blocks| blocks.last_mut())
    {
        last["cache_control"] = breakpoint();
    }
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if !req.system.is_empty() {
        body["system"] = if cache {
            json!([{"type": "text", "text": req.system, "cache_control": breakpoint()}])
        } else {
            json!(req.system)
        };
    }
    if !req.tools.is_empty() {
        let mut tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": super::wire_tool_name(&t.name), "description": t.description, "input_schema": t.input_schema}))
            .collect();
        if cache && let Some(last) = tools.last_mut() {
            last["cache_control"] = breakpoint();
        }
        body["tools"] = json!(tools);
    }
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature.clamp(0.0, 1.0));
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::providers::{ToolCall, ToolSpec};

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "lookup".into(),
            input: json!({"id": id}),
        }
    }

    fn result(id: &str) -> Message {
        Message::ToolResult {
            tool_call_id: id.into(),
            tool_name: "lookup".into(),
            content: format!("result {id}"),
            is_error: id == "b",
        }
    }

    #[test]
    fn the_body_has_the_messages_api_shape_and_groups_tool_results() {
        let req = ChatRequest {
            model: "claude-sonnet-4-5".into(),
            system: "Be brief.".into(),
            messages: vec![
                Message::User {
                    content: "Look up a and b".into(),
                },
                Message::Assistant {
                    text: "Looking.".into(),
                    tool_calls: vec![call("a"), call("b")],
                },
                result("a"),
                result("b"),
            ],
            tools: vec![ToolSpec {
                name: "lookup".into(),
                description: "Finds a thing".into(),
                input_schema: json!({"type": "object"}),
            }],
            temperature: Some(1.5),
            max_tokens: None,
            cache_key: None,
        };
        assert_eq!(
            request_body(&req),
            json!({
                "model": "claude-sonnet-4-5",
                "max_tokens": 4096,
                "system": "Be brief.",
                "stream": true,
                "temperature": 1.0,
                "tools": [{"name": "lookup", "description": "Finds a thing", "input_schema": {"type": "object"}}],
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Look up a and b"}]},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Looking."},
                        {"type": "tool_use", "id": "a", "name": "lookup", "input": {"id": "a"}},
                        {"type": "tool_use", "id": "b", "name": "lookup", "input": {"id": "b"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "a", "content": "result a", "is_error": false},
                        {"type": "tool_result", "tool_use_id": "b", "content": "result b", "is_error": true}]},
                ],
            })
        );
    }

    #[test]
    fn tool_results_come_first_and_empty_turns_are_dropped() {
        let req = ChatRequest {
            model: "claude-x".into(),
            system: String::new(),
            messages: vec![
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![],
                },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![call("a")],
                },
                Message::User {
                    content: "also this".into(),
                },
                result("a"),
            ],
            tools: vec![],
            temperature: None,
            max_tokens: Some(10),
            cache_key: None,
        };
        let body = request_body(&req);
        assert!(body.get("system").is_none() && body.get("tools").is_none());
        let messages = body["messages"].as_array().expect("an array");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1]["content"][0]["type"], "tool_result");
        assert_eq!(messages[1]["content"][1]["text"], "also this");
    }

    #[test]
    fn a_trailing_v1_in_the_base_url_is_not_doubled() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let make = |base: &str| {
            AnthropicProvider::new(
                reqwest::Client::new(),
                base,
                SecretString::from("k"),
                Duration::from_secs(1),
                Duration::from_secs(1),
            )
        };
        assert_eq!(
            make("https://api.anthropic.com").endpoint,
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(make("http://h:1/v1/").endpoint, "http://h:1/v1/messages");
    }

    #[test]
    fn tool_ids_of_other_providers_are_made_acceptable() {
        assert_eq!(tool_id("toolu_01A-b"), "toolu_01A-b");
        assert_eq!(tool_id("call.abc:1/2"), "call_abc_1_2");
        assert_eq!(tool_id(""), "call");
    }

    #[test]
    fn a_cache_key_sets_three_breakpoints_and_none_without_it() {
        let tool = |name: &str| ToolSpec {
            name: name.into(),
            description: "Looks up.".into(),
            input_schema: json!({"type": "object"}),
        };
        let mut req = ChatRequest {
            model: "claude-x".into(),
            system: "Be brief.".into(),
            messages: vec![
                Message::User {
                    content: "Look up a".into(),
                },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![call("a")],
                },
                result("a"),
            ],
            tools: vec![tool("lookup"), tool("other")],
            temperature: None,
            max_tokens: None,
            cache_key: None,
        };
        assert!(!request_body(&req).to_string().contains("cache_control"));
        req.cache_key = Some("k".into());
        let body = request_body(&req);
        let mark = json!({"type": "ephemeral"});
        assert_eq!(body["system"][0]["cache_control"], mark);
        assert_eq!(body["tools"][1]["cache_control"], mark);
        assert!(body["tools"][0].get("cache_control").is_none());
        assert_eq!(body["messages"][2]["content"][0]["cache_control"], mark);
        assert_eq!(body.to_string().matches("cache_control").count(), 3);
    }
}
