//! Scripted replies for the fake LLM server.

use std::time::Duration;

use serde_json::Value;

/// One scripted answer. Replies are served first in, first out, whichever endpoint asks;
/// each is rendered in the wire format of the endpoint that received the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A successful answer: text and/or tool calls, streamed or not as the request asked.
    Complete(Completion),
    /// An error status with the wire format's error body carrying `message`, and a
    /// `Retry-After: <seconds>` header when `retry_after` is set.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u64>,
        /// The error message inside the body.
        message: String,
    },
    /// Any status with a verbatim body (an HTML page from a proxy, say).
    Raw {
        /// HTTP status.
        status: u16,
        /// `Content-Type` header.
        content_type: String,
        /// The body, sent as is.
        body: String,
    },
    /// A 200 stream that fails part-way with the wire format's error: an OpenRouter-style
    /// error chunk (code 502), or an Anthropic `error` event of type `overloaded_error`.
    MidStreamError {
        /// The error message.
        message: String,
    },
    /// Accept the request and never answer (no headers).
    Hang,
    /// Send the first chunks of a stream, then go silent forever.
    HangAfterFirstChunk,
    /// Send the first chunks of a stream, then break the connection without the
    /// terminal event (`[DONE]` / `message_stop`).
    DropStream,
    /// Send a chunk whose data is not valid JSON, then end the stream normally.
    MalformedJson,
    /// Wait, then serve the inner reply.
    Delay(Duration, Box<Reply>),
}

/// The content of a successful answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Completion {
    /// Assistant text; empty for a tools-only answer.
    pub text: String,
    /// How many deltas the text is streamed in (at least 1).
    pub chunks: usize,
    /// Tool calls; their arguments are streamed in several fragments.
    pub tool_calls: Vec<FakeToolCall>,
    /// Usage to report. OpenAI format: sent only when the request asked for it
    /// (`stream_options.include_usage`, or always when not streaming). Anthropic format:
    /// always sent, zeros when unset, as the API always reports usage.
    pub usage: Option<FakeUsage>,
    /// Stop as if the output cap was hit (`length` / `max_tokens`).
    pub truncated: bool,
}

/// A tool call in a scripted answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeToolCall {
    /// Call id (`call_…` or `toolu_…`, as the test likes).
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Input object.
    pub input: Value,
}

/// Usage reported by a scripted answer, rendered in each wire format's own shape.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FakeUsage {
    /// Prompt tokens neither read from nor written to the cache.
    pub input_tokens: u64,
    /// Prompt tokens read from the cache (Anthropic `cache_read_input_tokens`; OpenAI
    /// `prompt_tokens_details.cached_tokens`, also counted in `prompt_tokens`).
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`;
    /// OpenRouter `prompt_tokens_details.cache_write_tokens`, also in `prompt_tokens`).
    pub cache_write_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// OpenRouter-style `usage.cost` (OpenAI format only).
    pub cost: Option<f64>,
}

impl Reply {
    /// A text answer streamed in up to three deltas.
    pub fn text(text: impl Into<String>) -> Self {
        Self::text_in_chunks(text, 3)
    }

    /// A text answer streamed in `chunks` deltas.
    pub fn text_in_chunks(text: impl Into<String>, chunks: usize) -> Self {
        Self::Complete(Completion {
            text: text.into(),
            chunks: chunks.max(1),
            ..Completion::default()
        })
    }

    /// An answer that calls one tool.
    pub fn tool_call(id: impl Into<String>, name: impl Into<String>, input: Value) -> Self {
        Self::tool_calls(vec![(id.into(), name.into(), input)])
    }

    /// An answer that calls several tools: `(id, name, input)` each.
    pub fn tool_calls(calls: Vec<(String, String, Value)>) -> Self {
        Self::text_then_tools("", calls)
    }

    /// Some text, then tool calls.
    pub fn text_then_tools(text: impl Into<String>, calls: Vec<(String, String, Value)>) -> Self {
        let tool_calls = calls
            .into_iter()
            .map(|(id, name, input)| FakeToolCall { id, name, input })
            .collect();
        Self::Complete(Completion {
            text: text.into(),
            chunks: 2,
            tool_calls,
            ..Completion::default()
        })
    }

    /// An error status with `message` in the wire format's error body.
    pub fn status(status: u16, message: impl Into<String>) -> Self {
        Self::Status {
            status,
            retry_after: None,
            message: message.into(),
        }
    }

    /// A 429 with `Retry-After: <seconds>`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::Status {
            status: 429,
            retry_after: Some(retry_after_secs),
            message: "Rate limit reached, slow down".into(),
        }
    }

    /// This reply, served after `delay`.
    pub fn delayed(self, delay: Duration) -> Self {
        Self::Delay(delay, Box::new(self))
    }

    /// Reports this usage (no effect on replies that are not [`Reply::Complete`]).
    pub fn with_usage(self, input_tokens: u64, output_tokens: u64) -> Self {
        self.map_completion(|c| {
            let usage = c.usage.get_or_insert_with(FakeUsage::default);
            usage.input_tokens = input_tokens;
            usage.output_tokens = output_tokens;
        })
    }

    /// Reports prompt-cache reads and writes besides the uncached input tokens.
    pub fn with_cache(self, cache_read_tokens: u64, cache_write_tokens: u64) -> Self {
        self.map_completion(|c| {
            let usage = c.usage.get_or_insert_with(FakeUsage::default);
            usage.cache_read_tokens = cache_read_tokens;
            usage.cache_write_tokens = cache_write_tokens;
        })
    }

    /// Reports an OpenRouter-style `usage.cost` in USD.
    pub fn with_cost(self, cost: f64) -> Self {
        self.map_completion(|c| c.usage.get_or_insert_with(FakeUsage::default).cost = Some(cost))
    }

    /// Stops as if the output token cap was reached.
    pub fn truncated(self) -> Self {
        self.map_completion(|c| c.truncated = true)
    }

    fn map_completion(self, f: impl FnOnce(&mut Completion)) -> Self {
        match self {
            Self::Complete(mut c) => {
                f(&mut c);
                Self::Complete(c)
            }
            Self::Delay(d, inner) => Self::Delay(d, Box::new(inner.map_completion(f))),
            other => other,
        }
    }
}

/// Splits `text` into at most `parts` non-empty pieces on character boundaries.
pub(super) fn split(text: &str, parts: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(parts.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_every_character() {
        assert_eq!(split("héllo wörld", 3), ["héll", "o wö", "rld"]);
        assert_eq!(split("ab", 5), ["a", "b"]);
        assert!(split("", 3).is_empty());
    }

    #[test]
    fn builders_reach_through_delays() {
        let reply = Reply::text("hi")
            .delayed(Duration::from_millis(5))
            .with_usage(3, 4)
            .with_cost(0.5);
        let Reply::Delay(_, inner) = reply else {
            panic!("still delayed")
        };
        let Reply::Complete(c) = *inner else {
            panic!("a completion")
        };
        assert_eq!(
            c.usage,
            Some(FakeUsage {
                input_tokens: 3,
                output_tokens: 4,
                cost: Some(0.5),
                ..FakeUsage::default()
            })
        );
    }
}
