//! Evaluations in the admin: eval datasets (list and form over the collection's definition,
//! the cases edited as JSON with their errors by path, import by paste and export as a JSON
//! download, a Run form), eval runs (list, a live page polled by htmx while it runs, Cancel,
//! the side-by-side comparison of two runs), "Add to dataset" on an execution page, and agent
//! proposals ("Suggest an improvement" on an agent, the proposal with its line diff, Accept,
//! Reject, Try in an experiment, Evaluate).

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};

use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::history::{TextChange, line_diff};
use super::list::{ListQuery, ListSpec, ListView, equals};
use super::{Chrome, Ctx, parse_id};
use crate::collections::eval_runs::{self as runs, EvalComparison, EvalRunResponse, EvalRuns};
use crate::collections::{Collection, agent_proposals, eval_datasets};
use crate::db;
use crate::domain::evals::{EvalCase, stored_cases};
use crate::domain::users::Role;
use crate::entities::{
    agent_proposals as proposals_e, agents, eval_datasets as datasets_e, eval_runs,
};
use crate::error::{AppError, AppResult};
use crate::query::Where;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, render, see_other};

const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("agent", Kind::Text),
    ("judgeAgent", Kind::Text),
    ("cases", Kind::Text),
];

static LIST: ListSpec = ListSpec {
    base: <Datasets as Resource>::BASE,
    map: &crate::collections::eval_datasets::FIELDS,
    search: &["name"],
    sorts: &[("name", "name"), ("updated", "updatedAt")],
    default_sort: "-updated",
    missing_last: &[],
};

fn agent_label(agents: &[agents::Model], id: Option<i32>) -> String {
    match id {
        None => "—".into(),
        Some(id) => agents
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| format!("#{id}"), |a| a.agent_id.clone()),
    }
}

/// The dataset list.
#[derive(Template)]
#[template(path = "admin/evals/datasets.html", blocks = ["list"])]
pub struct DatasetsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<datasets_e::Model>,
    agents: Vec<agents::Model>,
}

impl DatasetsPage {
    fn agent(&self, id: &Option<i32>) -> String {
        agent_label(&self.agents, *id)
    }

    fn case_count(v: &Value) -> usize {
        v.as_array().map_or(0, Vec::len)
    }
}

/// The dataset form, with the Run form and the latest runs when editing.
#[derive(Template)]
#[template(path = "admin/evals/dataset_form.html")]
pub struct DatasetForm {
    chrome: Chrome,
    form: FormState,
    agents: Vec<agents::Model>,
    runs: Vec<eval_runs::Model>,
    default_agent: Option<i32>,
}

impl DatasetForm {
    fn is_default(&self, id: &i32) -> bool {
        self.default_agent == Some(*id)
    }
}

/// Eval datasets as a managed collection.
pub struct Datasets;

impl Resource for Datasets {
    type Collection = eval_datasets::EvalDatasets;
    type ListPage = DatasetsPage;
    type FormPage = DatasetForm;
    const BASE: &'static str = "/admin/eval-datasets";
    const NOUN: &'static str = "dataset";
    const PLURAL: &'static str = "datasets";
    const NAV: &'static str = "evals";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const JSON_FIELDS: &'static [&'static str] = &["cases"];

    fn label(row: &datasets_e::Model) -> String {
        row.name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set(
            "cases",
            "[\n  {\"prompt\": \"What is 2 + 2?\", \"expected\": {\"contains\": \"4\"}}\n]",
        );
        values
    }

    fn duplicate(values: &mut FormValues) {
        let name = values.get("name").to_owned();
        values.set("name", format!("{name} (copy)"));
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<DatasetsPage> {
        let (page, list) = LIST
            .fetch(&state.db, datasets_e::Entity::find(), query, &filter(query))
            .await?;
        Ok(DatasetsPage {
            chrome,
            list,
            rows: page.items,
            agents: db::agents::list_all(&state.db).await?,
        })
    }

    fn list_fragment(page: &DatasetsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            datasets_e::Entity::find(),
            datasets_e::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&datasets_e::Model>,
    ) -> AppResult<DatasetForm> {
        let runs = match row {
            Some(r) => db::evals::runs_of_dataset(&state.db, r.id).await?,
            None => Vec::new(),
        };
        Ok(DatasetForm {
            chrome,
            form,
            agents: db::agents::list_all(&state.db).await?,
            runs,
            default_agent: row.and_then(|r| r.agent_id),
        })
    }
}

fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [query.id("agent").map(|a| equals("agent", a.to_string()))],
    )
}

fn flash_errors(ctx: &Ctx, title: &str, e: AppError) -> Result<(), PageError> {
    match e {
        AppError::Validation(errors) => {
            let text = errors
                .iter()
                .map(|(path, message)| format!("{path}: {message}"))
                .collect::<Vec<_>>()
                .join(" ");
            ctx.flash(Toast::error(title, text));
            Ok(())
        }
        AppError::Conflict(message) | AppError::BadRequest(message) => {
            ctx.flash(Toast::error(title, message));
            Ok(())
        }
        other => Err(other.into()),
    }
}

/// POST /admin/eval-datasets/{id}/run (`agentId`, `version`, `variant`).
async fn run_dataset(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    let values = FormValues::parse(&body);
    let doc = json!({
        "agentId": values.get("agentId"),
        "version": values.get("version"),
        "variant": values.get("variant"),
    });
    match runs::create_run(&state.db, &ctx.user, id, &doc).await {
        Ok(run) => {
            state.runner.start_eval(run.id);
            ctx.flash(Toast::success("Eval run started"));
            Ok(see_other(&format!("/admin/eval-runs/{}", run.id)))
        }
        Err(e) => {
            flash_errors(&ctx, "Cannot run", e)?;
            Ok(see_other(&format!("/admin/eval-datasets/{id}")))
        }
    }
}

/// GET /admin/eval-datasets/{id}/export: the dataset as a JSON file (importable as is).
async fn export(
    _ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&path)?;
    let row = db::evals::find_dataset(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let mut doc = eval_datasets::EvalDatasets::document(&state.db, row).await?;
    if let Some(o) = doc.as_object_mut() {
        for key in ["id", "createdAt", "updatedAt"] {
            o.remove(key);
        }
    }
    let body = serde_json::to_string_pretty(&doc)
        .map_err(|e| AppError::Unexpected(anyhow::Error::new(e)))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"eval-dataset-{id}.json\""),
        ))
        .body(body))
}

#[derive(Template)]
#[template(path = "admin/evals/import.html")]
struct ImportPage {
    chrome: Chrome,
    text: String,
    errors: Vec<(String, String)>,
}

/// GET /admin/eval-datasets/import
async fn import_form(ctx: Ctx) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    Ok(render(&ImportPage {
        chrome: ctx.chrome("evals"),
        text: String::new(),
        errors: Vec::new(),
    })?)
}

/// POST /admin/eval-datasets/import (`json`: an exported dataset, or an array of cases with
/// `name`).
async fn import(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let values = FormValues::parse(&body);
    let text = values.get("json").to_owned();
    let doc = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(cases)) => Ok(json!({"name": values.get("name"), "cases": cases})),
        Ok(mut doc @ Value::Object(_)) => {
            if !values.get("name").trim().is_empty() {
                doc["name"] = Value::String(values.get("name").to_owned());
            }
            Ok(doc)
        }
        Ok(_) => Err((
            "json".to_owned(),
            "Must be a dataset object or an array of cases.".to_owned(),
        )),
        Err(e) => Err(("json".to_owned(), format!("Invalid JSON: {e}."))),
    };
    let result = match doc {
        Err(error) => Err(vec![error]),
        Ok(doc) => match eval_datasets::EvalDatasets::create(&state.db, &ctx.user, &doc).await {
            Ok(row) => Ok(row),
            Err(AppError::Validation(errors)) => Err(errors.into_iter().collect()),
            Err(AppError::BadRequest(m)) => Err(vec![("json".into(), m)]),
            Err(e) => return Err(e.into()),
        },
    };
    match result {
        Ok(row) => {
            ctx.flash(Toast::success("Dataset imported"));
            Ok(see_other(&format!("/admin/eval-datasets/{}", row.id)))
        }
        Err(errors) => Ok(crate::web::htmx::render_with_status(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            &ImportPage {
                chrome: ctx.chrome("evals"),
                text,
                errors,
            },
        )?),
    }
}

/// POST /admin/executions/{id}/add-to-dataset (`dataset`): appends a case with the run's
/// prompt and project, its output as the case's `reference`, and no expectation yet (the
/// dataset's form opens to add them).
async fn add_to_dataset(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    let execution = db::executions::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let values = FormValues::parse(&body);
    let Ok(dataset_id) = values.get("dataset").trim().parse::<i32>() else {
        ctx.flash(Toast::error("Cannot add", "Choose a dataset."));
        return Ok(see_other(&format!("/admin/executions/{id}")));
    };
    let dataset = db::evals::find_dataset(&state.db, dataset_id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let mut cases = stored_cases(&dataset.cases);
    cases.push(EvalCase {
        prompt: execution.prompt.clone(),
        project: execution.project_id,
        reference: execution
            .output_text
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| execution.output.as_ref().map(Value::to_string)),
        expected: Default::default(),
    });
    let patch = json!({"cases": cases});
    match eval_datasets::EvalDatasets::update(&state.db, &ctx.user, dataset, &patch).await {
        Ok(row) => {
            ctx.flash(Toast::success("Added to the dataset").with_text(format!(
                "Case {} added with the run's output as its reference; add its expectations.",
                cases.len() - 1
            )));
            Ok(see_other(&format!("/admin/eval-datasets/{}", row.id)))
        }
        Err(e) => {
            flash_errors(&ctx, "Cannot add", e)?;
            Ok(see_other(&format!("/admin/executions/{id}")))
        }
    }
}

/// The datasets an execution page offers in "Add to dataset".
pub async fn dataset_choices(db: &DatabaseConnection) -> AppResult<Vec<(i32, String)>> {
    Ok(db::evals::datasets(db)
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect())
}

static RUN_LIST: ListSpec = ListSpec {
    base: "/admin/eval-runs",
    map: &crate::collections::eval_runs::FIELDS,
    search: &["variant"],
    sorts: &[
        ("created", "createdAt"),
        ("passRate", "passRate"),
        ("status", "status"),
    ],
    default_sort: "-created",
    missing_last: &["passRate"],
};

#[derive(Template)]
#[template(path = "admin/evals/runs.html")]
struct RunsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<eval_runs::Model>,
    agents: Vec<agents::Model>,
    datasets: Vec<datasets_e::Model>,
    statuses: &'static [&'static str],
}

impl RunsPage {
    fn agent(&self, id: &i32) -> String {
        agent_label(&self.agents, Some(*id))
    }

    fn dataset(&self, id: &i32) -> String {
        self.datasets
            .iter()
            .find(|d| d.id == *id)
            .map_or_else(|| format!("#{id}"), |d| d.name.clone())
    }
}

pub(crate) fn pct(v: &Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0))
}

pub(crate) fn usd(v: &f64) -> String {
    format!("${v:.4}")
}

/// GET /admin/eval-runs
async fn runs_list(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = ListQuery::from_request(&req);
    let filter = RUN_LIST.filter(
        &query,
        [
            query
                .id("dataset")
                .map(|d| equals("dataset", d.to_string())),
            query.text("status").map(|s| equals("status", s)),
        ],
    );
    let (page, list) = RUN_LIST
        .fetch(&state.db, eval_runs::Entity::find(), &query, &filter)
        .await?;
    Ok(render(&RunsPage {
        chrome: ctx.chrome("evals"),
        list,
        rows: page.items,
        agents: db::agents::list_all(&state.db).await?,
        datasets: db::evals::datasets(&state.db)
            .await
            .map_err(AppError::from)?,
        statuses: crate::domain::evals::RUN_STATUSES,
    })?)
}

#[derive(Template)]
#[template(path = "admin/evals/run.html", blocks = ["live"])]
struct RunPage {
    chrome: Chrome,
    run: EvalRunResponse,
    dataset: Option<datasets_e::Model>,
    agent: Option<agents::Model>,
    prompts: Vec<String>,
    others: Vec<eval_runs::Model>,
}

impl RunPage {
    fn live(&self) -> bool {
        matches!(self.run.status.as_str(), "pending" | "running")
    }

    fn prompt(&self, index: &i32) -> String {
        usize::try_from(*index)
            .ok()
            .and_then(|i| self.prompts.get(i))
            .cloned()
            .unwrap_or_default()
    }

    fn progress(&self) -> f64 {
        if self.run.total_cases > 0 {
            f64::from(self.run.completed_cases) * 100.0 / f64::from(self.run.total_cases)
        } else {
            0.0
        }
    }
}

/// GET /admin/eval-runs/{id}: the whole page, or its live part for htmx's poll.
async fn run_page(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&path)?;
    let row = db::evals::find_run(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let dataset = db::evals::find_dataset(&state.db, row.dataset_id)
        .await
        .map_err(AppError::from)?;
    let agent = db::agents::find_by_id(&state.db, row.agent_id)
        .await
        .map_err(AppError::from)?;
    let others = db::evals::runs_of_dataset(&state.db, row.dataset_id)
        .await
        .map_err(AppError::from)?
        .into_iter()
        .filter(|r| r.id != id)
        .collect();
    let run = EvalRuns::render(&state.db, vec![row], 0)
        .await?
        .pop()
        .ok_or_else(AppError::not_found)?;
    let prompts = dataset
        .as_ref()
        .map(|d| {
            stored_cases(&d.cases)
                .into_iter()
                .map(|c| c.prompt)
                .collect()
        })
        .unwrap_or_default();
    let page = RunPage {
        chrome: ctx.chrome("evals"),
        run,
        dataset,
        agent,
        prompts,
        others,
    };
    if ctx.hx.fragment {
        Ok(render(&page.as_live())?)
    } else {
        Ok(render(&page)?)
    }
}

/// POST /admin/eval-runs/{id}/cancel
async fn cancel_run(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    if db::evals::transition_run(&state.db, id, &["pending", "running"], "cancelled", None)
        .await
        .map_err(AppError::from)?
    {
        ctx.flash(Toast::success("Eval run cancelled"));
    } else {
        ctx.flash(Toast::error(
            "Cannot cancel",
            "This eval run has already ended.",
        ));
    }
    Ok(see_other(&format!("/admin/eval-runs/{id}")))
}

#[derive(Template)]
#[template(path = "admin/evals/compare.html")]
struct ComparePage {
    chrome: Chrome,
    c: EvalComparison,
}

/// GET /admin/eval-runs/compare?a=&b=
async fn compare(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = ListQuery::from_request(&req);
    let mut found = Vec::new();
    for name in ["a", "b"] {
        let id = query.id(name).ok_or_else(|| {
            AppError::BadRequest(format!("`{name}` must be the id of an eval run."))
        })?;
        let row = db::evals::find_run(&state.db, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(AppError::not_found)?;
        found.push(row);
    }
    let b = found.pop().ok_or_else(AppError::not_found)?;
    let a = found.pop().ok_or_else(AppError::not_found)?;
    let c = runs::compare(&state.db, a, b).await?;
    Ok(render(&ComparePage {
        chrome: ctx.chrome("evals"),
        c,
    })?)
}

static PROPOSAL_LIST: ListSpec = ListSpec {
    base: "/admin/agent-proposals",
    map: &crate::collections::agent_proposals::FIELDS,
    search: &["rationale", "proposedPrompt"],
    sorts: &[("created", "createdAt"), ("status", "status")],
    default_sort: "-created",
    missing_last: &[],
};

#[derive(Template)]
#[template(path = "admin/evals/proposals.html")]
struct ProposalsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<proposals_e::Model>,
    agents: Vec<agents::Model>,
    statuses: &'static [&'static str],
}

impl ProposalsPage {
    fn agent(&self, id: &i32) -> String {
        agent_label(&self.agents, Some(*id))
    }
}

/// GET /admin/agent-proposals
async fn proposals_list(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = ListQuery::from_request(&req);
    let filter = PROPOSAL_LIST.filter(
        &query,
        [
            query.id("agent").map(|a| equals("agent", a.to_string())),
            query.text("status").map(|s| equals("status", s)),
        ],
    );
    let (page, list) = PROPOSAL_LIST
        .fetch(&state.db, proposals_e::Entity::find(), &query, &filter)
        .await?;
    Ok(render(&ProposalsPage {
        chrome: ctx.chrome("evals"),
        list,
        rows: page.items,
        agents: db::agents::list_all(&state.db).await?,
        statuses: crate::domain::evals::PROPOSAL_STATUSES,
    })?)
}

#[derive(Template)]
#[template(path = "admin/evals/proposal.html")]
struct ProposalPage {
    chrome: Chrome,
    p: proposals_e::Model,
    agent: Option<agents::Model>,
    diff: Option<TextChange>,
    datasets: Vec<datasets_e::Model>,
}

/// GET /admin/agent-proposals/{id}
async fn proposal_page(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&path)?;
    let p = db::evals::find_proposal(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let agent = db::agents::find_by_id(&state.db, p.agent_id)
        .await
        .map_err(AppError::from)?;
    // The diff against the version the proposal was written from.
    let base = match p.base_version {
        Some(v) => db::versions::agent_version(&state.db, p.agent_id, v)
            .await
            .map_err(AppError::from)?
            .and_then(|v| v.snapshot["instructionsPrompt"].as_str().map(str::to_owned)),
        None => None,
    }
    .or_else(|| agent.as_ref().map(|a| a.instructions_prompt.clone()))
    .unwrap_or_default();
    let diff = line_diff("instructionsPrompt", &base, &p.proposed_prompt);
    Ok(render(&ProposalPage {
        chrome: ctx.chrome("evals"),
        diff,
        datasets: db::evals::datasets(&state.db)
            .await
            .map_err(AppError::from)?,
        p,
        agent,
    })?)
}

/// POST /admin/agents/{id}/propose: "Suggest an improvement".
async fn propose(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    let agent = db::agents::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    match state.runner.propose(&agent, Some(ctx.user.id)).await {
        Ok(p) => {
            ctx.flash(Toast::success("Proposal written"));
            Ok(see_other(&format!("/admin/agent-proposals/{}", p.id)))
        }
        Err(e) => {
            flash_errors(&ctx, "No proposal", e)?;
            Ok(see_other(&format!("/admin/agents/{id}")))
        }
    }
}

/// POST /admin/agent-proposals/{id}/{action}: accept, reject, experiment, evaluate.
async fn decide(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let (raw, action) = path.into_inner();
    let id = parse_id(&raw)?;
    let back = format!("/admin/agent-proposals/{id}");
    let outcome: AppResult<String> = match action.as_str() {
        "accept" => agent_proposals::accept(&state.db, &ctx.user, id)
            .await
            .map(|(agent, _)| {
                ctx.flash(
                    Toast::success("Proposal accepted")
                        .with_text(format!("{} has a new version.", agent.name)),
                );
                format!("/admin/agents/{}/history", agent.id)
            }),
        "reject" => agent_proposals::reject(&state.db, id).await.map(|_| {
            ctx.flash(Toast::success("Proposal rejected"));
            back.clone()
        }),
        "experiment" => agent_proposals::draft_experiment(&state.db, id)
            .await
            .map(|e| {
                ctx.flash(
                    Toast::success("Draft experiment created")
                        .with_text("Set it running when ready."),
                );
                format!("/admin/experiments/{}", e.id)
            }),
        "evaluate" => {
            let values = FormValues::parse(&body);
            let proposal = db::evals::find_proposal(&state.db, id)
                .await
                .map_err(AppError::from)?
                .ok_or_else(AppError::not_found)?;
            crate::web::api::evals::start_pair(
                &state,
                &ctx.user,
                &proposal,
                &Value::String(values.get("dataset").to_owned()),
            )
            .await
            .map(|(a, b)| {
                ctx.flash(
                    Toast::success("Two eval runs started")
                        .with_text("Current and proposal, compared when both end."),
                );
                format!("/admin/eval-runs/compare?a={}&b={}", a.id, b.id)
            })
        }
        _ => Err(AppError::not_found()),
    };
    match outcome {
        Ok(location) => Ok(see_other(&location)),
        Err(e) => {
            flash_errors(&ctx, "Cannot do that", e)?;
            Ok(see_other(&back))
        }
    }
}

/// Mounts the pages (before the shared collection routes).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/eval-datasets/import")
            .route(web::get().to(import_form))
            .route(web::post().to(import)),
    )
    .service(web::resource("/eval-datasets/{id:\\d+}/run").route(web::post().to(run_dataset)))
    .service(web::resource("/eval-datasets/{id:\\d+}/export").route(web::get().to(export)))
    .service(web::resource("/eval-runs").route(web::get().to(runs_list)))
    .service(web::resource("/eval-runs/compare").route(web::get().to(compare)))
    .service(web::resource("/eval-runs/{id:\\d+}").route(web::get().to(run_page)))
    .service(web::resource("/eval-runs/{id:\\d+}/cancel").route(web::post().to(cancel_run)))
    .service(web::resource("/agent-proposals").route(web::get().to(proposals_list)))
    .service(web::resource("/agent-proposals/{id:\\d+}").route(web::get().to(proposal_page)))
    .service(web::resource("/agent-proposals/{id:\\d+}/{action}").route(web::post().to(decide)))
    .service(web::resource("/agents/{id:\\d+}/propose").route(web::post().to(propose)))
    .service(
        web::resource("/executions/{id:\\d+}/add-to-dataset").route(web::post().to(add_to_dataset)),
    )
    .configure(super::crud::configure::<Datasets>);
}
