//! Executions: the read-only list and the detail page with its event timeline.

use aladdin::{
    domain::users::Role,
    entities::{agent_executions, agents, execution_events},
};
use chrono::{DateTime, FixedOffset};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::json;

use super::sign_in_as;
use crate::helpers::{TestOptions, spawn_app_with};

/// Inserts a finished execution with two events (the runner is not part of these tests).
pub async fn insert_execution(
    db: &sea_orm::DatabaseConnection,
    status: &str,
    prompt: &str,
) -> agent_executions::Model {
    let now = aladdin::domain::now();
    let run = agent_executions::ActiveModel {
        agent_id: Set(None),
        agent_slug: Set("story-head-001".into()),
        conversation_id: Set("conv-1".into()),
        prompt: Set(prompt.into()),
        params: Set(json!({})),
        status: Set(status.into()),
        output_text: Set(Some("<b>model output</b>".into())),
        execution_time_ms: Set(Some(1234)),
        input_tokens: Set(100),
        output_tokens: Set(50),
        total_tokens: Set(150),
        estimated_cost: Set(Some(0.0042)),
        cost_source: Set(Some("price_table".into())),
        retry_count: Set(0),
        max_retries: Set(3),
        agent_snapshot: Set(json!({"model": "anthropic/claude-sonnet-4.5"})),
        cancel_requested: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("execution inserted");
    for (seq, kind) in [(1, "start"), (2, "finish")] {
        execution_events::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            execution_id: Set(run.id),
            seq: Set(seq),
            r#type: Set(kind.into()),
            data: Set(json!({"note": "<script>alert(1)</script>"})),
            created_at: Set(now),
        }
        .insert(db)
        .await
        .expect("event inserted");
    }
    run
}

#[tokio::test]
async fn executions_are_listed_filtered_and_shown_with_their_events() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let done = insert_execution(&app.db, "completed", "Write a logline").await;
    insert_execution(&app.db, "failed", "Another prompt").await;
    // Act / Assert: list and filter
    let all = viewer.page("/admin/executions", 200).await;
    assert!(all.contains("Write a logline") && all.contains("Another prompt"));
    let completed = viewer.page("/admin/executions?status=completed", 200).await;
    assert!(completed.contains("Write a logline"));
    assert!(!completed.contains("Another prompt"));
    // detail
    let page = viewer
        .page(&format!("/admin/executions/{}", done.id), 200)
        .await;
    assert!(page.contains("Run #"));
    assert!(page.contains("event-start") && page.contains("event-finish"));
    assert!(
        page.contains("&#60;b&#62;model output&#60;/b&#62;"),
        "model output is escaped"
    );
    assert!(!page.contains("<script>alert(1)</script>"));
    // dashboard lists it too
    assert!(
        viewer
            .page("/admin", 200)
            .await
            .contains(&format!("/admin/executions/{}", done.id))
    );
}

/// The known values of one execution row to seed.
#[derive(Clone)]
pub struct Seed {
    pub agent: Option<agents::Model>,
    pub slug: &'static str,
    pub project_id: Option<i32>,
    pub conversation: &'static str,
    pub prompt: &'static str,
    pub status: &'static str,
    pub created_at: DateTime<FixedOffset>,
    pub time_ms: Option<i64>,
    pub tokens: i64,
    pub cost: Option<f64>,
    pub error_code: Option<&'static str>,
}

impl Seed {
    /// A completed run of `agent` created at `created_at`.
    pub fn run(
        agent: &agents::Model,
        prompt: &'static str,
        created_at: DateTime<FixedOffset>,
    ) -> Self {
        Self {
            agent: Some(agent.clone()),
            slug: "",
            project_id: None,
            conversation: "conv",
            prompt,
            status: "completed",
            created_at,
            time_ms: Some(1000),
            tokens: 100,
            cost: None,
            error_code: None,
        }
    }

    pub fn status(mut self, status: &'static str) -> Self {
        self.status = status;
        if matches!(status, "pending" | "running") {
            self.time_ms = None;
        }
        if matches!(status, "failed" | "timeout") {
            self.error_code = Some("provider_error");
        }
        self
    }
}

/// Inserts the row of `seed` (through the entities: the runner is not part of these tests).
pub async fn seed_run(db: &sea_orm::DatabaseConnection, seed: Seed) -> agent_executions::Model {
    let slug = match &seed.agent {
        Some(a) => a.agent_id.clone(),
        None => seed.slug.to_owned(),
    };
    agent_executions::ActiveModel {
        agent_id: Set(seed.agent.as_ref().map(|a| a.id)),
        agent_slug: Set(slug),
        department_id: Set(seed.agent.as_ref().map(|a| a.department_id)),
        project_id: Set(seed.project_id),
        conversation_id: Set(seed.conversation.into()),
        prompt: Set(seed.prompt.into()),
        params: Set(json!({})),
        status: Set(seed.status.into()),
        execution_time_ms: Set(seed.time_ms),
        input_tokens: Set(seed.tokens / 2),
        output_tokens: Set(seed.tokens - seed.tokens / 2),
        total_tokens: Set(seed.tokens),
        estimated_cost: Set(seed.cost),
        cost_source: Set(seed.cost.map(|_| "price_table".to_owned())),
        error_code: Set(seed.error_code.map(str::to_owned)),
        error_message: Set(seed.error_code.map(|c| format!("failed with {c}"))),
        retry_count: Set(0),
        max_retries: Set(3),
        agent_snapshot: Set(json!({"model": "anthropic/claude-sonnet-4.5"})),
        cancel_requested: Set(false),
        created_at: Set(seed.created_at),
        updated_at: Set(seed.created_at),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("execution inserted")
}

/// A demo agent by slug.
pub async fn demo_agent(db: &sea_orm::DatabaseConnection, slug: &str) -> agents::Model {
    aladdin::db::agents::find_by_agent_id(db, slug)
        .await
        .expect("query")
        .expect("seeded agent")
}

/// `YYYY-MM-DDTHH:MM:SSZ` as a stored timestamp.
pub fn at(rfc3339: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(rfc3339).expect("timestamp")
}

/// The prompts listed by a page of the executions list, in order.
fn listed(html: &str, candidates: &[&str]) -> Vec<String> {
    let mut found: Vec<(usize, String)> = candidates
        .iter()
        .filter_map(|c| html.find(&format!(">{c}<")).map(|i| (i, (*c).to_owned())))
        .collect();
    found.sort();
    found.into_iter().map(|(_, c)| c).collect()
}

const PROMPTS: [&str; 4] = [
    "alpha prompt",
    "beta prompt",
    "gamma prompt",
    "delta prompt",
];

#[tokio::test]
async fn filters_narrow_the_list_by_agent_department_project_conversation_and_dates() {
    // Arrange: four runs with known agents, departments, projects, conversations and days
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    let world = demo_agent(&app.db, "world-head-001").await;
    assert_ne!(story.department_id, world.department_id);
    let project = aladdin::db::projects::list_for_picker(&app.db)
        .await
        .expect("projects")
        .remove(0);
    let mut alpha = Seed::run(&story, PROMPTS[0], at("2025-03-01T10:00:00Z"));
    alpha.project_id = Some(project.id);
    alpha.conversation = "conv-a";
    alpha.cost = Some(0.5);
    seed_run(&app.db, alpha).await;
    let mut beta = Seed::run(&world, PROMPTS[1], at("2025-03-03T00:00:00Z")).status("failed");
    beta.cost = Some(0.1);
    seed_run(&app.db, beta).await;
    let mut gamma = Seed::run(&story, PROMPTS[2], at("2025-03-05T23:59:59.999Z"));
    gamma.conversation = "conv-a";
    gamma.cost = Some(0.9);
    seed_run(&app.db, gamma).await;
    seed_run(
        &app.db,
        Seed::run(&world, PROMPTS[3], at("2025-03-06T00:00:00Z")),
    )
    .await;
    let list = |query: &'static str| {
        let viewer = &viewer;
        async move {
            let html = viewer
                .page(&format!("/admin/executions?{query}"), 200)
                .await;
            listed(&html, &PROMPTS)
        }
    };
    // Act / Assert: every filter, alone and combined; newest first by default
    assert_eq!(
        list("").await,
        [
            "delta prompt",
            "gamma prompt",
            "beta prompt",
            "alpha prompt"
        ]
    );
    assert_eq!(
        list("agent=story-head-001").await,
        ["gamma prompt", "alpha prompt"]
    );
    let by_department = format!("department={}", world.department_id);
    let html = viewer
        .page(&format!("/admin/executions?{by_department}"), 200)
        .await;
    assert_eq!(listed(&html, &PROMPTS), ["delta prompt", "beta prompt"]);
    let by_project = format!("project={}", project.id);
    let html = viewer
        .page(&format!("/admin/executions?{by_project}"), 200)
        .await;
    assert_eq!(listed(&html, &PROMPTS), ["alpha prompt"]);
    assert_eq!(
        list("conversation=conv-a").await,
        ["gamma prompt", "alpha prompt"]
    );
    assert_eq!(
        list("from=2025-03-03&to=2025-03-05").await,
        ["gamma prompt", "beta prompt"],
        "both ends are whole UTC days"
    );
    assert_eq!(list("to=2025-03-01").await, ["alpha prompt"]);
    assert_eq!(list("status=failed&from=2025-03-02").await, ["beta prompt"]);
    assert_eq!(
        list("sort=cost").await,
        [
            "beta prompt",
            "alpha prompt",
            "gamma prompt",
            "delta prompt"
        ],
        "cheapest first, unpriced last"
    );
    assert_eq!(
        list("per_page=10&page=1&sort=-cost").await[0],
        "gamma prompt"
    );
}

#[tokio::test]
async fn the_filtered_list_is_an_htmx_fragment_with_its_filters_in_the_links() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    for prompt in PROMPTS {
        let mut seed = Seed::run(&story, prompt, at("2025-03-01T10:00:00Z"));
        seed.conversation = "conv-x";
        seed_run(&app.db, seed).await;
    }
    // Act
    let response = viewer
        .get_hx("/admin/executions?conversation=conv-x&from=2025-03-01&per_page=10")
        .await;
    // Assert
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(!html.contains("<html"), "only the list block");
    assert!(html.contains("id=\"list\""));
    assert!(html.contains("4 executions match the filter."));
    assert!(
        html.replace("&#38;", "&").contains(
            "href=\"/admin/executions?conversation=conv-x&from=2025-03-01&sort=agent&per_page=10\""
        ),
        "sort links keep the filters"
    );
}

#[tokio::test]
async fn bad_filter_values_are_explained_and_ignored_never_a_500() {
    // Arrange
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    seed_run(
        &app.db,
        Seed::run(&story, "alpha prompt", at("2025-03-01T10:00:00Z")),
    )
    .await;
    // Act
    let html = viewer
        .page(
            "/admin/executions?from=2025-13-45&to=tomorrow&department=abc&project=1e9&status=weird",
            200,
        )
        .await;
    // Assert
    assert!(html.contains("Some filters could not be read and were ignored"));
    assert!(html.contains("From “2025-13-45” is not a date: use YYYY-MM-DD."));
    assert!(html.contains("To “tomorrow” is not a date"));
    assert!(html.contains("Department “abc” is not a valid id."));
    assert!(html.contains("Project “1e9” is not a valid id."));
    assert!(html.contains("“weird” is not a status."));
    assert!(html.contains("aria-invalid=\"true\""));
    assert!(
        html.contains(">alpha prompt<"),
        "the other filters still apply"
    );
    let inverted = viewer
        .page("/admin/executions?from=2025-03-05&to=2025-03-01", 200)
        .await;
    assert!(inverted.contains("before it starts"));
    assert!(!inverted.contains(">alpha prompt<"));
    let overflow = viewer
        .page(
            "/admin/executions?department=99999999999999999999&page=-1&per_page=7",
            200,
        )
        .await;
    assert!(overflow.contains("is not a valid id"));
}

#[tokio::test]
async fn the_execution_page_shows_the_error_usage_source_snapshot_and_conversation() {
    // Arrange: a failed run with a tool call, and a running one
    let app = spawn_app_with(TestOptions::default().with_demo_data()).await;
    let editor = sign_in_as(&app, Role::Editor).await;
    let story = demo_agent(&app.db, "story-head-001").await;
    let mut seed = Seed::run(&story, "Plan act two", aladdin::domain::now()).status("failed");
    seed.conversation = "conv/with space";
    seed.cost = Some(0.0042);
    let run = seed_run(&app.db, seed).await;
    let mut row: agent_executions::ActiveModel = run.clone().into();
    row.error_code = Set(Some("max_steps".into()));
    row.error_message = Set(Some("Stopped after 20 model calls".into()));
    row.error_details = Set(Some(json!({"maxSteps": 20, "lastTool": "saveWorldRule"})));
    row.cost_source = Set(Some("provider".into()));
    row.params = Set(json!({"ticket": "T-42"}));
    row.retry_count = Set(2);
    row.agent_snapshot = Set(json!({"model": "anthropic/claude-sonnet-4.5",
        "instructionsPrompt": "You are the head of story", "toolNames": ["saveWorldRule"]}));
    let run = row.update(&app.db).await.expect("updated");
    let events = [
        (
            "start",
            json!({"agentId": "story-head-001", "model": "anthropic/claude-sonnet-4.5",
            "tools": ["saveWorldRule"], "maxSteps": 20, "maxRetries": 3, "timeoutMs": 1000}),
        ),
        (
            "tool_call",
            json!({"toolCallId": "call_1", "toolName": "saveWorldRule",
            "input": {"rule": "No magic at noon"}}),
        ),
        (
            "tool_result",
            json!({"toolCallId": "call_1", "toolName": "saveWorldRule",
            "output": {"saved": true}, "durationMs": 12}),
        ),
        ("text", json!({"text": "Act two <em>begins</em>"})),
        (
            "error",
            json!({"message": "Stopped after 20 model calls", "code": "max_steps"}),
        ),
        ("status", json!({"status": "failed"})),
    ];
    for (i, (kind, data)) in events.into_iter().enumerate() {
        execution_events::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            execution_id: Set(run.id),
            seq: Set(i as i64 + 1),
            r#type: Set(kind.into()),
            data: Set(data),
            created_at: Set(run.created_at),
        }
        .insert(&app.db)
        .await
        .expect("event");
    }
    let live = seed_run(
        &app.db,
        Seed::run(&story, "Still going", aladdin::domain::now()).status("running"),
    )
    .await;
    // Act
    let html = editor
        .page(&format!("/admin/executions/{}", run.id), 200)
        .await;
    // Assert: error, usage source, retries, metadata, snapshot
    assert!(html.contains("<code class=\"inline\">max_steps</code>"));
    assert!(html.contains("Stopped after 20 model calls"));
    assert!(
        html.contains("&#34;lastTool&#34;: &#34;saveWorldRule&#34;")
            || html.contains("&quot;lastTool&quot;")
    );
    assert!(html.contains("data-cost-source=\"provider\""));
    assert!(html.contains("reported by the provider"));
    assert!(html.contains("$0.0042"));
    assert!(html.contains("T-42"), "metadata");
    assert!(html.contains("class=\"history-snapshot\""));
    assert!(html.contains("You are the head of story"));
    // the timeline is the live page's fragments: tool call with its input, then its result
    assert!(html.contains("<span class=\"tool-call-name\">saveWorldRule</span>"));
    assert!(html.contains("No magic at noon"));
    assert!(html.contains("<span class=\"tool-call-id\">result</span>"));
    assert!(
        html.contains("Act two &#60;em&#62;begins&#60;/em&#62;")
            || html.contains("Act two &lt;em&gt;")
    );
    assert!(!html.contains("<em>begins"));
    // links: conversation (encoded), run again with prompt, no watch for a finished run
    assert!(html.contains("href=\"/admin/executions?conversation=conv%2Fwith+space\""));
    assert!(html.contains("/admin/agents/story-head-001/run?prompt=Plan+act+two"));
    assert!(!html.contains(&format!("/admin/executions/{}/watch", run.id)));
    let running = editor
        .page(&format!("/admin/executions/{}", live.id), 200)
        .await;
    assert!(running.contains(&format!("href=\"/admin/executions/{}/watch\"", live.id)));
    assert!(running.contains("Watch live"));
    // viewers cannot start runs
    let viewer = sign_in_as(&app, Role::Viewer).await;
    let html = viewer
        .page(&format!("/admin/executions/{}", run.id), 200)
        .await;
    assert!(!html.contains("Run again"));
    assert_eq!(viewer.get("/admin/executions/abc").await.status(), 404);
    assert_eq!(viewer.get("/admin/executions/999999").await.status(), 404);
}
