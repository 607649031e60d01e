//! OpenTelemetry traces: one tracer provider per application, exporting over OTLP/HTTP
//! (protobuf) in batches when an endpoint is configured (`TraceSettings`), and nothing at all
//! otherwise: no exporter, no background thread, and every span helper returns at once.
//!
//! The provider is the application's, not the process's global one: tests run many
//! applications in one process, each with its own endpoint, and the `tracing` subscriber is
//! installed once per process. Spans are therefore made with the OpenTelemetry API on this
//! provider's tracer (the runner's in `runner::spans`, the HTTP server's in `web::traces`), and
//! a run's parent travels as a [`SpanContext`], which carries no HTTP type.
//!
//! The batch processor exports from a thread of its own; its HTTP requests go through our
//! reqwest client on the tokio runtime that built the provider ([`OnRuntime`]).
//!
//! A queued run keeps its parent as a W3C `traceparent` in its row (`trace_parent`), so the
//! instance that claims it, or resumes it later, traces it in the caller's trace.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use secrecy::ExposeSecret;

use crate::config::TraceSettings;

/// The application's traces: off (the default), or a tracer exporting to the OTLP endpoint.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Traces {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    capture_content: bool,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Traces")
            .field("on", &self.inner.is_some())
            .finish()
    }
}

impl Traces {
    /// Traces as `settings` say: off without an endpoint. Call on the tokio runtime that will
    /// carry the exports. `instance` is the `service.instance.id` (`INSTANCE_NAME`).
    pub fn build(settings: &TraceSettings, instance: Option<&str>) -> anyhow::Result<Self> {
        let Some(endpoint) = &settings.endpoint else {
            return Ok(Self::default());
        };
        let headers: HashMap<String, String> = settings
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
            .collect();
        let client = OnRuntime {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("aladdin/", env!("CARGO_PKG_VERSION")))
                .build()?,
            runtime: tokio::runtime::Handle::try_current()?,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint.clone())
            .with_headers(headers)
            .with_http_client(client)
            .build()?;
        let mut attributes = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
        if let Some(instance) = instance {
            attributes.push(KeyValue::new("service.instance.id", instance.to_owned()));
        }
        let resource = Resource::builder_empty()
            .with_service_name(settings.service_name.clone())
            .with_attributes(attributes)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("aladdin");
        Ok(Self {
            inner: Some(Arc::new(Inner {
                provider,
                tracer,
                capture_content: settings.capture_content,
            })),
        })
    }

    /// Whether spans are made at all.
    pub fn on(&self) -> bool {
        self.inner.is_some()
    }

    /// The tracer, when traces are on.
    pub fn tracer(&self) -> Option<&SdkTracer> {
        self.inner.as_ref().map(|i| &i.tracer)
    }

    /// Whether prompts, completions and tool data go on the spans
    /// (`OTEL_GENAI_CAPTURE_CONTENT`).
    pub fn capture_content(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.capture_content)
    }

    /// `parent` as a W3C `traceparent`, to store with a queued run; `None` when traces are
    /// off (nothing is stored then) or there is no valid parent.
    pub fn traceparent(&self, parent: Option<&SpanContext>) -> Option<String> {
        let parent = parent.filter(|p| self.on() && p.is_valid())?;
        Some(format!(
            "00-{}-{}-{:02x}",
            parent.trace_id(),
            parent.span_id(),
            parent.trace_flags().to_u8()
        ))
    }

    /// Sends the finished spans now (tests; shutdown does it too). Waits off the runtime.
    pub async fn flush(&self) {
        let Some(inner) = self.inner.clone() else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || inner.provider.force_flush()).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "could not export traces");
        }
    }

    /// Exports the spans still queued and stops the exporter (graceful shutdown).
    pub async fn shutdown(&self) {
        let Some(inner) = self.inner.clone() else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || inner.provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!(error = %e, "could not export the last traces");
        }
    }
}

/// The span context named by W3C Trace Context headers (`traceparent`, `tracestate`), if
/// they are present and valid.
pub fn remote_parent(traceparent: Option<&str>, tracestate: Option<&str>) -> Option<SpanContext> {
    let traceparent = traceparent?;
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&carrier);
    let span = cx.span();
    let parent = span.span_context();
    parent.is_valid().then(|| parent.clone())
}

/// A context whose active span is the (possibly remote) `parent`.
pub fn context_of(parent: Option<&SpanContext>) -> Context {
    match parent {
        Some(parent) if parent.is_valid() => {
            Context::new().with_remote_span_context(parent.clone())
        }
        _ => Context::new(),
    }
}

/// An OTLP HTTP client for the batch processor's own thread: each request runs on the tokio
/// runtime that built the exporter, through our reqwest.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
