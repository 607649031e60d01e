//! MCP client overhead: `nice cargo build --release --bench mcp`, then run the binary (or
//! `cargo bench --bench mcp`).
//!
//! A trivial tool call (`add(2, 3)`) over streamable HTTP on loopback to a real MCP server:
//! the official Python SDK's, `tests/mcp/server.py`, run with `target/mcp-venv/bin/python`
//! (or `MCP_PYTHON`). Two paths call it in alternation, each on its own session:
//! - **client**: the path agents use, `runner::tools::mcp::McpSession::call` (rmcp's client,
//!   one session reused, result parsed into the tool's output);
//! - **raw**: a bare `reqwest` POST of the same JSON-RPC `tools/call`, reading the whole SSE
//!   answer: the server's own time plus loopback HTTP, with nothing of ours on top.
//!
//! Prints median/p90/p99 of both and the difference of the medians: what Aladdin's client
//! adds. Target: ≤ 2 ms median. Knob: `BENCH_CALLS` (1000).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aladdin::entities::mcp_servers;
use aladdin::runner::tools::mcp::McpSession;
use anyhow::{Context as _, bail};
use serde_json::{Value, json};

const WARMUP: usize = 50;
const PROTOCOL: &str = "2025-06-18";
const ACCEPT: &str = "application/json, text/event-stream";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> anyhow::Result<()> {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("MCP_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/mcp-venv/bin/python"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _server = Server(
        Command::new(&python)
            .arg(root.join("tests/mcp/server.py"))
            .args(["http", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "starting the Python MCP server with {} (python3 -m venv target/mcp-venv \
                     && target/mcp-venv/bin/pip install mcp, or set MCP_PYTHON)",
                    python.display()
                )
            })?,
    );
    let url = format!("http://127.0.0.1:{port}/mcp");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(run(&url, port, calls))
}

async fn run(url: &str, port: u16, calls: usize) -> anyhow::Result<()> {
    wait_listening(port).await?;
    let session = McpSession::new(server_row(url), false);
    let raw = RawSession::open(url).await?;
    let input = json!({"a": 2, "b": 3});
    let (mut client_times, mut raw_times) = (Vec::new(), Vec::new());
    for i in 0..WARMUP + calls {
        let started = Instant::now();
        let output = session
            .call("add", input.clone())
            .await
            .map_err(anyhow::Error::msg)?;
        let client = started.elapsed();
        if output != json!(5) && output != json!({"result": 5}) {
            bail!("unexpected output from the client: {output}");
        }
        let started = Instant::now();
        raw.call(i).await?;
        let bare = started.elapsed();
        if i >= WARMUP {
            client_times.push(client);
            raw_times.push(bare);
        }
    }
    let client = Stats::of(client_times);
    let bare = Stats::of(raw_times);
    println!(
        "MCP tool call over streamable HTTP (Python SDK server on loopback), {calls} calls each"
    );
    println!("  client (McpSession::call)  {client}");
    println!("  raw POST (server + HTTP)   {bare}");
    let added = client.median.as_secs_f64() - bare.median.as_secs_f64();
    println!(
        "  added by Aladdin's client: {:.3} ms median (target ≤ 2 ms): {}",
        added * 1e3,
        if added <= 0.002 { "ok" } else { "MISSED" }
    );
    Ok(())
}

async fn wait_listening(port: u16) -> anyhow::Result<()> {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the Python MCP server did not start listening")
}

fn server_row(url: &str) -> mcp_servers::Model {
    let now = chrono::Utc::now().fixed_offset();
    mcp_servers::Model {
        id: 1,
        name: "bench".into(),
        transport: "http".into(),
        url: Some(url.to_owned()),
        command: None,
        args: json!([]),
        headers: json!({}),
        tool_allow_list: json!([]),
        timeout_ms: 30_000,
        approval: json!({"mode": "never"}),
        department_ids: json!([]),
        is_global: true,
        is_active: true,
        tools: json!([]),
        tools_refreshed_at: None,
        created_at: now,
        updated_at: now,
    }
}

/// A session opened by hand: initialize, initialized, then bare `tools/call` POSTs.
struct RawSession {
    http: reqwest::Client,
    url: String,
    id: String,
}

impl RawSession {
    async fn open(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "bench-raw", "version": "0"}}});
        let response = http
            .post(url)
            .header("Accept", ACCEPT)
            .json(&init)
            .send()
            .await?;
        let id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .context("initialize answered without a session id")?
            .to_owned();
        response.text().await?;
        let session = Self {
            http,
            url: url.to_owned(),
            id,
        };
        session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(session)
    }

    async fn post(&self, body: &Value) -> anyhow::Result<String> {
        let response = self
            .http
            .post(&self.url)
            .header("Accept", ACCEPT)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", PROTOCOL)
            .json(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("the server answered {}", response.status());
        }
        Ok(response.text().await?)
    }

    async fn call(&self, i: usize) -> anyhow::Result<()> {
        let body = json!({"jsonrpc": "2.0", "id": i + 1, "method": "tools/call",
                          "params": {"name": "add", "arguments": {"a": 2, "b": 3}}});
        let answer = self.post(&body).await?;
        if !answer.contains("\"result\"") {
            bail!("unexpected raw answer: {answer}");
        }
        Ok(())
    }
}

struct Stats {
    median: Duration,
    p90: Duration,
    p99: Duration,
}

impl Stats {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        Self {
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "median {:.3} ms  p90 {:.3} ms  p99 {:.3} ms",
            ms(self.median),
            ms(self.p90),
            ms(self.p99)
        )
    }
}
