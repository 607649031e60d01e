//! LLM provider clients, written by hand over reqwest.
//!
//! Two wire formats are spoken: OpenAI-compatible chat completions ([`openai`], which also
//! serves OpenRouter, Ollama, vLLM and llama.cpp) and the Anthropic Messages API
//! ([`anthropic`]). Both stream (SSE) and both map onto the provider-neutral types below,
//! so the runner never sees a wire format. [`ProviderRouter`] picks a client for a model id.

pub mod anthropic;
mod anthropic_stream;
mod error;
mod http;
pub mod openai;
mod openai_stream;
mod router;

#[cfg(test)]
mod http_tests;

use futures_util::future::BoxFuture;

pub use error::ProviderError;
pub use router::{
    ANTHROPIC_DEFAULT_BASE_URL, NoProvider, OPENAI_DEFAULT_BASE_URL, OPENROUTER_DEFAULT_BASE_URL,
    ProviderRouter, ProviderSettings,
};

/// Longest tool name the providers accept.
const MAX_WIRE_NAME: usize = 64;

/// A tool's name as sent to a provider. OpenAI-compatible and Anthropic APIs accept only
/// `[A-Za-z0-9_-]{1,64}`, while MCP tools are named `server/tool`: `/` becomes `__`, any
/// other character outside that set `_`, and the name is cut at 64 characters. The loop maps a
/// called name back with [`crate::runner::tools::ToolSet::resolve_wire`].
pub fn wire_tool_name(name: &str) -> std::borrow::Cow<'_, str> {
    let fits = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.len() <= MAX_WIRE_NAME && name.chars().all(fits) {
        return std::borrow::Cow::Borrowed(name);
    }
    let mut wire = String::with_capacity(name.len() + 1);
    for c in name.chars() {
        match c {
            '/' => wire.push_str("__"),
            c if fits(c) => wire.push(c),
            _ => wire.push('_'),
        }
    }
    wire.truncate(MAX_WIRE_NAME);
    std::borrow::Cow::Owned(wire)
}

/// One model call: everything a provider needs, in neutral form.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// Model id as the provider expects it (already resolved by [`ProviderRouter::resolve`]).
    pub model: String,
    /// System prompt; omitted from the request when empty.
    pub system: String,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call; omitted from the request when empty.
    pub tools: Vec<ToolSpec>,
    /// Sampling temperature (0–2). Anthropic only accepts 0–1, so it is clamped there.
    pub temperature: Option<f64>,
    /// Output token cap. Anthropic requires one; 4096 is sent when this is `None`.
    pub max_tokens: Option<u32>,
    /// Prompt caching: `None` sends no cache hints. With a key, Anthropic requests carry
    /// `cache_control` breakpoints (system prompt, last tool, conversation prefix) and
    /// OpenAI-compatible requests carry `prompt_cache_key` with this value.
    pub cache_key: Option<String>,
}

/// One turn of the conversation. Its JSON form (`{"role": "user", …}`, camelCase fields) is
/// the provider-neutral message list an execution checkpoints as `runState`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(
    tag = "role",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Message {
    /// A user prompt.
    User {
        /// The prompt text.
        content: String,
    },
    /// What the model said before: its text and the tools it asked to call.
    Assistant {
        /// Assistant text (may be empty when it only called tools).
        text: String,
        /// Tool calls made in this turn, in order.
        tool_calls: Vec<ToolCall>,
    },
    /// The result of one tool call, sent back to the model.
    ToolResult {
        /// The [`ToolCall::id`] this answers.
        tool_call_id: String,
        /// The tool's name (kept for logs and wire formats that want it).
        tool_name: String,
        /// The result, usually JSON text.
        content: String,
        /// Whether the tool failed; the content then holds the error message.
        is_error: bool,
    },
}

/// A tool definition shown to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Tool name, as the model will call it.
    pub name: String,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the tool's input object.
    pub input_schema: serde_json::Value,
}

/// A tool call requested by the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// Provider-assigned call id, echoed back in [`Message::ToolResult`].
    pub id: String,
    /// Name of the tool to call.
    pub name: String,
    /// Parsed input. If the model sent arguments that are not valid JSON, this is the raw
    /// text as a `Value::String`, so the runner can report the problem to the model.
    pub input: serde_json::Value,
}

/// Why the model stopped generating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its answer.
    EndTurn,
    /// The model wants tool results before going on.
    ToolUse,
    /// The output token cap was reached; the text is cut off.
    MaxTokens,
    /// Anything else, with the provider's own word (`content_filter`, `stop_sequence`, …).
    Other(String),
}

/// Token usage reported by the provider for one call. The three prompt figures never
/// overlap: their sum is every prompt token the provider processed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Usage {
    /// Prompt tokens neither read from nor written to the prompt cache (full input price).
    pub input_tokens: u64,
    /// Prompt tokens read from the cache (Anthropic `cache_read_input_tokens`, OpenAI
    /// `prompt_tokens_details.cached_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`,
    /// OpenRouter `prompt_tokens_details.cache_write_tokens`).
    pub cache_write_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Cost in USD when the provider reports it (OpenRouter `usage.cost`).
    pub cost: Option<f64>,
}

/// The assembled result of one streamed model call.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    /// All text deltas concatenated.
    pub text: String,
    /// Tool calls, assembled from their streamed fragments, in the model's order.
    pub tool_calls: Vec<ToolCall>,
    /// Why the model stopped.
    pub stop_reason: StopReason,
    /// Usage, or `None` when the provider reported none.
    pub usage: Option<Usage>,
    /// The provider's id of the answer (`chatcmpl-…`, `msg_…`), when it sent one.
    pub id: Option<String>,
    /// The model that answered, as the provider names it, when it said.
    pub model: Option<String>,
}

/// The host and port of an endpoint URL.
fn server_of(endpoint: &str) -> Option<(String, u16)> {
    let url = reqwest::Url::parse(endpoint).ok()?;
    Some((url.host_str()?.to_owned(), url.port_or_known_default()?))
}

/// A chat model behind some HTTP API.
///
/// Implementations stream the answer, call `on_text` with each text delta as it arrives,
/// and return the assembled response once the provider signals the end of the stream.
/// Dropping the returned future aborts the HTTP request; that is how deadlines and
/// cancellation are applied.
pub trait Provider: Send + Sync {
    /// Short name for logs and events: `openrouter`, `openai` or `anthropic`.
    fn name(&self) -> &'static str;

    /// The host and port requests go to (the `server.address` of a trace's `chat` span).
    fn server(&self) -> Option<(String, u16)> {
        None
    }

    /// Sends `req` and streams the answer.
    fn stream<'a>(
        &'a self,
        req: &'a ChatRequest,
        on_text: &'a (dyn Fn(&str) + Send + Sync),
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderError>>;
}

/// Parses streamed tool arguments: empty means "no arguments" (`{}`), unparseable text is
/// kept as a string for the runner to report.
fn parse_tool_input(raw: &str) -> serde_json::Value {
    if raw.trim().is_empty() {
        return serde_json::Value::Object(serde_json::Map::new());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::wire_tool_name;

    #[test]
    fn tool_names_are_sent_as_the_providers_accept_them() {
        assert_eq!(wire_tool_name("getProjectContext"), "getProjectContext");
        assert_eq!(wire_tool_name("calc/add"), "calc__add");
        assert_eq!(wire_tool_name("docs/search.v2"), "docs__search_v2");
        assert_eq!(wire_tool_name(&"x".repeat(70)).len(), 64);
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn empty_arguments_become_an_empty_object() {
        assert_eq!(parse_tool_input(""), json!({}));
        assert_eq!(parse_tool_input("  "), json!({}));
    }

    #[test]
    fn unparseable_arguments_are_kept_as_raw_text() {
        assert_eq!(parse_tool_input("{\"a\":"), json!("{\"a\":"));
        assert_eq!(parse_tool_input("{\"a\":1}"), json!({"a": 1}));
    }
}
