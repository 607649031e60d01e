//! A test rig: the real application on a fresh database with the demo data, its providers
//! pointed at the fake LLM server in one wire format, and helpers to run agents.

use std::future::Future;
use std::time::Duration;

use aladdin::entities::{agent_executions, agents};
use aladdin::runner::{RunContext, StreamItem};
use aladdin::{db, testing::fake_llm::FakeLlm};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
use serde_json::Value;

use crate::helpers::{TestApp, TestOptions, spawn_app_with};

/// Which wire format the providers speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenRouter (OpenAI chat completions).
    OpenRouter,
    /// Anthropic Messages, direct.
    Anthropic,
}

/// Runs each named `async fn(Wire)` as two tests, `openrouter` and `anthropic`.
#[macro_export]
macro_rules! on_both_wires {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use $crate::runner::support::Wire;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn openrouter() {
                super::$name(Wire::OpenRouter).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn anthropic() {
                super::$name(Wire::Anthropic).await
            }
        }
    )*};
}

/// The app and the fake provider behind it.
pub struct Rig {
    /// The running application.
    pub app: TestApp,
    /// The fake LLM server.
    pub fake: FakeLlm,
}

/// Longest a test waits for a run (generous: CI machines can be loaded; a run that never
/// ends still fails the test).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A rig with the demo data.
pub async fn rig(wire: Wire) -> Rig {
    rig_with(wire, |o| o).await
}

/// A rig with extra options.
pub async fn rig_with(wire: Wire, options: impl FnOnce(TestOptions) -> TestOptions) -> Rig {
    let fake = FakeLlm::start().await;
    let base = TestOptions::default().with_demo_data();
    let base = match wire {
        Wire::OpenRouter => base
            .var("OPENROUTER_BASE_URL", fake.openai_base())
            .var("OPENROUTER_API_KEY", "sk-or-test"),
        Wire::Anthropic => base
            .var("ANTHROPIC_BASE_URL", fake.anthropic_base())
            .var("ANTHROPIC_API_KEY", "sk-ant-test"),
    };
    let app = spawn_app_with(options(base)).await;
    Rig { app, fake }
}

/// A rig with OpenRouter and Anthropic both configured, on the same fake.
pub async fn rig_both_providers() -> Rig {
    let fake = FakeLlm::start().await;
    let options = TestOptions::default()
        .with_demo_data()
        .var("OPENROUTER_BASE_URL", fake.openai_base())
        .var("OPENROUTER_API_KEY", "sk-or-test")
        .var("ANTHROPIC_BASE_URL", fake.anthropic_base())
        .var("ANTHROPIC_API_KEY", "sk-ant-test");
    let app = spawn_app_with(options).await;
    Rig { app, fake }
}

/// `fut`, or a panic after [`PATIENCE`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .expect("the run finished in time")
}

impl Rig {
    /// The demo project's id.
    pub async fn project_id(&self) -> i32 {
        db::projects::find_by_slug(&self.app.db, "epic-quest")
            .await
            .expect("query")
            .expect("the demo project")
            .id
    }

    /// A context on the demo project.
    pub async fn context(&self) -> RunContext {
        RunContext {
            project_id: Some(self.project_id().await),
            ..RunContext::default()
        }
    }

    /// Queues a run of `agent` on the demo project.
    pub async fn execute(&self, agent: &str, prompt: &str) -> agent_executions::Model {
        let ctx = self.context().await;
        self.app
            .runner
            .execute(agent, prompt, ctx)
            .await
            .expect("the run is queued")
    }

    /// Runs `agent` on the demo project to its end.
    pub async fn run(&self, agent: &str, prompt: &str) -> agent_executions::Model {
        let queued = self.execute(agent, prompt).await;
        self.wait(queued.id).await
    }

    /// Runs `agent` with `ctx` to its end.
    pub async fn run_with(
        &self,
        agent: &str,
        prompt: &str,
        ctx: RunContext,
    ) -> agent_executions::Model {
        let queued = self
            .app
            .runner
            .execute(agent, prompt, ctx)
            .await
            .expect("the run is queued");
        self.wait(queued.id).await
    }

    /// The messages of the `warning` events of execution `id`.
    pub async fn warnings(&self, id: i32) -> Vec<String> {
        self.events_of(id, "warning")
            .await
            .iter()
            .filter_map(|w| w["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// Waits for execution `id` to end.
    pub async fn wait(&self, id: i32) -> agent_executions::Model {
        within(self.app.runner.wait(id))
            .await
            .expect("the execution exists")
    }

    /// The stored events of execution `id`.
    pub async fn events(&self, id: i32) -> Vec<StreamItem> {
        db::executions::events_after(&self.app.db, id, 0)
            .await
            .expect("events")
            .iter()
            .map(StreamItem::from_row)
            .collect()
    }

    /// The types of the stored events of execution `id`.
    pub async fn kinds(&self, id: i32) -> Vec<&'static str> {
        self.events(id).await.iter().map(StreamItem::kind).collect()
    }

    /// The stored events of `id` of one type, as JSON.
    pub async fn events_of(&self, id: i32, kind: &str) -> Vec<Value> {
        self.events(id)
            .await
            .iter()
            .filter(|e| e.kind() == kind)
            .map(|e| serde_json::to_value(e).expect("json"))
            .collect()
    }

    /// The agent `agent_id`.
    pub async fn agent(&self, agent_id: &str) -> agents::Model {
        db::agents::find_by_agent_id(&self.app.db, agent_id)
            .await
            .expect("query")
            .expect("the agent exists")
    }

    /// Changes agent `agent_id` directly in the database.
    pub async fn edit_agent(&self, agent_id: &str, edit: impl FnOnce(&mut agents::ActiveModel)) {
        let mut row = self.agent(agent_id).await.into_active_model();
        edit(&mut row);
        row.updated_at = Set(aladdin::domain::now());
        row.update(&self.app.db).await.expect("agent updated");
    }

    /// Sets agent `agent_id`'s executionSettings.
    pub async fn agent_settings(&self, agent_id: &str, settings: Value) {
        self.edit_agent(agent_id, |a| a.execution_settings = Set(settings))
            .await;
    }

    /// The request bodies the fake received.
    pub fn requests(&self) -> Vec<Value> {
        self.fake.requests()
    }
}

impl Rig {
    /// Waits until execution `id` has stored an event of type `kind`; returns it.
    pub async fn event_seen(&self, id: i32, kind: &str) -> StreamItem {
        use futures_util::StreamExt;
        let mut stream = self.app.runner.subscribe(id, 0).await.expect("stream");
        within(async {
            while let Some(item) = stream.next().await {
                if item.kind() == kind {
                    return item.item().clone();
                }
            }
            panic!("execution {id} ended without a {kind} event")
        })
        .await
    }
}

/// A runner of its own (not the app's) on a fresh, seeded database: for tests that need
/// options the app does not take. The guard drops the database.
pub struct Standalone {
    /// The runner (started).
    pub runner: aladdin::runner::Runner,
    /// Its database.
    pub db: sea_orm::DatabaseConnection,
    /// The fake LLM it talks to (OpenRouter wire).
    pub fake: FakeLlm,
    /// Its settings (for a second runner on the same database: a restart).
    pub settings: std::sync::Arc<aladdin::config::Settings>,
    _guard: crate::helpers::DbGuard,
}

/// Settings for `url` with the providers pointed at `fake` (OpenRouter wire).
pub fn settings_for(url: &str, fake: &FakeLlm) -> aladdin::config::Settings {
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), url.to_owned()),
        ("DATABASE_MAX_CONNECTIONS".to_owned(), "5".to_owned()),
        ("OPENROUTER_BASE_URL".to_owned(), fake.openai_base()),
        ("OPENROUTER_API_KEY".to_owned(), "sk-or-test".to_owned()),
    ]);
    aladdin::config::Settings::from_lookup(|k| vars.get(k).cloned()).expect("settings")
}

/// A fresh, migrated and seeded database with a started runner built with `options`.
pub async fn standalone(
    options: impl FnOnce(aladdin::runner::RunnerOptions) -> aladdin::runner::RunnerOptions,
) -> Standalone {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeLlm::start().await;
    let (url, guard) = crate::helpers::fresh_database().await;
    let settings = settings_for(&url, &fake);
    let db = aladdin::startup::connect_and_migrate(&settings)
        .await
        .expect("database");
    aladdin::seed::run(&db).await.expect("demo data");
    let opts = options(aladdin::runner::RunnerOptions::from_settings(&settings));
    let settings = std::sync::Arc::new(settings);
    let runner = aladdin::runner::Runner::new(db.clone(), settings.clone(), opts)
        .await
        .expect("runner");
    runner.start();
    Standalone {
        runner,
        db,
        fake,
        settings,
        _guard: guard,
    }
}
