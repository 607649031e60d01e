//! The Anthropic client against the fake server.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::runner::providers::{StopReason, ToolCall, Usage};

#[tokio::test]
async fn text_streams_through_on_text_with_usage() {
    // Arrange
    let fake = FakeLlm::start().await;
    fake.push(Reply::text_in_chunks("Cloudy over Oslo.", 3).with_usage(30, 7));

    // Act
    let (result, deltas) = call(&anthropic(&fake, IDLE), &request("claude-sonnet-4-5")).await;

    // Assert
    let response = result.expect("the call succeeds");
    assert_eq!(deltas.len(), 3);
    assert_eq!(deltas.concat(), "Cloudy over Oslo.");
    assert_eq!(response.text, "Cloudy over Oslo.");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(
        response.usage,
        Some(Usage {
            input_tokens: 30,
            output_tokens: 7,
            cost: None,
            ..Usage::default()
        })
    );
}

#[tokio::test]
async fn the_request_carries_the_key_version_system_prompt_and_tools() {
    let fake = FakeLlm::start().await;

    let _ = call(&anthropic(&fake, IDLE), &request("claude-sonnet-4-5")).await;

    let recorded = fake.recorded().pop().expect("one request");
    assert_eq!(recorded.path, "/v1/messages");
    assert_eq!(recorded.headers["x-api-key"], "sk-ant-test");
    assert_eq!(recorded.headers["anthropic-version"], "2023-06-01");
    assert!(!recorded.headers.contains_key("authorization"));
    let body = recorded.body;
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]}])
    );
    assert_eq!(
        body["tools"][0],
        json!({"name": "weather", "description": "Current weather for a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}})
    );
}

#[tokio::test]
async fn tool_input_is_assembled_and_results_go_back_in_one_user_message() {
    // Arrange
    let fake = FakeLlm::start().await;
    fake.push(Reply::text_then_tools(
        "Let me look.",
        vec![
            ("toolu_1".into(), "weather".into(), json!({"city": "Oslo"})),
            (
                "toolu_2".into(),
                "weather".into(),
                json!({"city": "Bergen"}),
            ),
        ],
    ));
    fake.push(Reply::text("Both rainy."));
    let provider = anthropic(&fake, IDLE);
    let mut req = request("claude-sonnet-4-5");

    // Act
    let (first, _) = call(&provider, &req).await;
    let first = first.expect("the first call succeeds");
    req.messages.push(Message::Assistant {
        text: first.text.clone(),
        tool_calls: first.tool_calls.clone(),
    });
    for (call, content) in first.tool_calls.iter().zip(["rain", "timeout"]) {
        req.messages.push(Message::ToolResult {
            tool_call_id: call.id.clone(),
            tool_name: call.name.clone(),
            content: content.into(),
            is_error: content == "timeout",
        });
    }
    let (second, _) = call(&provider, &req).await;

    // Assert
    assert_eq!(first.stop_reason, StopReason::ToolUse);
    assert_eq!(
        first.tool_calls,
        [
            ToolCall {
                id: "toolu_1".into(),
                name: "weather".into(),
                input: json!({"city": "Oslo"})
            },
            ToolCall {
                id: "toolu_2".into(),
                name: "weather".into(),
                input: json!({"city": "Bergen"})
            },
        ]
    );
    assert_eq!(
        second.expect("the second call succeeds").text,
        "Both rainy."
    );
    let messages = fake.requests()[1]["messages"].clone();
    assert_eq!(messages.as_array().map(Vec::len), Some(3));
    assert_eq!(messages[1]["content"][2]["type"], "tool_use");
    assert_eq!(
        messages[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain", "is_error": false},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "timeout", "is_error": true},
        ]})
    );
}

#[tokio::test]
async fn status_errors_are_classified_with_the_providers_message() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::rate_limited(3));
    fake.push(Reply::status(529, "Overloaded"));
    fake.push(Reply::status(401, "invalid x-api-key"));
    let provider = anthropic(&fake, IDLE);

    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(
            call(&provider, &request("claude-x"))
                .await
                .0
                .expect_err("an error status"),
        );
    }

    assert_eq!(errors[0].retry_after(), Some(Duration::from_secs(3)));
    assert!(errors[0].is_transient() && errors[1].is_transient());
    assert_eq!(errors[1].to_string(), "HTTP 529: Overloaded");
    assert!(!errors[2].is_transient());
    assert_eq!(errors[2].to_string(), "HTTP 401: invalid x-api-key");
}

#[tokio::test]
async fn an_overloaded_error_event_mid_stream_is_transient() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::MidStreamError {
        message: "Overloaded".into(),
    });

    let (result, _) = call(&anthropic(&fake, IDLE), &request("claude-x")).await;

    let err = result.expect_err("error event");
    assert!(
        matches!(err, ProviderError::Http { status: 529, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn hangs_drops_and_garbage_are_each_reported() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::Hang);
    fake.push(Reply::HangAfterFirstChunk);
    fake.push(Reply::DropStream);
    fake.push(Reply::MalformedJson);
    let provider = anthropic(&fake, SHORT_IDLE);

    let (hang, _) = call(&provider, &request("claude-x")).await;
    let (stall, deltas) = call(&provider, &request("claude-x")).await;
    let (dropped, _) = call(&provider, &request("claude-x")).await;
    let (malformed, _) = call(&provider, &request("claude-x")).await;

    assert_eq!(hang.expect_err("hangs"), ProviderError::IdleTimeout);
    assert_eq!(stall.expect_err("stalls"), ProviderError::IdleTimeout);
    assert_eq!(deltas, ["Hel"]);
    assert!(
        matches!(dropped, Err(ProviderError::StreamDropped(_))),
        "{dropped:?}"
    );
    assert!(
        matches!(malformed, Err(ProviderError::Malformed(_))),
        "{malformed:?}"
    );
}
