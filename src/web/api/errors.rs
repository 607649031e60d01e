//! The JSON API's rendering of errors, in Payload's envelope:
//! `{"errors":[{"message": …}]}`, with `name` and `data` for validation errors.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use sea_orm::DbErr;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::error::AppError;
use crate::query::QueryError;

/// Payload's message for requests without valid credentials.
pub const UNAUTHORIZED: &str = "Unauthorized, you must be logged in to make this request.";
/// Payload's message for requests the role does not allow.
pub const FORBIDDEN: &str = "You are not allowed to perform this action.";
/// Payload's message for a missing document.
pub const NOT_FOUND: &str = "Not Found";

/// An error rendered for the JSON API: an [`AppError`], or a status of the HTTP layer
/// itself (413, 415, 405) that the shared error type does not name.
#[derive(Debug)]
pub enum ApiError {
    /// An application error.
    App(AppError),
    /// A plain status and message.
    Status(StatusCode, String),
}

/// Handler result on the JSON API.
pub type ApiResult<T = HttpResponse> = Result<T, ApiError>;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.public_message())
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        Self::App(e.into())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        Self::App(AppError::BadRequest(e.to_string()))
    }
}

/// One entry of the `errors` array.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorItem {
    /// Error class, e.g. `ValidationError` (only on validation errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What went wrong.
    pub message: String,
    /// Details: for validation errors, `{errors: [{path, message}]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// Always one entry.
    pub errors: Vec<ErrorItem>,
}

/// Payload's heading for invalid fields.
pub fn validation_message(paths: &[&str]) -> String {
    if paths.len() == 1 {
        format!("The following field is invalid: {}", paths[0])
    } else {
        format!("The following fields are invalid: {}", paths.join(", "))
    }
}

impl ApiError {
    /// 401.
    pub fn unauthorized() -> Self {
        Self::App(AppError::Unauthorized)
    }

    /// 403.
    pub fn forbidden() -> Self {
        Self::App(AppError::Forbidden)
    }

    /// 404 with Payload's message.
    pub fn not_found() -> Self {
        Self::App(AppError::NotFound(NOT_FOUND.into()))
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::App(AppError::BadRequest(message.into()))
    }

    /// The message shown for this error (never the text of an unexpected error).
    pub fn public_message(&self) -> String {
        let app = match self {
            Self::Status(_, message) => return message.clone(),
            Self::App(app) => app,
        };
        match app {
            AppError::Unauthorized => UNAUTHORIZED.into(),
            AppError::Forbidden => FORBIDDEN.into(),
            AppError::Validation(errors) => {
                validation_message(&errors.keys().map(String::as_str).collect::<Vec<_>>())
            }
            AppError::Unexpected(_) => "Something went wrong.".into(),
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Status(status, _) => *status,
            Self::App(app) => {
                StatusCode::from_u16(app.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let Self::App(app) = self else {
            return error_response(self.status_code(), self.public_message());
        };
        let item = match app {
            AppError::Validation(errors) => ErrorItem {
                name: Some("ValidationError".into()),
                message: self.public_message(),
                data: Some(json!({
                    "errors": errors
                        .iter()
                        .map(|(path, message)| json!({"path": path, "message": message}))
                        .collect::<Vec<_>>()
                })),
            },
            AppError::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error on the JSON API");
                ErrorItem {
                    name: None,
                    message: self.public_message(),
                    data: None,
                }
            }
            _ => ErrorItem {
                name: None,
                message: self.public_message(),
                data: None,
            },
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(app, AppError::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorResponse { errors: vec![item] })
    }
}

/// A bare error response with one message.
pub fn error_response(status: StatusCode, message: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status).json(ErrorResponse {
        errors: vec![ErrorItem {
            name: None,
            message: message.into(),
            data: None,
        }],
    })
}

/// The JSON 404 for every unknown `/api` path (Payload's wording).
pub async fn route_not_found(req: HttpRequest) -> HttpResponse {
    error_response(
        StatusCode::NOT_FOUND,
        format!("Route not found \"{}\"", req.path()),
    )
}

/// The JSON 405 for a known path with a method it does not serve.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "Method {} is not allowed on \"{}\".",
            req.method(),
            req.path()
        ),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body(e: AppError) -> (u16, serde_json::Value) {
        let response = ApiError::App(e).error_response();
        let status = response.status().as_u16();
        let bytes = response.into_body().try_into_bytes().unwrap_or_default();
        (status, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[test]
    fn validation_errors_have_payloads_shape() {
        let mut errors = crate::error::FieldErrors::new();
        errors.insert(
            "toolNames.0.toolName".into(),
            "This field is required.".into(),
        );
        let (status, json) = body(AppError::Validation(errors.clone()));
        assert_eq!(status, 400);
        assert_eq!(
            json,
            json!({"errors": [{
                "name": "ValidationError",
                "message": "The following field is invalid: toolNames.0.toolName",
                "data": {"errors": [{"path": "toolNames.0.toolName", "message": "This field is required."}]}
            }]})
        );
        errors.insert("name".into(), "This field is required.".into());
        let (_, json) = body(AppError::Validation(errors));
        assert_eq!(
            json["errors"][0]["message"],
            "The following fields are invalid: name, toolNames.0.toolName"
        );
    }

    #[test]
    fn unexpected_errors_are_not_echoed() {
        let (status, json) = body(AppError::Unexpected(anyhow::anyhow!(
            "SQL: syntax error near x"
        )));
        assert_eq!(status, 500);
        assert_eq!(
            json,
            json!({"errors": [{"message": "Something went wrong."}]})
        );
    }
}
