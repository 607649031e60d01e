//! The spend page (`/admin/spend`): cost by day per agent, department, project and model as
//! stacked SVG bars (the five largest, then "Other"), what the prompt cache saved, the
//! fallbacks and breaker trips; `/admin/spend.csv` exports the same figures.

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, web};
use askama::Template;
use chrono::NaiveDate;
use serde::Deserialize;

use super::charts::{self, Chart, Scale, Series};
use super::history_filter::{start_of, today};
use super::{Chrome, Ctx, fmt};
use crate::db::{self, spend::Dimension, spend::SpendRow};
use crate::domain::models::cache_savings;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::render;

/// Periods offered, in days.
const PERIODS: [u32; 3] = [7, 30, 90];
/// Keys drawn on their own in a chart; the rest is "Other".
const TOP: usize = 5;
const CLASSES: [&str; TOP] = ["series-1", "series-2", "series-3", "series-4", "series-5"];

/// `?days=7|30|90`.
#[derive(Debug, Deserialize)]
pub struct SpendQuery {
    days: Option<u32>,
}

impl SpendQuery {
    fn days(&self) -> u32 {
        self.days.filter(|d| PERIODS.contains(d)).unwrap_or(30)
    }
}

/// One line of a breakdown table (and of the CSV).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `agent`, `department`, `project` or `model`.
    pub dimension: &'static str,
    /// `YYYY-MM-DD`, or empty for a total.
    pub day: String,
    /// Display name.
    pub name: String,
    /// Runs (model calls for models).
    pub runs: i64,
    /// Tokens.
    pub tokens: i64,
    /// Cost in USD of the priced runs.
    pub cost: f64,
}

/// Every figure of the page for a period.
#[derive(Debug, Default)]
struct Spend {
    lines: Vec<Line>,
    savings_by_day: BTreeMap<String, f64>,
    fallbacks_by_day: BTreeMap<String, f64>,
    fallback_reasons: BTreeMap<String, i64>,
    trips_by_day: BTreeMap<String, f64>,
    trips_by_model: BTreeMap<String, i64>,
}

#[derive(Template)]
#[template(path = "admin/spend.html")]
struct SpendPage {
    chrome: Chrome,
    days: u32,
    periods: [u32; 3],
    total: f64,
    savings: f64,
    fallbacks: i64,
    trips: i64,
    charts: Vec<Chart>,
    tables: Vec<(&'static str, Vec<Line>)>,
    reasons: Vec<(String, i64)>,
    trips_by_model: Vec<(String, i64)>,
}

impl SpendPage {
    fn usd(amount: &f64) -> String {
        fmt::usd(amount)
    }
}

/// Reads every figure of the last `days` days.
async fn load(state: &AppState, days: &[NaiveDate]) -> Result<Spend, AppError> {
    let since = days
        .first()
        .copied()
        .map_or_else(crate::domain::now, start_of);
    let db = &state.db;
    let departments: HashMap<String, String> = db::departments::list_all(db)
        .await?
        .into_iter()
        .map(|d| (d.id.to_string(), d.name))
        .collect();
    let mut spend = Spend::default();
    let agents = db::spend::daily_by(db, Dimension::Agent, since).await?;
    spend
        .lines
        .extend(agents.into_iter().map(|r| line("agent", r, None)));
    let by_department = db::spend::daily_by(db, Dimension::Department, since).await?;
    spend.lines.extend(
        by_department
            .into_iter()
            .map(|r| line("department", r, Some(&departments))),
    );
    let by_project = db::spend::daily_by(db, Dimension::Project, since).await?;
    let ids: Vec<i32> = by_project
        .iter()
        .filter_map(|r| r.key.as_deref()?.parse().ok())
        .collect();
    let projects: HashMap<String, String> = db::projects::find_by_ids(db, &ids)
        .await?
        .into_iter()
        .map(|p| (p.id.to_string(), p.name))
        .collect();
    spend.lines.extend(
        by_project
            .into_iter()
            .map(|r| line("project", r, Some(&projects))),
    );
    let mut prices = HashMap::new();
    for usage in db::spend::model_usage(db, since).await? {
        let serde_json::Value::Object(models) = usage.data else {
            continue;
        };
        for (model, u) in models {
            let number = |k: &str| u[k].as_i64().unwrap_or(0);
            if !prices.contains_key(&model) {
                prices.insert(model.clone(), db::models::find_price(db, &model).await?);
            }
            let saved = prices
                .get(&model)
                .and_then(Option::as_ref)
                .map_or(0.0, |p| {
                    cache_savings(
                        p,
                        u64::try_from(number("cacheReadTokens")).unwrap_or(0),
                        u64::try_from(number("cacheWriteTokens")).unwrap_or(0),
                    )
                });
            *spend.savings_by_day.entry(usage.day.clone()).or_default() += saved;
            spend.lines.push(Line {
                dimension: "model",
                day: usage.day.clone(),
                name: model,
                runs: number("calls"),
                tokens: number("totalTokens"),
                cost: u["estimatedCost"].as_f64().unwrap_or(0.0),
            });
        }
    }
    for event in db::spend::events(db, "fallback", since).await? {
        *spend.fallbacks_by_day.entry(event.day).or_default() += 1.0;
        let reason = event.data["reason"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        *spend.fallback_reasons.entry(reason).or_default() += 1;
    }
    for event in db::spend::events(db, "breaker", since).await? {
        if event.data["state"] == "open" {
            *spend.trips_by_day.entry(event.day).or_default() += 1.0;
            let model = event.data["model"].as_str().unwrap_or("?").to_owned();
            *spend.trips_by_model.entry(model).or_default() += 1;
        }
    }
    Ok(spend)
}

fn line(dimension: &'static str, row: SpendRow, names: Option<&HashMap<String, String>>) -> Line {
    let name = match (row.key, names) {
        (None, _) => "(none)".to_owned(),
        (Some(key), Some(names)) => names.get(&key).cloned().unwrap_or(key),
        (Some(key), None) => key,
    };
    Line {
        dimension,
        day: row.day,
        name,
        runs: row.runs,
        tokens: row.tokens,
        cost: row.cost.unwrap_or(0.0),
    }
}

/// The lines of `dimension` summed per name, largest cost first.
fn totals(lines: &[Line], dimension: &'static str) -> Vec<Line> {
    let mut by_name: BTreeMap<&str, Line> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.dimension == dimension) {
        let total = by_name.entry(&l.name).or_insert_with(|| Line {
            dimension,
            day: String::new(),
            name: l.name.clone(),
            runs: 0,
            tokens: 0,
            cost: 0.0,
        });
        total.runs += l.runs;
        total.tokens += l.tokens;
        total.cost += l.cost;
    }
    let mut out: Vec<Line> = by_name.into_values().collect();
    out.sort_by(|a, b| b.cost.total_cmp(&a.cost).then(a.name.cmp(&b.name)));
    out
}

/// Cost per day of `dimension`, stacked: the [`TOP`] largest, then the rest as "Other".
fn cost_chart(
    id: &'static str,
    title: &str,
    days: &[NaiveDate],
    lines: &[Line],
    dimension: &'static str,
) -> Chart {
    let ranked = totals(lines, dimension);
    let top: Vec<&str> = ranked.iter().take(TOP).map(|l| l.name.as_str()).collect();
    let per_day = |keep: &dyn Fn(&str) -> bool| -> Vec<Option<f64>> {
        days.iter()
            .map(|d| {
                let day = d.format("%Y-%m-%d").to_string();
                let sum: f64 = lines
                    .iter()
                    .filter(|l| l.dimension == dimension && l.day == day && keep(&l.name))
                    .map(|l| l.cost)
                    .sum();
                Some(sum)
            })
            .collect()
    };
    let mut series: Vec<Series> = top
        .iter()
        .zip(CLASSES)
        .map(|(name, class)| Series {
            name: (*name).to_owned(),
            class,
            values: per_day(&|n| n == *name),
        })
        .collect();
    if ranked.len() > TOP {
        series.push(Series {
            name: "Other".into(),
            class: "history-series-other",
            values: per_day(&|n| !top.contains(&n)),
        });
    }
    charts::bars(charts::WIDE, id, title, days, &series, Scale::Usd)
}

fn by_day(days: &[NaiveDate], values: &BTreeMap<String, f64>) -> Vec<Option<f64>> {
    days.iter()
        .map(|d| values.get(&d.format("%Y-%m-%d").to_string()).copied())
        .collect()
}

/// GET /admin/spend
async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<SpendQuery>,
) -> Result<HttpResponse, PageError> {
    let days = charts::last_days(today(), query.days());
    let spend = load(&state, &days).await?;
    let mut charts = vec![
        cost_chart(
            "agents",
            "Cost per day by agent",
            &days,
            &spend.lines,
            "agent",
        ),
        cost_chart(
            "departments",
            "Cost per day by department",
            &days,
            &spend.lines,
            "department",
        ),
        cost_chart(
            "projects",
            "Cost per day by project",
            &days,
            &spend.lines,
            "project",
        ),
        cost_chart(
            "models",
            "Cost per day by model",
            &days,
            &spend.lines,
            "model",
        ),
    ];
    charts.push(charts::bars(
        charts::WIDE,
        "savings",
        "Prompt cache savings per day",
        &days,
        &[Series {
            name: "Saved".into(),
            class: "series-2",
            values: by_day(&days, &spend.savings_by_day),
        }],
        Scale::Usd,
    ));
    charts.push(charts::bars(
        charts::WIDE,
        "resilience",
        "Fallbacks and breaker trips per day",
        &days,
        &[
            Series {
                name: "Fallbacks".into(),
                class: "series-4",
                values: by_day(&days, &spend.fallbacks_by_day),
            },
            Series {
                name: "Breaker trips".into(),
                class: "series-3",
                values: by_day(&days, &spend.trips_by_day),
            },
        ],
        Scale::Count,
    ));
    let tables = ["agent", "department", "project", "model"]
        .into_iter()
        .map(|d| (d, totals(&spend.lines, d)))
        .collect();
    let total = spend
        .lines
        .iter()
        .filter(|l| l.dimension == "agent")
        .map(|l| l.cost)
        .sum();
    Ok(render(&SpendPage {
        chrome: ctx.chrome("spend"),
        days: query.days(),
        periods: PERIODS,
        total,
        savings: spend.savings_by_day.values().sum(),
        fallbacks: spend.fallback_reasons.values().sum(),
        trips: spend.trips_by_model.values().sum(),
        charts,
        tables,
        reasons: spend.fallback_reasons.into_iter().collect(),
        trips_by_model: spend.trips_by_model.into_iter().collect(),
    })?)
}

/// GET /admin/spend.csv: `day,dimension,name,runs,tokens,cost_usd`, one line per day and
/// key, plus `day,cache_savings,,,,usd`, `day,fallbacks,reason,count,,` and
/// `day,breaker_trips,model,count,,` lines.
async fn csv(
    _ctx: Ctx,
    state: web::Data<AppState>,
    query: web::Query<SpendQuery>,
) -> Result<HttpResponse, PageError> {
    let days = charts::last_days(today(), query.days());
    let spend = load(&state, &days).await?;
    let mut out = String::from("day,dimension,name,runs,tokens,cost_usd\n");
    let mut lines = spend.lines;
    lines.sort_by(|a, b| (&a.day, a.dimension, &a.name).cmp(&(&b.day, b.dimension, &b.name)));
    for l in &lines {
        out.push_str(&format!(
            "{},{},{},{},{},{:.6}\n",
            l.day,
            l.dimension,
            csv_field(&l.name),
            l.runs,
            l.tokens,
            l.cost
        ));
    }
    for (day, saved) in &spend.savings_by_day {
        out.push_str(&format!("{day},cache_savings,,,,{saved:.6}\n"));
    }
    for (day, n) in &spend.fallbacks_by_day {
        out.push_str(&format!("{day},fallbacks,,{n},,\n"));
    }
    for (day, n) in &spend.trips_by_day {
        out.push_str(&format!("{day},breaker_trips,,{n},,\n"));
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "content-disposition",
            format!("attachment; filename=\"spend-{}d.csv\"", query.days()),
        ))
        .body(out))
}

/// A CSV field, quoted when it holds a comma, a quote or a line break; a leading `=`, `+`,
/// `-` or `@` is neutralised so a spreadsheet does not run it as a formula.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// Mounts the page and its export.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/spend").route(web::get().to(show)))
        .service(web::resource("/spend.csv").route(web::get().to(csv)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=SUM(A1)"), "'=SUM(A1)");
    }

    #[test]
    fn totals_rank_by_cost_and_charts_keep_the_top_five() {
        let line = |day: &str, name: &str, cost: f64| Line {
            dimension: "agent",
            day: day.into(),
            name: name.into(),
            runs: 1,
            tokens: 10,
            cost,
        };
        let lines: Vec<Line> = (0..7)
            .map(|i| line("2025-03-30", &format!("a{i}"), f64::from(i)))
            .chain([line("2025-03-29", "a6", 1.0)])
            .collect();
        let ranked = totals(&lines, "agent");
        assert_eq!(ranked[0].name, "a6");
        assert_eq!(ranked[0].cost, 7.0);
        assert_eq!(ranked[0].runs, 2);
        let days = charts::last_days(NaiveDate::from_ymd_opt(2025, 3, 30).unwrap_or_default(), 2);
        let chart = cost_chart("agents", "Cost", &days, &lines, "agent");
        assert_eq!(chart.legend.len(), TOP + 1);
        assert_eq!(chart.legend[TOP].0, "Other");
    }
}
