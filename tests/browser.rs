//! End to end in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! against the started application, its provider replaced by the fake LLM at the HTTP
//! boundary. Signs in through the login form, runs a demo agent from its run page and watches
//! the streamed text, the tool call and the final result appear; then cancels a slow run.
//!
//! The browser is found through `CHROMEDRIVER` / `CHROME`, else `/usr/bin/chromedriver` and
//! `/usr/bin/chromium`. Without it the test fails when `CI` is set, and otherwise prints a
//! loud notice and returns, so that a developer without Chromium can still run `cargo test`.
//! With `ALADDIN_SCREENSHOTS=<dir>` it also saves screenshots of the run page there.

#[path = "app/helpers/mod.rs"]
mod helpers;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aladdin::testing::fake_llm::{FakeLlm, Reply};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use helpers::{TestApp, TestOptions, spawn_app_with};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery";
const AGENT: &str = "video-head-001";
/// How long a DOM condition may take to become true (generous: CI machines are loaded; a
/// condition that never holds still fails the test).
const PATIENCE: Duration = Duration::from_secs(90);

/// chromedriver and the browser binary.
struct BrowserPaths {
    driver: PathBuf,
    chrome: PathBuf,
}

/// The browser, if installed; `None` (with a notice) lets the test pass outside CI.
fn find_browser() -> Option<BrowserPaths> {
    let pick = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(default))
    };
    let paths = BrowserPaths {
        driver: pick("CHROMEDRIVER", "/usr/bin/chromedriver"),
        chrome: pick("CHROME", "/usr/bin/chromium"),
    };
    if paths.driver.is_file() && paths.chrome.is_file() {
        return Some(paths);
    }
    let what = format!(
        "chromedriver ({}) or Chromium ({}) is missing; install them with \
         `apt-get install -y chromium chromium-driver` or set CHROMEDRIVER and CHROME",
        paths.driver.display(),
        paths.chrome.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("the browser end-to-end test needs a browser in CI: {what}");
    }
    eprintln!(
        "\n{}\n!! SKIPPING the browser end-to-end test: {what}\n{}\n",
        "!".repeat(78),
        "!".repeat(78)
    );
    None
}

/// A running chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Starts chromedriver on a free port and waits until it answers.
async fn start_driver(paths: &BrowserPaths) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&paths.driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = std::env::temp_dir().join(format!("aladdin-chrome-{}", uuid::Uuid::new_v4()));
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile,
    };
    let status = format!("{}/status", driver.url);
    let client = reqwest::Client::new();
    eventually("chromedriver answers", || async {
        client
            .get(&status)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
    driver
}

/// A WebDriver session of headless Chromium, 1440×1000.
async fn open_browser(driver: &Driver, paths: &BrowserPaths) -> Client {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,1000",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .chain([format!("--user-data-dir={}", driver.profile.display())])
    .collect::<Vec<_>>();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": paths.chrome, "args": args}),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session");
    // The window size includes the browser's frame: make the viewport itself 1440×1000.
    let frame = js(&browser, "window.outerHeight - window.innerHeight").await;
    let frame = u32::try_from(frame.as_u64().unwrap_or(0)).unwrap_or(0);
    let _ = browser.set_window_size(1440, 1000 + frame).await;
    browser
}

/// Waits until `check` holds, polling; panics with `what` after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Evaluates a JavaScript expression in the page.
async fn js(browser: &Client, expression: &str) -> Value {
    browser
        .execute(&format!("return ({expression});"), vec![])
        .await
        .unwrap_or(Value::Null)
}

/// Waits until the expression is `true` in the page; on failure, shows the run panel.
async fn until(browser: &Client, what: &str, expression: &str) {
    let deadline = Instant::now() + PATIENCE;
    while js(browser, expression).await != Value::Bool(true) {
        if Instant::now() >= deadline {
            let panel = js(
                browser,
                "(document.querySelector('#run-panel') || document.body).outerHTML",
            )
            .await;
            panic!(
                "gave up waiting: {what}\nthe page shows:\n{}",
                panel.as_str().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Saves a screenshot when `ALADDIN_SCREENSHOTS` names a directory.
async fn screenshot(browser: &Client, name: &str) {
    let Some(dir) = std::env::var_os("ALADDIN_SCREENSHOTS") else {
        return;
    };
    let png = browser.screenshot().await.expect("a screenshot");
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

/// The app with the demo data, its admin, and OpenRouter pointed at the fake.
async fn start_app(fake: &FakeLlm) -> TestApp {
    spawn_app_with(
        TestOptions::default()
            .with_demo_data()
            .var("ADMIN_EMAIL", ADMIN_EMAIL)
            .var("ADMIN_PASSWORD", ADMIN_PASSWORD)
            .var("OPENROUTER_BASE_URL", fake.openai_base())
            .var("OPENROUTER_API_KEY", "sk-or-test"),
    )
    .await
}

async fn sign_in(browser: &Client, app: &TestApp) {
    browser
        .goto(&app.url("/admin/login"))
        .await
        .expect("login page");
    let email = browser.find(Locator::Css("#email")).await.expect("email");
    email.send_keys(ADMIN_EMAIL).await.expect("types");
    let password = browser
        .find(Locator::Css("#password"))
        .await
        .expect("password");
    password.send_keys(ADMIN_PASSWORD).await.expect("types");
    browser
        .find(Locator::Css("button[type=submit]"))
        .await
        .expect("sign-in button")
        .click()
        .await
        .expect("clicks");
    until(browser, "signed in", "!!document.querySelector('.sidebar')").await;
}

/// Types a prompt on the open run page and presses Run.
async fn run_prompt(browser: &Client, prompt: &str) {
    let field = browser
        .find(Locator::Css("#f-prompt"))
        .await
        .expect("prompt");
    field.clear().await.expect("clears");
    field.send_keys(prompt).await.expect("types");
    browser
        .find(Locator::Css("#f-project"))
        .await
        .expect("project picker")
        .select_by_label("Epic Quest")
        .await
        .expect("the demo project is offered");
    browser
        .find(Locator::Css("button[data-run]"))
        .await
        .expect("Run button")
        .click()
        .await
        .expect("clicks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_streams_into_the_run_page_and_another_is_cancelled() {
    let Some(paths) = find_browser() else {
        return;
    };
    // Arrange: the app, the fake LLM's script, a browser signed in as the admin
    let fake = FakeLlm::start().await;
    fake.push(
        Reply::text_then_tools(
            "Let me look at the project first.",
            vec![("call_ctx".into(), "getProjectContext".into(), json!({}))],
        )
        .with_usage(420, 18)
        .delayed(Duration::from_millis(400)),
    );
    fake.push(
        Reply::text_in_chunks(
            "Epic Quest is a fantasy adventure in development: the opening needs a faster cut.",
            12,
        )
        .with_usage(610, 42)
        .with_cost(0.00131)
        .delayed(Duration::from_millis(400)),
    );
    let app = start_app(&fake).await;
    let driver = start_driver(&paths).await;
    let browser = open_browser(&driver, &paths).await;
    sign_in(&browser, &app).await;

    // Act: run the agent from its run page
    browser
        .goto(&app.url(&format!("/admin/agents/{AGENT}/run")))
        .await
        .expect("run page");
    run_prompt(&browser, "How is the project doing?").await;

    // Assert: streamed text, the tool call with its result, the final result
    until(
        &browser,
        "the run page follows the new run",
        "!!document.querySelector('#run-panel[data-run-id]')",
    )
    .await;
    until(
        &browser,
        "the tool call and its result",
        "[...document.querySelectorAll('#events .tool-call')].some(c => \
           c.textContent.includes('getProjectContext') && c.querySelector('.tool-call-result.is-ok'))",
    )
    .await;
    until(
        &browser,
        "the streamed answer",
        "document.querySelector('#events').textContent.includes('the opening needs a faster cut.')",
    )
    .await;
    until(
        &browser,
        "the final result and the completed badge",
        "!!document.querySelector('#events .ev-finish') && \
         document.querySelector('#run-status').textContent.trim() === 'completed'",
    )
    .await;
    let footer = js(&browser, "document.querySelector('#run-usage').textContent").await;
    let footer = footer.as_str().unwrap_or_default();
    assert!(
        footer.contains("1\u{202f}090"),
        "total tokens shown: {footer}"
    );
    assert!(
        js(&browser, "!!document.querySelector('a[data-continue]')").await == Value::Bool(true),
        "a finished run offers to continue the conversation"
    );
    assert!(
        js(
            &browser,
            "document.querySelector('#live-msg').offsetParent === null"
        )
        .await
            == Value::Bool(true),
        "the streaming bubble is gone once the text is complete"
    );
    screenshot(&browser, "run-finished").await;

    // Arrange: a second run that calls a tool, then waits on a very slow model
    fake.push(Reply::text_then_tools(
        "I will measure the pacing of the opening scenes.",
        vec![(
            "call_pacing".into(),
            "calculateScenePacing".into(),
            json!({"scenes": [
                {"sceneNumber": "1", "heading": "EXT. ASHEN REACH - DAWN", "type": "action", "durationSeconds": 95},
                {"sceneNumber": "2", "heading": "INT. WATCHTOWER - DAY", "type": "dialogue", "durationSeconds": 240}
            ]}),
        )],
    ).with_usage(380, 64));
    fake.push(Reply::text("Too late.").delayed(Duration::from_secs(600)));
    run_prompt(&browser, "Check the pacing of the opening.").await;
    until(
        &browser,
        "the second run is running with its tool result in",
        "document.querySelector('#run-status').textContent.trim() === 'running' && \
         !!document.querySelector('#events .tool-call .tool-call-result')",
    )
    .await;
    screenshot(&browser, "run-mid-run").await;

    // Act: cancel it
    browser
        .find(Locator::Css("button[data-cancel]"))
        .await
        .expect("Cancel button")
        .click()
        .await
        .expect("clicks");

    // Assert
    until(
        &browser,
        "the status becomes cancelled",
        "document.querySelector('#run-status').textContent.trim() === 'cancelled'",
    )
    .await;
    until(
        &browser,
        "Cancel gives way to the finished actions",
        "!document.querySelector('button[data-cancel]') && !!document.querySelector('a[data-continue]')",
    )
    .await;
    screenshot(&browser, "run-cancelled").await;
    browser.close().await.expect("the session closes");
}

/// Lets `head` spawn `children` (as an editor would in its form).
async fn allow_spawning(app: &TestApp, head: &str, children: &[&str]) {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let agent = aladdin::db::agents::find_by_agent_id(&app.db, head)
        .await
        .expect("query")
        .expect("the demo head");
    let ids: Vec<String> = children.iter().map(|c| (*c).to_owned()).collect();
    let mut row: aladdin::entities::agents::ActiveModel = agent.into();
    row.spawnable_agents = Set(aladdin::domain::agents::spawnable_agents_json(&ids));
    row.update(&app.db).await.expect("spawnable agents set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_spawning_three_specialists_is_watched_live_as_a_tree() {
    let Some(paths) = find_browser() else {
        return;
    };
    // Arrange: the story head may spawn three specialists; it calls spawn_agents, each child
    // answers slowly in chunks, then the head sums up
    let children = [
        (
            "world-builder-001",
            "Build the world of the episode",
            "Islands adrift on a sea of glass.",
        ),
        (
            "character-designer-001",
            "Design the cast of the episode",
            "A cartographer who cannot read maps.",
        ),
        (
            "dialogue-writer-001",
            "Write the opening lines",
            "KIRA: We sail at dawn, or never.",
        ),
    ];
    let fake = FakeLlm::start().await;
    let agents: Vec<Value> = children
        .iter()
        .map(|(agent, prompt, _)| json!({"agentId": agent, "prompt": prompt}))
        .collect();
    fake.push(
        Reply::tool_call("call_team", "spawn_agents", json!({"agents": agents}))
            .with_usage(300, 40)
            .delayed(Duration::from_millis(300)),
    );
    for (_, prompt, answer) in children {
        fake.push_for(
            prompt,
            Reply::text_in_chunks(answer, 8)
                .with_usage(120, 30)
                .delayed(Duration::from_millis(2500)),
        );
    }
    fake.push(Reply::text("The team delivered: world, cast and first lines.").with_usage(500, 20));
    let app = start_app(&fake).await;
    allow_spawning(&app, "story-head-001", &children.map(|c| c.0)).await;
    let driver = start_driver(&paths).await;
    let browser = open_browser(&driver, &paths).await;
    sign_in(&browser, &app).await;

    // Act: run the head from its run page
    browser
        .goto(&app.url("/admin/agents/story-head-001/run"))
        .await
        .expect("run page");
    run_prompt(&browser, "Plan the episode").await;

    // Assert: a card per child appears in the head's transcript while it runs, each following
    // its own stream
    until(
        &browser,
        "three sub-run cards in the head's transcript",
        "document.querySelectorAll('#events > details.subrun[id$=\"-card\"]').length === 3",
    )
    .await;
    let agents_shown = js(
        &browser,
        "[...document.querySelectorAll('#events > details.subrun .subrun-agent')].map(e => e.textContent).join(',')",
    )
    .await;
    assert_eq!(
        agents_shown.as_str().unwrap_or_default(),
        "world-builder-001,character-designer-001,dialogue-writer-001",
        "the cards come in the order asked"
    );
    screenshot(&browser, "tree-live").await;
    for (_, _, answer) in children {
        until(
            &browser,
            &format!("a card streams its own answer: {answer}"),
            &format!(
                "[...document.querySelectorAll('details.subrun')].some(c => \
                   c.querySelector('.events').textContent.includes({answer:?}) && \
                   c.querySelector('[id$=\"-run-status\"]').textContent.trim() === 'completed')"
            ),
        )
        .await;
    }
    until(
        &browser,
        "the head completes with its summary",
        "document.querySelector('#run-status').textContent.trim() === 'completed' && \
         document.querySelector('#events').textContent.includes('The team delivered')",
    )
    .await;
    assert_eq!(
        js(
            &browser,
            "[...document.querySelectorAll('details.subrun')] \
               .map(c => c.textContent.split('Islands adrift').length - 1).reduce((a, b) => a + b, 0)"
        )
        .await,
        json!(1),
        "a child's text shows once among the cards (not also in a sibling's)"
    );
    screenshot(&browser, "tree-finished").await;

    // The finished head's page shows the same tree from the database.
    let head = js(
        &browser,
        "document.querySelector('#run-panel').dataset.runId",
    )
    .await;
    let head = head.as_str().unwrap_or_default().to_owned();
    browser
        .goto(&app.url(&format!("/admin/executions/{head}")))
        .await
        .expect("execution page");
    until(
        &browser,
        "three sub-runs on the execution page",
        "document.querySelectorAll('#subruns details.subrun').length === 3",
    )
    .await;
    screenshot(&browser, "tree-execution-page").await;

    // The chain editor, for a look.
    browser
        .goto(&app.url("/admin/agent-chains"))
        .await
        .expect("chains");
    screenshot(&browser, "chains-list").await;
    browser
        .find(Locator::Css("a.cell-main"))
        .await
        .expect("the demo chain")
        .click()
        .await
        .expect("clicks");
    until(
        &browser,
        "the chain editor",
        "!!document.querySelector('#chain-steps')",
    )
    .await;
    screenshot(&browser, "chain-editor").await;
    js(
        &browser,
        "document.querySelector('button[value=\"add-group\"]').scrollIntoView({block: 'center'}) || true",
    )
    .await;
    browser
        .find(Locator::Css("button[value=\"add-group\"]"))
        .await
        .expect("Add a parallel group")
        .click()
        .await
        .expect("clicks");
    until(
        &browser,
        "htmx adds a parallel group in place",
        "document.querySelectorAll('#chain-steps .chain-step').length === 5 && \
         !!document.querySelector('[name=\"steps.4.parallel.1.agentId\"]')",
    )
    .await;
    screenshot(&browser, "chain-editor-group-added").await;
    // Enter in a field saves (the form's default button), never a step button: here the new
    // group's empty agents are refused at their fields, the rest kept.
    browser
        .find(Locator::Css("#f-name"))
        .await
        .expect("the name field")
        .send_keys("\u{E007}")
        .await
        .expect("presses Enter");
    until(
        &browser,
        "Enter submits the form, which is refused at the new group's fields",
        "!!document.querySelector('.alert-error') && \
         !!document.getElementById('steps.4.parallel.0.agentId-err') && \
         document.querySelectorAll('#chain-steps .chain-step').length === 5",
    )
    .await;
    screenshot(&browser, "chain-editor-errors").await;
    browser.close().await.expect("the session closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sub_runs_share_a_few_connections_and_all_show_their_answers() {
    let Some(paths) = find_browser() else {
        return;
    };
    // Arrange: five children, each slow to answer, so that two of them must wait for a
    // connection while the first three stream
    let children = [
        ("world-builder-001", "Part one of the plan"),
        ("character-designer-001", "Part two of the plan"),
        ("dialogue-writer-001", "Part three of the plan"),
        ("scene-pacing-analyst-001", "Part four of the plan"),
        ("audio-head-001", "Part five of the plan"),
    ];
    let fake = FakeLlm::start().await;
    let agents: Vec<Value> = children
        .iter()
        .map(|(agent, prompt)| json!({"agentId": agent, "prompt": prompt}))
        .collect();
    fake.push(Reply::tool_call(
        "call_five",
        "spawn_agents",
        json!({"agents": agents}),
    ));
    for (n, (_, prompt)) in children.iter().enumerate() {
        fake.push_for(
            *prompt,
            Reply::text(format!("Answer number {}.", n + 1)).delayed(Duration::from_secs(4)),
        );
    }
    fake.push(Reply::text("All five parts are in."));
    let app = start_app(&fake).await;
    allow_spawning(&app, "story-head-001", &children.map(|c| c.0)).await;
    let driver = start_driver(&paths).await;
    let browser = open_browser(&driver, &paths).await;
    sign_in(&browser, &app).await;
    browser
        .goto(&app.url("/admin/agents/story-head-001/run"))
        .await
        .expect("run page");

    // Act
    run_prompt(&browser, "Plan in five parts").await;

    // Assert: three cards stream, two wait (closed) for a free connection
    until(
        &browser,
        "five cards, two of them waiting",
        "document.querySelectorAll('#events > details.subrun').length === 5 && \
         document.querySelectorAll('#events > details.subrun.is-waiting:not([open])').length === 2 && \
         document.querySelectorAll('.subrun-body[sse-connect]').length === 3",
    )
    .await;
    screenshot(&browser, "tree-five-waiting").await;
    // Every card ends up with its own answer and the head completes
    for n in 1..=5 {
        until(
            &browser,
            &format!("card {n} shows its answer"),
            &format!(
                "[...document.querySelectorAll('#events > details.subrun')].some(c => \
                   c.querySelector('.events').textContent.includes('Answer number {n}.') && \
                   c.querySelector('[id$=\"-run-status\"]').textContent.trim() === 'completed')"
            ),
        )
        .await;
    }
    until(
        &browser,
        "the head completes",
        "document.querySelector('#run-status').textContent.trim() === 'completed' && \
         !document.querySelector('details.subrun.is-waiting')",
    )
    .await;
    browser.close().await.expect("the session closes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stops_for_approval_on_its_page_and_approve_finishes_it() {
    let Some(paths) = find_browser() else {
        return;
    };
    const HEAD: &str = "story-head-001";
    // Arrange: the agent's rule holds every getProjectContext call for a person
    let fake = FakeLlm::start().await;
    fake.push(Reply::tool_call("call_ctx", "getProjectContext", json!({})).with_usage(100, 10));
    fake.push(Reply::text("Approved and done.").with_usage(120, 10));
    let app = start_app(&fake).await;
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let agent = aladdin::db::agents::find_by_agent_id(&app.db, HEAD)
            .await
            .expect("query")
            .expect("the demo agent");
        let mut row: aladdin::entities::agents::ActiveModel = agent.into();
        row.approval_rules = Set(Some(
            json!([{"toolName": "getProjectContext", "mode": "always"}]),
        ));
        row.update(&app.db).await.expect("rule set");
    }
    let driver = start_driver(&paths).await;
    let browser = open_browser(&driver, &paths).await;
    sign_in(&browser, &app).await;

    // Act: run; the pending call appears inline; click Approve there
    browser
        .goto(&app.url(&format!("/admin/agents/{HEAD}/run")))
        .await
        .expect("run page");
    run_prompt(&browser, "Check the project").await;
    until(
        &browser,
        "the pending call with its Approve button",
        "!!document.querySelector('#events .approval-card button[data-approve]')",
    )
    .await;
    until(
        &browser,
        "the status says awaiting_approval",
        "document.querySelector('#run-status')?.textContent.trim() === 'awaiting_approval'",
    )
    .await;
    screenshot(&browser, "run-awaiting-approval").await;
    browser
        .find(Locator::Css("#events .approval-card button[data-approve]"))
        .await
        .expect("Approve")
        .click()
        .await
        .expect("clicks");

    // Assert: decided inline, the call made, the run completed
    until(
        &browser,
        "the approval shows as decided",
        "!!document.querySelector('.approval-actions.is-decided')",
    )
    .await;
    until(
        &browser,
        "the run completed",
        "document.querySelector('#run-status')?.textContent.trim() === 'completed'",
    )
    .await;
    until(
        &browser,
        "the final answer is shown",
        "document.querySelector('#events').textContent.includes('Approved and done.')",
    )
    .await;
    assert_eq!(fake.request_count(), 2);
    browser.close().await.expect("the session closes");
}

/// The official Python MCP SDK's test server over streamable HTTP; killed when dropped.
struct PyMcp(Child);

impl Drop for PyMcp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tests/mcp/server.py` (Python from `MCP_PYTHON`, else `target/mcp-venv`); its URL.
async fn start_python_mcp() -> (PyMcp, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/mcp-venv/bin/python"));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&python)
        .arg(root.join("tests/mcp/server.py"))
        .args(["http", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the Python MCP server starts (python3 -m venv target/mcp-venv && target/mcp-venv/bin/pip install mcp)");
    let server = PyMcp(child);
    eventually("the Python MCP server listens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    (server, format!("http://127.0.0.1:{port}/mcp"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_refreshes_an_mcp_server_and_sees_its_tools() {
    let Some(paths) = find_browser() else {
        return;
    };
    // Arrange: the app with its demo data, a real MCP server, a server entry pointing at it
    let fake = FakeLlm::start().await;
    let app = start_app(&fake).await;
    let (_python, url) = start_python_mcp().await;
    let doc = json!({"name": "calc", "url": url, "isGlobal": true,
                     "headers": {"X-Api-Key": "s3cret-value"}, "toolAllowList": ["add", "slow"]});
    let input = aladdin::domain::mcp_servers::McpServerInput::from_json(&doc, &Default::default())
        .expect("a valid server");
    let server = aladdin::db::mcp_servers::create(&app.db, input)
        .await
        .expect("stored");
    let driver = start_driver(&paths).await;
    let browser = open_browser(&driver, &paths).await;
    sign_in(&browser, &app).await;

    // Act: the list, then the server's page, then Refresh
    browser
        .goto(&app.url("/admin/mcp-servers"))
        .await
        .expect("list");
    until(
        &browser,
        "the list",
        "document.body.innerText.includes('example-docs')",
    )
    .await;
    screenshot(&browser, "mcp-servers-list").await;
    browser
        .goto(&app.url(&format!("/admin/mcp-servers/{}", server.id)))
        .await
        .expect("server page");
    screenshot(&browser, "mcp-server-form").await;
    browser
        .find(Locator::Css("#tools button[type=submit]"))
        .await
        .expect("the Refresh button")
        .click()
        .await
        .expect("clicks");

    // Assert: the discovered tools, their schemas, and no secret in the page
    until(
        &browser,
        "the discovered tools",
        "document.querySelectorAll('#tools details.tool-schema').length === 4",
    )
    .await;
    js(
        &browser,
        "document.querySelector('#tools details').open = true",
    )
    .await;
    let text = js(&browser, "document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("calc/add") && text.contains("4 tools discovered"),
        "{text}"
    );
    assert!(
        text.contains("\"type\": \"integer\""),
        "the schema is shown: {text}"
    );
    let html = js(&browser, "document.documentElement.outerHTML").await;
    assert!(!html.as_str().unwrap_or_default().contains("s3cret"));
    screenshot(&browser, "mcp-server-tools").await;

    // The agent form's tool picker offers them
    browser
        .goto(&app.url("/admin/agents/new"))
        .await
        .expect("agent form");
    until(
        &browser,
        "the MCP tools in the picker",
        "!!document.querySelector('input[name=toolNames][value=\"calc/add\"]')",
    )
    .await;
    js(
        &browser,
        "document.querySelector('input[value=\"calc/add\"]').scrollIntoView({block: 'center'}) || true",
    )
    .await;
    screenshot(&browser, "agent-form-mcp-tools").await;
}
