//! `aladdin run`: the binary runs an agent through the same runner and database, streams the
//! events to the terminal, and exits 0 only when the run completed.

use std::process::Output;

use aladdin::testing::fake_llm::{FakeLlm, Reply};
use serde_json::{Value, json};

use crate::helpers::{DbGuard, fresh_database};

/// A fresh database seeded by the binary itself, and a fake provider.
async fn prepared() -> (String, DbGuard, FakeLlm) {
    let (url, guard) = fresh_database().await;
    let output = aladdin(&url, None, &["seed"]).await;
    assert!(
        output.status.success(),
        "seed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (url, guard, FakeLlm::start().await)
}

/// Runs the binary with `args` against `url` and the fake.
async fn aladdin(url: &str, fake: Option<&FakeLlm>, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aladdin"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn");
    if let Some(fake) = fake {
        command
            .env("OPENROUTER_BASE_URL", fake.openai_base())
            .env("OPENROUTER_API_KEY", "sk-or-test");
    }
    tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("joined")
        .expect("the binary runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_one_json_event_per_line_and_exits_zero() {
    // Arrange
    let (url, _guard, fake) = prepared().await;
    fake.push(Reply::tool_call("c1", "getProjectContext", json!({})));
    fake.push(Reply::text("All set.").with_usage(20, 3).with_cost(0.001));

    // Act
    let output = aladdin(
        &url,
        Some(&fake),
        &[
            "run",
            "video-head-001",
            "Hello",
            "--project",
            "epic-quest",
            "--json",
        ],
    )
    .await;

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in [
        "start",
        "tool_call",
        "tool_result",
        "text_delta",
        "text",
        "finish",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let last = events.last().expect("events");
    assert_eq!(
        (last["type"].clone(), last["status"].clone()),
        (json!("status"), json!("completed"))
    );
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .expect("tool result");
    assert_eq!(result["output"]["slug"], "epic-quest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_streams_text_and_reports_usage_with_cost() {
    let (url, _guard, fake) = prepared().await;
    fake.push(
        Reply::text_in_chunks("Once upon a time.", 3)
            .with_usage(11, 4)
            .with_cost(0.0005),
    );

    let output = aladdin(
        &url,
        Some(&fake),
        &["run", "video-head-001", "Tell a story"],
    )
    .await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("Once upon a time.\n"), "{stdout}");
    assert!(stdout.contains("--- completed ---"), "{stdout}");
    assert!(
        stdout.contains("tokens: 11 in · 4 out · 15 total · cost $0.000500 (provider)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_exits_one_with_the_error_when_the_run_fails_or_the_agent_is_unknown() {
    // Arrange
    let (url, _guard, fake) = prepared().await;
    fake.push(Reply::status(401, "Invalid API key provided"));

    // Act
    let failed = aladdin(&url, Some(&fake), &["run", "video-head-001", "Hello"]).await;
    let unknown = aladdin(&url, Some(&fake), &["run", "nobody-001", "Hello"]).await;

    // Assert
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("failed (provider_error): Invalid API key provided"),
        "{stderr}"
    );
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(
        stderr.trim(),
        "error: Agent not found or inactive: nobody-001"
    );
}

/// Connects to the test database directly (to set up what the demo data lacks).
async fn connect(url: &str) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(url).await.expect("connected")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_streams_spawned_agents_indented_under_their_parent() {
    // Arrange: video's head may spawn two specialists, one of which spawns another
    let (url, _guard, fake) = prepared().await;
    let db = connect(&url).await;
    let allow = |agent: &'static str, children: Value| {
        let db = db.clone();
        async move {
            use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
            let row = aladdin::db::agents::find_by_agent_id(&db, agent)
                .await
                .expect("q")
                .expect("agent");
            let mut row = row.into_active_model();
            row.spawnable_agents = Set(children);
            row.update(&db).await.expect("updated");
        }
    };
    allow(
        "video-head-001",
        json!([{"agentId": "world-builder-001"}, {"agentId": "dialogue-writer-001"}]),
    )
    .await;
    allow(
        "world-builder-001",
        json!([{"agentId": "character-designer-001"}]),
    )
    .await;
    fake.push(Reply::tool_call(
        "s1",
        "spawn_agents",
        json!({"agents": [{"agentId": "world-builder-001", "prompt": "WB go"}]}),
    ));
    fake.push(Reply::tool_call(
        "s2",
        "spawn_agents",
        json!({"agents": [{"agentId": "character-designer-001", "prompt": "CD go"}]}),
    ));
    fake.push(Reply::text("Grandchild line one.\nGrandchild line two."));
    fake.push(Reply::text("Child done."));
    fake.push(Reply::text("Parent done."));

    // Act
    let text = aladdin(&url, Some(&fake), &["run", "video-head-001", "Delegate"]).await;
    let stdout = String::from_utf8_lossy(&text.stdout);

    // Assert: the child's lines two spaces in, the grandchild's four
    assert!(text.status.success(), "{stdout}");
    let line = |needle: &str| {
        stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{stdout}"))
            .to_owned()
    };
    assert!(line("=> world-builder-001 started").starts_with("=> "));
    assert!(line("==> world-builder-001").starts_with("  ==> "));
    assert!(line("=> character-designer-001 started").starts_with("  => "));
    assert!(line("==> character-designer-001").starts_with("    ==> "));
    assert_eq!(line("Grandchild line one."), "    Grandchild line one.");
    assert_eq!(line("Grandchild line two."), "    Grandchild line two.");
    assert_eq!(line("Child done."), "  Child done.");
    assert!(line("<= world-builder-001 completed").starts_with("<= "));
    assert!(stdout.contains("Parent done."));
    assert!(stdout.contains("--- completed ---"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_runs_a_chain_and_refuses_an_unknown_one_in_one_line() {
    // Arrange
    let (url, _guard, fake) = prepared().await;
    let db = connect(&url).await;
    let now = aladdin::domain::now();
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        aladdin::entities::agent_chains::ActiveModel {
            chain_id: Set("two-step".into()),
            name: Set("Two steps".into()),
            description: Set(String::new()),
            is_active: Set(true),
            steps: Set(json!([
                {"agentId": "world-builder-001", "prompt": "World: {{input}}"},
                {"agentId": "dialogue-writer-001", "prompt": "Talk about {{previous}}"}
            ])),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&db)
        .await
        .expect("chain");
    }
    fake.push(Reply::text("STEP-ONE"));
    fake.push(Reply::text("STEP-TWO"));

    // Act
    let ran = aladdin(
        &url,
        Some(&fake),
        &[
            "run-chain",
            "two-step",
            "ice",
            "--project",
            "epic-quest",
            "--json",
        ],
    )
    .await;
    let unknown = aladdin(&url, Some(&fake), &["run-chain", "no-chain", "ice"]).await;

    // Assert: JSON lines of the chain and of its steps (tagged), exit 0
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let starts: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "subagent_start")
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0]["toolCallId"], "step-1");
    let step_texts: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "text" && e["depth"] == 1)
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(step_texts, ["STEP-ONE", "STEP-TWO"]);
    let last = events.last().expect("events");
    assert_eq!(last["status"], "completed");
    assert!(
        last.get("depth").is_none(),
        "the chain's own events are untagged"
    );
    let prompts: Vec<Value> = fake.requests();
    assert!(super::tools::mentions(&prompts[1], "Talk about STEP-ONE"));
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr).trim(),
        "error: Chain not found or inactive: no-chain"
    );
}

/// Runs the binary in `dir` with nothing in its environment but `vars` (no `.env`, no
/// inherited settings); killed after 30 seconds, should it start serving after all.
async fn aladdin_with_only(dir: &std::path::Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aladdin"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("the binary starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().expect("waitable").is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().expect("output read")
    })
    .await
    .expect("joined")
}

/// A temporary directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("aladdin_cfg_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The variable named in the error, the environment, and the command line.
type BadSetting<'a> = (&'a str, Vec<(&'a str, String)>, &'a [&'a str]);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_setting_is_one_line_naming_it_and_exit_2_before_the_database_is_touched() {
    let dir = TempDir::new();
    let db_dir = dir.0.join("data");
    let url = format!("sqlite://{}/aladdin.db?mode=rwc", db_dir.display());
    let cases: Vec<BadSetting> = vec![
        // The server would create the database and load the demo data, then fail to bind.
        ("BIND", vec![("BIND", "localhost".into())], &[]),
        ("BIND", vec![("BIND", "0.0.0.0:70000".into())], &["serve"]),
        (
            "DATABASE_URL",
            vec![("DATABASE_URL", "mysql://u@localhost/aladdin".into())],
            &["migrate"],
        ),
        (
            "DATABASE_URL",
            vec![("DATABASE_URL", url.replace("mode=rwc", "mode=sideways"))],
            &["migrate"],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                "postgres://u:pw@localhost:port/aladdin".into(),
            )],
            &["seed"],
        ),
        (
            "ADMIN_PASSWORD",
            vec![
                ("ADMIN_EMAIL", "boss@example.com".into()),
                ("ADMIN_PASSWORD", "short".into()),
            ],
            &[],
        ),
        ("AGENT_TIMEOUT", vec![("AGENT_TIMEOUT", "soon".into())], &[]),
        (
            "AGENT_MAX_FANOUT",
            vec![("AGENT_MAX_FANOUT", "0".into())],
            &["run", "x", "y"],
        ),
        (
            "AGENT_MAX_DEPTH",
            vec![("AGENT_MAX_DEPTH", "deep".into())],
            &["run-chain", "x", "y"],
        ),
        (
            "LOG_FORMAT",
            vec![("LOG_FORMAT", "xml".into())],
            &["migrate"],
        ),
        (
            "OPENAI_BASE_URL",
            vec![("OPENAI_BASE_URL", "localhost:11434".into())],
            &["run", "x", "y"],
        ),
    ];
    for (var, vars, args) in cases {
        // Act
        let mut env: Vec<(&str, &str)> = vec![("DATABASE_URL", url.as_str())];
        env.extend(vars.iter().map(|(k, v)| (*k, v.as_str())));
        let output = aladdin_with_only(&dir.0, args, &env).await;
        // Assert
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{var}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}: {stderr}");
        assert!(
            stderr.starts_with(&format!("error: invalid value for {var}: ")),
            "{var}: {stderr}"
        );
        assert!(!stderr.contains(":pw@"), "{stderr}");
        assert!(
            !db_dir.exists(),
            "{var}: the database directory was created"
        );
    }
    // The same environment with nothing wrong does create it (the check above can fail).
    let output = aladdin_with_only(&dir.0, &["migrate"], &[("DATABASE_URL", url.as_str())]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(db_dir.join("aladdin.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_shows_fallbacks_and_prompt_cache_figures() {
    // Arrange: the demo pacing analyst falls back from Gemini to Haiku
    let (url, _guard, fake) = prepared().await;
    fake.push(Reply::status(
        400,
        "This endpoint's maximum context length is 1048576 tokens. However, you requested about 2000000 tokens.",
    ));
    fake.push(Reply::text("Paced.").with_usage(100, 20).with_cache(500, 0));

    // Act
    let output = aladdin(
        &url,
        Some(&fake),
        &["run", "scene-pacing-analyst-001", "Check the pacing"],
    )
    .await;

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "[fallback] google/gemini-2.5-flash -> anthropic/claude-haiku-4.5 (context_length)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("prompt cache: 500 read · 0 written"),
        "{stdout}"
    );
    assert!(
        stdout.contains("tokens: 100 in · 20 out · 620 total"),
        "{stdout}"
    );
}
