//! The one error type at the HTTP boundary. Inside, modules use their own small errors;
//! handlers convert them into [`AppError`], which each surface (JSON API, page, htmx fragment)
//! renders in its own way. The HTTP status codes and the mapping of the runner's errors live
//! with the HTTP code (`web::error_mapping`).

use std::collections::BTreeMap;

use sea_orm::DbErr;

/// Field path → message, in a stable order.
pub type FieldErrors = BTreeMap<String, String>;

/// Errors named by their HTTP meaning.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request itself is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("You are not allowed to perform this action.")]
    Unauthorized,
    /// 403: authenticated, but not allowed.
    #[error("You are not allowed to perform this action.")]
    Forbidden,
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 400 (API) / 422 (forms): invalid fields, each with its path.
    #[error("The following field is invalid: {}", .0.keys().cloned().collect::<Vec<_>>().join(", "))]
    Validation(FieldErrors),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 429.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: never shown to users; logged once where rendered.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Shorthand for handler results.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The 404 of a missing row (Payload's message).
    pub fn not_found() -> Self {
        Self::NotFound("Not Found".into())
    }

    /// A validation error on one field.
    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(BTreeMap::from([(path.into(), message.into())]))
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err {
            DbErr::RecordNotFound(what) => Self::NotFound(what),
            other => Self::Unexpected(anyhow::Error::new(other).context("database error")),
        }
    }
}
