//! Projects: what tools read, and the scope of tool data.

use serde_json::{Value, json};

use super::fields::Fields;
use crate::entities::projects::Model;
use crate::error::AppError;

/// Project statuses offered in the admin (any short string is accepted through the API).
pub const STATUSES: &[&str] = &[
    "development",
    "in-development",
    "pre-production",
    "production",
    "post-production",
    "released",
    "archived",
];

/// A validated project.
#[derive(Debug, Clone)]
pub struct ProjectInput {
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Synopsis.
    pub description: String,
    /// e.g. `fantasy`.
    pub genre: String,
    /// e.g. `in-development`.
    pub status: String,
    /// Any further project data, as a JSON object.
    pub metadata: Value,
}

impl ProjectInput {
    /// Parses and validates a project document.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let mut status = f.string("status", false, 50);
        if status.is_empty() {
            status = "development".into();
        }
        let metadata = f.json("metadata").unwrap_or_else(|| json!({}));
        if !metadata.is_object() {
            f.error("metadata", "Must be a JSON object.");
        }
        let input = Self {
            name: f.string("name", true, 200),
            slug: f.slug("slug"),
            description: f.string("description", false, 20_000),
            genre: f.string("genre", false, 100),
            status,
            metadata,
        };
        f.finish()?;
        Ok(input)
    }
}

/// What `getProjectContext` returns and tools receive as `project`.
pub fn context(m: &Model) -> Value {
    json!({
        "id": m.id,
        "name": m.name,
        "slug": m.slug,
        "description": m.description,
        "genre": m.genre,
        "status": m.status,
        "metadata": m.metadata,
    })
}
