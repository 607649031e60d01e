//! Experiments in the admin: the list and form (over the collection's one definition), the
//! results page (variants side by side: success rate bars with their 95% interval, cost,
//! latency, tokens, feedback) with Promote and Stop, and the thumbs on an execution page.

use actix_web::{HttpResponse, web};
use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use super::{Chrome, Ctx, parse_id};
use crate::collections::experiments::{self as coll, ExperimentResults, VariantResults};
use crate::db;
use crate::domain::experiments::{FeedbackInput, STATUSES, STICKY_BY};
use crate::domain::users::Role;
use crate::entities::{agents, experiments, experiments::Model};
use crate::error::{AppError, AppResult};
use crate::query::Where;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, render, see_other};

const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("agent", Kind::Text),
    ("status", Kind::Text),
    ("stickyBy", Kind::Text),
    ("variants", Kind::Text),
];

static LIST: ListSpec = ListSpec {
    base: <Experiments as Resource>::BASE,
    map: &crate::collections::experiments::FIELDS,
    search: &["name"],
    sorts: &[
        ("name", "name"),
        ("status", "status"),
        ("updated", "updatedAt"),
    ],
    default_sort: "-updated",
    missing_last: &[],
};

/// The experiment list.
#[derive(Template)]
#[template(path = "admin/experiments/list.html", blocks = ["list"])]
pub struct ExperimentsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    agents: Vec<agents::Model>,
    statuses: &'static [&'static str],
}

impl ExperimentsPage {
    fn agent_name(&self, id: &i32) -> String {
        self.agents
            .iter()
            .find(|a| a.id == *id)
            .map_or_else(|| format!("#{id}"), |a| a.agent_id.clone())
    }

    fn variant_count(v: &serde_json::Value) -> usize {
        v.as_array().map_or(0, Vec::len)
    }
}

/// The experiment form.
#[derive(Template)]
#[template(path = "admin/experiments/form.html")]
pub struct ExperimentForm {
    chrome: Chrome,
    form: FormState,
    agents: Vec<agents::Model>,
    statuses: &'static [&'static str],
    sticky: &'static [&'static str],
}

/// Experiments as a managed collection.
pub struct Experiments;

impl Resource for Experiments {
    type Collection = coll::Experiments;
    type ListPage = ExperimentsPage;
    type FormPage = ExperimentForm;
    const BASE: &'static str = "/admin/experiments";
    const NOUN: &'static str = "experiment";
    const PLURAL: &'static str = "experiments";
    const NAV: &'static str = "experiments";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const JSON_FIELDS: &'static [&'static str] = &["variants"];

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("status", "draft");
        values.set("stickyBy", "conversation");
        values.set(
            "variants",
            "[\n  {\"name\": \"control\", \"weight\": 50, \"overrides\": {}},\n  {\"name\": \"candidate\", \"weight\": 50, \"overrides\": {\"model\": \"openai/gpt-4o-mini\"}}\n]",
        );
        values
    }

    fn duplicate(values: &mut FormValues) {
        let name = values.get("name").to_owned();
        values.set("name", format!("{name} (copy)"));
        values.set("status", "draft");
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<ExperimentsPage> {
        let (page, list) = LIST
            .fetch(
                &state.db,
                experiments::Entity::find(),
                query,
                &filter(query),
            )
            .await?;
        Ok(ExperimentsPage {
            chrome,
            list,
            rows: page.items,
            agents: db::agents::list_all(&state.db).await?,
            statuses: STATUSES,
        })
    }

    fn list_fragment(page: &ExperimentsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            experiments::Entity::find(),
            experiments::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        _row: Option<&Model>,
    ) -> AppResult<ExperimentForm> {
        Ok(ExperimentForm {
            chrome,
            form,
            agents: db::agents::list_all(&state.db).await?,
            statuses: STATUSES,
            sticky: STICKY_BY,
        })
    }
}

fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [query.text("status").map(|status| equals("status", status))],
    )
}

/// One variant on the results page, with its bar geometry (percent of the chart's width).
pub struct VariantBar {
    /// The figures.
    pub r: VariantResults,
    /// Success rate, 0–100.
    pub rate: f64,
    /// Interval, 0–100.
    pub low: f64,
    /// Interval, 0–100.
    pub high: f64,
    /// Bar lengths (0–100) relative to the largest variant, for cost, p50, tokens.
    pub cost_bar: f64,
    /// p50 duration bar.
    pub p50_bar: f64,
    /// p95 duration bar.
    pub p95_bar: f64,
    /// Tokens bar.
    pub tokens_bar: f64,
    /// Share of thumbs up among ratings, 0–100 (None without ratings).
    pub up_share: Option<f64>,
}

#[derive(Template)]
#[template(path = "admin/experiments/results.html")]
struct ResultsPage {
    chrome: Chrome,
    experiment: Model,
    agent: Option<agents::Model>,
    bars: Vec<VariantBar>,
}

impl ResultsPage {
    fn usd(v: &Option<f64>) -> String {
        v.map_or_else(|| "—".into(), |c| format!("${c:.4}"))
    }

    fn ms(v: &Option<i64>) -> String {
        v.map_or_else(|| "—".into(), |m| super::fmt::duration_ms(&m))
    }

    fn pct(v: &Option<f64>) -> String {
        v.map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0))
    }

    fn num(v: &Option<f64>) -> String {
        v.map_or_else(|| "—".into(), |t| format!("{t:.0}"))
    }
}

fn scale(value: Option<f64>, max: f64) -> f64 {
    match value {
        Some(v) if max > 0.0 => (v / max * 100.0).clamp(0.0, 100.0),
        _ => 0.0,
    }
}

fn bars(results: &ExperimentResults) -> Vec<VariantBar> {
    let max = |f: &dyn Fn(&VariantResults) -> Option<f64>| {
        results.variants.iter().filter_map(f).fold(0.0f64, f64::max)
    };
    let max_cost = max(&|r| r.avg_cost_usd);
    let max_ms = max(&|r| r.p95_duration_ms.map(|m| m as f64));
    let max_tokens = max(&|r| r.avg_total_tokens);
    results
        .variants
        .iter()
        .map(|r| {
            let interval = r.success_rate_interval.as_ref();
            let rated = r.feedback_up + r.feedback_down;
            VariantBar {
                rate: r.success_rate.unwrap_or(0.0) * 100.0,
                low: interval.map_or(0.0, |i| i.low * 100.0),
                high: interval.map_or(0.0, |i| i.high * 100.0),
                cost_bar: scale(r.avg_cost_usd, max_cost),
                p50_bar: scale(r.p50_duration_ms.map(|m| m as f64), max_ms),
                p95_bar: scale(r.p95_duration_ms.map(|m| m as f64), max_ms),
                tokens_bar: scale(r.avg_total_tokens, max_tokens),
                up_share: (rated > 0).then(|| r.feedback_up as f64 * 100.0 / rated as f64),
                r: r.clone(),
            }
        })
        .collect()
}

async fn find(state: &AppState, raw: &str) -> Result<Model, AppError> {
    db::experiments::find_by_id(&state.db, parse_id(raw)?)
        .await?
        .ok_or_else(AppError::not_found)
}

/// GET /admin/experiments/{id}/results
async fn results(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let experiment = find(&state, &path).await?;
    let results = coll::results(&state.db, &experiment).await?;
    let agent = db::agents::find_by_id(&state.db, experiment.agent_id)
        .await
        .map_err(AppError::from)?;
    Ok(render(&ResultsPage {
        chrome: ctx.chrome("experiments"),
        bars: bars(&results),
        experiment,
        agent,
    })?)
}

/// POST /admin/experiments/{id}/promote (form field `variant`).
async fn promote(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let experiment = find(&state, &path).await?;
    let values = FormValues::parse(&body);
    let variant = values.get("variant").to_owned();
    match coll::promote(&state.db, &ctx.user, &experiment, &variant).await {
        Ok((agent, _)) => {
            ctx.flash(
                Toast::success(format!("Variant {variant} promoted")).with_text(format!(
                    "{} has a new version; the experiment stopped.",
                    agent.name
                )),
            );
            Ok(see_other(&format!("/admin/agents/{}/history", agent.id)))
        }
        Err(AppError::Validation(errors)) => {
            ctx.flash(Toast::error(
                "Cannot promote",
                errors.into_values().collect::<Vec<_>>().join(" "),
            ));
            Ok(see_other(&format!(
                "/admin/experiments/{}/results",
                experiment.id
            )))
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/experiments/{id}/stop
async fn stop(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let experiment = find(&state, &path).await?;
    db::experiments::set_status(&state.db, experiment.id, "stopped").await?;
    ctx.flash(Toast::success("Experiment stopped"));
    Ok(see_other(&format!(
        "/admin/experiments/{}/results",
        experiment.id
    )))
}

/// The feedback card of an execution page: the counts and the viewer's own rating.
pub struct FeedbackCard {
    /// The execution.
    pub execution_id: i32,
    /// Thumbs up from everyone.
    pub up: usize,
    /// Thumbs down.
    pub down: usize,
    /// The viewer's rating, if any.
    pub mine: Option<i16>,
    /// The viewer's comment.
    pub comment: String,
    /// Just saved (the fragment says so).
    pub saved: bool,
}

impl FeedbackCard {
    /// The card of execution `id` for `user`.
    pub async fn load(db: &DatabaseConnection, id: i32, user: i32) -> AppResult<Self> {
        let all = db::experiments::feedback_for_execution(db, id).await?;
        let mine = all.iter().find(|f| f.user_id == user);
        Ok(Self {
            execution_id: id,
            up: all.iter().filter(|f| f.rating > 0).count(),
            down: all.iter().filter(|f| f.rating < 0).count(),
            mine: mine.map(|f| f.rating),
            comment: mine.map(|f| f.comment.clone()).unwrap_or_default(),
            saved: false,
        })
    }
}

#[derive(Template)]
#[template(path = "admin/executions/_feedback.html")]
struct FeedbackFragment {
    chrome: Chrome,
    feedback: FeedbackCard,
}

/// POST /admin/executions/{id}/feedback (`rating` 1 or -1, `comment`): the card again for
/// htmx, a redirect to the page otherwise.
async fn feedback(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let id = parse_id(&path)?;
    db::executions::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(AppError::not_found)?;
    let values = FormValues::parse(&body);
    let doc = serde_json::json!({"rating": values.get("rating"), "comment": values.get("comment")});
    let input = FeedbackInput::from_json(&doc)?;
    db::experiments::upsert_feedback(&state.db, id, ctx.user.id, input)
        .await
        .map_err(AppError::from)?;
    if !ctx.hx.fragment {
        return Ok(see_other(&format!("/admin/executions/{id}")));
    }
    let mut card = FeedbackCard::load(&state.db, id, ctx.user.id).await?;
    card.saved = true;
    Ok(render(&FeedbackFragment {
        chrome: ctx.chrome("executions"),
        feedback: card,
    })?)
}

/// Mounts the results page, Promote, Stop and the execution feedback (before the shared
/// collection routes).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/experiments/{id:\\d+}/results").route(web::get().to(results)))
        .service(web::resource("/experiments/{id:\\d+}/promote").route(web::post().to(promote)))
        .service(web::resource("/experiments/{id:\\d+}/stop").route(web::post().to(stop)))
        .service(web::resource("/executions/{id:\\d+}/feedback").route(web::post().to(feedback)))
        .configure(super::crud::configure::<Experiments>);
}

/// The agent page's chart of the share of thumbs up per day (days without ratings are gaps).
pub async fn feedback_chart(
    db: &DatabaseConnection,
    agent_id: i32,
    days: &[chrono::NaiveDate],
    since: chrono::DateTime<chrono::FixedOffset>,
) -> AppResult<super::charts::Chart> {
    use super::charts::{self, Scale, Series};
    let rows = db::experiments::feedback_by_day(db, agent_id, since).await?;
    let values = days
        .iter()
        .map(|d| {
            let key = d.format("%Y-%m-%d").to_string();
            rows.iter()
                .find(|r| r.key.as_deref() == Some(key.as_str()))
                .filter(|r| r.up + r.down > 0)
                .map(|r| r.up as f64 * 100.0 / (r.up + r.down) as f64)
        })
        .collect();
    Ok(charts::line(
        charts::NARROW,
        "feedback",
        "Feedback: thumbs up",
        days,
        &[Series {
            name: "Thumbs up".into(),
            class: "series-2",
            values,
        }],
        Scale::Percent,
    ))
}
