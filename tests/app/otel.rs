//! OpenTelemetry traces, received by a real OTLP/HTTP receiver: a Python process decoding the
//! protobuf requests with PyPI's `opentelemetry-proto` (tests/otel/receiver.py; installed by
//! `.ci/run` into `target/mcp-venv`, or `MCP_PYTHON` names an interpreter that has it). A
//! missing package fails these tests.
//!
//! Each app gets the receiver's endpoint as its own setting (the tests share one process).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aladdin::domain::users::Role;
use aladdin::testing::fake_llm::Reply;
use serde_json::{Value, json};

use crate::api::Api;
use crate::on_both_wires;
use crate::runner::chain::chain;
use crate::runner::support::{Rig, Wire, rig_with, within};
use crate::runner::swarm::{allow, children, spawn};

on_both_wires!(
    a_run_with_a_tool_call_is_traced_under_the_callers_traceparent,
    a_swarm_childs_run_nests_under_its_parents_spawn_agents_call,
    a_chains_steps_nest_under_the_chains_run_in_the_callers_trace,
);

/// The trace and parent span of the caller, as a `traceparent` names them.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// The Python interpreter that has `opentelemetry-proto`.
fn python() -> PathBuf {
    let path = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv/bin/python")
        });
    let ok = Command::new(&path)
        .args([
            "-c",
            "import opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        ])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the trace tests need Python with PyPI's `opentelemetry-proto` at {} (run: python3 -m \
         venv target/mcp-venv && target/mcp-venv/bin/pip install opentelemetry-proto, or set \
         MCP_PYTHON)",
        path.display()
    );
    path
}

/// The OTLP receiver process; killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    output: PathBuf,
}

impl Receiver {
    /// Starts it on `port` (0: any free port) and waits until it listens.
    async fn start(port: u16) -> Self {
        let output = std::env::temp_dir().join(format!(
            "aladdin-otlp-{}.jsonl",
            uuid::Uuid::new_v4().simple()
        ));
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otel/receiver.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(&output)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the OTLP receiver starts");
        let stdout = child.stdout.take().expect("stdout");
        let line = tokio::task::spawn_blocking(move || {
            use std::io::BufRead as _;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            line
        });
        let line = within(line).await.expect("the receiver's first line");
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the OTLP receiver did not start on port {port} (it printed {line:?}; port 4318, \
                 the exporters' default, must be free for the test without an endpoint)"
            );
        };
        Self {
            child,
            port,
            output,
        }
    }

    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for it.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(&self.output) else {
            return Vec::new();
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .flat_map(|line| {
                let request: Value = serde_json::from_str(line).expect("a JSON line");
                request["spans"].as_array().cloned().unwrap_or_default()
            })
            .collect()
    }

    /// Exports the app's finished spans until `done` holds for what was received (a run's
    /// span ends just after its row does, so one flush may come before it).
    async fn until(&self, rig: &Rig, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        within(async {
            loop {
                rig.app.runner.traces().flush().await;
                let spans = self.spans();
                if done(&spans) {
                    return spans;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.output);
    }
}

/// The spans named `name`.
fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

/// The one span named `name`.
fn one<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    let found = named(spans, name);
    assert_eq!(
        found.len(),
        1,
        "one {name} span in {:#}",
        Value::Array(spans.to_vec())
    );
    found[0]
}

/// Spans whose name starts with `prefix`.
fn starting<'a>(spans: &'a [Value], prefix: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .collect()
}

fn provider(wire: Wire) -> &'static str {
    match wire {
        Wire::OpenRouter => "openrouter",
        Wire::Anthropic => "anthropic",
    }
}

async fn a_run_with_a_tool_call_is_traced_under_the_callers_traceparent(wire: Wire) {
    // Arrange: the app exports to the receiver; the model calls a tool, then answers
    let receiver = Receiver::start(0).await;
    let rig = rig_with(wire, |o| {
        o.var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .var("INSTANCE_NAME", "eu-1")
    })
    .await;
    rig.fake
        .push(Reply::tool_call("call_ctx", "getProjectContext", json!({})).with_usage(50, 5));
    rig.fake
        .push(Reply::text("The world is ready.").with_usage(120, 8));
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let project = rig.project_id().await;

    // Act: the caller's trace context comes with the request that starts the run
    let response = rig
        .app
        .client
        .post(rig.app.url("/api/agents/world-builder-001/execute"))
        .header("Authorization", api.authorization_header())
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({"prompt": "Describe the world.", "projectId": project}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 202);
    let body: Value = response.json().await.expect("json");
    let id = i32::try_from(body["doc"]["id"].as_i64().expect("an id")).expect("i32");
    let run = rig.wait(id).await;
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let spans = receiver
        .until(&rig, |s| {
            !starting(s, "invoke_agent ").is_empty() && !starting(s, "POST ").is_empty()
        })
        .await;

    // Assert: every span is in the caller's trace, from this service
    for span in &spans {
        assert_eq!(span["traceId"], TRACE_ID, "{span:#}");
        assert_eq!(span["resource"]["service.name"], "aladdin");
        assert_eq!(span["resource"]["service.instance.id"], "eu-1");
    }

    // Assert: the server span is the caller's child; the run's span the server span's
    let server = one(&spans, "POST /api/agents/{agentId}/execute");
    assert_eq!(server["kind"], "SPAN_KIND_SERVER");
    assert_eq!(server["parentSpanId"], CALLER_SPAN);
    assert_eq!(server["attributes"]["http.response.status_code"], 202);
    let agent = one(&spans, "invoke_agent World Builder");
    assert_eq!(agent["kind"], "SPAN_KIND_INTERNAL");
    assert_eq!(agent["parentSpanId"], server["spanId"]);
    let server_span = server["spanId"].as_str().expect("an id");
    assert_eq!(
        run.trace_parent.as_deref(),
        Some(format!("00-{TRACE_ID}-{server_span}-01").as_str()),
        "the parent travels with the queued row (another instance may claim it)"
    );
    assert_eq!(agent["status"], "STATUS_CODE_UNSET");
    let a = &agent["attributes"];
    assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
    assert_eq!(a["gen_ai.agent.id"], "world-builder-001");
    assert_eq!(a["gen_ai.agent.name"], "World Builder");
    assert_eq!(a["gen_ai.conversation.id"], run.conversation_id.as_str());
    assert_eq!(a["gen_ai.provider.name"], provider(wire));
    assert_eq!(a["aladdin.execution.id"], id);
    assert_eq!(a["aladdin.execution.status"], "completed");
    assert_eq!(a["gen_ai.usage.input_tokens"], 170, "the fake's usage");
    assert_eq!(a["gen_ai.usage.output_tokens"], 13);
    assert!(a.get("error.type").is_none(), "{a:#}");

    // Assert: two chat spans under the run's, with each call's usage
    let sent_model = rig.requests()[0]["model"]
        .as_str()
        .expect("the model sent")
        .to_owned();
    assert!(a["gen_ai.request.model"].as_str().is_some(), "{a:#}");
    let chats = named(&spans, &format!("chat {sent_model}"));
    assert_eq!(chats.len(), 2, "{:#}", Value::Array(spans.clone()));
    let mut usages: Vec<(i64, i64)> = Vec::new();
    for chat in &chats {
        assert_eq!(chat["kind"], "SPAN_KIND_CLIENT");
        assert_eq!(chat["parentSpanId"], agent["spanId"]);
        let c = &chat["attributes"];
        assert_eq!(c["gen_ai.operation.name"], "chat");
        assert_eq!(c["gen_ai.provider.name"], provider(wire));
        assert_eq!(c["gen_ai.request.model"], sent_model.as_str());
        assert!(
            c["gen_ai.response.model"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(
            c["gen_ai.response.id"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(c["server.address"], "127.0.0.1");
        assert!(
            c.get("gen_ai.input.messages").is_none(),
            "no content by default"
        );
        assert!(c.get("gen_ai.output.messages").is_none());
        usages.push((
            c["gen_ai.usage.input_tokens"].as_i64().expect("input"),
            c["gen_ai.usage.output_tokens"].as_i64().expect("output"),
        ));
    }
    usages.sort_unstable();
    assert_eq!(usages, [(50, 5), (120, 8)]);
    let reasons: Vec<&Value> = chats
        .iter()
        .map(|c| &c["attributes"]["gen_ai.response.finish_reasons"])
        .collect();
    assert!(reasons.contains(&&json!(["tool_call"])), "{reasons:?}");
    assert!(reasons.contains(&&json!(["stop"])), "{reasons:?}");

    // Assert: the tool call's span, under the run's
    let tool = one(&spans, "execute_tool getProjectContext");
    assert_eq!(tool["kind"], "SPAN_KIND_INTERNAL");
    assert_eq!(tool["parentSpanId"], agent["spanId"]);
    let t = &tool["attributes"];
    assert_eq!(t["gen_ai.operation.name"], "execute_tool");
    assert_eq!(t["gen_ai.tool.name"], "getProjectContext");
    assert_eq!(t["gen_ai.tool.call.id"], "call_ctx");
    assert_eq!(t["gen_ai.tool.type"], "function");
    assert!(t.get("error.type").is_none(), "{t:#}");
    assert!(
        t.get("gen_ai.tool.call.arguments").is_none(),
        "no content by default"
    );
}

async fn a_swarm_childs_run_nests_under_its_parents_spawn_agents_call(wire: Wire) {
    // Arrange: the head spawns one specialist, which fails at its provider
    let receiver = Receiver::start(0).await;
    let rig = rig_with(wire, |o| {
        o.var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
            .var("OTEL_GENAI_CAPTURE_CONTENT", "true")
    })
    .await;
    allow(&rig, "story-head-001", &["world-builder-001"]).await;
    rig.fake.push(
        spawn(
            "call_swarm",
            &[("world-builder-001", "TASK-A outline the world")],
        )
        .with_usage(100, 10),
    );
    rig.fake
        .push_for("TASK-A", Reply::status(400, "the world model refused"));
    rig.fake.push(Reply::text("Done.").with_usage(200, 20));

    // Act
    let run = rig.run("story-head-001", "Plan the next episode.").await;

    // Assert: the head's run is a root; the child's run hangs under its spawn_agents call
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    let kid = children(&rig, run.id).await.pop().expect("a child");
    let spans = receiver
        .until(&rig, |s| starting(s, "invoke_agent ").len() == 2)
        .await;
    let head = one(&spans, "invoke_agent Head of Story");
    assert_eq!(
        head["parentSpanId"], "",
        "a run queued without a caller is a root"
    );
    let trace = head["traceId"].clone();
    let call = one(&spans, "execute_tool spawn_agents");
    assert_eq!(call["parentSpanId"], head["spanId"]);
    assert_eq!(call["attributes"]["gen_ai.tool.call.id"], "call_swarm");
    let child = one(&spans, "invoke_agent World Builder");
    assert_eq!(child["traceId"], trace);
    assert_eq!(child["parentSpanId"], call["spanId"]);
    assert_eq!(child["attributes"]["aladdin.execution.id"], kid.id);
    assert_eq!(child["attributes"]["aladdin.execution.parent_id"], run.id);
    assert_eq!(
        child["attributes"]["gen_ai.conversation.id"],
        kid.conversation_id.as_str()
    );

    // Assert: the child's failure is on its span and on its chat span
    assert_eq!(child["status"], "STATUS_CODE_ERROR");
    assert_eq!(child["attributes"]["error.type"], "provider_error");
    assert_eq!(child["attributes"]["aladdin.execution.status"], "failed");
    let child_chats: Vec<&Value> = starting(&spans, "chat ")
        .into_iter()
        .filter(|c| c["parentSpanId"] == child["spanId"])
        .collect();
    assert_eq!(child_chats.len(), 1, "a 400 is not retried");
    assert_eq!(child_chats[0]["attributes"]["error.type"], "400");
    assert_eq!(child_chats[0]["status"], "STATUS_CODE_ERROR");
    for span in &spans {
        assert_eq!(span["traceId"], trace, "one trace: {span:#}");
    }

    // Assert: with OTEL_GENAI_CAPTURE_CONTENT the head's calls carry their content
    let head_chats: Vec<&Value> = starting(&spans, "chat ")
        .into_iter()
        .filter(|c| c["parentSpanId"] == head["spanId"])
        .collect();
    assert_eq!(head_chats.len(), 2);
    let inputs: Vec<Value> = head_chats
        .iter()
        .map(|c| {
            serde_json::from_str(
                c["attributes"]["gen_ai.input.messages"]
                    .as_str()
                    .expect("input"),
            )
            .expect("JSON messages")
        })
        .collect();
    assert!(
        inputs
            .iter()
            .any(|m| m[0]["parts"][0]["content"] == "Plan the next episode."),
        "{inputs:?}"
    );
    let arguments = call["attributes"]["gen_ai.tool.call.arguments"]
        .as_str()
        .expect("the tool's arguments");
    assert!(
        arguments.contains("TASK-A outline the world"),
        "{arguments}"
    );
}

async fn a_chains_steps_nest_under_the_chains_run_in_the_callers_trace(wire: Wire) {
    // Arrange: a chain of two steps, started over HTTP with the caller's trace context
    let receiver = Receiver::start(0).await;
    let rig = rig_with(wire, |o| {
        o.var("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
    })
    .await;
    let steps = json!([
        {"agentId": "world-builder-001", "prompt": "Build: {{input}}"},
        {"agentId": "dialogue-writer-001", "prompt": "Talk about {{previous}}"}
    ]);
    chain(&rig, "two-steps", steps, true).await;
    rig.fake.push(Reply::text("WORLD").with_usage(10, 1));
    rig.fake.push(Reply::text("TALK").with_usage(20, 2));
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let project = rig.project_id().await;

    // Act
    let response = rig
        .app
        .client
        .post(rig.app.url("/api/agent-chains/two-steps/execute"))
        .header("Authorization", api.authorization_header())
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({"prompt": "a desert planet", "projectId": project, "wait": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let spans = receiver
        .until(&rig, |s| starting(s, "invoke_agent ").len() == 3)
        .await;

    // Assert: request → chain → steps, all in the caller's trace, usage on each step
    let server = one(&spans, "POST /api/agent-chains/{chainId}/execute");
    assert_eq!(server["parentSpanId"], CALLER_SPAN);
    let chain_span = one(&spans, "invoke_agent Chain two-steps");
    assert_eq!(chain_span["parentSpanId"], server["spanId"]);
    assert_eq!(chain_span["attributes"]["gen_ai.agent.id"], "two-steps");
    for (name, usage) in [("World Builder", (10, 1)), ("Dialogue Writer", (20, 2))] {
        let step = one(&spans, &format!("invoke_agent {name}"));
        assert_eq!(step["parentSpanId"], chain_span["spanId"], "{name}");
        let a = &step["attributes"];
        assert_eq!(
            (
                a["gen_ai.usage.input_tokens"].clone(),
                a["gen_ai.usage.output_tokens"].clone()
            ),
            (json!(usage.0), json!(usage.1)),
            "{name}"
        );
    }
    for span in &spans {
        assert_eq!(span["traceId"], TRACE_ID, "{span:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_traced_or_sent() {
    // Arrange: a receiver on the exporter's default endpoint (localhost:4318), where an
    // exporter built without the setting would send
    let receiver = Receiver::start(4318).await;
    let rig = rig_with(Wire::OpenRouter, |o| o.var("OTEL_SERVICE_NAME", "quiet")).await;
    rig.fake
        .push(Reply::tool_call("call_ctx", "getProjectContext", json!({})).with_usage(50, 5));
    rig.fake.push(Reply::text("Done.").with_usage(60, 6));
    let api = Api::as_role(&rig.app, Role::Editor).await;
    let project = rig.project_id().await;

    // Act: a run started with a traceparent, then everything flushed
    let response = rig
        .app
        .client
        .post(rig.app.url("/api/agents/world-builder-001/execute"))
        .header("Authorization", api.authorization_header())
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .json(&json!({"prompt": "Describe the world.", "projectId": project, "wait": true}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("json");
    let id = i32::try_from(body["doc"]["id"].as_i64().expect("an id")).expect("i32");
    let run = rig.wait(id).await;
    assert_eq!(run.status, "completed", "{:?}", run.error_message);
    assert_eq!(run.trace_parent, None, "nothing stored when traces are off");
    rig.app.runner.traces().flush().await;
    rig.app.runner.traces().shutdown().await;

    // Assert
    assert_eq!(receiver.spans(), Vec::<Value>::new());
    assert!(!rig.app.runner.traces().on());
}
