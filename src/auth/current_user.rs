//! The authenticated user of a request, and what their role allows.

use crate::domain::users::Role;
use crate::entities::users;

/// Who is making the request. Inserted into request extensions by the admin session
/// middleware and by the API's credential extractor.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// User id.
    pub id: i32,
    /// Login email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

impl CurrentUser {
    /// The current user for a stored row; None for disabled users or unknown roles.
    pub fn from_model(user: &users::Model) -> Option<Self> {
        if user.disabled {
            return None;
        }
        Some(Self {
            id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            role: Role::parse(&user.role)?,
        })
    }

    /// May read content, executions and metrics (every role).
    pub fn can_read(&self) -> bool {
        true
    }

    /// May create, edit and delete content (agents, departments, tools, projects, tool
    /// data) and start or cancel runs.
    pub fn can_edit(&self) -> bool {
        self.role >= Role::Editor
    }

    /// May manage users and the model price table.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
