//! `require_login`: every admin route except sign-in needs a live session of an enabled user.
//! The user is read from the database on each request, so a role change or a disabled account
//! takes effect at once; the [`CurrentUser`] goes into the request extensions.

use actix_session::SessionExt;
use actix_web::{
    HttpMessage, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{Method, header},
    middleware::Next,
    web::Data,
};

use super::{errors::PageError, htmx::HxRequest, session::TypedSession};
use crate::state::AppState;

/// Middleware: loads the signed-in user or sends the browser to the sign-in page.
pub async fn require_login(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, actix_web::Error> {
    let session = TypedSession::new(req.get_session());
    let Some(state) = req.app_data::<Data<AppState>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError(
            "application state missing",
        ));
    };
    let user = session
        .current_user(&state.db)
        .await
        .map_err(PageError::from)?;
    match user {
        Some(user) => {
            req.extensions_mut().insert(user);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        None => {
            if session.user_id().is_some() {
                // Deleted or disabled since signing in.
                session.sign_out();
            }
            let response = to_login(&req);
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// Where an anonymous request goes: the sign-in page, coming back here afterwards (for page
/// loads); htmx requests get `HX-Redirect` so that the whole page navigates.
fn to_login(req: &ServiceRequest) -> HttpResponse {
    let target = if req.method() == Method::GET {
        let path = req.uri().path_and_query().map_or("/admin", |p| p.as_str());
        match serde_urlencoded::to_string([("next", path)]) {
            Ok(query) => format!("/admin/login?{query}"),
            Err(_) => "/admin/login".to_owned(),
        }
    } else {
        "/admin/login".to_owned()
    };
    if HxRequest::from_headers(req.headers()).fragment {
        return HttpResponse::Unauthorized()
            .insert_header(("HX-Redirect", target))
            .finish();
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish()
}
