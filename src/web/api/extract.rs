//! Extractors of the JSON API: who is calling ([`ApiUser`]), the JSON body ([`ApiBody`]),
//! and document ids. Every failure is a JSON error, never actix's plain-text one.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use serde_json::Value;

use super::errors::ApiError;
use crate::auth::api_credentials::{self, Authenticated, COOKIE_NAME, Credential};
use crate::auth::current_user::CurrentUser;
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

/// A JSON body (an empty body reads as `{}`), within `MAX_BODY_BYTES`, with no NUL
/// character in any string (PostgreSQL refuses them).
#[derive(Debug, Clone)]
pub struct ApiBody(pub Value);

impl FromRequest for ApiBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(2 * 1024 * 1024, |s| s.settings.server.max_body_bytes);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut stream = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Err(too_large(limit));
            }
            let mut bytes = web::BytesMut::new();
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
            parse_body(&bytes).map(ApiBody)
        })
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::Status(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("The request body is larger than the limit of {limit} bytes."),
    )
}

/// Parses a JSON body (exposed for tests).
pub fn parse_body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))?;
    if has_nul(&value) {
        return Err(ApiError::bad_request(
            "The request body must not contain NUL characters.",
        ));
    }
    Ok(value)
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
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

    #[test]
    fn bodies_are_json_without_nul() {
        assert_eq!(parse_body(b"").ok(), Some(serde_json::json!({})));
        assert!(parse_body(b"{\"a\":1}").is_ok());
        assert!(parse_body(b"{\"a\":").is_err());
        assert!(parse_body(b"{\"a\":\"x\\u0000\"}").is_err());
        assert!(parse_body(&[0xff, 0xfe]).is_err());
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse_body(deep.as_bytes()).is_err());
    }
}
