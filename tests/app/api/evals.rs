//! Evaluations and learning through the API, on both providers: every expectation kind
//! passing and failing, a rubric judged by the judge agent through the fake provider (its
//! request holds the rubric and the output; its cost kept apart), an exact pass rate, older
//! versions and variants run as such, two runs compared, a proposal written from a
//! down-rated execution and accepted as a new version, validation errors and roles.

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use serde_json::{Value, json};

use super::Api;
use crate::on_both_wires;
use crate::runner::support::{Rig, Wire, rig, within};

const SUBJECT_PROMPT: &str = "You answer geography questions. SUBJECT-V1";

/// Creates the agent under test (an Anthropic model, so that both wires serve it) and
/// returns its row id.
async fn subject(rig: &Rig, api: &Api) -> i64 {
    let department = super::department_id(&rig.app, "production").await;
    let created = api
        .post(
            "/api/agents",
            json!({"agentId": "eval-subject", "name": "Eval subject", "department": department,
                   "model": "anthropic/claude-haiku-4.5", "instructionsPrompt": SUBJECT_PROMPT,
                   "maxAgentSteps": 3}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["doc"]["id"].as_i64().expect("id")
}

async fn judge_id(api: &Api) -> i64 {
    api.get("/api/agents?where[agentId][equals]=eval-judge-001&depth=0")
        .await
        .body["docs"][0]["id"]
        .as_i64()
        .expect("demo judge")
}

/// Polls an eval run until it has ended.
async fn finished(api: &Api, id: i64) -> Value {
    within(async {
        loop {
            let run = api.get(&format!("/api/eval-runs/{id}?depth=0")).await;
            assert_eq!(run.status, 200, "{}", run.body);
            if !matches!(run.body["status"].as_str(), Some("pending" | "running")) {
                return run.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
}

fn case(run: &Value, index: i64) -> &Value {
    run["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["index"] == index))
        .unwrap_or_else(|| panic!("case {index} in {run}"))
}

async fn cost_of(api: &Api, execution: &Value) -> f64 {
    let id = execution.as_i64().expect("execution id");
    api.get(&format!("/api/agent-executions/{id}?depth=0"))
        .await
        .body["tokenUsage"]["estimatedCost"]
        .as_f64()
        .unwrap_or(0.0)
}

async fn every_expectation_passes_and_fails_and_the_judge_is_paid_apart(wire: Wire) {
    let rig = rig(wire).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    subject(&rig, &editor).await;
    let judge = judge_id(&editor).await;
    let schema =
        json!({"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}});
    let cases = json!([
        {"prompt": "CASE-0 capital of France?", "expected": {"contains": "Paris"}},
        {"prompt": "CASE-1 capital of Germany?", "expected": {"contains": "Berlin"}},
        {"prompt": "CASE-2 capital of Italy?", "expected": {"notContains": "London"}},
        {"prompt": "CASE-3 capital of England?", "expected": {"notContains": "London"}},
        {"prompt": "CASE-4 a number", "expected": {"regex": "^OUT-4 \\d{3}$"}},
        {"prompt": "CASE-5 a number", "expected": {"regex": "^OUT-5 \\d{3}$"}},
        {"prompt": "CASE-6 json", "expected": {"jsonSchema": schema}},
        {"prompt": "CASE-7 json", "expected": {"jsonSchema": schema}},
        {"prompt": "CASE-8 a story", "expected": {"rubric": "RUBRIC-8: mentions a dragon"}},
        {"prompt": "CASE-9 a story", "expected": {"rubric": "RUBRIC-9: mentions a dragon", "contains": "OUT-9"}}
    ]);
    let dataset = editor
        .post(
            "/api/eval-datasets",
            json!({"name": "Every kind", "judgeAgent": judge, "cases": cases}),
        )
        .await;
    assert_eq!(dataset.status, 201, "{}", dataset.body);
    let dataset_id = dataset.body["doc"]["id"].as_i64().expect("id");

    let outputs = [
        "OUT-0 Paris is the capital",
        "OUT-1 It is Paris",
        "OUT-2 Rome",
        "OUT-3 London, of course",
        "OUT-4 123",
        "OUT-5 12a",
        "```json\n{\"n\": 6, \"tag\": \"OUT-6\"}\n```",
        "OUT-7 not json",
        "OUT-8 A dragon appears",
        "OUT-9 Nothing happens",
    ];
    for (i, text) in outputs.iter().enumerate() {
        rig.fake.push_for(
            format!("CASE-{i} "),
            Reply::text(*text).with_usage(100, 10).with_cost(0.001),
        );
    }
    rig.fake.push_for(
        "OUT-8 A dragon",
        Reply::text("Verdict: {\"pass\": true, \"score\": 0.9, \"reason\": \"a dragon appears\"}")
            .with_usage(200, 20)
            .with_cost(0.002),
    );
    rig.fake.push_for(
        "OUT-9 Nothing",
        Reply::text("{\"pass\": false, \"score\": 0.2, \"reason\": \"no dragon\"}")
            .with_usage(200, 20)
            .with_cost(0.002),
    );

    let started = editor
        .post(
            &format!("/api/eval-datasets/{dataset_id}/run"),
            json!({"agentId": "eval-subject"}),
        )
        .await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["doc"]["totalCases"], 10);
    let run = finished(&editor, started.body["doc"]["id"].as_i64().expect("id")).await;
    assert_eq!(run["status"], "completed", "{run}");

    let expected = [
        true, false, true, false, true, false, true, false, true, false,
    ];
    for (i, pass) in expected.iter().enumerate() {
        let c = case(&run, i as i64);
        assert_eq!(c["passed"], *pass, "case {i}: {c}");
        assert_eq!(
            c["score"],
            if *pass {
                json!(if i == 8 { 0.9 } else { 1.0 })
            } else {
                c["score"].clone()
            }
        );
    }
    assert!(
        case(&run, 1)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("Berlin")
    );
    assert!(
        case(&run, 5)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("does not match")
    );
    assert!(
        case(&run, 7)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not JSON")
    );
    assert_eq!(case(&run, 8)["reason"], "rubric: a dragon appears");
    // Case 9: contains held (1), the rubric failed with 0.2 → mean 0.6, not passed.
    assert_eq!(case(&run, 9)["score"], 0.6);
    assert_eq!(case(&run, 0)["score"], 1.0);
    assert_eq!(case(&run, 1)["score"], 0.0);
    assert_eq!(run["passedCases"], 5);
    assert_eq!(run["passRate"], 0.5);

    // The judge saw the rubric, the case's prompt and the output.
    let judged: Vec<String> = rig
        .fake
        .requests()
        .iter()
        .map(Value::to_string)
        .filter(|body| body.contains("RUBRIC-8"))
        .collect();
    assert_eq!(judged.len(), 1, "one judge request for case 8");
    assert!(judged[0].contains("OUT-8 A dragon appears") && judged[0].contains("CASE-8 a story"));

    // Costs: the cases' runs in costUsd, the judge's apart in judgeCostUsd.
    let (mut cases_cost, mut judge_cost) = (0.0, 0.0);
    for c in run["cases"].as_array().expect("cases") {
        cases_cost += cost_of(&editor, &c["executionId"]).await;
        if !c["judgeExecutionId"].is_null() {
            judge_cost += cost_of(&editor, &c["judgeExecutionId"]).await;
        }
    }
    if wire == Wire::OpenRouter {
        // OpenRouter reports each call's cost: 10 × 0.001 for the cases, 2 × 0.002 for the judge.
        assert!((cases_cost - 0.01).abs() < 1e-9, "{cases_cost}");
        assert!((judge_cost - 0.004).abs() < 1e-9, "{judge_cost}");
    }
    let close = |a: f64, b: &Value| (a - b.as_f64().unwrap_or(-1.0)).abs() < 1e-9;
    assert!(
        close(cases_cost, &run["costUsd"]),
        "{cases_cost} vs {}",
        run["costUsd"]
    );
    assert!(
        close(judge_cost, &run["judgeCostUsd"]),
        "{judge_cost} vs {}",
        run["judgeCostUsd"]
    );

    // The executions are ordinary ones, marked as the run's.
    let marked = editor
        .get(&format!(
            "/api/agent-executions/count?where[params.evalRun][equals]={}",
            run["id"]
        ))
        .await;
    assert_eq!(marked.body["totalDocs"], 12, "10 cases and 2 judge runs");
}

async fn versions_and_variants_run_as_such_and_two_runs_compare(wire: Wire) {
    let rig = rig(wire).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let agent = subject(&rig, &editor).await;
    // Version 2 has a new prompt; a draft experiment has a variant with a third one.
    let patched = editor
        .patch(
            &format!("/api/agents/{agent}"),
            json!({"instructionsPrompt": "You answer briefly. SUBJECT-V2"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    let experiment = editor
        .post(
            "/api/experiments",
            json!({"name": "terse", "agent": agent, "status": "draft",
                   "variants": [{"name": "control", "weight": 1},
                                {"name": "terse", "weight": 1, "overrides": {"instructionsPrompt": "Be terse. SUBJECT-TERSE"}}]}),
        )
        .await;
    assert_eq!(experiment.status, 201, "{}", experiment.body);
    let dataset = editor
        .post(
            "/api/eval-datasets",
            json!({"name": "Two", "agent": agent, "cases": [
                {"prompt": "Q-0 first", "expected": {"contains": "good"}},
                {"prompt": "Q-1 second", "expected": {"contains": "good"}}
            ]}),
        )
        .await;
    assert_eq!(dataset.status, 201, "{}", dataset.body);
    let dataset_id = dataset.body["doc"]["id"].as_i64().expect("id");
    let run_path = format!("/api/eval-datasets/{dataset_id}/run");

    // A: version 1, both good.
    rig.fake.push_for("Q-0 ", Reply::text("good one"));
    rig.fake.push_for("Q-1 ", Reply::text("good two"));
    let a = editor.post(&run_path, json!({"version": 1})).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let a = finished(&editor, a.body["doc"]["id"].as_i64().expect("id")).await;
    assert_eq!(a["passRate"], 1.0, "{a}");
    assert_eq!(a["version"], 1);
    let seen = rig
        .fake
        .requests()
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        seen.contains("SUBJECT-V1") && !seen.contains("SUBJECT-V2"),
        "version 1 ran"
    );
    let execution = editor
        .get(&format!(
            "/api/agent-executions/{}?depth=0",
            case(&a, 0)["executionId"]
        ))
        .await;
    assert_eq!(execution.body["agentVersion"], 1);

    // B: the variant, the second case regresses.
    let before = rig.fake.request_count();
    rig.fake.push_for("Q-0 ", Reply::text("good again"));
    rig.fake.push_for("Q-1 ", Reply::text("bad now"));
    let b = editor.post(&run_path, json!({"variant": "terse"})).await;
    assert_eq!(b.status, 201, "{}", b.body);
    let b = finished(&editor, b.body["doc"]["id"].as_i64().expect("id")).await;
    assert_eq!(b["passRate"], 0.5, "{b}");
    assert_eq!(b["variant"], "terse");
    let seen = rig.fake.requests()[before..]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(seen.contains("SUBJECT-TERSE"), "the variant's prompt ran");

    let compared = editor
        .get(&format!(
            "/api/eval-runs/compare?a={}&b={}",
            a["id"], b["id"]
        ))
        .await;
    assert_eq!(compared.status, 200, "{}", compared.body);
    assert_eq!(compared.body["regressed"], 1);
    assert_eq!(compared.body["fixed"], 0);
    assert_eq!(compared.body["cases"][0]["change"], "same");
    assert_eq!(compared.body["cases"][1]["change"], "regressed");
    assert_eq!(compared.body["cases"][1]["prompt"], "Q-1 second");

    // The admin pages show both runs and the comparison highlights the regression.
    let viewer = crate::admin::sign_in_as(&rig.app, Role::Viewer).await;
    let page = viewer
        .page(
            &format!("/admin/eval-runs/compare?a={}&b={}", a["id"], b["id"]),
            200,
        )
        .await;
    assert!(page.contains("data-change=\"regressed\""), "{page}");
    let run_page = viewer
        .page(&format!("/admin/eval-runs/{}", b["id"]), 200)
        .await;
    assert!(run_page.contains("bad now") || run_page.contains("does not contain"));
}

async fn a_proposal_learns_from_a_down_rated_run_and_is_accepted(wire: Wire) {
    let rig = rig(wire).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let agent = subject(&rig, &editor).await;
    let project = rig.project_id().await;

    rig.fake
        .push(Reply::text("A very long rambling answer RAMBLE-OUT"));
    let ran = editor
        .post(
            "/api/agents/eval-subject/execute",
            json!({"prompt": "Where is Paris? ASKED-PROMPT", "projectId": project, "wait": true}),
        )
        .await;
    assert_eq!(ran.status, 200, "{}", ran.body);
    let execution = ran.body["doc"]["id"].as_i64().expect("id");
    let rated = editor
        .post(
            &format!("/api/agent-executions/{execution}/feedback"),
            json!({"rating": -1, "comment": "Too wordy COMMENT-MARKER"}),
        )
        .await;
    assert_eq!(rated.status, 200, "{}", rated.body);

    // Viewers may not ask for proposals.
    assert_eq!(
        viewer
            .post(&format!("/api/agents/{agent}/proposals"), json!({}))
            .await
            .status,
        403
    );

    rig.fake.push_for(
        "Improve the instructions prompt",
        Reply::text("{\"proposedPrompt\": \"You answer geography questions in one sentence. SUBJECT-V1\", \"rationale\": \"Reviewers found answers too wordy.\"}"),
    );
    let proposal = editor
        .post(&format!("/api/agents/{agent}/proposals"), json!({}))
        .await;
    assert_eq!(proposal.status, 201, "{}", proposal.body);
    let doc = &proposal.body["doc"];
    assert_eq!(doc["status"], "proposed");
    assert_eq!(doc["baseVersion"], 1);
    assert_eq!(doc["rationale"], "Reviewers found answers too wordy.");
    assert!(
        doc["diff"]
            .as_str()
            .unwrap_or_default()
            .contains("+You answer geography questions in one sentence."),
        "{doc}"
    );
    let id = doc["id"].as_i64().expect("id");

    // The optimizer was shown the prompt, the run and the reviewer's comment.
    let asked = rig
        .fake
        .requests()
        .iter()
        .map(Value::to_string)
        .find(|b| b.contains("Improve the instructions prompt"))
        .expect("optimizer request");
    for needle in ["COMMENT-MARKER", "ASKED-PROMPT", "RAMBLE-OUT", "SUBJECT-V1"] {
        assert!(asked.contains(needle), "{needle} in {asked}");
    }

    // Try it in an experiment: a draft, current vs proposal.
    let tried = editor
        .post(&format!("/api/agent-proposals/{id}/experiment"), json!({}))
        .await;
    assert_eq!(tried.status, 201, "{}", tried.body);
    assert_eq!(tried.body["doc"]["status"], "draft");
    assert_eq!(
        tried.body["doc"]["variants"][1]["overrides"]["instructionsPrompt"],
        "You answer geography questions in one sentence. SUBJECT-V1"
    );

    // Viewers may not accept; editors do, once.
    assert_eq!(
        viewer
            .post(&format!("/api/agent-proposals/{id}/accept"), json!({}))
            .await
            .status,
        403
    );
    let accepted = editor
        .post(&format!("/api/agent-proposals/{id}/accept"), json!({}))
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(accepted.body["proposal"]["status"], "accepted");
    assert_eq!(
        accepted.body["agent"]["instructionsPrompt"],
        "You answer geography questions in one sentence. SUBJECT-V1"
    );
    let versions = editor
        .get(&format!(
            "/api/agent-versions?where[agent][equals]={agent}&sort=-version&depth=0"
        ))
        .await;
    assert_eq!(versions.body["docs"][0]["version"], 2);
    assert_eq!(
        versions.body["docs"][0]["changeNote"],
        format!("Accepted proposal {id}.")
    );
    let again = editor
        .post(&format!("/api/agent-proposals/{id}/accept"), json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);

    let mut settings = insta::Settings::clone_current();
    settings.set_sort_maps(true);
    settings.set_prepend_module_to_snapshot(false);
    for (selector, placeholder) in [
        (".id", "[id]"),
        (".agent", "[id]"),
        (".executionId", "[id]"),
        (".createdBy", "[id]"),
        (".createdAt", "[time]"),
        (".updatedAt", "[time]"),
    ] {
        settings.add_redaction(selector, placeholder);
    }
    let doc = editor
        .get(&format!("/api/agent-proposals/{id}?depth=0"))
        .await
        .body;
    settings.bind(|| insta::assert_json_snapshot!("doc_agent_proposal", doc));
}

on_both_wires!(
    every_expectation_passes_and_fails_and_the_judge_is_paid_apart,
    versions_and_variants_run_as_such_and_two_runs_compare,
    a_proposal_learns_from_a_down_rated_run_and_is_accepted,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_datasets_and_runs_are_refused_with_field_paths_and_roles_hold() {
    let rig = rig(Wire::OpenRouter).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let agent = subject(&rig, &editor).await;

    let bad = editor
        .post(
            "/api/eval-datasets",
            json!({"name": "Bad", "cases": [
                {"prompt": "", "expected": {}},
                {"prompt": "ok", "expected": {"jsonSchema": {"type": 12}}},
                {"prompt": "ok", "expected": {"regex": "a[", "colour": "red"}},
                {"prompt": "ok", "project": 999999}
            ]}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let text = bad.body.to_string();
    for path in [
        "cases.0.prompt",
        "cases.1.expected.jsonSchema",
        "cases.2.expected.regex",
        "cases.2.expected.colour",
    ] {
        assert!(text.contains(path), "{path}: {text}");
    }
    let no_project = editor
        .post(
            "/api/eval-datasets",
            json!({"name": "Bad", "cases": [{"prompt": "ok", "project": 999999}]}),
        )
        .await;
    assert_eq!(no_project.status, 400);
    assert!(
        no_project.body.to_string().contains("cases.0.project"),
        "{}",
        no_project.body
    );

    // Viewers read but cannot create or run.
    let denied = viewer
        .post(
            "/api/eval-datasets",
            json!({"name": "V", "cases": [{"prompt": "x"}]}),
        )
        .await;
    assert_eq!(denied.status, 403);
    let good = editor
        .post(
            "/api/eval-datasets",
            json!({"name": "Good", "agent": agent, "cases": [{"prompt": "x", "expected": {"contains": "y"}}]}),
        )
        .await;
    assert_eq!(good.status, 201, "{}", good.body);
    let id = good.body["doc"]["id"].as_i64().expect("id");
    assert_eq!(
        viewer.get(&format!("/api/eval-datasets/{id}")).await.status,
        200
    );
    let run_path = format!("/api/eval-datasets/{id}/run");
    assert_eq!(viewer.post(&run_path, json!({})).await.status, 403);

    for (body, path) in [
        (json!({"version": 7}), "version"),
        (json!({"variant": "nope"}), "variant"),
        (json!({"agentId": "nobody-001"}), "agentId"),
        (json!({"version": 1, "variant": "x"}), "variant"),
        (json!({"version": "one"}), "version"),
    ] {
        let refused = editor.post(&run_path, body.clone()).await;
        assert_eq!(refused.status, 400, "{body}: {}", refused.body);
        assert!(
            refused.body.to_string().contains(path),
            "{body}: {}",
            refused.body
        );
    }
    assert_eq!(
        editor
            .post("/api/eval-datasets/999999/run", json!({}))
            .await
            .status,
        404
    );
    let compare = editor.get("/api/eval-runs/compare?a=1").await;
    assert_eq!(compare.status, 400, "{}", compare.body);
    // Eval runs are read-only through the collection routes.
    assert_eq!(editor.post("/api/eval-runs", json!({})).await.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_dataset_has_each_kind_of_expectation_and_its_judge() {
    let rig = rig(Wire::OpenRouter).await;
    let viewer = Api::as_role(&rig.app, Role::Viewer).await;
    let datasets = viewer.get("/api/eval-datasets?depth=1").await;
    let demo = &datasets.body["docs"][0];
    assert_eq!(demo["judgeAgent"]["agentId"], "eval-judge-001");
    assert_eq!(demo["agent"]["agentId"], "scene-pacing-analyst-001");
    let kinds: Vec<String> = demo["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .flat_map(|c| {
            c["expected"]
                .as_object()
                .cloned()
                .unwrap_or_default()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    for kind in ["contains", "notContains", "regex", "jsonSchema", "rubric"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}");
    }
    let optimizer = viewer
        .get("/api/agents?where[agentId][equals]=prompt-optimizer-001")
        .await;
    assert!(
        optimizer.body["docs"][0]["instructionsPrompt"]
            .as_str()
            .unwrap_or_default()
            .contains("proposedPrompt")
    );
}
