//! Prompt caching, measured: `cargo bench --bench caching`.
//!
//! A run of 10 model calls (9 tool calls and a final answer) of an agent with a 2,000-token
//! system prompt and 10 tool schemas, sent through the real provider clients to the fake LLM
//! over loopback, in both wire formats, without and with cache hints (`cache_key`). For each:
//!
//! - bytes sent per step: the JSON body the fake received (mean over the run, first and last);
//! - the price-table cost of the run, from the usage the fake replies with in the provider's
//!   own cached-usage shape (Anthropic `cache_creation_input_tokens` /
//!   `cache_read_input_tokens`; OpenAI `prompt_tokens_details.cached_tokens`), parsed by the
//!   client and priced by the runner's meter at Claude Sonnet 4.5's demo prices ($3 input,
//!   $15 output, $0.30 cache read, $3.75 cache write per million tokens).
//!
//! Token counts in the replies follow the provider rules: Anthropic writes the prefix up to
//! the last breakpoint at step 1 and reads the previous prefix and writes the new part at
//! each later step; OpenAI caches automatically in 128-token blocks after the first 1,024
//! tokens (no write price). Without hints nothing is cached. Prompt tokens are estimated at 4
//! characters per token, as the runner's context trimming does.

use std::sync::Arc;
use std::time::Duration;

use aladdin::entities::models;
use aladdin::runner::pricing::Meter;
use aladdin::runner::providers::anthropic::AnthropicProvider;
use aladdin::runner::providers::openai::{Flavor, OpenAiProvider};
use aladdin::runner::providers::{ChatRequest, Message, Provider, ToolCall, ToolSpec};
use aladdin::testing::fake_llm::{FakeLlm, Reply};
use secrecy::SecretString;
use serde_json::json;

const STEPS: usize = 10;
const SYSTEM_TOKENS: usize = 2_000;
const TOOLS: usize = 10;
const OUTPUT_TOKENS: u64 = 60;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "caching: {STEPS} steps, {SYSTEM_TOKENS}-token system prompt, {TOOLS} tool schemas"
        );
        println!(
            "{:<10} {:<8} {:>12} {:>12} {:>12} {:>12} {:>10}",
            "wire", "cache", "bytes/step", "first", "last", "cost/run", "cached %"
        );
        let mut costs = Vec::new();
        for wire in ["anthropic", "openai"] {
            for cache in [false, true] {
                let m = measure(wire, cache).await;
                println!(
                    "{:<10} {:<8} {:>12.0} {:>12} {:>12} {:>12} {:>9.1}%",
                    wire,
                    if cache { "on" } else { "off" },
                    m.mean_bytes,
                    m.first_bytes,
                    m.last_bytes,
                    format!("${:.6}", m.cost),
                    m.cached_share * 100.0
                );
                costs.push((wire, cache, m.cost));
            }
        }
        for wire in ["anthropic", "openai"] {
            let cost = |c: bool| {
                costs
                    .iter()
                    .find(|(w, cache, _)| *w == wire && *cache == c)
                    .map_or(0.0, |(_, _, cost)| *cost)
            };
            println!(
                "{wire}: caching saves {:.1}% of the run's price-table cost",
                (1.0 - cost(true) / cost(false)) * 100.0
            );
        }
    });
}

struct Measured {
    mean_bytes: f64,
    first_bytes: usize,
    last_bytes: usize,
    cost: f64,
    cached_share: f64,
}

/// About `tokens` tokens of plain prose.
fn prose(tokens: usize) -> String {
    let sentence = "The story bible fixes names, places, rules of magic and the tone of each act. ";
    sentence.repeat(tokens * 4 / sentence.len() + 1)
}

fn tools() -> Vec<ToolSpec> {
    (0..TOOLS)
        .map(|i| ToolSpec {
            name: format!("tool_{i}"),
            description: format!("Tool number {i}: reads or writes one kind of project document and returns it as JSON."),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "id": {"type": "string", "description": "Document id"},
                    "fields": {"type": "array", "items": {"type": "string"}},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "query": {"type": "string", "description": "Free text filter"}
                },
                "required": ["id"],
                "additionalProperties": false
            }),
        })
        .collect()
}

/// The request of every step: the conversation grows by a tool call and its result.
fn requests(model: &str, cache: bool) -> Vec<ChatRequest> {
    let system = prose(SYSTEM_TOKENS);
    let tools = tools();
    let mut messages = vec![Message::User {
        content: "Check the continuity of act two against the bible.".into(),
    }];
    let mut out = Vec::new();
    for step in 0..STEPS {
        out.push(ChatRequest {
            model: model.into(),
            system: system.clone(),
            messages: messages.clone(),
            tools: tools.clone(),
            temperature: None,
            max_tokens: Some(1024),
            cache_key: cache.then(|| "aladdin-agent-bench".to_owned()),
        });
        let id = format!("toolu_{step:02}");
        messages.push(Message::Assistant {
            text: String::new(),
            tool_calls: vec![ToolCall {
                id: id.clone(),
                name: format!("tool_{}", step % TOOLS),
                input: json!({"id": format!("doc-{step}")}),
            }],
        });
        messages.push(Message::ToolResult {
            tool_call_id: id,
            tool_name: format!("tool_{}", step % TOOLS),
            content: prose(150),
            is_error: false,
        });
    }
    out
}

/// Estimated prompt tokens of a request (4 characters per token).
fn prompt_tokens(req: &ChatRequest) -> u64 {
    let mut chars = req.system.len();
    for t in &req.tools {
        chars += t.name.len() + t.description.len() + t.input_schema.to_string().len();
    }
    for m in &req.messages {
        chars += match m {
            Message::User { content } => content.len(),
            Message::Assistant { text, tool_calls } => {
                text.len()
                    + tool_calls
                        .iter()
                        .map(|c| c.input.to_string().len() + 20)
                        .sum::<usize>()
            }
            Message::ToolResult { content, .. } => content.len() + 20,
        };
    }
    (chars / 4) as u64
}

/// The usage the provider would report for step `n` of `prompts`.
fn reply(wire: &str, cache: bool, prompts: &[u64], n: usize, last: bool) -> Reply {
    let prompt = prompts[n];
    let base = if last {
        Reply::text("Act two is consistent.")
    } else {
        Reply::tool_call(
            format!("toolu_{n:02}"),
            format!("tool_{}", n % TOOLS),
            json!({"id": format!("doc-{n}")}),
        )
    };
    let (input, read, write) = match (wire, cache) {
        (_, false) => (prompt, 0, 0),
        ("anthropic", true) if n == 0 => (0, 0, prompt),
        ("anthropic", true) => (0, prompts[n - 1], prompt - prompts[n - 1]),
        (_, true) if n == 0 || prompts[n - 1] < 1024 => (prompt, 0, 0),
        (_, true) => {
            let cached = prompts[n - 1] / 128 * 128;
            (prompt - cached, cached, 0)
        }
    };
    base.with_usage(input, OUTPUT_TOKENS)
        .with_cache(read, write)
}

fn sonnet() -> models::Model {
    let ts = chrono::Utc::now().fixed_offset();
    models::Model {
        id: 1,
        model_id: "claude-sonnet-4-5".into(),
        provider: "anthropic".into(),
        display_name: "Claude Sonnet 4.5".into(),
        input_price_per_mtok: 3.0,
        output_price_per_mtok: 15.0,
        context_window: Some(200_000),
        cache_read_price_per_mtok: Some(0.3),
        cache_write_price_per_mtok: Some(3.75),
        created_at: ts,
        updated_at: ts,
    }
}

async fn measure(wire: &str, cache: bool) -> Measured {
    let fake = FakeLlm::start().await;
    let http = reqwest::Client::new();
    let timeout = Duration::from_secs(30);
    let provider: Arc<dyn Provider> = if wire == "anthropic" {
        Arc::new(AnthropicProvider::new(
            http,
            &fake.anthropic_base(),
            SecretString::from("sk-ant-bench"),
            timeout,
            timeout,
        ))
    } else {
        Arc::new(OpenAiProvider::new(
            Flavor::Compatible,
            http,
            &fake.openai_base(),
            Some(SecretString::from("sk-bench")),
            timeout,
            timeout,
        ))
    };
    let requests = requests("claude-sonnet-4-5", cache);
    let prompts: Vec<u64> = requests.iter().map(prompt_tokens).collect();
    for n in 0..STEPS {
        fake.push(reply(wire, cache, &prompts, n, n + 1 == STEPS));
    }
    let mut meter = Meter::default();
    for req in &requests {
        let response = provider
            .stream(req, &|_| {})
            .await
            .expect("the fake answers");
        meter.record("claude-sonnet-4-5", response.usage);
    }
    let price = sonnet();
    let usage = meter.summarize(|_| Some(&price));
    let sizes: Vec<usize> = fake
        .requests()
        .iter()
        .map(|body| serde_json::to_string(body).map_or(0, |s| s.len()))
        .collect();
    let prompt_total = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
    Measured {
        mean_bytes: sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64,
        first_bytes: sizes.first().copied().unwrap_or(0),
        last_bytes: sizes.last().copied().unwrap_or(0),
        cost: usage.estimated_cost.unwrap_or(0.0),
        cached_share: usage.cache_read_tokens as f64 / prompt_total.max(1) as f64,
    }
}
