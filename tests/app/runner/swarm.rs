//! Swarms: a head agent spawning specialists with `spawn_agents`. The children run in
//! parallel as executions of their own (their provider requests are in flight together),
//! results come back in the order asked with failures as entries, refusals are tool errors,
//! cancel and the deadline reach the whole tree, `aggregateUsage` sums it exactly, and nesting
//! down to `AGENT_MAX_DEPTH` never deadlocks, even with `RUNNER_CONCURRENCY=1`.

use aladdin::db;
use aladdin::domain::users::Role;
use aladdin::entities::agent_executions;
use aladdin::testing::fake_llm::Reply;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use super::support::{Rig, Wire, rig, rig_with, within};
use crate::api::Api;
use crate::on_both_wires;

on_both_wires!(
    a_head_runs_three_specialists_in_parallel_and_gets_their_results_in_order,
    refused_spawns_go_back_to_the_model_as_tool_errors,
    a_child_deeper_than_the_limit_cannot_spawn,
    cancelling_a_parent_cancels_its_whole_tree,
    children_share_their_parents_deadline,
    three_levels_deep_with_one_runner_slot_do_not_deadlock,
);

const HEAD: &str = "story-head-001";
/// Specialists whose models every wire can route (anthropic/…).
const SPECIALISTS: [&str; 3] = [
    "world-builder-001",
    "dialogue-writer-001",
    "character-designer-001",
];

/// Lets `agent` spawn `children`.
pub async fn allow(rig: &Rig, agent: &str, children: &[&str]) {
    let list: Vec<Value> = children.iter().map(|c| json!({"agentId": c})).collect();
    rig.edit_agent(agent, |a| a.spawnable_agents = Set(Value::Array(list)))
        .await;
}

/// A `spawn_agents` call for `(agentId, prompt)` pairs.
pub fn spawn(id: &str, orders: &[(&str, &str)]) -> Reply {
    let agents: Vec<Value> = orders
        .iter()
        .map(|(agent, prompt)| json!({"agentId": agent, "prompt": prompt}))
        .collect();
    Reply::tool_call(id, "spawn_agents", json!({ "agents": agents }))
}

/// The children of execution `id`, oldest first.
pub async fn children(rig: &Rig, id: i32) -> Vec<agent_executions::Model> {
    agent_executions::Entity::find()
        .filter(agent_executions::Column::ParentExecutionId.eq(id))
        .order_by_asc(agent_executions::Column::Id)
        .all(&rig.app.db)
        .await
        .expect("children")
}

/// The output of the tool_result event of call `id` on execution `run`.
async fn tool_result(rig: &Rig, run: i32, id: &str) -> Value {
    rig.events_of(run, "tool_result")
        .await
        .into_iter()
        .find(|e| e["toolCallId"] == id)
        .expect("the tool result")
}

async fn a_head_runs_three_specialists_in_parallel_and_gets_their_results_in_order(wire: Wire) {
    // Arrange: three children, held by the fake until all three requests are in flight
    let rig = rig(wire).await;
    allow(&rig, HEAD, &SPECIALISTS).await;
    rig.fake.push(
        spawn(
            "call_swarm",
            &[
                (SPECIALISTS[0], "TASK-A outline the plot"),
                (SPECIALISTS[1], "TASK-B write the dialogue"),
                (SPECIALISTS[2], "TASK-C describe the world"),
            ],
        )
        .with_usage(100, 10)
        .with_cost(0.001),
    );
    rig.fake.gather(3, "TASK-");
    rig.fake.push_for(
        "TASK-A",
        Reply::text("plot done").with_usage(20, 2).with_cost(0.0002),
    );
    rig.fake
        .push_for("TASK-B", Reply::status(400, "the dialogue model refused"));
    rig.fake.push_for(
        "TASK-C",
        Reply::text("world done")
            .with_usage(30, 3)
            .with_cost(0.0003),
    );
    rig.fake.push(
        Reply::text("All three reported.")
            .with_usage(200, 20)
            .with_cost(0.002),
    );

    // Act
    let run = rig.run(HEAD, "Plan the next episode with your team.").await;

    // Assert: the requests overlapped, and the parent completed on its children's results
    assert!(rig.fake.gathered(), "the three children ran in parallel");
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.output_text.as_deref(), Some("All three reported."));
    let kids = children(&rig, run.id).await;
    assert_eq!(kids.len(), 3);
    let results = tool_result(&rig, run.id, "call_swarm").await["output"]["results"].clone();
    let results = results.as_array().expect("results").clone();
    let agents: Vec<&str> = results
        .iter()
        .map(|r| r["agentId"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(agents, SPECIALISTS, "in the order asked");
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["completed", "failed", "completed"]);
    assert_eq!(results[0]["outputText"], "plot done");
    assert_eq!(results[0]["output"], "plot done");
    assert_eq!(results[0]["error"], Value::Null);
    assert!(
        results[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{}",
        results[1]
    );
    assert_eq!(results[2]["outputText"], "world done");
    for (kid, result) in kids.iter().zip(&results) {
        assert_eq!(result["executionId"], kid.id);
        assert_eq!(kid.parent_execution_id, Some(run.id));
        assert_eq!(kid.depth, 1);
        assert_eq!(kid.project_id, run.project_id);
        assert_ne!(kid.conversation_id, run.conversation_id);
    }
    let by_prompt = |needle: &str| {
        kids.iter()
            .find(|k| k.prompt.contains(needle))
            .expect("child")
            .agent_slug
            .clone()
    };
    assert_eq!(by_prompt("TASK-B"), SPECIALISTS[1]);

    // Assert: the parent's events name each child, start and finish
    let starts = rig.events_of(run.id, "subagent_start").await;
    let finishes = rig.events_of(run.id, "subagent_finish").await;
    assert_eq!(starts.len(), 3);
    assert_eq!(finishes.len(), 3);
    for kid in &kids {
        let start = starts
            .iter()
            .find(|e| e["executionId"] == kid.id)
            .expect("a start event");
        assert_eq!(start["toolCallId"], "call_swarm");
        assert_eq!(start["agentId"], kid.agent_slug.as_str());
        let finish = finishes
            .iter()
            .find(|e| e["executionId"] == kid.id)
            .expect("a finish event");
        assert_eq!(finish["status"], kid.status.as_str());
    }

    // Assert: aggregateUsage is own + children, tokenUsage stays its own
    assert_eq!((run.input_tokens, run.output_tokens), (300, 30));
    let aggregate = run.aggregate_usage.clone().expect("aggregate usage");
    assert_eq!(aggregate["inputTokens"], 350);
    assert_eq!(aggregate["outputTokens"], 35);
    assert_eq!(aggregate["totalTokens"], 385);
    // The cost is the sum of the runs' own costs (the provider's, or the price table's).
    let own_costs: f64 = std::iter::once(&run)
        .chain(&kids)
        .filter_map(|r| r.estimated_cost)
        .sum();
    let cost = aggregate["estimatedCost"].as_f64().expect("cost");
    assert!(own_costs > 0.0);
    assert!((cost - own_costs).abs() < 1e-12, "{cost} vs {own_costs}");
    if wire == Wire::OpenRouter {
        assert!((cost - 0.0035).abs() < 1e-12, "provider costs: {cost}");
    }

    // Assert: the API lists the children and filters top-level runs
    let api = Api::as_role(&rig.app, Role::Viewer).await;
    let listed = api
        .get(&format!(
            "/api/agent-executions?where[parentExecution][equals]={}&sort=id",
            run.id
        ))
        .await
        .body;
    assert_eq!(listed["totalDocs"], 3);
    assert_eq!(listed["docs"][0]["depth"], 1);
    assert_eq!(listed["docs"][0]["parentExecution"], run.id);
    let top = api
        .get("/api/agent-executions?where[depth][equals]=0")
        .await
        .body;
    assert_eq!(top["totalDocs"], 1);
    assert_eq!(top["docs"][0]["aggregateUsage"]["totalTokens"], 385);
    assert_eq!(top["docs"][0]["chain"], Value::Null);
}

async fn refused_spawns_go_back_to_the_model_as_tool_errors(wire: Wire) {
    // Arrange: at most two children per call
    let rig = rig_with(wire, |o| o.var("AGENT_MAX_FANOUT", "2")).await;
    allow(&rig, HEAD, &SPECIALISTS[..2]).await;
    rig.fake
        .push(spawn("call_1", &[("scene-pacing-analyst-001", "not mine")]));
    rig.fake.push(spawn(
        "call_2",
        &[
            (SPECIALISTS[0], "one"),
            (SPECIALISTS[1], "two"),
            (SPECIALISTS[0], "three"),
        ],
    ));
    rig.fake.push(Reply::text("I will do it myself."));

    // Act
    let run = rig.run(HEAD, "Delegate badly.").await;

    // Assert: both calls refused with a reason, nothing spawned, the run went on
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert!(children(&rig, run.id).await.is_empty());
    let refused = tool_result(&rig, run.id, "call_1").await;
    let why = refused["error"].as_str().expect("an error");
    assert!(
        why.contains("Not allowed") && why.contains("scene-pacing-analyst-001"),
        "{why}"
    );
    assert!(
        why.contains(SPECIALISTS[0]),
        "lists the allowed agents: {why}"
    );
    let too_many = tool_result(&rig, run.id, "call_2").await;
    let why = too_many["error"].as_str().expect("an error");
    assert!(
        why.contains("at most 2") && why.contains("asked for 3"),
        "{why}"
    );
    // The model saw the refusals as tool results.
    let last = rig.requests().last().cloned().expect("requests");
    assert!(super::tools::mentions(&last, "Not allowed"));
    assert!(super::tools::mentions(&last, "Too many agents"));
    assert!(rig.events_of(run.id, "subagent_start").await.is_empty());
}

async fn a_child_deeper_than_the_limit_cannot_spawn(wire: Wire) {
    // Arrange: one level of children only; the child may spawn too, but is at the limit
    let rig = rig_with(wire, |o| o.var("AGENT_MAX_DEPTH", "1")).await;
    allow(&rig, HEAD, &[SPECIALISTS[0]]).await;
    allow(&rig, SPECIALISTS[0], &[SPECIALISTS[1]]).await;
    rig.fake
        .push(spawn("call_top", &[(SPECIALISTS[0], "go on")]));
    rig.fake
        .push(spawn("call_deep", &[(SPECIALISTS[1], "deeper still")]));
    rig.fake.push(Reply::text("did it myself"));
    rig.fake.push(Reply::text("done"));

    // Act
    let run = rig.run(HEAD, "Nest.").await;

    // Assert
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let kids = children(&rig, run.id).await;
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0].output_text.as_deref(), Some("did it myself"));
    assert!(children(&rig, kids[0].id).await.is_empty());
    let refused = tool_result(&rig, kids[0].id, "call_deep").await;
    let why = refused["error"].as_str().expect("an error");
    assert!(why.contains("Too deep") && why.contains("depth 1"), "{why}");
}

async fn cancelling_a_parent_cancels_its_whole_tree(wire: Wire) {
    // Arrange: a child that spawns a grandchild; both hang at the provider
    let rig = rig(wire).await;
    allow(&rig, HEAD, &[SPECIALISTS[0], SPECIALISTS[1]]).await;
    allow(&rig, SPECIALISTS[0], &[SPECIALISTS[2]]).await;
    rig.fake.push(spawn(
        "call_1",
        &[
            (SPECIALISTS[0], "HANG-1 spawn"),
            (SPECIALISTS[1], "HANG-2 wait"),
        ],
    ));
    rig.fake.push_for(
        "HANG-1",
        spawn("call_2", &[(SPECIALISTS[2], "HANG-3 wait")]),
    );
    rig.fake.push_for("HANG-2", Reply::Hang);
    rig.fake.push_for("HANG-3", Reply::Hang);
    let queued = rig.execute(HEAD, "Start a tree.").await;
    // Wait for the grandchild to be in flight.
    let first = rig.event_seen(queued.id, "subagent_start").await;
    let child = first.event.clone();
    let child_id = match child {
        aladdin::runner::Event::SubagentStart { execution_id, .. } => execution_id,
        other => panic!("unexpected {other:?}"),
    };
    let spawner = children(&rig, queued.id)
        .await
        .into_iter()
        .find(|c| c.prompt.contains("HANG-1"))
        .map_or(child_id, |c| c.id);
    rig.event_seen(spawner, "subagent_start").await;

    // Act
    let cancelled = within(rig.app.runner.cancel(queued.id))
        .await
        .expect("cancelled");

    // Assert: the parent and every descendant ended cancelled; none is left running
    assert_eq!(cancelled.status, "cancelled");
    let kids = children(&rig, queued.id).await;
    assert_eq!(kids.len(), 2);
    let grandkids = children(&rig, spawner).await;
    assert_eq!(grandkids.len(), 1);
    assert_eq!(grandkids[0].depth, 2);
    for row in kids.iter().chain(&grandkids) {
        assert_eq!(row.status, "cancelled", "execution {}", row.id);
        assert_eq!(row.error_code.as_deref(), Some("cancelled"));
    }
    let running = agent_executions::Entity::find()
        .filter(agent_executions::Column::Status.eq("running"))
        .all(&rig.app.db)
        .await
        .expect("query");
    assert!(running.is_empty(), "{running:?}");
    let finishes = rig.events_of(queued.id, "subagent_finish").await;
    assert_eq!(finishes.len(), 2);
    assert!(finishes.iter().all(|f| f["status"] == "cancelled"));
}

async fn children_share_their_parents_deadline(wire: Wire) {
    // Arrange: the parent has one second; its child has the default five minutes, and hangs
    let rig = rig(wire).await;
    allow(&rig, HEAD, &[SPECIALISTS[0]]).await;
    rig.agent_settings(HEAD, json!({"timeout": 1})).await;
    rig.fake
        .push(spawn("call_1", &[(SPECIALISTS[0], "HANG forever")]));
    rig.fake.push_for("HANG forever", Reply::Hang);

    // Act
    let run = rig.run(HEAD, "Wait for your child.").await;

    // Assert: both timed out at the parent's deadline
    assert_eq!(run.status, "timeout");
    let kids = children(&rig, run.id).await;
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0].status, "timeout");
    assert_eq!(kids[0].error_code.as_deref(), Some("timeout"));
    let details = kids[0].error_details.clone().expect("details");
    assert_eq!(details["parentDeadline"], true);
    assert_eq!(details["timeoutMs"], 300_000);
    let finishes = rig.events_of(run.id, "subagent_finish").await;
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["status"], "timeout");
}

async fn three_levels_deep_with_one_runner_slot_do_not_deadlock(wire: Wire) {
    // Arrange: one slot, and a chain of spawns down to AGENT_MAX_DEPTH (3)
    let rig = rig_with(wire, |o| o.var("RUNNER_CONCURRENCY", "1")).await;
    let line = [HEAD, SPECIALISTS[0], SPECIALISTS[1], SPECIALISTS[2]];
    for pair in line.windows(2) {
        allow(&rig, pair[0], &[pair[1]]).await;
    }
    for (level, agent) in line.iter().enumerate().skip(1) {
        rig.fake.push(
            spawn(
                &format!("call_{level}"),
                &[(agent, &format!("level {level}"))],
            )
            .with_usage(10, 1)
            .with_cost(0.01),
        );
    }
    for level in (0..4).rev() {
        rig.fake.push(
            Reply::text(format!("level {level} done"))
                .with_usage(100, 10)
                .with_cost(0.1),
        );
    }

    // Act
    let run = rig.run(HEAD, "Go all the way down.").await;

    // Assert: every level completed, at its depth; the top's aggregate covers all of them
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let mut parent = run.id;
    let mut own_costs = run.estimated_cost.unwrap_or_default();
    for depth in 1..=3 {
        let kids = children(&rig, parent).await;
        assert_eq!(kids.len(), 1, "depth {depth}");
        assert_eq!(kids[0].depth, depth);
        assert_eq!(kids[0].status, "completed", "{:?}", kids[0].error_message);
        own_costs += kids[0].estimated_cost.unwrap_or_default();
        parent = kids[0].id;
    }
    let aggregate = run.aggregate_usage.clone().expect("aggregate");
    // Three spawning levels (10+100 in, 1+10 out) and the leaf (100 in, 10 out).
    assert_eq!(aggregate["inputTokens"], 3 * 110 + 100);
    assert_eq!(aggregate["outputTokens"], 3 * 11 + 10);
    let cost = aggregate["estimatedCost"].as_f64().expect("cost");
    assert!((cost - own_costs).abs() < 1e-12, "{cost} vs {own_costs}");
    if wire == Wire::OpenRouter {
        assert!(
            (cost - (3.0 * 0.11 + 0.1)).abs() < 1e-9,
            "provider costs: {cost}"
        );
    }
    let leaf = db::executions::find_by_id(&rig.app.db, parent)
        .await
        .expect("q")
        .expect("leaf");
    assert_eq!(
        leaf.aggregate_usage.expect("leaf aggregate")["inputTokens"],
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_heads_may_spawn_the_specialists_of_their_department() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let api = Api::as_role(&rig.app, Role::Viewer).await;

    // Act
    let heads = api
        .get("/api/agents?where[isDepartmentHead][equals]=true&limit=50&sort=agentId&depth=0")
        .await
        .body;

    // Assert: each head lists exactly the other agents of its department
    let mut teams = 0;
    for head in heads["docs"].as_array().expect("docs") {
        let department = head["department"].as_i64().expect("department id");
        let specialists = api
            .get(&format!(
                "/api/agents?where[department][equals]={department}&where[isDepartmentHead][equals]=false&sort=agentId&limit=50"
            ))
            .await
            .body;
        let expected: Vec<Value> = specialists["docs"]
            .as_array()
            .expect("docs")
            .iter()
            // The evaluation judge and the prompt optimizer serve the platform, not a team.
            .filter(|a| {
                !matches!(
                    a["agentId"].as_str(),
                    Some("eval-judge-001" | "prompt-optimizer-001")
                )
            })
            .map(|a| json!({"agentId": a["agentId"]}))
            .collect();
        let mut listed = head["spawnableAgents"].as_array().expect("list").clone();
        listed.sort_by_key(|v| v["agentId"].as_str().unwrap_or_default().to_owned());
        assert_eq!(listed, expected, "{}", head["agentId"]);
        teams += usize::from(!expected.is_empty());
    }
    assert_eq!(teams, 3, "story, character and world have specialists");
    let story = rig.agent(HEAD).await;
    assert!(story.instructions_prompt.contains("spawn_agents"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawnable_agents_must_exist_and_are_filtered_by_the_api() {
    // Arrange
    let rig = rig(Wire::OpenRouter).await;
    let editor = Api::as_role(&rig.app, Role::Editor).await;
    let id = rig.agent("video-head-001").await.id;

    // Act
    let unknown = editor
        .patch(
            &format!("/api/agents/{id}"),
            json!({"spawnableAgents": [{"agentId": "world-builder-001"}, {"agentId": "ghost-001"}]}),
        )
        .await;
    let twice = editor
        .patch(
            &format!("/api/agents/{id}"),
            json!({"spawnableAgents": [{"agentId": "world-builder-001"}, {"agentId": "world-builder-001"}]}),
        )
        .await;
    let saved = editor
        .patch(
            &format!("/api/agents/{id}"),
            json!({"spawnableAgents": [{"agentId": "world-builder-001"}]}),
        )
        .await;
    let found = editor
        .get("/api/agents?where[spawnableAgents][contains]=world-builder-001&limit=50")
        .await;

    // Assert
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let errors = &unknown.body["errors"][0]["data"]["errors"];
    assert_eq!(errors[0]["path"], "spawnableAgents.1.agentId", "{errors}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ghost-001"))
    );
    assert_eq!(twice.status, 400);
    assert_eq!(
        twice.body["errors"][0]["data"]["errors"][0]["path"],
        "spawnableAgents.1.agentId"
    );
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(
        saved.body["doc"]["spawnableAgents"],
        json!([{"agentId": "world-builder-001"}])
    );
    let ids: Vec<&str> = found.body["docs"]
        .as_array()
        .expect("docs")
        .iter()
        .filter_map(|d| d["agentId"].as_str())
        .collect();
    assert!(ids.contains(&"video-head-001"), "{ids:?}");
    assert!(ids.contains(&"world-head-001"), "{ids:?}");
    assert!(!ids.contains(&"story-head-001"), "{ids:?}");
}
