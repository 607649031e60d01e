//! The OpenAI-compatible client against the fake server.

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::runner::providers::{StopReason, ToolCall};

#[tokio::test]
async fn text_streams_through_on_text_with_usage_and_openrouter_cost() {
    // Arrange
    let fake = FakeLlm::start().await;
    fake.push(
        Reply::text_in_chunks("Rainy, 7 °C, wind from the west.", 4)
            .with_usage(12, 9)
            .with_cost(0.0012),
    );
    let provider = openrouter(&fake, IDLE);

    // Act
    let (result, deltas) = call(&provider, &request("openai/gpt-4o-mini")).await;

    // Assert
    let response = result.expect("the call succeeds");
    assert_eq!(deltas.len(), 4);
    assert_eq!(deltas.concat(), "Rainy, 7 °C, wind from the west.");
    assert_eq!(response.text, "Rainy, 7 °C, wind from the west.");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    let usage = response.usage.expect("usage was asked for and sent");
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.cost),
        (12, 9, Some(0.0012))
    );
}

#[tokio::test]
async fn the_request_carries_the_key_system_prompt_tools_and_usage_flags() {
    let fake = FakeLlm::start().await;
    let provider = openrouter(&fake, IDLE);

    let _ = call(&provider, &request("openai/gpt-4o-mini")).await;

    let recorded = fake.recorded().pop().expect("one request");
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.headers["authorization"], "Bearer sk-or-test");
    assert_eq!(recorded.headers["x-title"], "Aladdin");
    let body = recorded.body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(body["usage"], json!({"include": true}));
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Weather in Oslo?"})
    );
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "weather");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"],
        json!(["city"])
    );
}

#[tokio::test]
async fn tool_calls_are_assembled_from_argument_fragments() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::text_then_tools(
        "Checking.",
        vec![
            (
                "call_1".into(),
                "weather".into(),
                json!({"city": "Oslo", "days": 3}),
            ),
            ("call_2".into(), "weather".into(), json!({"city": "Bergen"})),
        ],
    ));
    let provider = openrouter(&fake, IDLE);

    let (result, deltas) = call(&provider, &request("openai/gpt-4o-mini")).await;

    let response = result.expect("the call succeeds");
    assert_eq!(deltas.concat(), "Checking.");
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.tool_calls,
        [
            ToolCall {
                id: "call_1".into(),
                name: "weather".into(),
                input: json!({"city": "Oslo", "days": 3})
            },
            ToolCall {
                id: "call_2".into(),
                name: "weather".into(),
                input: json!({"city": "Bergen"})
            },
        ]
    );
}

#[tokio::test]
async fn a_plain_compatible_server_gets_no_key_and_may_report_no_usage() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::text("hi").truncated());
    let provider = OpenAiProvider::new(
        Flavor::Compatible,
        http(),
        &fake.openai_base(),
        None,
        IDLE,
        IDLE,
    );

    let (result, _) = call(&provider, &request("llama3.1:8b")).await;

    let response = result.expect("the call succeeds");
    assert_eq!(response.usage, None);
    assert_eq!(response.stop_reason, StopReason::MaxTokens);
    let recorded = fake.recorded().pop().expect("one request");
    assert!(!recorded.headers.contains_key("authorization"));
    assert!(recorded.body.get("usage").is_none());
}

#[tokio::test]
async fn a_429_carries_retry_after_and_is_transient() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::rate_limited(7));

    let (result, _) = call(&openrouter(&fake, IDLE), &request("m/m")).await;

    let err = result.expect_err("rate limited");
    assert!(
        matches!(err, ProviderError::Http { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.code(), "rate_limited");
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_500_is_transient_and_a_401_is_final_with_the_providers_message() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::status(500, "upstream exploded"));
    fake.push(Reply::status(401, "Incorrect API key provided: sk-or-test"));
    let provider = openrouter(&fake, IDLE);

    let (first, _) = call(&provider, &request("m/m")).await;
    let (second, _) = call(&provider, &request("m/m")).await;

    let first = first.expect_err("500");
    assert!(first.is_transient());
    assert_eq!(first.to_string(), "HTTP 500: upstream exploded");
    let second = second.expect_err("401");
    assert!(!second.is_transient());
    assert_eq!(
        second.to_string(),
        "HTTP 401: Incorrect API key provided: [redacted]"
    );
}

#[tokio::test]
async fn an_html_error_page_keeps_its_text() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::Raw {
        status: 502,
        content_type: "text/html".into(),
        body: "<h1>Bad gateway</h1>".into(),
    });

    let (result, _) = call(&openrouter(&fake, IDLE), &request("m/m")).await;

    assert_eq!(
        result.expect_err("502").to_string(),
        "HTTP 502: <h1>Bad gateway</h1>"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_an_idle_timeout() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::Hang);
    let started = Instant::now();

    let (result, _) = call(&openrouter(&fake, SHORT_IDLE), &request("m/m")).await;

    assert_eq!(result.expect_err("hangs"), ProviderError::IdleTimeout);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_stream_that_stalls_is_an_idle_timeout_after_the_first_text() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::HangAfterFirstChunk);

    let (result, deltas) = call(&openrouter(&fake, SHORT_IDLE), &request("m/m")).await;

    assert_eq!(result.expect_err("stalls"), ProviderError::IdleTimeout);
    assert_eq!(deltas, ["Hel"]);
}

#[tokio::test]
async fn a_broken_or_unterminated_stream_is_a_transient_drop() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::DropStream);
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": {"content": "partial"}, "finish_reason": null}]});
    fake.push(Reply::Raw {
        status: 200,
        content_type: "text/event-stream".into(),
        body: format!("data: {chunk}\n\n"),
    });
    let provider = openrouter(&fake, IDLE);

    let (broken, deltas) = call(&provider, &request("m/m")).await;
    let (unterminated, _) = call(&provider, &request("m/m")).await;

    assert_eq!(deltas, ["Hel"]);
    let err = broken.expect_err("the connection breaks");
    assert!(matches!(err, ProviderError::StreamDropped(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(
        unterminated.expect_err("no [DONE]"),
        ProviderError::StreamDropped("the connection closed before [DONE]".into())
    );
}

#[tokio::test]
async fn malformed_chunks_and_mid_stream_errors_are_reported() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::MalformedJson);
    fake.push(Reply::MidStreamError {
        message: "Provider disconnected".into(),
    });
    let provider = openrouter(&fake, IDLE);

    let (malformed, _) = call(&provider, &request("m/m")).await;
    let (mid_stream, _) = call(&provider, &request("m/m")).await;

    assert!(
        matches!(malformed, Err(ProviderError::Malformed(_))),
        "{malformed:?}"
    );
    let err = mid_stream.expect_err("error chunk");
    assert_eq!(err.to_string(), "HTTP 502: Provider disconnected");
    assert!(err.is_transient());
}
