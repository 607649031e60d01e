//! htmx discipline in one place: which shape a request wants, rendering a page or its
//! fragment, redirects that work for plain browsers and htmx alike, and out-of-band toasts.

use std::future::{Ready, ready};

use actix_web::{
    FromRequest, HttpRequest, HttpResponse,
    dev::Payload,
    http::{StatusCode, header},
};
use askama::Template;

use crate::error::AppError;

/// What htmx told us about a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct HxRequest {
    /// `HX-Request: true`, and not a history restore nor a boosted navigation: the caller
    /// swaps a fragment into the page.
    pub fragment: bool,
}

impl HxRequest {
    /// Reads the htmx headers of a request.
    pub fn of(req: &HttpRequest) -> Self {
        Self::from_headers(req.headers())
    }

    /// Reads the htmx headers.
    pub fn from_headers(headers: &header::HeaderMap) -> Self {
        let is = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        };
        Self {
            fragment: is("hx-request") && !is("hx-history-restore-request") && !is("hx-boosted"),
        }
    }
}

impl FromRequest for HxRequest {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// Renders a template into an HTML response with `status`.
pub fn render_with_status(
    status: StatusCode,
    template: &impl Template,
) -> Result<HttpResponse, AppError> {
    let body = template
        .render()
        .map_err(|e| AppError::Unexpected(anyhow::anyhow!("template error: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// Renders a template into a 200 HTML response.
pub fn render(template: &impl Template) -> Result<HttpResponse, AppError> {
    render_with_status(StatusCode::OK, template)
}

/// One handler, two shapes: the fragment for htmx swaps, the full page otherwise. The
/// response varies on `HX-Request` so that caches never serve one shape for the other.
pub fn page_or_fragment(
    hx: HxRequest,
    page: &impl Template,
    fragment: &impl Template,
) -> Result<HttpResponse, AppError> {
    let mut response = if hx.fragment {
        render(fragment)?
    } else {
        render(page)?
    };
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("HX-Request"));
    Ok(response)
}

/// 303 See Other to `location` (after a form POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A redirect htmx follows with a full navigation (`HX-Redirect`), or a 303 for plain requests.
pub fn hx_redirect(hx: HxRequest, location: &str) -> HttpResponse {
    if hx.fragment {
        HttpResponse::Ok()
            .insert_header(("HX-Redirect", location))
            .finish()
    } else {
        see_other(location)
    }
}

/// The tone of a toast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// Done.
    Success,
    /// Could not be done.
    Error,
    /// Partly done, or worth a look.
    Warning,
    /// For information.
    Info,
}

impl Tone {
    /// The CSS suffix (`toast-success`, `alert-success`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Success => "success",
            Tone::Error => "error",
            Tone::Warning => "warning",
            Tone::Info => "info",
        }
    }

    /// The sprite icon of the tone.
    pub fn icon(self) -> &'static str {
        match self {
            Tone::Success => "i-check",
            Tone::Error => "i-alert",
            Tone::Warning => "i-alert",
            Tone::Info => "i-info",
        }
    }
}

/// A short message shown as a toast (after a redirect, through the session; after an htmx
/// swap, out of band).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Toast {
    /// Tone.
    pub tone: Tone,
    /// Bold first line.
    pub title: String,
    /// Optional detail.
    pub text: String,
}

impl Toast {
    /// A success toast.
    pub fn success(title: impl Into<String>) -> Self {
        Self::new(Tone::Success, title, "")
    }

    /// An error toast.
    pub fn error(title: impl Into<String>, text: impl Into<String>) -> Self {
        Self::new(Tone::Error, title, text)
    }

    /// A toast of any tone.
    pub fn new(tone: Tone, title: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            tone,
            title: title.into(),
            text: text.into(),
        }
    }

    /// Adds a detail line.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }
}

/// Toasts appended to `#toasts` out of band, next to whatever else a response swaps.
#[derive(Template)]
#[template(path = "partials/toasts_oob.html")]
pub struct ToastsOob<'a> {
    /// The toasts.
    pub toasts: &'a [Toast],
}

/// A response that only shows toasts (the target is left alone).
pub fn toast_only(status: StatusCode, toasts: &[Toast]) -> Result<HttpResponse, AppError> {
    let mut response = render_with_status(status, &ToastsOob { toasts })?;
    response.headers_mut().insert(
        header::HeaderName::from_static("hx-reswap"),
        header::HeaderValue::from_static("none"),
    );
    Ok(response)
}

/// A fragment followed by out-of-band toasts (the answer to a change made from a list).
pub fn fragment_with_toasts(
    fragment: &impl Template,
    toasts: &[Toast],
) -> Result<HttpResponse, AppError> {
    let render_error =
        |e: askama::Error| AppError::Unexpected(anyhow::anyhow!("template error: {e}"));
    let mut body = fragment.render().map_err(render_error)?;
    body.push_str(&ToastsOob { toasts }.render().map_err(render_error)?);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
