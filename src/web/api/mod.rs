//! The JSON API under `/api`, shaped like PayloadCMS's REST API so that Payload clients
//! (`@payloadcms/sdk`, plain `fetch`) work unchanged. `GET /api/openapi.json` is the
//! contract; `/api/docs` renders it.
//!
//! Conventions (Payload's):
//! - `GET /api/{slug}`: `where` (bracket syntax or a JSON string; see [`crate::query`]),
//!   `sort` (comma-separated, `-` descending, default `-createdAt`, unknown fields skipped),
//!   `limit` (default 10), `page`, `depth` (default 2; 0 gives relation ids),
//!   `pagination=false` → `{docs, totalDocs, limit, totalPages, page, pagingCounter,
//!   hasPrevPage, hasNextPage, prevPage, nextPage}`.
//! - `GET /api/{slug}/{id}` the bare document; `POST` 201 `{doc, message}`; `PATCH` and
//!   `DELETE /api/{slug}/{id}` `{doc, message}`; `GET /api/{slug}/count` `{totalDocs}`;
//!   `PATCH` / `DELETE /api/{slug}?where=…` `{docs, errors, message}`.
//! - Errors `{"errors":[{"message"}]}`, validation errors with `name` and `data.errors`.
//!   Every route answers this way, bad bodies included (see [`extract::check_body`]).
//!
//! Decisions where Payload left room:
//! - `limit` is capped at 1000 (`limit=0` means 1000): no request reads a whole big table.
//!   Bulk operations apply to at most 1000 documents per request.
//! - A bulk operation without a `where`, or with one that constrains nothing (`{}`), is
//!   refused (Payload would apply it to the whole collection).
//! - Malformed `where` values (a word for a number, an unknown operator, an unknown path)
//!   are 400s rather than Payload's silent "match nothing": a typo must not look like an
//!   empty result, nor widen a bulk delete. Malformed `limit` / `page` / `depth` are
//!   ignored, as Payload does.
//! - Document ids that are not positive 32-bit integers are 404s, and so is any path with an
//!   encoded NUL character.
//! - Bodies are checked the same way on every `POST`, `PATCH` and `PUT`, whether or not the
//!   handler reads them: a non-empty body must be sent as `application/json` (else 415), be a
//!   JSON object, and hold no NUL character (a validation error on the field's path:
//!   PostgreSQL cannot store it); over `MAX_BODY_BYTES` is 413. Strings are strict: a number
//!   is not accepted where a string is expected.
//! - `GET /api/openapi.json` documents the routes the router has; a test compares the two
//!   (see [`registry`]).
//! - Document ids that are not positive 32-bit integers are 404s.
//! - Tool data lives at `/api/tool-data/{collection}?project=<id or slug>` (the project a
//!   required query parameter, so that such a request never reads across projects) and, as
//!   a Payload client calls it, at `/api/{collection}` for names that are not built in
//!   (`project` an ordinary field there); see [`tool_data`].
//! - Users: admins manage everyone; other users read and update themselves (not their
//!   role or `disabled`) and manage their own API key; the last enabled admin cannot be
//!   demoted, disabled or deleted. Models: everyone reads, admins write. Executions are
//!   read-only except `cancel` (editors).
//! - Login tokens are opaque, stored hashed, valid two hours; `refresh-token` issues a new
//!   one and, as in Payload, leaves the one presented valid until its own expiry.
//!   Verified credentials are cached for one second per instance (see
//!   [`crate::auth::api_credentials::CredentialCache`]).
//! - Failed logins are limited per account (5) and per client address (30) in 15 minutes, then
//!   429; the limiter is the admin sign-in form's, so failures count across both.

pub mod approvals;
pub mod auth;
pub(crate) mod collection;
pub mod docs;
pub mod errors;
pub mod evals;
pub mod executions;
pub mod experiments;
pub mod extract;
pub mod mcp;
pub mod metrics;
pub mod registry;
pub mod runs;
pub mod tool_data;
pub mod users;
pub mod versions;
pub mod views;

use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, web};

use crate::collections::{self, Collection, Visitor};

/// Mounts `/api`. Fixed paths (`/users/login`, `/agent-executions/{id}/cancel`,
/// `/{slug}/count`) are registered before the `/{slug}/{id}` patterns they would match.
/// Every body is checked once by [`extract::check_body`], and actix's own extractors answer
/// in the API's envelope, so that no route of the scope can answer a bad request with plain
/// text.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(extract::check_body))
            .app_data(web::JsonConfig::default().error_handler(json_error))
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .configure(auth::routes)
            .configure(users::routes)
            .configure(executions::routes)
            .configure(approvals::routes)
            .configure(runs::routes)
            .configure(versions::routes)
            .configure(experiments::routes)
            .configure(evals::routes)
            .configure(mcp::routes)
            .configure(|cfg| collections::each(&mut Register(cfg)))
            .configure(tool_data::routes)
            .configure(docs::routes)
            // Last: `/{collection}` would match any built-in slug registered after it.
            .configure(tool_data::fallback_routes)
            .default_service(web::to(errors::route_not_found)),
    );
}

/// Registers the routes of every collection.
struct Register<'a>(&'a mut web::ServiceConfig);

impl Visitor for Register<'_> {
    fn visit<C: Collection>(&mut self) {
        collection::routes::<C>(self.0);
    }
}

fn json_error(e: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match e {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => errors::ApiError::Status(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than the limit of {limit} bytes."),
        ),
        JsonPayloadError::ContentType => errors::ApiError::Status(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            extract::NOT_JSON_CONTENT_TYPE.into(),
        ),
        other => {
            errors::ApiError::bad_request(format!("The request body is not valid JSON: {other}."))
        }
    }
    .into()
}

fn query_error(e: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    errors::ApiError::bad_request(format!("The query string is invalid: {e}.")).into()
}

fn path_error(_: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    errors::ApiError::not_found().into()
}
