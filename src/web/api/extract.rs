//! Extractors of the JSON API: who is calling ([`ApiUser`]), the JSON body ([`ApiBody`]),
//! and document ids. Every failure is a JSON error, never actix's plain-text one.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use super::errors::ApiError;
use crate::auth::api_credentials::{self, Authenticated, COOKIE_NAME, Credential};
use crate::auth::current_user::CurrentUser;
use crate::error::AppError;
use crate::state::AppState;

/// The caller of an API request: authenticated or anonymous. Looked up once per request.
#[derive(Clone, Default)]
pub struct ApiUser(pub Option<Arc<Authenticated>>);

impl ApiUser {
    /// Any authenticated user, else 401.
    pub fn require(&self) -> Result<&CurrentUser, ApiError> {
        self.0
            .as_deref()
            .map(|a| &a.current)
            .ok_or_else(ApiError::unauthorized)
    }

    /// An editor or admin (401 when anonymous, 403 otherwise).
    pub fn require_editor(&self) -> Result<&CurrentUser, ApiError> {
        let user = self.require()?;
        if user.can_edit() {
            Ok(user)
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// An admin (401 when anonymous, 403 otherwise).
    pub fn require_admin(&self) -> Result<&CurrentUser, ApiError> {
        let user = self.require()?;
        if user.is_admin() {
            Ok(user)
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// The authentication details, when authenticated.
    pub fn authenticated(&self) -> Option<&Authenticated> {
        self.0.as_deref()
    }
}

impl FromRequest for ApiUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(cached) = req.extensions().get::<ApiUser>() {
            let cached = cached.clone();
            return Box::pin(async move { Ok(cached) });
        }
        let req = req.clone();
        Box::pin(async move {
            let user = match credential(&req) {
                None => ApiUser(None),
                Some(credential) => {
                    let state = app_state(&req)?;
                    ApiUser(
                        api_credentials::authenticate_cached(
                            &state.db,
                            &state.api.credentials,
                            &credential,
                        )
                        .await?,
                    )
                }
            };
            req.extensions_mut().insert(user.clone());
            Ok(user)
        })
    }
}

/// The credential of a request. The cookie is ignored on state-changing requests sent
/// from another origin, so that a third-party page cannot act with a visitor's cookie.
fn credential(req: &HttpRequest) -> Option<Credential> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let cookie = req.cookie(COOKIE_NAME);
    let cookie = cookie
        .as_ref()
        .map(|c| c.value())
        .filter(|_| same_origin_or_safe(req));
    Credential::from_parts(authorization, cookie)
}

fn same_origin_or_safe(req: &HttpRequest) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    else {
        return true;
    };
    let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    req.connection_info().host() == origin_host
}

/// The shared state (always registered; a missing one is a wiring bug, answered with 500).
pub fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::App(anyhow::anyhow!("AppState is not registered").into()))
}

/// A JSON object body (an empty body reads as `{}`). [`check_body`] has already read and
/// checked it for every `POST`, `PATCH` and `PUT` under `/api`; this takes its result (or, on
/// a route outside that check, reads and checks the body itself the same way).
#[derive(Debug, Clone)]
pub struct ApiBody(pub Value);

/// A body read and checked by [`check_body`], handed to [`ApiBody`] through the request's
/// extensions so that it is parsed once.
#[derive(Debug, Clone)]
struct CheckedBody(Value);

impl FromRequest for ApiBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if let Some(CheckedBody(value)) = req.extensions_mut().remove::<CheckedBody>() {
            return Box::pin(async move { Ok(ApiBody(value)) });
        }
        let limit = body_limit(req);
        let headers = req.headers().clone();
        let stream = payload.take();
        Box::pin(async move {
            let bytes = read_limited(stream, &headers, limit).await?;
            check_content_type(&headers, &bytes)?;
            parse_body(&bytes).map(ApiBody)
        })
    }
}

/// Middleware of the `/api` scope: every `POST`, `PATCH` and `PUT` to a registered route has
/// its body read and checked before any extractor or handler runs, whatever the handler does
/// with it (some ignore it): within `MAX_BODY_BYTES` (413), JSON by content type (415), valid
/// JSON, an object, and no NUL character in any key or string (400 naming the field's path;
/// PostgreSQL refuses NUL in text). A path with an encoded NUL is a 404. Each refusal is the
/// API's JSON envelope. The checked body goes on to [`ApiBody`] (and back into the payload for
/// any other reader).
pub async fn check_body(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if contains_encoded_nul(req.path()) {
        return Ok(req.error_response(ApiError::not_found()));
    }
    let checked = matches!(*req.method(), Method::POST | Method::PATCH | Method::PUT)
        && req.resource_map().has_resource(req.path());
    if !checked {
        return next.call(req).await;
    }
    let limit = body_limit(req.request());
    let headers = req.headers().clone();
    let bytes = match read_limited(req.take_payload(), &headers, limit).await {
        Ok(bytes) => bytes,
        Err(e) => return Ok(req.error_response(e)),
    };
    let value = check_content_type(&headers, &bytes).and_then(|()| parse_body(&bytes));
    match value {
        Ok(value) => {
            req.extensions_mut().insert(CheckedBody(value));
            req.set_payload(Payload::from(web::Bytes::from(bytes)));
            next.call(req).await
        }
        Err(e) => Ok(req.error_response(e)),
    }
}

/// True when a raw (still percent-encoded) path carries a NUL character.
fn contains_encoded_nul(path: &str) -> bool {
    path.contains('\0') || path.to_ascii_lowercase().contains("%00")
}

fn body_limit(req: &HttpRequest) -> usize {
    req.app_data::<web::Data<AppState>>()
        .map_or(2 * 1024 * 1024, |s| s.settings.server.max_body_bytes)
}

/// Reads a body, refusing it (413) as soon as it is known to exceed `limit`.
async fn read_limited(
    mut stream: Payload,
    headers: &header::HeaderMap,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::Status(
                StatusCode::BAD_REQUEST,
                format!("The request body could not be read: {e}"),
            )
        })?;
        if bytes.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::Status(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The request body is larger than the limit of {limit} bytes."),
    )
}

/// Message of a body sent without a JSON content type.
pub const NOT_JSON_CONTENT_TYPE: &str =
    "The request body must be JSON, sent with `Content-Type: application/json`.";

/// A non-empty body must say it is JSON (`application/json` or `application/*+json`), else 415:
/// a form or text body is not guessed at. An empty body needs no content type.
fn check_content_type(headers: &header::HeaderMap, bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        Err(ApiError::Status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NOT_JSON_CONTENT_TYPE.into(),
        ))
    }
}

/// Message of a body that is not a JSON object.
pub const NOT_AN_OBJECT: &str = "The body must be a JSON object.";

/// Message of a field holding a NUL character.
pub const NUL_MESSAGE: &str = "Must not contain NUL characters.";

/// Parses a JSON body: an object (empty means `{}`) with no NUL character in any key or string;
/// a NUL is a validation error on its path, e.g. `prompt` or `metadata.tags.0`.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(ApiError::bad_request(NOT_AN_OBJECT));
    }
    if let Some(path) = nul_path(&value, "") {
        let mut errors = crate::error::FieldErrors::new();
        errors.insert(path, NUL_MESSAGE.into());
        return Err(AppError::Validation(errors).into());
    }
    Ok(value)
}

/// The path (Payload's dotted form) of the first key or string holding a NUL character.
fn nul_path(value: &Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) => s.contains('\0').then(|| path.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, &join(&i.to_string()))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(&k.replace('\0', "\\u0000")))
            } else {
                nul_path(v, &join(k))
            }
        }),
        _ => None,
    }
}

/// A document id from the path: a positive 32-bit integer, else 404 (ids are never 0).
pub fn parse_id(raw: &str) -> Result<i32, ApiError> {
    if raw.is_empty() || raw.len() > 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found());
    }
    raw.parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(ApiError::not_found)
}

/// The client address used by the login rate limit (the socket peer: headers such as
/// `X-Forwarded-For` can be forged).
pub struct PeerIp(pub std::net::IpAddr);

impl FromRequest for PeerIp {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let ip = req
            .peer_addr()
            .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip());
        ready(Ok(PeerIp(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(parse_id("42").ok(), Some(42));
        for bad in [
            "0",
            "-1",
            "abc",
            "1.5",
            "",
            "99999999999",
            "2147483648",
            " 1",
            "1e3",
        ] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }

    fn nul_error_path(body: &[u8]) -> Option<String> {
        match parse_body(body) {
            Err(ApiError::App(AppError::Validation(errors))) => errors.keys().next().cloned(),
            _ => None,
        }
    }

    #[test]
    fn bodies_are_json_objects_without_nul() {
        assert_eq!(parse_body(b"").ok(), Some(serde_json::json!({})));
        assert!(parse_body(b"{\"a\":1}").is_ok());
        assert!(parse_body(b"{\"a\":").is_err());
        for not_object in [&b"[1]"[..], b"\"x\"", b"3", b"null"] {
            assert!(parse_body(not_object).is_err());
        }
        assert_eq!(
            nul_error_path(b"{\"a\":\"x\\u0000\"}").as_deref(),
            Some("a")
        );
        assert_eq!(
            nul_error_path(b"{\"m\":{\"t\":[\"ok\",\"\\u0000\"]}}").as_deref(),
            Some("m.t.1")
        );
        assert_eq!(
            nul_error_path(b"{\"m\":{\"k\\u0000\":1}}").as_deref(),
            Some("m.k\\u0000")
        );
        assert!(contains_encoded_nul("/api/agents/a%00b/execute"));
        assert!(!contains_encoded_nul("/api/agents/a%2500/execute"));
        assert!(parse_body(&[0xff, 0xfe]).is_err());
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse_body(deep.as_bytes()).is_err());
    }
}
