//! Departments: slug, name, colour and the defaults of their agents.

use serde_json::Value;

use super::fields::Fields;
use crate::error::AppError;

/// A validated department.
#[derive(Debug, Clone)]
pub struct DepartmentInput {
    /// Unique slug, `^[a-z][a-z0-9-]*$`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// An emoji or short icon name.
    pub icon: String,
    /// `#RRGGBB`.
    pub color: String,
    /// Sort order, 0–1000.
    pub priority: i32,
    /// Inactive departments keep their agents but are hidden from pickers.
    pub is_active: bool,
    /// Core departments cannot be deleted.
    pub core_department: bool,
    /// Model used by agents of this department that leave theirs empty.
    pub default_model: String,
    /// Step limit for agents of this department that leave theirs empty.
    pub max_agent_steps: Option<i32>,
    /// Fallback models for agents of this department that name none.
    pub fallback_models: Vec<String>,
}

impl DepartmentInput {
    /// Parses and validates a department document.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let input = Self {
            slug: f.slug("slug"),
            name: f.string("name", true, 200),
            description: f.string("description", false, 5000),
            icon: f.string("icon", false, 50),
            color: color(&mut f),
            priority: f.int("priority", 0, 1000).unwrap_or(0) as i32,
            is_active: f.boolean("isActive", true),
            core_department: f.boolean("coreDepartment", false),
            default_model: f.string("defaultModel", false, 200),
            max_agent_steps: f.int("maxAgentSteps", 1, 100).map(|n| n as i32),
            fallback_models: super::routing::fallback_models(&mut f, "fallbackModels"),
        };
        f.finish()?;
        Ok(input)
    }
}

fn color(f: &mut Fields<'_>) -> String {
    let value = f.string("color", false, 7);
    if value.is_empty() {
        return "#6366f1".into();
    }
    let valid = value.len() == 7
        && value.starts_with('#')
        && value[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !valid {
        f.error("color", "Must be a colour in the form #RRGGBB.");
    }
    value.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn colours_must_be_hex() {
        let ok = DepartmentInput::from_json(
            &json!({"slug": "story", "name": "Story", "color": "#AABBCC"}),
        );
        assert_eq!(ok.expect("valid").color, "#aabbcc");
        let bad =
            DepartmentInput::from_json(&json!({"slug": "story", "name": "Story", "color": "red"}));
        assert!(matches!(bad, Err(AppError::Validation(e)) if e.contains_key("color")));
    }
}
