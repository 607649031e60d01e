//! The history of an agent or a custom tool (`/admin/agents/{id}/history`,
//! `/admin/custom-tools/{id}/history`): every version with who saved it, when and why, the
//! fields that changed from its predecessor, and a line diff of the prompt or the code.
//! Restore (editors and admins, CSRF-checked like every admin POST) writes a new version
//! equal to an old one, through the same collection write as the API.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{Chrome, Ctx, parse_id};
use crate::collections::agent_versions::restore_agent;
use crate::collections::custom_tool_versions::restore_tool;
use crate::db;
use crate::domain::users::Role;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, render, see_other};

/// One changed field (values as compact JSON, strings as they are).
pub struct FieldChange {
    /// The field's name.
    pub field: String,
    /// Before (empty for the first version).
    pub before: String,
    /// After.
    pub after: String,
}

/// One line of a diff.
pub struct DiffLine {
    /// `add`, `del` or `ctx`.
    pub kind: &'static str,
    /// Line number in the old text.
    pub old: Option<usize>,
    /// Line number in the new text.
    pub new: Option<usize>,
    /// The line.
    pub text: String,
}

/// A line diff of one long text field, in hunks with three lines of context.
pub struct TextChange {
    /// The field's name.
    pub field: String,
    /// Hunks of lines.
    pub hunks: Vec<Vec<DiffLine>>,
}

/// One version as the page shows it.
pub struct VersionView {
    /// Its number.
    pub version: i32,
    /// When.
    pub saved: String,
    /// Who (a user's name, or "demo data / system").
    pub author: String,
    /// Why.
    pub change_note: String,
    /// Fields changed from the predecessor.
    pub changes: Vec<FieldChange>,
    /// Line diffs of the long text fields.
    pub texts: Vec<TextChange>,
    /// True for the current version.
    pub current: bool,
    /// Thumbs up and down on runs of this version (agents only).
    pub feedback: Option<(i64, i64)>,
}

#[derive(Template)]
#[template(path = "admin/history.html")]
struct HistoryPage {
    chrome: Chrome,
    /// `Agents` or `Custom tools`.
    section: &'static str,
    /// `/admin/agents` or `/admin/custom-tools`.
    base: &'static str,
    id: i32,
    name: String,
    versions: Vec<VersionView>,
}

fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The line diff of two texts, in hunks (None when equal).
pub fn line_diff(field: &str, before: &str, after: &str) -> Option<TextChange> {
    if before == after {
        return None;
    }
    let diff = TextDiff::from_lines(before, after);
    let hunks = diff
        .grouped_ops(3)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| DiffLine {
                    kind: match change.tag() {
                        ChangeTag::Insert => "add",
                        ChangeTag::Delete => "del",
                        ChangeTag::Equal => "ctx",
                    },
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches('\n').to_owned(),
                })
                .collect()
        })
        .collect();
    Some(TextChange {
        field: field.to_owned(),
        hunks,
    })
}

/// Field changes and text diffs from `before` (None for the first version) to `after`.
pub fn compare(
    before: Option<&Value>,
    after: &Value,
    texts: &[&str],
) -> (Vec<FieldChange>, Vec<TextChange>) {
    let empty = serde_json::Map::new();
    let old = before.and_then(Value::as_object).unwrap_or(&empty);
    let new = after.as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changes = Vec::new();
    let mut text_changes = Vec::new();
    for key in keys {
        let (a, b) = (
            old.get(key).unwrap_or(&Value::Null),
            new.get(key).unwrap_or(&Value::Null),
        );
        if a == b {
            continue;
        }
        if texts.contains(&key.as_str()) {
            if let Some(diff) = line_diff(
                key,
                a.as_str().unwrap_or_default(),
                b.as_str().unwrap_or_default(),
            ) {
                text_changes.push(diff);
            }
            continue;
        }
        changes.push(FieldChange {
            field: key.clone(),
            before: if before.is_some() {
                show_value(a)
            } else {
                String::new()
            },
            after: show_value(b),
        });
    }
    (changes, text_changes)
}

async fn author(state: &AppState, id: Option<i32>) -> Result<String, AppError> {
    Ok(match id {
        None => "demo data / system".into(),
        Some(id) => db::users::find_by_id(&state.db, id)
            .await?
            .map_or_else(|| format!("user #{id} (deleted)"), |u| u.name),
    })
}

/// Versions newest first, each compared with its predecessor.
async fn views(
    state: &AppState,
    rows: Vec<(i32, Value, Option<i32>, String, String)>,
    texts: &[&str],
) -> Result<Vec<VersionView>, AppError> {
    let mut out = Vec::with_capacity(rows.len());
    for (i, (version, snapshot, created_by, note, saved)) in rows.iter().enumerate() {
        let previous = rows.get(i + 1).map(|r| &r.1);
        let (changes, texts) = compare(previous, snapshot, texts);
        out.push(VersionView {
            version: *version,
            saved: saved.clone(),
            author: author(state, *created_by).await?,
            change_note: note.clone(),
            changes,
            texts,
            current: i == 0,
            feedback: None,
        });
    }
    Ok(out)
}

async fn agent_history(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let agent = db::agents::find_by_id(&state.db, parse_id(&path)?)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let rows = db::versions::agent_history(&state.db, agent.id)
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(|v| {
            (
                v.version,
                v.snapshot,
                v.created_by,
                v.change_note,
                super::fmt::datetime(&v.created_at),
            )
        })
        .collect();
    let mut versions = views(&state, rows, &["instructionsPrompt"]).await?;
    let feedback = db::experiments::feedback_by_version(&state.db, agent.id)
        .await
        .map_err(AppError::from)?;
    for v in &mut versions {
        let key = v.version.to_string();
        v.feedback = feedback
            .iter()
            .find(|f| f.key.as_deref() == Some(key.as_str()))
            .map(|f| (f.up, f.down));
    }
    Ok(render(&HistoryPage {
        chrome: ctx.chrome("agents"),
        section: "Agents",
        base: "/admin/agents",
        id: agent.id,
        name: agent.name,
        versions,
    })?)
}

async fn tool_history(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let tool = db::custom_tools::find_by_id(&state.db, parse_id(&path)?)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let rows = db::versions::tool_history(&state.db, tool.id)
        .await
        .map_err(AppError::from)?
        .into_iter()
        .map(|v| {
            (
                v.version,
                v.snapshot,
                v.created_by,
                v.change_note,
                super::fmt::datetime(&v.created_at),
            )
        })
        .collect();
    let versions = views(&state, rows, &["executeFunction"]).await?;
    Ok(render(&HistoryPage {
        chrome: ctx.chrome("tools"),
        section: "Custom tools",
        base: "/admin/custom-tools",
        id: tool.id,
        name: tool.display_name,
        versions,
    })?)
}

async fn restore_agent_version(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let (id, version) = (parse_id(&path.0)?, parse_id(&path.1)?);
    let agent = db::agents::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    match restore_agent(&state.db, &ctx.user, agent, version).await {
        Ok(_) => ctx.flash(Toast::success(format!("Version {version} restored"))),
        Err(AppError::Validation(errors)) => ctx.flash(Toast::error(
            "Cannot restore this version",
            errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&format!("/admin/agents/{id}/history")))
}

async fn restore_tool_version(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let (id, version) = (parse_id(&path.0)?, parse_id(&path.1)?);
    let tool = db::custom_tools::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    match restore_tool(&state.db, &ctx.user, tool, version).await {
        Ok(_) => ctx.flash(Toast::success(format!("Version {version} restored"))),
        Err(AppError::Validation(errors)) => ctx.flash(Toast::error(
            "Cannot restore this version",
            errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&format!("/admin/custom-tools/{id}/history")))
}

/// Mounts the history pages and the restore actions.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/agents/{id:\\d+}/history").route(web::get().to(agent_history)))
        .service(
            web::resource("/custom-tools/{id:\\d+}/history").route(web::get().to(tool_history)),
        )
        .service(
            web::resource("/agents/{id:\\d+}/versions/{version:\\d+}/restore")
                .route(web::post().to(restore_agent_version)),
        )
        .service(
            web::resource("/custom-tools/{id:\\d+}/versions/{version:\\d+}/restore")
                .route(web::post().to(restore_tool_version)),
        );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_and_prompt_lines_are_found() {
        let a = json!({"name": "A", "model": "m1", "instructionsPrompt": "one\ntwo\nthree\n"});
        let b = json!({"name": "A", "model": "m2", "instructionsPrompt": "one\n2\nthree\n"});
        let (changes, texts) = compare(Some(&a), &b, &["instructionsPrompt"]);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (
                changes[0].field.as_str(),
                changes[0].before.as_str(),
                changes[0].after.as_str()
            ),
            ("model", "m1", "m2")
        );
        let lines: Vec<(&str, &str)> = texts[0].hunks[0]
            .iter()
            .map(|l| (l.kind, l.text.as_str()))
            .collect();
        assert_eq!(
            lines,
            [
                ("ctx", "one"),
                ("del", "two"),
                ("add", "2"),
                ("ctx", "three")
            ]
        );
    }
}
