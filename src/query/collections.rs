//! The collections' field maps under short names (each is defined with its collection).

pub use crate::collections::agents::FIELDS as AGENTS;
pub use crate::collections::custom_tools::FIELDS as CUSTOM_TOOLS;
pub use crate::collections::departments::FIELDS as DEPARTMENTS;
pub use crate::collections::executions::FIELDS as EXECUTIONS;
pub use crate::collections::models::FIELDS as MODELS;
pub use crate::collections::projects::FIELDS as PROJECTS;
pub use crate::collections::users::FIELDS as USERS;
