//! HTTP server spans (`{method} {route}`, kind SERVER) when traces are on: the caller's W3C
//! `traceparent`/`tracestate` is honoured, and the request's span is kept in the request's
//! extensions so that a run the request queues is traced under it ([`span_of`]).

use actix_web::Error;
use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Data;
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanContext, SpanKind, Status, Tracer as _};

use crate::state::AppState;
use crate::traces;

/// The span of the request being served, in its extensions.
#[derive(Debug, Clone)]
struct RequestSpan(SpanContext);

/// Middleware: one server span per request (nothing when traces are off).
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let tracer = req
        .app_data::<Data<AppState>>()
        .and_then(|state| state.runner.traces().tracer().cloned());
    let Some(tracer) = tracer else {
        return next.call(req).await;
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let parent = traces::remote_parent(
        header("traceparent").as_deref(),
        header("tracestate").as_deref(),
    );
    let method = req.method().as_str().to_owned();
    let route = req.match_pattern();
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.clone(),
    };
    let mut attributes = vec![
        KeyValue::new("http.request.method", method),
        KeyValue::new("url.path", req.path().to_owned()),
        KeyValue::new("url.scheme", req.connection_info().scheme().to_owned()),
    ];
    if let Some(route) = route {
        attributes.push(KeyValue::new("http.route", route));
    }
    let mut span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .start_with_context(&tracer, &traces::context_of(parent.as_ref()));
    req.extensions_mut()
        .insert(RequestSpan(span.span_context().clone()));
    let result = next.call(req).await;
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if status.is_server_error() {
        span.set_attribute(KeyValue::new("error.type", status.as_u16().to_string()));
        span.set_status(Status::error(""));
    }
    span.end();
    result
}

/// The span of request `req`, when traces are on: the parent of a run it queues.
pub fn span_of(req: &actix_web::HttpRequest) -> Option<SpanContext> {
    req.extensions().get::<RequestSpan>().map(|s| s.0.clone())
}
