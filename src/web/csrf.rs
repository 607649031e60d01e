//! Cross-site request forgery protection.
//!
//! Signed-in sessions carry a random token (issued at sign-in). Every state-changing request
//! to the admin (any method but GET, HEAD and OPTIONS) must repeat it, in the `X-CSRF-Token`
//! header (htmx requests: `static/js/app.js` adds it) or in the `csrf_token` field of a
//! url-encoded form; otherwise it is refused with 403 before any handler runs.
//!
//! The sign-in and first-user forms come before any session: they use a double-submit cookie
//! instead (a random token in a `SameSite=Strict` cookie that the form must repeat), so that a
//! foreign site cannot sign a browser in to an account of its choosing.

use actix_session::SessionExt;
use actix_web::{
    HttpMessage, HttpRequest, ResponseError,
    body::{EitherBody, MessageBody},
    cookie::{Cookie, SameSite},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web::Bytes,
};
use futures_util::StreamExt as _;
use subtle::ConstantTimeEq;

use super::{errors::PageError, session::TypedSession};
use crate::auth::tokens;

/// Name of the form field carrying the token.
pub const FIELD: &str = "csrf_token";
/// Name of the header carrying the token.
pub const HEADER: &str = "x-csrf-token";
/// Cookie of the pre-session (sign-in) token.
pub const LOGIN_COOKIE: &str = "aladdin_login_csrf";

/// Compares two tokens in constant time; empty tokens never match.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// The value of `name` in a url-encoded body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_form(req: &ServiceRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Reads the whole body (up to `limit` bytes), then puts it back for the handler.
async fn peek_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, PageError> {
    let mut payload = req.take_payload();
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| PageError::forbidden("The form could not be read."))?;
        if body.len() + chunk.len() > limit {
            return Err(PageError::forbidden("The form is too large."));
        }
        body.extend_from_slice(&chunk);
    }
    let body = Bytes::from(body);
    req.set_payload(Payload::from(body.clone()));
    Ok(body)
}

/// Middleware: refuses state-changing requests that do not carry the session's token.
pub async fn require_token(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    if is_safe(req.method()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let expected = TypedSession::new(req.get_session()).existing_csrf_token();
    let given = match req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        Some(token) => Some(token.to_owned()),
        None if is_form(&req) => {
            let limit = req
                .app_data::<actix_web::web::Data<crate::state::AppState>>()
                .map_or(2 * 1024 * 1024, |s| s.settings.server.max_body_bytes);
            match peek_body(&mut req, limit).await {
                Ok(body) => form_field(&body, FIELD),
                Err(e) => return Ok(refuse(req, e)),
            }
        }
        None => None,
    };
    let valid = matches!((&expected, &given), (Some(e), Some(g)) if tokens_match(e, g));
    if !valid {
        tracing::warn!(path = %req.path(), method = %req.method(), "refused a request without a valid CSRF token");
        let error = PageError::forbidden(
            "This form has expired or did not come from this site. Reload the page and try again.",
        );
        return Ok(refuse(req, error));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn refuse<B>(req: ServiceRequest, error: PageError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(error.error_response())
        .map_into_right_body()
}

/// The sign-in form's token: the one already in the browser's cookie, or a new one together
/// with the cookie to set.
pub fn login_token(req: &HttpRequest, secure: bool) -> (String, Option<Cookie<'static>>) {
    if let Some(cookie) = req.cookie(LOGIN_COOKIE)
        && cookie.value().len() >= 32
    {
        return (cookie.value().to_owned(), None);
    }
    let token = tokens::generate();
    let cookie = Cookie::build(LOGIN_COOKIE, token.clone())
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .finish();
    (token, Some(cookie))
}

/// True when the submitted sign-in token matches the browser's cookie.
pub fn login_token_valid(req: &HttpRequest, given: &str) -> bool {
    req.cookie(LOGIN_COOKIE)
        .is_some_and(|c| tokens_match(c.value(), given))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_match_exactly_and_never_be_empty() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn the_token_is_found_in_a_form_body() {
        assert_eq!(
            form_field(b"name=x&csrf_token=t%2B1", FIELD).as_deref(),
            Some("t+1")
        );
        assert_eq!(form_field(b"name=x", FIELD), None);
        assert_eq!(form_field(b"\xff\xfe", FIELD), None);
    }
}
