//! The chain form's two POST routes besides save: the step editor (add / remove / reorder,
//! nothing saved) and Run (starts an execution of the chain and follows it live).

use actix_web::{HttpResponse, http::StatusCode, web};
use serde::Deserialize;

use super::{Chains, editor, form_with};
use crate::db;
use crate::domain::users::Role;
use crate::entities::{agent_chains, projects};
use crate::error::{AppError, FieldErrors};
use crate::runner::{RunContext, RunError};
use crate::state::AppState;
use crate::web::admin::crud::{FormState, Resource};
use crate::web::admin::form::{FormErrors, FormValues};
use crate::web::admin::{Ctx, parse_id};
use crate::web::errors::PageError;
use crate::web::htmx::{render, render_with_status, see_other};

/// The Run card of a saved chain: a prompt and a project.
pub struct RunCard {
    /// The chain.
    pub chain_id: String,
    /// Where it posts.
    pub action: String,
    /// Projects to pick from.
    pub projects: Vec<projects::Model>,
    /// As typed.
    pub values: RunValues,
    /// Field errors (`prompt`, `project`).
    pub errors: FormErrors,
}

impl RunCard {
    /// The card of `chain` with these values and errors.
    pub fn new(
        chain: &agent_chains::Model,
        projects: Vec<projects::Model>,
        values: RunValues,
        errors: FieldErrors,
    ) -> Self {
        Self {
            chain_id: chain.chain_id.clone(),
            action: format!("{}/{}/run", Chains::BASE, chain.id),
            projects,
            values,
            errors: FormErrors::new(errors),
        }
    }

    /// Whether project `id` is the chosen one.
    pub fn selected(&self, id: &i32) -> bool {
        self.values.project.trim() == id.to_string()
    }
}

/// The Run form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct RunValues {
    /// The chain's input (`{{input}}`).
    #[serde(default)]
    pub prompt: String,
    /// A project id, or empty.
    #[serde(default)]
    pub project: String,
}

impl RunValues {
    fn validate(&self) -> Result<(String, Option<i32>), FieldErrors> {
        let mut errors = FieldErrors::new();
        let (prompt, project) =
            crate::web::admin::run::prompt_and_project(&self.prompt, &self.project, &mut errors);
        if errors.is_empty() {
            Ok((prompt.to_owned(), project))
        } else {
            Err(errors)
        }
    }
}

async fn find_chain(state: &AppState, raw: &str) -> Result<agent_chains::Model, AppError> {
    db::agent_chains::find_by_id(&state.db, parse_id(raw)?)
        .await?
        .ok_or_else(AppError::not_found)
}

/// POST /admin/agent-chains/{id}/run: starts the run and opens its live page, or shows the
/// chain again with the Run form's errors (422).
async fn start(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Form<RunValues>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let chain = find_chain(&state, &path).await?;
    let values = body.into_inner();
    let errors = match values.validate() {
        Ok((prompt, project_id)) => {
            let run = RunContext {
                project_id,
                created_by: Some(ctx.user.id),
                ..RunContext::default()
            };
            match state
                .runner
                .execute_chain(&chain.chain_id, &prompt, run)
                .await
            {
                Ok(execution) => {
                    let location = format!("/admin/executions/{}/watch", execution.id);
                    return Ok(see_other(&location));
                }
                Err(RunError::ProjectNotFound(_)) => {
                    FieldErrors::from([("project".into(), "Unknown project.".into())])
                }
                // Inactive, or a step that cannot run (an agent deactivated since): said
                // next to the Run button, the input kept.
                Err(e @ (RunError::ChainNotFound(_) | RunError::ChainUnavailable { .. })) => {
                    FieldErrors::from([("prompt".into(), e.to_string())])
                }
                Err(e) => return Err(AppError::from(e).into()),
            }
        }
        Err(errors) => errors,
    };
    let projects = super::projects(&state).await?;
    let card = RunCard::new(&chain, projects, values, errors);
    let form = FormState {
        action: format!("{}/{}", Chains::BASE, chain.id),
        editing: Some((chain.id, Chains::label(&chain))),
        ..FormState::blank(Chains::BASE, Chains::values(&state.db, &chain).await?)
    };
    let page = form_with(&state, ctx.chrome(Chains::NAV), form, Some(card)).await?;
    Ok(render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)?)
}

/// The editor's posted form: every field of the chain form plus `_op`.
async fn edit_steps(
    ctx: &Ctx,
    state: &AppState,
    body: &[u8],
    editing: Option<&agent_chains::Model>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Chains::WRITE_ROLE)?;
    let mut values = FormValues::parse(body);
    let mut steps = editor::read(&values);
    editor::apply(&mut steps, values.get("_op"));
    editor::write(&mut values, &steps);
    let form = match editing {
        Some(row) => FormState {
            action: format!("{}/{}", Chains::BASE, row.id),
            editing: Some((row.id, Chains::label(row))),
            ..FormState::blank(Chains::BASE, values)
        },
        None => FormState::blank(Chains::BASE, values),
    };
    if ctx.hx.fragment {
        return Ok(render(&super::editor_of(state, &form, true).await?)?);
    }
    let run = match editing {
        Some(row) => Some(RunCard::new(
            row,
            super::projects(state).await?,
            RunValues::default(),
            FieldErrors::new(),
        )),
        None => None,
    };
    let page = form_with(state, ctx.chrome(Chains::NAV), form, run).await?;
    Ok(render(&page)?)
}

/// POST /admin/agent-chains/editor (a new chain's form).
async fn edit_new(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    edit_steps(&ctx, &state, &body, None).await
}

/// POST /admin/agent-chains/{id}/editor (a saved chain's form).
async fn edit_saved(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let chain = find_chain(&state, &path).await?;
    edit_steps(&ctx, &state, &body, Some(&chain)).await
}

/// Mounts the editor and Run routes (before the collection's own, which would take
/// `editor` for an id).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/agent-chains/editor").route(web::post().to(edit_new)))
        .service(web::resource("/agent-chains/{id}/editor").route(web::post().to(edit_saved)))
        .service(web::resource("/agent-chains/{id}/run").route(web::post().to(start)));
}
