//! Users and roles.

use serde_json::Value;

use super::fields::Fields;
use crate::error::AppError;

/// What a user may do. Ordered: every role can do what the roles before it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything except users.
    Viewer,
    /// Manages content and starts runs.
    Editor,
    /// Also manages users and the price table.
    Admin,
}

impl Role {
    /// All roles, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A validated user (the password, when given, still in clear: hashed by the caller).
#[derive(Debug, Clone)]
pub struct UserInput {
    /// Unique, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// New password, if one was given.
    pub password: Option<String>,
    /// Whether the user's API key is accepted.
    pub enable_api_key: bool,
    /// A client-chosen API key (Payload's way); stored hashed.
    pub api_key: Option<String>,
}

impl UserInput {
    /// Parses and validates a user document; `password_required` on creation.
    pub fn from_json(doc: &Value, password_required: bool) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let email = f.string("email", true, 254).to_lowercase();
        if !email.is_empty() && !is_email(&email) {
            f.error("email", "Must be a valid email address.");
        }
        let name = f.string("name", false, 200);
        let role_raw = f.string("role", false, 20);
        let role = if role_raw.is_empty() {
            Role::Editor
        } else {
            Role::parse(&role_raw).unwrap_or_else(|| {
                f.error("role", "Must be one of admin, editor, viewer.");
                Role::Viewer
            })
        };
        let password = match f.raw("password") {
            Value::String(p) if !p.is_empty() => {
                if p.chars().count() < MIN_PASSWORD_LEN {
                    f.error(
                        "password",
                        format!("Must be at least {MIN_PASSWORD_LEN} characters."),
                    );
                }
                Some(p.clone())
            }
            Value::Null | Value::String(_) => {
                if password_required {
                    f.error("password", "This field is required.");
                }
                None
            }
            _ => {
                f.error("password", "Must be a string.");
                None
            }
        };
        let enable_api_key = f.boolean("enableAPIKey", false);
        let api_key = match f.raw("apiKey") {
            Value::String(k) if !k.is_empty() => {
                if k.len() < 24 {
                    f.error("apiKey", "Must be at least 24 characters.");
                }
                Some(k.clone())
            }
            _ => None,
        };
        f.finish()?;
        Ok(Self {
            email,
            name,
            role,
            password,
            enable_api_key,
            api_key,
        })
    }
}

fn is_email(s: &str) -> bool {
    let mut parts = s.splitn(2, '@');
    let (Some(local), Some(domain)) = (parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}
