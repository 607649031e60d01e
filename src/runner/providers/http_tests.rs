//! Both clients against the fake LLM server, over real HTTP.

mod anthropic;
mod openai;

use std::sync::Mutex;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;

use super::anthropic::AnthropicProvider;
use super::openai::{Flavor, OpenAiProvider};
use super::{
    ChatRequest, ChatResponse, Message, Provider, ProviderError, ProviderRouter, ProviderSettings,
    ToolSpec,
};
use crate::testing::fake_llm::{FakeLlm, Reply};

/// Idle timeout used by the stall tests: short, so they run fast.
const SHORT_IDLE: Duration = Duration::from_millis(200);
/// Idle timeout for everything else: long enough never to fire on a loaded CI machine.
const IDLE: Duration = Duration::from_secs(10);

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("a client builds with the ring provider")
}

fn openrouter(fake: &FakeLlm, idle: Duration) -> OpenAiProvider {
    let key = Some(SecretString::from("sk-or-test"));
    OpenAiProvider::new(
        Flavor::OpenRouter,
        http(),
        &fake.openai_base(),
        key,
        idle,
        SHORT_IDLE,
    )
}

fn anthropic(fake: &FakeLlm, idle: Duration) -> AnthropicProvider {
    let key = SecretString::from("sk-ant-test");
    AnthropicProvider::new(http(), &fake.anthropic_base(), key, idle, SHORT_IDLE)
}

/// A one-turn request with a system prompt and one tool.
fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        system: "You are terse.".into(),
        messages: vec![Message::User {
            content: "Weather in Oslo?".into(),
        }],
        tools: vec![ToolSpec {
            name: "weather".into(),
            description: "Current weather for a city".into(),
            input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        }],
        temperature: Some(0.3),
        max_tokens: None,
        cache_key: None,
    }
}

/// Runs one call, collecting the text deltas passed to `on_text`.
async fn call(
    provider: &dyn Provider,
    req: &ChatRequest,
) -> (Result<ChatResponse, ProviderError>, Vec<String>) {
    let deltas = Mutex::new(Vec::new());
    let on_text = |t: &str| deltas.lock().expect("not poisoned").push(t.to_owned());
    let result = provider.stream(req, &on_text).await;
    (result, deltas.into_inner().expect("not poisoned"))
}

/// An address nobody listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn the_router_sends_each_model_to_the_matching_endpoint() {
    // Arrange
    let fake = FakeLlm::start().await;
    let settings = ProviderSettings {
        openrouter_base_url: Some(fake.openai_base()),
        openrouter_api_key: Some(SecretString::from("sk-or-test")),
        anthropic_api_key: Some(SecretString::from("sk-ant-test")),
        anthropic_base_url: Some(fake.anthropic_base()),
        idle_timeout: IDLE,
        ..ProviderSettings::default()
    };
    let router = ProviderRouter::new(settings.clone(), settings.http_client().expect("client"));

    // Act
    for model in ["openai/gpt-4o-mini", "claude-sonnet-4-5"] {
        let (provider, id) = router.resolve(model).expect("routable");
        let (result, _) = call(provider.as_ref(), &request(&id)).await;
        assert_eq!(result.expect("the empty script answers ok").text, "ok");
    }

    // Assert
    let paths: Vec<_> = fake
        .recorded()
        .into_iter()
        .map(|r| (r.path, r.body["model"].clone()))
        .collect();
    assert_eq!(
        paths,
        [
            (
                "/v1/chat/completions".to_owned(),
                json!("openai/gpt-4o-mini")
            ),
            ("/v1/messages".to_owned(), json!("claude-sonnet-4-5")),
        ]
    );
}

#[tokio::test]
async fn the_fake_answers_non_streaming_requests_with_plain_json() {
    let fake = FakeLlm::start().await;
    fake.push(Reply::tool_call("call_1", "weather", json!({"city": "Oslo"})).with_usage(3, 4));
    fake.push(Reply::text("hi"));
    let client = http();
    let body = json!({"model": "m", "stream": false, "messages": []});

    let openai: serde_json::Value = client
        .post(format!("{}/chat/completions", fake.openai_base()))
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let anthropic: serde_json::Value = client
        .post(format!("{}/v1/messages", fake.anthropic_base()))
        .json(&body)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");

    assert_eq!(openai["object"], "chat.completion");
    assert_eq!(openai["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        openai["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Oslo\"}"
    );
    assert_eq!(openai["usage"]["total_tokens"], 7);
    assert_eq!(anthropic["type"], "message");
    assert_eq!(
        anthropic["content"],
        json!([{"type": "text", "text": "hi"}])
    );
    assert_eq!(anthropic["stop_reason"], "end_turn");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transient_connect_error() {
    let provider = OpenAiProvider::new(
        Flavor::Compatible,
        http(),
        &closed_port_url(),
        None,
        IDLE,
        IDLE,
    );
    let (result, _) = call(&provider, &request("llama3")).await;
    let err = result.expect_err("nobody listens");
    assert!(matches!(err, ProviderError::Connect(_)), "{err:?}");
    assert!(err.is_transient());
}
