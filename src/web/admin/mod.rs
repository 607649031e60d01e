//! The admin panel: one module per resource, the shared request context and page chrome.
//!
//! Roles are checked in every handler through [`Ctx::require`] (viewer: read; editor:
//! content; admin: users and the price table); templates hide what the role may not do.

mod account;
mod agent_page;
mod agents;
mod approvals;
mod budget_wait;
mod budgets;
mod chains;
pub mod charts;
mod crud;
mod custom_tools;
mod dashboard;
mod departments;
mod evals;
mod executions;
mod experiments;
pub mod form;
mod history;
pub mod history_filter;
pub mod list;
mod mcp_servers;
mod models;
mod projects;
mod run;
mod spend;
mod tool_data;
mod users;

use std::future::{Ready, ready};

use actix_session::SessionExt;
use actix_web::{FromRequest, HttpMessage, HttpRequest, dev::Payload, web};

use super::errors::PageError;
use super::htmx::{HxRequest, Toast};
use crate::auth::current_user::CurrentUser;
use crate::domain::users::Role;
use crate::error::AppError;
use crate::web::session::TypedSession;

/// Mounts the admin pages (inside the signed-in scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("").route(web::get().to(dashboard::show)))
        .service(web::resource("/").route(web::get().to(dashboard::show)))
        .configure(account::configure)
        .configure(agent_page::configure)
        .configure(history::configure)
        .configure(experiments::configure)
        .configure(evals::configure)
        .configure(crud::configure::<agents::Agents>)
        .configure(chains::configure)
        .configure(crud::configure::<chains::Chains>)
        .configure(crud::configure::<departments::Departments>)
        .configure(crud::configure::<custom_tools::Tools>)
        .configure(custom_tools::configure)
        .configure(crud::configure::<projects::Projects>)
        .configure(crud::configure::<models::Models>)
        .configure(crud::configure::<budgets::Budgets>)
        .configure(crud::configure::<mcp_servers::McpServers>)
        .configure(mcp_servers::configure)
        .configure(executions::configure)
        .configure(tool_data::configure)
        .configure(users::configure)
        .configure(run::configure)
        .configure(approvals::configure)
        .configure(spend::configure)
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, PageError> {
    Err(AppError::not_found().into())
}

/// Who is asking, their session, and which shape they want: what every admin handler needs.
pub struct Ctx {
    /// The signed-in user (inserted by `require_login`).
    pub user: CurrentUser,
    /// The session (CSRF token, flash messages).
    pub session: TypedSession,
    /// htmx headers.
    pub hx: HxRequest,
}

impl Ctx {
    /// Refuses (403) users below `role`.
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.user.role >= role {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// The layout's data for a page under `nav`. Flash messages are taken only for full
    /// pages, where the layout shows them.
    pub fn chrome(&self, nav: &'static str) -> Chrome {
        let toasts = if self.hx.fragment {
            Vec::new()
        } else {
            self.session.take_flashes()
        };
        Chrome {
            user: self.user.clone(),
            csrf: self.session.csrf_token(),
            nav,
            toasts,
        }
    }

    /// Shows `toast` on the next page.
    pub fn flash(&self, toast: Toast) {
        self.session.push_flash(toast);
    }
}

impl FromRequest for Ctx {
    type Error = PageError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let user = req.extensions().get::<CurrentUser>().cloned();
        ready(match user {
            Some(user) => Ok(Self {
                user,
                session: TypedSession::new(req.get_session()),
                hx: HxRequest::of(req),
            }),
            None => Err(AppError::Unauthorized.into()),
        })
    }
}

/// What the layout shows around every page: the user, the CSRF token, the active navigation
/// item and the toasts queued for this page.
pub struct Chrome {
    /// The signed-in user.
    pub user: CurrentUser,
    /// The session's CSRF token (meta tag and hidden fields).
    pub csrf: String,
    /// Key of the active navigation item.
    pub nav: &'static str,
    /// Toasts to show on load.
    pub toasts: Vec<Toast>,
}

impl Chrome {
    /// Up to two initials for the avatar.
    pub fn initials(&self) -> String {
        let source = if self.user.name.trim().is_empty() {
            &self.user.email
        } else {
            &self.user.name
        };
        let initials: String = source
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .take(2)
            .collect();
        initials.to_uppercase()
    }

    /// The name shown in the top bar.
    pub fn display_name(&self) -> &str {
        if self.user.name.trim().is_empty() {
            &self.user.email
        } else {
            &self.user.name
        }
    }

    /// May edit content.
    pub fn can_edit(&self) -> bool {
        self.user.can_edit()
    }

    /// Is an administrator.
    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }
}

/// Parses an id from the path; anything else is a 404.
pub fn parse_id(raw: &str) -> Result<i32, AppError> {
    raw.parse::<i32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(AppError::not_found)
}

/// Formatting helpers shared by the admin templates.
pub mod fmt {
    use chrono::{DateTime, FixedOffset, Utc};

    /// `2025-03-01 14:05` in UTC.
    pub fn datetime(ts: &DateTime<FixedOffset>) -> String {
        ts.with_timezone(&Utc).format("%Y-%m-%d %H:%M").to_string()
    }

    /// "3 min ago", "2 h ago", "5 d ago", or the date.
    pub fn ago(ts: &DateTime<FixedOffset>) -> String {
        let seconds = (Utc::now() - ts.with_timezone(&Utc)).num_seconds();
        match seconds {
            s if s < 60 => "just now".into(),
            s if s < 3600 => format!("{} min ago", s / 60),
            s if s < 86_400 => format!("{} h ago", s / 3600),
            s if s < 30 * 86_400 => format!("{} d ago", s / 86_400),
            _ => ts.with_timezone(&Utc).format("%Y-%m-%d").to_string(),
        }
    }

    /// Milliseconds as "850 ms", "12.3 s", "4 min 5 s".
    pub fn duration_ms(ms: &i64) -> String {
        match *ms {
            m if m < 1000 => format!("{m} ms"),
            m if m < 60_000 => format!("{:.1} s", m as f64 / 1000.0),
            m => format!("{} min {} s", m / 60_000, (m % 60_000) / 1000),
        }
    }

    /// A number with thin thousands separators: 1 234 567.
    pub fn int(n: &i64) -> String {
        let n = *n;
        let digits = n.unsigned_abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push('\u{202f}');
            }
            out.push(c);
        }
        if n < 0 { format!("-{out}") } else { out }
    }

    /// US dollars, with more decimals for small amounts.
    pub fn usd(amount: &f64) -> String {
        let amount = *amount;
        if amount == 0.0 {
            "$0".into()
        } else if amount < 0.01 {
            format!("${amount:.4}")
        } else {
            format!("${amount:.2}")
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn numbers_read_well() {
            assert_eq!(int(&1_234_567), "1\u{202f}234\u{202f}567");
            assert_eq!(int(&12), "12");
            assert_eq!(duration_ms(&850), "850 ms");
            assert_eq!(duration_ms(&12_300), "12.3 s");
            assert_eq!(usd(&0.0012), "$0.0012");
            assert_eq!(usd(&3.5), "$3.50");
        }
    }
}
