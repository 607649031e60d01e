//! Provider errors, their retry classification, and the parsing of error bodies and
//! `Retry-After` headers.

use std::time::Duration;

/// Longest provider message kept in an error; longer bodies (HTML pages) are cut.
const MAX_MESSAGE_CHARS: usize = 500;

/// Why a model call failed.
///
/// Messages never contain API keys: provider messages that echo the key are redacted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an error status, either as the HTTP status or as an
    /// error event in the middle of a stream (mapped to the matching status).
    #[error("HTTP {status}: {message}")]
    Http {
        /// HTTP status (529 for Anthropic `overloaded_error`).
        status: u16,
        /// The provider's own message.
        message: String,
        /// Parsed `Retry-After`, when the provider sent one.
        retry_after: Option<Duration>,
    },
    /// The connection could not be established.
    #[error("could not connect to the provider: {0}")]
    Connect(String),
    /// The HTTP client's own timeout fired (connect timeout).
    #[error("the provider did not answer in time")]
    Timeout,
    /// No byte arrived for the configured idle timeout, before or during the stream.
    #[error("the provider stream stalled (no data within the idle timeout)")]
    IdleTimeout,
    /// The stream ended or broke before the provider's terminal event.
    #[error("the provider stream ended early: {0}")]
    StreamDropped(String),
    /// The provider sent something that is not its documented wire format.
    #[error("malformed provider response: {0}")]
    Malformed(String),
    /// The call was cancelled by the caller. Clients never return this themselves (they are
    /// cancelled by dropping their future); it exists so the runner can report it uniformly.
    #[error("cancelled")]
    Cancelled,
}

impl ProviderError {
    /// Whether retrying the same request may succeed: 408, 409, 425, 429 and 5xx,
    /// connection failures, timeouts and dropped streams. Client errors (400, 401, 403,
    /// 404, 422, …), malformed responses and cancellation are final.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { status, .. } => {
                matches!(status, 408 | 409 | 425 | 429) || (500..=599).contains(status)
            }
            Self::Connect(_) | Self::Timeout | Self::IdleTimeout | Self::StreamDropped(_) => true,
            Self::Malformed(_) | Self::Cancelled => false,
        }
    }

    /// Whether the prompt did not fit the model's context window, in any provider's wording:
    /// OpenAI `context_length_exceeded` ("This model's maximum context length is …"),
    /// OpenRouter ("This endpoint's maximum context length is …"), Anthropic
    /// ("prompt is too long: … tokens > … maximum", or 413 `request_too_large`).
    pub fn is_context_overflow(&self) -> bool {
        let Self::Http {
            status, message, ..
        } = self
        else {
            return false;
        };
        let message = message.to_ascii_lowercase();
        let worded = [
            "context length",
            "context_length",
            "context window",
            "prompt is too long",
            "too many tokens",
            "maximum context",
            "reduce the length",
        ]
        .iter()
        .any(|w| message.contains(w));
        (matches!(status, 400 | 413 | 422) && worded) || *status == 413
    }

    /// Why this failure moves a step to the next model of the fallback chain, once the
    /// retries are spent: `rate_limited`, `overloaded`, `server_error`, `timeout`,
    /// `unreachable`, `stream_dropped` or `context_length`. `None` for errors another model
    /// would not fix (400, 401, 403, 404, malformed responses): the run fails at once.
    pub fn fallback_reason(&self) -> Option<&'static str> {
        if self.is_context_overflow() {
            return Some("context_length");
        }
        match self {
            Self::Http { status: 429, .. } => Some("rate_limited"),
            Self::Http { status: 529, .. } => Some("overloaded"),
            Self::Http {
                status: 408 | 504, ..
            } => Some("timeout"),
            Self::Http {
                status, message, ..
            } if (500..=599).contains(status) => {
                if message.to_ascii_lowercase().contains("overloaded") {
                    Some("overloaded")
                } else {
                    Some("server_error")
                }
            }
            Self::Http {
                status: 409 | 425, ..
            } => Some("server_error"),
            Self::Timeout | Self::IdleTimeout => Some("timeout"),
            Self::Connect(_) => Some("unreachable"),
            Self::StreamDropped(_) => Some("stream_dropped"),
            Self::Http { .. } | Self::Malformed(_) | Self::Cancelled => None,
        }
    }

    /// How long the provider asked us to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Stable snake_case code for events and the execution's `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Http { status: 429, .. } => "rate_limited",
            Self::Http { .. } => "provider_error",
            Self::Connect(_) => "provider_unreachable",
            Self::Timeout | Self::IdleTimeout => "provider_timeout",
            Self::StreamDropped(_) => "stream_dropped",
            Self::Malformed(_) => "malformed_response",
            Self::Cancelled => "cancelled",
        }
    }

    /// Maps a reqwest failure. The URL is stripped: a base URL may carry credentials.
    /// Replaces `secret` (the API key) wherever a message quotes it.
    pub(crate) fn redact(self, secret: Option<&str>) -> Self {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else {
            return self;
        };
        let clean = |text: String| text.replace(secret, "[redacted]");
        match self {
            Self::Http {
                status,
                message,
                retry_after,
            } => Self::Http {
                status,
                message: clean(message),
                retry_after,
            },
            Self::Connect(text) => Self::Connect(clean(text)),
            Self::StreamDropped(text) => Self::StreamDropped(clean(text)),
            Self::Malformed(text) => Self::Malformed(clean(text)),
            other => other,
        }
    }

    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        let err = err.without_url();
        if err.is_timeout() {
            Self::Timeout
        } else if err.is_connect() {
            Self::Connect(error_chain(&err))
        } else if err.is_builder() {
            // An unusable base URL: retrying will not help, but it is no HTTP status either.
            Self::Connect(error_chain(&err))
        } else {
            // The connection broke after it was made: while sending, or while reading.
            Self::StreamDropped(error_chain(&err))
        }
    }
}

/// `err` and its sources joined with ": ", which is where hyper puts the useful part.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        source = inner.source();
    }
    out
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (past dates mean "now").
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let delta = when.signed_duration_since(chrono::Utc::now());
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Builds the error for a non-2xx response from its status, `Retry-After` and body.
/// Both wire formats put the message at `error.message`; anything else is kept as text.
pub(crate) fn http_error(status: u16, retry_after: Option<Duration>, body: &str) -> ProviderError {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| error_message(&json))
        .unwrap_or_else(|| {
            let text = body.trim();
            if text.is_empty() {
                default_reason(status).to_owned()
            } else {
                text.to_owned()
            }
        });
    ProviderError::Http {
        status,
        message: clean_message(&message),
        retry_after,
    }
}

/// The message of an `{"error": {"message": …}}` (or `{"error": "…"}`) body.
pub(crate) fn error_message(json: &serde_json::Value) -> Option<String> {
    let error = json.get("error")?;
    if let Some(text) = error.as_str() {
        return Some(text.to_owned());
    }
    let message = error.get("message").and_then(|m| m.as_str());
    let kind = error.get("type").and_then(|t| t.as_str());
    match (message, kind) {
        (Some(message), _) => Some(message.to_owned()),
        (None, Some(kind)) => Some(kind.to_owned()),
        (None, None) => Some(error.to_string()),
    }
}

/// Caps the length of a provider message.
pub(crate) fn clean_message(message: &str) -> String {
    let mut message = message.to_owned();
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// The HTTP status Anthropic documents for each error type.
pub(crate) fn status_for_error_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    }
}

fn default_reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error without a message")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> ProviderError {
        http_error(status, None, "")
    }

    #[test]
    fn transient_statuses_are_retried_and_client_errors_are_not() {
        for status in [408, 409, 425, 429, 500, 502, 503, 504, 529] {
            assert!(http(status).is_transient(), "{status} should be transient");
        }
        for status in [400, 401, 403, 404, 413, 422] {
            assert!(!http(status).is_transient(), "{status} should be final");
        }
        assert!(ProviderError::IdleTimeout.is_transient());
        assert!(ProviderError::StreamDropped("x".into()).is_transient());
        assert!(!ProviderError::Malformed("x".into()).is_transient());
        assert!(!ProviderError::Cancelled.is_transient());
    }

    #[test]
    fn context_overflow_is_recognised_in_each_providers_wording() {
        let openai = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        let openrouter = r#"{"error":{"message":"This endpoint's maximum context length is 8192 tokens. However, you requested about 9000 tokens.","code":400}}"#;
        let anthropic = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}"#;
        for body in [openai, openrouter, anthropic] {
            let error = http_error(400, None, body);
            assert!(error.is_context_overflow(), "{body}");
            assert_eq!(error.fallback_reason(), Some("context_length"));
        }
        assert!(http(413).is_context_overflow());
        assert!(
            !http_error(400, None, r#"{"error":{"message":"bad tool schema"}}"#)
                .is_context_overflow()
        );
    }

    #[test]
    fn only_errors_another_model_could_fix_are_fallback_reasons() {
        assert_eq!(http(429).fallback_reason(), Some("rate_limited"));
        assert_eq!(http(529).fallback_reason(), Some("overloaded"));
        assert_eq!(http(500).fallback_reason(), Some("server_error"));
        assert_eq!(http(504).fallback_reason(), Some("timeout"));
        assert_eq!(
            ProviderError::IdleTimeout.fallback_reason(),
            Some("timeout")
        );
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(http(status).fallback_reason(), None, "{status}");
        }
        assert_eq!(ProviderError::Malformed("x".into()).fallback_reason(), None);
    }

    #[test]
    fn codes_name_rate_limits_separately() {
        assert_eq!(http(429).code(), "rate_limited");
        assert_eq!(http(500).code(), "provider_error");
        assert_eq!(ProviderError::IdleTimeout.code(), "provider_timeout");
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 "),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(120)).to_rfc2822();
        let parsed = parse_retry_after(&future).expect("a future date parses");
        assert!(parsed > Duration::from_secs(100) && parsed <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn error_bodies_yield_the_provider_message() {
        let openai = r#"{"error":{"message":"Incorrect API key","type":"invalid_request_error"}}"#;
        let anthropic = r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
        assert_eq!(
            http_error(401, None, openai).to_string(),
            "HTTP 401: Incorrect API key"
        );
        assert_eq!(
            http_error(401, None, anthropic).to_string(),
            "HTTP 401: invalid x-api-key"
        );
        assert_eq!(
            http_error(502, None, "").to_string(),
            "HTTP 502: Bad Gateway"
        );
        assert_eq!(
            http_error(503, None, "<html>busy</html>").to_string(),
            "HTTP 503: <html>busy</html>"
        );
    }

    #[test]
    fn echoed_keys_are_redacted_and_long_messages_cut() {
        let key = Some("sk-secret-123");
        let body = r#"{"error":{"message":"bad key sk-secret-123"}}"#;
        let err = http_error(401, None, body).redact(key);
        assert_eq!(err.to_string(), "HTTP 401: bad key [redacted]");
        let err = ProviderError::Connect("http://u:sk-secret-123@h".into()).redact(key);
        assert_eq!(err, ProviderError::Connect("http://u:[redacted]@h".into()));
        let long = "x".repeat(2000);
        assert_eq!(clean_message(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}
