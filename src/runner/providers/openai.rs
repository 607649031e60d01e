//! OpenAI-compatible chat completions client: `POST {base}/chat/completions` with
//! `stream: true`. Serves OpenRouter, OpenAI, Ollama, vLLM and llama.cpp.

use std::time::Duration;

use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::http::{Timeouts, stream_chat};
use super::openai_stream::OpenAiDecoder;
use super::{ChatRequest, ChatResponse, Message, Provider, ProviderError};

/// Which OpenAI-compatible service a client talks to; a few request details differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenRouter: asks for `usage: {include: true}` so the stream reports `usage.cost`,
    /// and sends the `X-Title` attribution header.
    OpenRouter,
    /// Any other OpenAI-compatible server (OpenAI itself, Ollama, vLLM, llama.cpp).
    Compatible,
}

/// Client for one OpenAI-compatible base URL. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct OpenAiProvider {
    flavor: Flavor,
    http: reqwest::Client,
    endpoint: String,
    /// api.openai.com rejects `max_tokens` for newer models and wants this name instead.
    max_tokens_field: &'static str,
    api_key: Option<SecretString>,
    timeouts: Timeouts,
}

impl OpenAiProvider {
    /// A client for `base_url` (e.g. `https://openrouter.ai/api/v1`, `http://localhost:11434/v1`).
    /// `api_key` is sent as a bearer token when present.
    pub fn new(
        flavor: Flavor,
        http: reqwest::Client,
        base_url: &str,
        api_key: Option<SecretString>,
        idle_timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let is_openai = reqwest::Url::parse(base)
            .ok()
            .is_some_and(|url| url.host_str() == Some("api.openai.com"));
        Self {
            flavor,
            http,
            endpoint: format!("{base}/chat/completions"),
            max_tokens_field: if is_openai {
                "max_completion_tokens"
            } else {
                "max_tokens"
            },
            api_key,
            timeouts: Timeouts {
                idle: idle_timeout,
                connect: connect_timeout,
            },
        }
    }

    /// The JSON body sent for `req`.
    pub fn request_body(&self, req: &ChatRequest) -> Value {
        request_body(req, self.flavor, self.max_tokens_field)
    }

    async fn call(
        &self,
        req: &ChatRequest,
        on_text: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<ChatResponse, ProviderError> {
        let secret = self.api_key.as_ref().map(|k| k.expose_secret());
        let mut request = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(&self.request_body(req));
        if let Some(key) = secret {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| {
                    ProviderError::Malformed("the API key is not a valid header".into())
                })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        if self.flavor == Flavor::OpenRouter {
            request = request.header("X-Title", "Aladdin");
        }
        stream_chat(
            request,
            self.timeouts,
            secret,
            OpenAiDecoder::default(),
            on_text,
        )
        .await
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &'static str {
        match self.flavor {
            Flavor::OpenRouter => "openrouter",
            Flavor::Compatible => "openai",
        }
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

/// Builds the chat completions body. Tool results that failed are prefixed with
/// `Error: ` because this format has no `is_error` flag.
fn request_body(req: &ChatRequest, flavor: Flavor, max_tokens_field: &str) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for message in &req.messages {
        messages.push(match message {
            Message::User { content } => json!({"role": "user", "content": content}),
            Message::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            Message::Assistant { text, tool_calls } => {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|call| {
                        json!({"id": call.id, "type": "function", "function": {
                            "name": super::wire_tool_name(&call.name), "arguments": arguments_text(&call.input)}})
                    })
                    .collect();
                let content = if text.is_empty() {
                    Value::Null
                } else {
                    json!(text)
                };
                json!({"role": "assistant", "content": content, "tool_calls": calls})
            }
            Message::ToolResult {
                tool_call_id,
                content,
                is_error,
                ..
            } => {
                let content = if *is_error {
                    format!("Error: {content}")
                } else {
                    content.clone()
                };
                json!({"role": "tool", "tool_call_id": tool_call_id, "content": content})
            }
        });
    }
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {
                    "name": super::wire_tool_name(&tool.name), "description": tool.description,
                    "parameters": tool.input_schema}})
            })
            .collect();
        body["tools"] = json!(tools);
    }
    if let Some(temperature) = req.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(max_tokens) = req.max_tokens {
        body[max_tokens_field] = json!(max_tokens);
    }
    if flavor == Flavor::OpenRouter {
        body["usage"] = json!({"include": true});
    }
    if let Some(key) = &req.cache_key {
        body["prompt_cache_key"] = json!(key);
    }
    body
}

/// Tool arguments go back as JSON text; unparseable ones are echoed as the model sent them.
fn arguments_text(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::providers::{ToolCall, ToolSpec};

    fn conversation() -> ChatRequest {
        ChatRequest {
            model: "openai/gpt-4o-mini".into(),
            system: "Be brief.".into(),
            messages: vec![
                Message::User {
                    content: "Weather?".into(),
                },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        input: json!({"city": "Oslo"}),
                    }],
                },
                Message::ToolResult {
                    tool_call_id: "call_1".into(),
                    tool_name: "weather".into(),
                    content: "no data".into(),
                    is_error: true,
                },
            ],
            tools: vec![ToolSpec {
                name: "weather".into(),
                description: "Current weather".into(),
                input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
            }],
            temperature: Some(0.2),
            max_tokens: Some(100),
            cache_key: None,
        }
    }

    #[test]
    fn the_body_has_the_chat_completions_shape() {
        let body = request_body(&conversation(), Flavor::OpenRouter, "max_tokens");
        assert_eq!(
            body,
            json!({
                "model": "openai/gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Weather?"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "Error: no data"},
                ],
                "stream": true,
                "stream_options": {"include_usage": true},
                "tools": [{"type": "function", "function": {
                    "name": "weather", "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
                "temperature": 0.2,
                "max_tokens": 100,
                "usage": {"include": true},
            })
        );
    }

    #[test]
    fn plain_servers_get_no_openrouter_fields_and_empty_parts_are_omitted() {
        let mut req = conversation();
        req.system.clear();
        req.tools.clear();
        req.temperature = None;
        let body = request_body(&req, Flavor::Compatible, "max_tokens");
        assert!(body.get("usage").is_none());
        assert!(body.get("tools").is_none());
        assert!(body.get("temperature").is_none());
        assert_eq!(body["messages"][0]["role"], "user");
    }

    #[test]
    fn api_openai_com_gets_max_completion_tokens() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let provider = OpenAiProvider::new(
            Flavor::Compatible,
            http,
            "https://api.openai.com/v1/",
            None,
            Duration::from_secs(1),
            Duration::from_secs(1),
        );
        let body = provider.request_body(&conversation());
        assert_eq!(body["max_completion_tokens"], 100);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(
            provider.endpoint,
            "https://api.openai.com/v1/chat/completions"
        );
    }
}
