//! Renderings of [`AppError`] for the HTML surface: [`PageError`] is an error page for full
//! loads, [`FragmentError`] an out-of-band toast for htmx swaps. A page error raised while
//! answering an htmx request is turned into the toast by [`htmx_errors`], so handlers that
//! serve both shapes need not choose. Unknown errors are logged once, here, and never shown.

use actix_web::{
    HttpResponse, ResponseError,
    body::{BoxBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
};
use askama::Template;
use sea_orm::DbErr;

use super::htmx::{HxRequest, Toast, render_with_status, toast_only};
use crate::error::AppError;

/// What a user is told about an error.
#[derive(Debug, Clone)]
pub struct ErrorView {
    /// HTTP status.
    pub status: StatusCode,
    /// Headline.
    pub title: String,
    /// Explanation.
    pub message: String,
}

impl ErrorView {
    /// What to tell the user about `err` (unexpected errors are logged here).
    pub fn of(err: &AppError) -> Self {
        let (status, title, message) = match err {
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", m.clone()),
            AppError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Please sign in",
                "Your session has ended. Sign in again to continue.".into(),
            ),
            AppError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role does not allow this action. Ask an administrator if you need it.".into(),
            ),
            AppError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "Not found",
                "This page does not exist, or what it showed has been deleted.".into(),
            ),
            AppError::Validation(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid input",
                errors
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "Cannot do that", m.clone()),
            AppError::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, "Slow down", m.clone()),
            AppError::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error while answering an admin request");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "An unexpected error occurred. It has been logged; please try again.".into(),
                )
            }
        };
        Self {
            status,
            title: title.into(),
            message,
        }
    }
}

/// An error answered with an error page.
#[derive(Debug)]
pub struct PageError(pub ErrorView);

impl PageError {
    /// A 403 with a specific explanation.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self(ErrorView {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed".into(),
            message: message.into(),
        })
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.status, self.0.title)
    }
}

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        Self(ErrorView::of(&err))
    }
}

impl From<DbErr> for PageError {
    fn from(err: DbErr) -> Self {
        AppError::from(err).into()
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    error: &'a ErrorView,
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let mut response = render_with_status(self.0.status, &ErrorPage { error: &self.0 })
            .unwrap_or_else(|_| HttpResponse::build(self.0.status).body(self.0.title.clone()));
        // Kept so that htmx_errors can answer an htmx request with a toast instead.
        response.extensions_mut().insert(self.0.clone());
        response
    }
}

/// An error answered with an out-of-band toast (the swap target is left alone), or, when the
/// session has ended, with `HX-Redirect` to the sign-in page.
#[derive(Debug)]
pub struct FragmentError(pub ErrorView);

impl std::fmt::Display for FragmentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.status, self.0.title)
    }
}

impl From<AppError> for FragmentError {
    fn from(err: AppError) -> Self {
        Self(ErrorView::of(&err))
    }
}

impl From<DbErr> for FragmentError {
    fn from(err: DbErr) -> Self {
        AppError::from(err).into()
    }
}

impl ResponseError for FragmentError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        fragment_response(&self.0)
    }
}

fn fragment_response(view: &ErrorView) -> HttpResponse {
    if view.status == StatusCode::UNAUTHORIZED {
        return HttpResponse::Unauthorized()
            .insert_header(("HX-Redirect", "/admin/login"))
            .finish();
    }
    let toast = Toast::error(view.title.clone(), view.message.clone());
    toast_only(view.status, &[toast]).unwrap_or_else(|_| HttpResponse::build(view.status).finish())
}

/// Middleware: an error page produced while answering an htmx fragment request becomes a toast.
pub async fn htmx_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let hx = HxRequest::from_headers(req.headers());
    let response = next.call(req).await?.map_into_boxed_body();
    if !hx.fragment || response.status().as_u16() < 400 {
        return Ok(response);
    }
    let view = response.response().extensions().get::<ErrorView>().cloned();
    Ok(match view {
        Some(view) => response.into_response(fragment_response(&view)),
        None => response,
    })
}
