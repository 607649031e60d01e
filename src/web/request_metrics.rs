//! HTTP middleware: every request counted by route pattern and status, and timed.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::telemetry_metrics;

/// Middleware: counts every request by route pattern and status, and times it.
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    telemetry_metrics::handle();
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let result = next.call(req).await;
    match &result {
        Ok(res) => {
            let route = res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".into());
            telemetry_metrics::record_http(&method, &route, res.status().as_u16(), start.elapsed());
        }
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            telemetry_metrics::record_http(&method, "unmatched", status, start.elapsed());
        }
    }
    result
}
