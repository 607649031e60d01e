//! Prometheus metrics: the names, the recorder, and the helpers that record them.
//!
//! | Metric | Type | Labels | Recorded by |
//! |---|---|---|---|
//! | `aladdin_http_requests_total` | counter | `method`, `route`, `status` | HTTP middleware |
//! | `aladdin_http_request_duration_seconds` | histogram | `method`, `route` | HTTP middleware |
//! | `aladdin_executions` | gauge | `status` | read from the database at scrape time |
//! | `aladdin_execution_queue_depth` | gauge | | pending executions, at scrape time |
//! | `aladdin_provider_request_duration_seconds` | histogram | `provider`, `model` | runner, [`record_provider_call`] (successful calls) |
//! | `aladdin_provider_tokens_total` | counter | `provider`, `model`, `kind` (`input`/`output`/`cache_read`/`cache_write`) | runner, [`record_provider_call`] |
//! | `aladdin_provider_cost_usd` | gauge (running total) | `provider`, `model`, `source` | runner, [`record_run_cost`], once per finished run |
//! | `aladdin_provider_errors_total` | counter | `provider`, `model`, `kind` | runner, [`record_provider_error`] |
//! | `aladdin_model_fallbacks_total` | counter | `from_model`, `to_model`, `reason` | runner, [`record_fallback`] |
//! | `aladdin_model_breaker_trips_total` | counter | `model` | runner, [`record_breaker_trip`] |
//! | `aladdin_tool_calls_total` | counter | `tool`, `outcome` (`ok`/`error`) | runner, [`record_tool_call`] |
//! | `aladdin_tool_call_duration_seconds` | histogram | `tool` | runner, [`record_tool_call`] |
//!
//! The HTTP middleware lives in `web::request_metrics`; the runner calls the `record_*`
//! helpers here, which know nothing of actix.
//!
//! `route` is the matched route pattern (`/api/agents/{id}`), or `unmatched`, so that
//! arbitrary URLs cannot create series.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::{ConnectionTrait, DbErr};

/// Metric names.
pub mod names {
    /// HTTP requests by method, route and status.
    pub const HTTP_REQUESTS: &str = "aladdin_http_requests_total";
    /// HTTP request duration by method and route.
    pub const HTTP_DURATION: &str = "aladdin_http_request_duration_seconds";
    /// Executions by status (gauge, from the database).
    pub const EXECUTIONS: &str = "aladdin_executions";
    /// Pending executions (gauge, from the database).
    pub const QUEUE_DEPTH: &str = "aladdin_execution_queue_depth";
    /// Provider request latency.
    pub const PROVIDER_DURATION: &str = "aladdin_provider_request_duration_seconds";
    /// Provider tokens, input and output.
    pub const PROVIDER_TOKENS: &str = "aladdin_provider_tokens_total";
    /// Provider cost in USD, a running total (a gauge that only grows: costs are fractional).
    pub const PROVIDER_COST: &str = "aladdin_provider_cost_usd";
    /// Provider errors by kind (`rate_limited`, `server`, `timeout`, `client`, …).
    pub const PROVIDER_ERRORS: &str = "aladdin_provider_errors_total";
    /// Steps moved to a fallback model, by reason.
    pub const FALLBACKS: &str = "aladdin_model_fallbacks_total";
    /// Circuit breakers opened, by model.
    pub const BREAKER_TRIPS: &str = "aladdin_model_breaker_trips_total";
    /// Custom tool calls by outcome.
    pub const TOOL_CALLS: &str = "aladdin_tool_calls_total";
    /// Custom tool call duration.
    pub const TOOL_DURATION: &str = "aladdin_tool_call_duration_seconds";
}

const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The process-wide recorder (installed on first use; tests start many apps in one process).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only gauges");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        names::HTTP_REQUESTS,
        "HTTP requests by method, route and status."
    );
    describe_histogram!(
        names::HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration."
    );
    describe_gauge!(names::EXECUTIONS, "Executions by status.");
    describe_gauge!(names::QUEUE_DEPTH, "Executions waiting for a worker.");
    describe_histogram!(
        names::PROVIDER_DURATION,
        Unit::Seconds,
        "LLM provider request latency."
    );
    describe_counter!(names::PROVIDER_TOKENS, "Tokens reported by providers.");
    describe_gauge!(
        names::PROVIDER_COST,
        "Running total cost in USD (provider-reported or from the price table)."
    );
    describe_counter!(names::PROVIDER_ERRORS, "Provider errors by kind.");
    describe_counter!(names::FALLBACKS, "Steps moved to a fallback model.");
    describe_counter!(names::BREAKER_TRIPS, "Model circuit breakers opened.");
    describe_counter!(names::TOOL_CALLS, "Custom tool calls by outcome.");
    describe_histogram!(
        names::TOOL_DURATION,
        Unit::Seconds,
        "Custom tool call duration."
    );
}

/// Records one HTTP request.
pub fn record_http(method: &str, route: &str, status: u16, duration: Duration) {
    metrics::counter!(names::HTTP_REQUESTS, "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(names::HTTP_DURATION, "method" => method.to_owned(), "route" => route.to_owned())
        .record(duration.as_secs_f64());
}

/// Tokens of one provider request, by kind (the prompt kinds do not overlap).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallTokens {
    /// Uncached prompt tokens.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cache_read: u64,
    /// Prompt tokens written to the cache.
    pub cache_write: u64,
}

/// Records one successful provider request: latency and tokens.
pub fn record_provider_call(provider: &str, model: &str, duration: Duration, tokens: CallTokens) {
    let (p, m) = (provider.to_owned(), model.to_owned());
    metrics::histogram!(names::PROVIDER_DURATION, "provider" => p.clone(), "model" => m.clone())
        .record(duration.as_secs_f64());
    for (kind, n) in [
        ("input", tokens.input),
        ("output", tokens.output),
        ("cache_read", tokens.cache_read),
        ("cache_write", tokens.cache_write),
    ] {
        metrics::counter!(names::PROVIDER_TOKENS, "provider" => p.clone(), "model" => m.clone(), "kind" => kind)
            .increment(n);
    }
}

/// Records a step moved to a fallback model.
pub fn record_fallback(from_model: &str, to_model: &str, reason: &str) {
    metrics::counter!(names::FALLBACKS, "from_model" => from_model.to_owned(), "to_model" => to_model.to_owned(), "reason" => reason.to_owned())
        .increment(1);
}

/// Records a model's circuit breaker opening.
pub fn record_breaker_trip(model: &str) {
    metrics::counter!(names::BREAKER_TRIPS, "model" => model.to_owned()).increment(1);
}

/// Adds a finished run's cost to the running total (`source`: `provider` or `price_table`,
/// as the execution row records it). Counted per run, not per call, so that a run costed
/// from the price table is not also counted with the figures some calls reported.
pub fn record_run_cost(provider: &str, model: &str, cost_usd: f64, source: &str) {
    // Costs are fractional and `metrics` counters are integers: a gauge that only grows.
    if cost_usd.is_finite() && cost_usd > 0.0 {
        metrics::gauge!(names::PROVIDER_COST, "provider" => provider.to_owned(), "model" => model.to_owned(), "source" => source.to_owned())
            .increment(cost_usd);
    }
}

/// Records a provider error (`kind`: `rate_limited`, `server`, `timeout`, `client`, …).
pub fn record_provider_error(provider: &str, model: &str, kind: &str) {
    metrics::counter!(names::PROVIDER_ERRORS, "provider" => provider.to_owned(), "model" => model.to_owned(), "kind" => kind.to_owned())
        .increment(1);
}

/// Records a custom tool call.
pub fn record_tool_call(tool: &str, ok: bool, duration: Duration) {
    metrics::counter!(names::TOOL_CALLS, "tool" => tool.to_owned(), "outcome" => if ok { "ok" } else { "error" })
        .increment(1);
    metrics::histogram!(names::TOOL_DURATION, "tool" => tool.to_owned())
        .record(duration.as_secs_f64());
}

/// The exposition text: database gauges refreshed, then everything recorded.
pub async fn render(db: &impl ConnectionTrait) -> Result<String, DbErr> {
    let handle = handle();
    let counts = crate::db::executions::count_by_status(db).await?;
    for status in crate::domain::executions::Status::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| s == status.as_str())
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(names::EXECUTIONS, "status" => status.as_str()).set(n as f64);
        if status == crate::domain::executions::Status::Pending {
            metrics::gauge!(names::QUEUE_DEPTH).set(n as f64);
        }
    }
    handle.run_upkeep();
    Ok(handle.render())
}
