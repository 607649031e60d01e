//! The "Try it" panel of the tool edit page: the tool's saved code called once on a chosen
//! project's real data, answered with a result fragment for htmx to swap in. Editors and
//! admins only; plain browser hits go back to the edit page.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::super::form::FormValues;
use super::super::{Ctx, parse_id};
use crate::db;
use crate::domain::users::Role;
use crate::entities::{custom_tools, projects};
use crate::error::AppError;
use crate::runner::tools::trial::{self, Trial, TrialError};
use crate::sandbox::ToolError;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{render, see_other};

const TOOLS: &str = "/admin/custom-tools";

/// The input the panel starts with: the tool's first example input, else `{}`.
pub fn prefill(tool: &custom_tools::Model) -> String {
    let first = tool
        .example_inputs
        .as_array()
        .and_then(|examples| examples.first())
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    serde_json::to_string_pretty(&first).unwrap_or_else(|_| "{}".into())
}

/// One problem of the input, split into its schema path and message when it has one.
pub struct Problem {
    path: Option<String>,
    message: String,
}

impl Problem {
    /// `at /rule: 3 is not of type "string"` → path `/rule` and the message.
    fn of(line: &str) -> Self {
        match line
            .strip_prefix("at ")
            .and_then(|rest| rest.split_once(": "))
        {
            Some((path, message)) => Self {
                path: Some(path.to_owned()),
                message: message.to_owned(),
            },
            None => Self {
                path: None,
                message: line.to_owned(),
            },
        }
    }
}

/// What the panel shows after a call.
#[derive(Template)]
#[template(path = "admin/custom_tools/_try_result.html")]
pub struct TryResultFragment {
    /// The project the call ran on.
    project: Option<projects::Model>,
    /// Pretty JSON of the returned value, when it succeeded.
    output: Option<String>,
    /// Headline of the failure.
    error_title: String,
    /// Validation problems (input vs. schema).
    problems: Vec<Problem>,
    /// The failure's text, for everything else.
    error_text: String,
    /// Whether the code ran (and may have changed data).
    ran: bool,
    /// Captured console output.
    console: String,
    /// "3.2 ms".
    duration: String,
}

impl TryResultFragment {
    fn new(trial: Trial, project: Option<projects::Model>) -> Self {
        let mut view = Self {
            project,
            output: None,
            error_title: String::new(),
            problems: Vec::new(),
            error_text: String::new(),
            ran: !trial.duration.is_zero(),
            console: trial.console,
            duration: duration(trial.duration),
        };
        match trial.result {
            Ok(value) => {
                view.output = Some(serde_json::to_string_pretty(&value).unwrap_or_default());
            }
            Err(TrialError::InvalidInput(lines)) => {
                view.error_title = "The input does not match the input schema".into();
                view.problems = lines.iter().map(|l| Problem::of(l)).collect();
            }
            Err(error) => {
                let (title, text) = describe(error);
                view.error_title = title.into();
                view.error_text = text;
            }
        }
        view
    }
}

/// Headline and text of a failure other than schema validation.
fn describe(error: TrialError) -> (&'static str, String) {
    match error {
        TrialError::InvalidJson(m) => ("The input is not valid JSON", m),
        TrialError::BadSchema(m) => ("The saved input schema is not a valid JSON Schema", m),
        TrialError::InvalidInput(lines) => (
            "The input does not match the input schema",
            lines.join("\n"),
        ),
        TrialError::UnknownProject => (
            "Unknown project",
            "This project does not exist (it may have been deleted). Choose one from the list."
                .into(),
        ),
        TrialError::Tool(e) => {
            let title = match &e {
                ToolError::Compile(_) => "The code does not compile",
                ToolError::Thrown(_) => "The tool threw an error",
                ToolError::Timeout { .. } => "Time limit exceeded",
                ToolError::OutOfMemory { .. } => "Out of memory",
                ToolError::StackOverflow => "Call stack exhausted",
                ToolError::OutputTooLarge { .. } => "The output is too large",
                ToolError::NotJson(_) => "The tool did not return JSON",
                ToolError::Busy => "The sandbox is busy",
                ToolError::Internal(_) => "The sandbox failed",
            };
            // The headline already says what kind of failure it is.
            let text = match e {
                ToolError::Thrown(m) | ToolError::NotJson(m) => m,
                ToolError::Compile(c) => c.to_string(),
                other => other.to_string(),
            };
            (title, text)
        }
    }
}

/// "0.8 ms", "12.4 ms", "1.5 s".
fn duration(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// The project picked in the panel (empty: no project); `Err` when it does not exist.
async fn chosen_project(
    state: &AppState,
    raw: &str,
) -> Result<Result<Option<projects::Model>, TrialError>, AppError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Ok(None));
    }
    let Ok(id) = parse_id(raw) else {
        return Ok(Err(TrialError::UnknownProject));
    };
    let found = db::projects::find_by_id(&state.db, id).await?;
    Ok(found.map(Some).ok_or(TrialError::UnknownProject))
}

/// POST /admin/custom-tools/{id}/try
async fn try_tool(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    if !ctx.hx.fragment {
        return Ok(see_other(&format!("{}/{id}", TOOLS)));
    }
    let tool = db::custom_tools::find_by_id(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let form = FormValues::parse(&body);
    let chosen = chosen_project(&state, form.get("project")).await?;
    let input = trial::parse_input(form.get("input"));
    let (trial, project) = match (chosen, input) {
        (Ok(project), Ok(input)) => {
            let memory = state.settings.sandbox.memory_mb.saturating_mul(1 << 20);
            let sandbox = state.runner.sandbox();
            let trial = trial::run(sandbox, &state.db, &tool, project.clone(), input, memory).await;
            (trial, project)
        }
        (Err(e), _) | (_, Err(e)) => (Trial::refused(e), None),
    };
    tracing::info!(
        tool.id = tool.id,
        project.id = project.as_ref().map(|p| p.id),
        user.id = ctx.user.id,
        ok = trial.result.is_ok(),
        "custom tool tried from the admin"
    );
    Ok(render(&TryResultFragment::new(trial, project))?)
}

/// GET /admin/custom-tools/{id}/try: not a page; back to the tool.
async fn back_to_tool(path: web::Path<String>) -> Result<HttpResponse, PageError> {
    let id = parse_id(&path)?;
    Ok(see_other(&format!("{}/{id}", TOOLS)))
}

/// Mounts the panel's endpoint (inside the admin scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/custom-tools/{id}/try")
            .route(web::post().to(try_tool))
            .route(web::get().to(back_to_tool)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_lines_are_split_into_path_and_message() {
        let p = Problem::of("at /scenes/0: 3 is not of type \"string\"");
        assert_eq!(p.path.as_deref(), Some("/scenes/0"));
        assert_eq!(p.message, "3 is not of type \"string\"");
        let p = Problem::of("… and 2 more");
        assert_eq!((p.path, p.message.as_str()), (None, "… and 2 more"));
    }

    #[test]
    fn durations_keep_a_decimal() {
        assert_eq!(duration(std::time::Duration::from_micros(812)), "0.8 ms");
        assert_eq!(duration(std::time::Duration::from_millis(1530)), "1.5 s");
    }
}
