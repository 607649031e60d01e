//! The built-in tools: `getProjectContext` (always offered) and `set_output` (offered when the
//! agent has an outputSchema). Neither is ever reported as a missing tool.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolOutcome};
use crate::domain::projects;

/// Name of the project context tool.
pub const PROJECT_CONTEXT: &str = "getProjectContext";
/// Name of the structured output tool.
pub const SET_OUTPUT: &str = "set_output";

/// `getProjectContext {projectId?}`: the execution's project (name, slug, description, genre,
/// status, metadata). Naming another project is refused.
pub struct ProjectContext {
    schema: Value,
}

impl Default for ProjectContext {
    fn default() -> Self {
        Self {
            schema: json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "projectId": {
                        "type": ["integer", "string"],
                        "description": "The project's id; defaults to the project of this run (the only one you may read)."
                    }
                }
            }),
        }
    }
}

impl Tool for ProjectContext {
    fn name(&self) -> &str {
        PROJECT_CONTEXT
    }

    fn description(&self) -> &str {
        "Returns the context of the project this run works on: name, slug, description, genre, \
         status and further metadata. Call it before doing project-specific work."
    }

    fn input_schema(&self) -> &Value {
        &self.schema
    }

    fn call<'a>(&'a self, input: Value, ctx: &'a ToolContext) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move {
            let Some(project) = &ctx.project else {
                return ToolOutcome::error(
                    "This run has no project, so there is no project context.",
                );
            };
            let requested = input.get("projectId").filter(|v| !v.is_null());
            if let Some(requested) = requested
                && !names_project(requested, project.id, &project.slug)
            {
                return ToolOutcome::error(format!(
                    "Access denied: this run may only read its own project (id {}).",
                    project.id
                ));
            }
            ToolOutcome::ok(projects::context(project))
        })
    }
}

/// Whether `value` (an id as number or string, or the slug) designates the project.
fn names_project(value: &Value, id: i32, slug: &str) -> bool {
    match value {
        Value::Number(n) => n.as_i64() == Some(i64::from(id)),
        Value::String(s) => s.trim().parse::<i32>().ok() == Some(id) || s == slug,
        _ => false,
    }
}

/// `set_output`: the model hands over its final structured answer. The tool's input schema is
/// the agent's outputSchema; a schema that is not an object schema is wrapped as
/// `{output: <schema>}` because tool inputs are objects on every wire format.
pub struct SetOutput {
    schema: Value,
    wrapped: bool,
}

impl SetOutput {
    /// The tool for an agent's outputSchema.
    pub fn new(output_schema: &Value) -> Self {
        let is_object = output_schema.get("type").and_then(Value::as_str) == Some("object");
        if is_object {
            Self {
                schema: output_schema.clone(),
                wrapped: false,
            }
        } else {
            Self {
                schema: json!({
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["output"],
                    "properties": {"output": output_schema},
                }),
                wrapped: true,
            }
        }
    }

    /// The tool input that carries `output` (the inverse of [`SetOutput::output_of`]).
    pub fn as_input(&self, output: Value) -> Value {
        if self.wrapped {
            json!({ "output": output })
        } else {
            output
        }
    }

    /// The structured output carried by a valid input.
    pub fn output_of(&self, input: Value) -> Value {
        if self.wrapped {
            input.get("output").cloned().unwrap_or(Value::Null)
        } else {
            input
        }
    }
}

impl Tool for SetOutput {
    fn name(&self) -> &str {
        SET_OUTPUT
    }

    fn description(&self) -> &str {
        "Sets the final, structured result of this run. Call it exactly once, with the complete \
         result as its input; the run ends when it is accepted."
    }

    fn input_schema(&self) -> &Value {
        &self.schema
    }

    fn call<'a>(&'a self, input: Value, _ctx: &'a ToolContext) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move { ToolOutcome::ok(self.output_of(input)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_named_by_id_or_slug() {
        assert!(names_project(&json!(4), 4, "epic"));
        assert!(names_project(&json!("4"), 4, "epic"));
        assert!(names_project(&json!("epic"), 4, "epic"));
        assert!(!names_project(&json!(5), 4, "epic"));
        assert!(!names_project(&json!(true), 4, "epic"));
    }

    #[test]
    fn non_object_output_schemas_are_wrapped() {
        let tool = SetOutput::new(&json!({"type": "array"}));
        assert_eq!(tool.input_schema()["required"], json!(["output"]));
        assert_eq!(tool.output_of(json!({"output": [1]})), json!([1]));
        let plain = SetOutput::new(&json!({"type": "object"}));
        assert_eq!(plain.output_of(json!({"a": 1})), json!({"a": 1}));
    }
}
