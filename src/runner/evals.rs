//! Evaluation runs and prompt proposals: both are ordinary executions started through
//! [`Runner::execute`] and awaited with [`Runner::wait`].
//!
//! An eval run executes its dataset's cases with at most `EVAL_CONCURRENCY` in flight. Each
//! case's execution is queued like any other and takes a `RUNNER_CONCURRENCY` slot only while
//! it runs; this task holds none while it waits, so evaluations never deadlock the runner,
//! whatever the two settings. A case with a `rubric` then runs the judge agent (another
//! ordinary execution, its cost kept apart as `judgeCostUsd`). Each verdict is one row in
//! `eval_case_results`, written as the case ends (live progress); the run's totals are summed
//! once at the end.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;

use super::{Pinned, RunContext, Runner};
use crate::db;
use crate::domain::evals::{
    EvalCase, check_output, combine, judge_prompt, parse_proposal, parse_verdict, stored_cases,
    unified_diff,
};
use crate::domain::executions::Status;
use crate::entities::{agent_executions, agent_proposals, agents, eval_case_results, eval_runs};
use crate::error::{AppError, AppResult};

/// The cost of a run and its descendants.
fn cost_of(row: &agent_executions::Model) -> f64 {
    row.aggregate_usage
        .as_ref()
        .and_then(|u| u["estimatedCost"].as_f64())
        .or(row.estimated_cost)
        .unwrap_or(0.0)
}

/// How often a running eval run's driver marks it alive.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);
/// An eval run not marked alive for this long lost its driver.
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Fails the eval runs whose driver died (at start, then every 15 s); spawn it once.
pub async fn sweep(db: sea_orm::DatabaseConnection) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(15));
    loop {
        every.tick().await;
        match db::evals::fail_stale_runs(&db, STALE_AFTER).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(n, "eval runs left by a stopped process were marked failed"),
            Err(e) => tracing::warn!(error = %e, "eval run sweep failed"),
        }
    }
}

/// What an eval run needs besides its row.
struct Plan {
    run: eval_runs::Model,
    agent_slug: String,
    judge: Option<String>,
    pin: Pinned,
}

/// Runs eval run `run_id` to its end (spawn it: it lasts as long as its cases). An eval run
/// that cannot start, or whose driver fails, ends `failed` with the reason.
pub async fn drive(runner: Arc<Runner>, run_id: i32) {
    let db = runner.core.db.clone();
    if let Err(e) = drive_inner(&runner, run_id).await {
        tracing::error!(eval_run = run_id, error = %e, "eval run failed");
        let _ = db::evals::transition_run(
            &db,
            run_id,
            &["pending", "running"],
            "failed",
            Some(e.to_string()),
        )
        .await;
    }
}

async fn drive_inner(runner: &Arc<Runner>, run_id: i32) -> anyhow::Result<()> {
    let db = &runner.core.db;
    let run = db::evals::find_run(db, run_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("eval run {run_id} disappeared"))?;
    let dataset = db::evals::find_dataset(db, run.dataset_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("its dataset was deleted"))?;
    let agent = db::agents::find_by_id(db, run.agent_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("its agent was deleted"))?;
    let judge = match dataset.judge_agent_id {
        Some(id) => db::agents::find_by_id(db, id).await?.map(|a| a.agent_id),
        None => None,
    }
    .or_else(|| runner.core.settings.runner.eval_judge_agent.clone());
    let cases = stored_cases(&dataset.cases);
    if !db::evals::transition_run(db, run_id, &["pending"], "running", None).await? {
        // Cancelled before it started.
        db::evals::finish_run(db, run_id, "cancelled").await?;
        return Ok(());
    }
    let pin = Pinned {
        version: run.version,
        overrides: run
            .overrides
            .clone()
            .and_then(|o| serde_json::from_value(o).ok())
            .unwrap_or_default(),
    };
    let plan = Arc::new(Plan {
        run,
        agent_slug: agent.agent_id,
        judge,
        pin,
    });
    // Each case in flight needs database connections of its own (queueing, waiting,
    // recording): at most half the pool, so that an eval run cannot starve the pool.
    let pool = usize::try_from(runner.core.settings.database.max_connections).unwrap_or(2);
    let limit = runner
        .core
        .settings
        .runner
        .eval_concurrency
        .min(pool / 2)
        .max(1);
    let work = futures_util::stream::iter(cases.into_iter().enumerate())
        .for_each_concurrent(limit, |(index, case)| {
            let (runner, plan) = (Arc::clone(runner), Arc::clone(&plan));
            async move {
                if cancelled(&runner, run_id).await {
                    return;
                }
                let row = run_case(&runner, &plan, index, &case).await;
                if let Err(e) = db::evals::record_case(&runner.core.db, row).await {
                    tracing::error!(eval_run = run_id, case = index, error = %e, "case not recorded");
                }
            }
        });
    // The driver says it is alive, so that a sweep fails the runs of a dead process only.
    tokio::pin!(work);
    let mut beat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            () = &mut work => break,
            _ = beat.tick() => {
                let _ = db::evals::touch_run(db, run_id).await;
            }
        }
    }
    db::evals::finish_run(db, run_id, "completed").await?;
    Ok(())
}

async fn cancelled(runner: &Runner, run_id: i32) -> bool {
    db::evals::find_run(&runner.core.db, run_id)
        .await
        .ok()
        .flatten()
        .is_none_or(|r| r.status != "running")
}

/// Runs one case (and its judge) and returns its verdict row.
async fn run_case(
    runner: &Runner,
    plan: &Plan,
    index: usize,
    case: &EvalCase,
) -> eval_case_results::ActiveModel {
    use sea_orm::ActiveValue::Set;
    let run = &plan.run;
    let mut row = eval_case_results::ActiveModel {
        run_id: Set(run.id),
        case_index: Set(i32::try_from(index).unwrap_or(i32::MAX)),
        execution_id: Set(None),
        judge_execution_id: Set(None),
        passed: Set(false),
        score: Set(0.0),
        reason: Set(String::new()),
        cost_usd: Set(0.0),
        judge_cost_usd: Set(0.0),
        ..Default::default()
    };
    let ctx = RunContext {
        project_id: case.project,
        metadata: json!({"evalRun": run.id, "evalCase": index}),
        created_by: run.created_by,
        pinned: Some(plan.pin.clone()),
        ..RunContext::default()
    };
    let ended = match runner.execute(&plan.agent_slug, &case.prompt, ctx).await {
        Err(e) => {
            row.reason = Set(format!("not run: {e}"));
            return row;
        }
        Ok(queued) => {
            row.execution_id = Set(Some(queued.id));
            match runner.wait(queued.id).await {
                Ok(ended) => ended,
                Err(e) => {
                    row.reason = Set(format!("lost: {e}"));
                    return row;
                }
            }
        }
    };
    row.cost_usd = Set(cost_of(&ended));
    if ended.status != Status::Completed.as_str() {
        let why = ended
            .error_message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        row.reason = Set(format!("the run ended {}{why}", ended.status));
        return row;
    }
    let text = ended.output_text.clone().unwrap_or_default();
    let mut checks: Vec<(bool, f64, String)> =
        check_output(&case.expected, ended.output.as_ref(), &text)
            .into_iter()
            .map(|c| (c.passed, if c.passed { 1.0 } else { 0.0 }, c.reason))
            .collect();
    if let Some(rubric) = &case.expected.rubric {
        let shown = match &ended.output {
            Some(v) if !v.is_null() && text.trim().is_empty() => v.to_string(),
            _ => text.clone(),
        };
        let (verdict, judge_id, judge_cost) =
            judge(runner, plan, index, case, rubric, &shown).await;
        row.judge_execution_id = Set(judge_id);
        row.judge_cost_usd = Set(judge_cost);
        checks.push(verdict);
    }
    let (passed, score, reason) = combine(&checks);
    row.passed = Set(passed);
    row.score = Set(score);
    row.reason = Set(reason);
    row
}

/// Asks the judge: `(passed, score, reason)`, its execution and its cost.
async fn judge(
    runner: &Runner,
    plan: &Plan,
    index: usize,
    case: &EvalCase,
    rubric: &str,
    output: &str,
) -> ((bool, f64, String), Option<i32>, f64) {
    let Some(judge) = &plan.judge else {
        return (
            (
                false,
                0.0,
                "rubric: no judge agent (set judgeAgent on the dataset or EVAL_JUDGE_AGENT)".into(),
            ),
            None,
            0.0,
        );
    };
    let ctx = RunContext {
        metadata: json!({"evalRun": plan.run.id, "evalCase": index, "judge": true}),
        created_by: plan.run.created_by,
        ..RunContext::default()
    };
    let prompt = judge_prompt(case, rubric, output);
    let queued = match runner.execute(judge, &prompt, ctx).await {
        Ok(q) => q,
        Err(e) => {
            return (
                (false, 0.0, format!("rubric: judge not run: {e}")),
                None,
                0.0,
            );
        }
    };
    let ended = match runner.wait(queued.id).await {
        Ok(e) => e,
        Err(e) => {
            return (
                (false, 0.0, format!("rubric: judge lost: {e}")),
                Some(queued.id),
                0.0,
            );
        }
    };
    let cost = cost_of(&ended);
    if ended.status != Status::Completed.as_str() {
        return (
            (
                false,
                0.0,
                format!("rubric: the judge's run ended {}", ended.status),
            ),
            Some(ended.id),
            cost,
        );
    }
    let verdict = parse_verdict(
        ended.output.as_ref(),
        ended.output_text.as_deref().unwrap_or_default(),
    );
    let check = match verdict {
        Some(v) => {
            let reason = if v.reason.is_empty() {
                format!("rubric: judged {}", if v.pass { "pass" } else { "fail" })
            } else {
                format!("rubric: {}", v.reason)
            };
            (v.pass, v.score, reason)
        }
        None => (
            false,
            0.0,
            "rubric: the judge's answer holds no verdict".into(),
        ),
    };
    (check, Some(ended.id), cost)
}

/// How many failed or down-rated executions the optimizer is shown.
const LESSONS: u64 = 10;

fn clip(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push_str(" […]");
    }
    out
}

/// The optimizer's prompt: the agent's current prompt and what went wrong recently.
fn optimizer_prompt(
    agent: &agents::Model,
    lessons: &[(agent_executions::Model, Vec<String>)],
) -> String {
    let mut p = format!(
        "Improve the instructions prompt of the agent \"{}\" ({}).\n\n{}\n\n## Current instructions prompt\n<<<\n{}\n>>>\n\n## Recent executions that failed or were rated down\n",
        agent.name, agent.agent_id, agent.description, agent.instructions_prompt
    );
    if lessons.is_empty() {
        p.push_str("(none recorded: improve clarity and robustness)\n");
    }
    for (i, (row, comments)) in lessons.iter().enumerate() {
        p.push_str(&format!(
            "\n### {}. Execution {} ({})\nPrompt: {}\nOutput: {}\n",
            i + 1,
            row.id,
            row.status,
            clip(&row.prompt, 2000),
            clip(row.output_text.as_deref().unwrap_or("(none)"), 2000),
        ));
        if let Some(e) = &row.error_message {
            p.push_str(&format!("Error: {}\n", clip(e, 500)));
        }
        for c in comments {
            p.push_str(&format!("Feedback: {}\n", clip(c, 1000)));
        }
    }
    p.push_str(
        "\nAnswer with one JSON object and nothing else: {\"proposedPrompt\": \"the whole improved prompt\", \"rationale\": \"what you changed and why\"}",
    );
    p
}

impl Runner {
    /// Queues the cases of eval run `run_id` on a task of its own and returns at once.
    pub fn start_eval(self: &Arc<Self>, run_id: i32) {
        let runner = Arc::clone(self);
        // On the runner's runtime: an eval run outlives the request that started it, and its
        // cases should not share an HTTP worker's single thread with the requests it serves.
        self.core.background.spawn(drive(runner, run_id));
    }

    /// "Suggest an improvement": runs the optimizer agent (`EVAL_OPTIMIZER_AGENT`) on the
    /// agent's prompt and its recent failed or down-rated executions, waits for it, and
    /// stores its answer as an `agent-proposals` document (`proposed`).
    pub async fn propose(
        &self,
        agent: &agents::Model,
        created_by: Option<i32>,
    ) -> AppResult<agent_proposals::Model> {
        let db = &self.core.db;
        let optimizer = self.core.settings.runner.eval_optimizer_agent.clone();
        let lessons = db::evals::lessons(db, agent.id, LESSONS).await?;
        let base_version = db::versions::latest_agent_version(db, agent.id)
            .await
            .ok()
            .filter(|v| *v > 0);
        let ctx = RunContext {
            metadata: json!({"proposalFor": agent.agent_id}),
            created_by,
            ..RunContext::default()
        };
        let queued = self
            .execute(&optimizer, &optimizer_prompt(agent, &lessons), ctx)
            .await
            .map_err(|e| match e {
                super::RunError::AgentNotFound(_) => AppError::Conflict(format!(
                    "The optimizer agent {optimizer} does not exist or is inactive (EVAL_OPTIMIZER_AGENT)."
                )),
                other => AppError::Unexpected(anyhow::Error::new(other).context("optimizer run")),
            })?;
        let ended = self
            .wait(queued.id)
            .await
            .map_err(|e| AppError::Unexpected(anyhow::Error::new(e).context("optimizer wait")))?;
        if ended.status != Status::Completed.as_str() {
            return Err(AppError::Conflict(format!(
                "The optimizer's run (execution {}) ended {}{}.",
                ended.id,
                ended.status,
                ended
                    .error_message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )));
        }
        let Some((proposed_prompt, rationale)) = parse_proposal(
            ended.output.as_ref(),
            ended.output_text.as_deref().unwrap_or_default(),
        ) else {
            return Err(AppError::Conflict(format!(
                "The optimizer's answer (execution {}) holds no prompt.",
                ended.id
            )));
        };
        let diff = unified_diff(&agent.instructions_prompt, &proposed_prompt);
        Ok(db::evals::insert_proposal(
            db,
            db::evals::NewProposal {
                agent_id: agent.id,
                base_version,
                proposed_prompt,
                rationale,
                diff,
                execution_id: Some(ended.id),
                created_by,
            },
        )
        .await?)
    }
}
