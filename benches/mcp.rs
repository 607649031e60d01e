//! MCP client benchmark: `cargo build --release --bench mcp`, then run the binary (or
//! `cargo bench --bench mcp`).
//!
//! A trivial MCP tool call over streamable HTTP on loopback, through the client agents use
//! (`runner::tools::mcp::McpSession`: one session, reused). The server is rmcp's streamable
//! HTTP service behind actix-web in this process, with a tool that does nothing but note how
//! long its handler ran. Prints the median and p99 wall time per call, the median time in the
//! tool's handler, and their difference: what MCP over HTTP adds. Target: ≤ 2 ms median.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use aladdin::entities::mcp_servers;
use aladdin::runner::tools::mcp::McpSession;
use http_body_util::BodyExt as _;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;

const CALLS: usize = 2000;
const WARMUP: usize = 100;

#[derive(Clone)]
struct Trivial(Arc<Mutex<Vec<Duration>>>);

impl ServerHandler for Trivial {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, rmcp::ErrorData> {
        let schema = json!({"type": "object", "properties": {}});
        let tool = Tool::new(
            "noop",
            "Does nothing.",
            Arc::new(schema.as_object().cloned().unwrap_or_default()),
        );
        #[allow(clippy::field_reassign_with_default)]
        let result = {
            let mut result = ListToolsResult::default();
            result.tools = vec![tool];
            result
        };
        Ok(result)
    }

    async fn call_tool(
        &self,
        _request: CallToolRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, rmcp::ErrorData> {
        let started = Instant::now();
        let result = CallToolResult::success(vec![ContentBlock::text("ok")]);
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(started.elapsed());
        Ok(result.into())
    }
}

type Service = StreamableHttpService<Trivial, LocalSessionManager>;

async fn bridge(req: HttpRequest, body: web::Bytes, service: web::Data<Service>) -> HttpResponse {
    let mut builder = http::Request::builder()
        .method(req.method().as_str())
        .uri(req.uri().to_string());
    for (name, value) in req.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let Ok(request) = builder.body(http_body_util::Full::new(body)) else {
        return HttpResponse::BadRequest().finish();
    };
    let (parts, body) = service.handle(request).await.into_parts();
    let mut out = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(parts.status.as_u16())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    );
    for (name, value) in &parts.headers {
        out.append_header((name.as_str(), value.as_bytes()));
    }
    out.streaming(body.into_data_stream())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let server_times = Arc::new(Mutex::new(Vec::new()));
    let handler = Trivial(server_times.clone());
    let service: Service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let service = web::Data::new(service);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(service.clone())
            .route("/mcp", web::to(bridge))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());

    let now = chrono::Utc::now().fixed_offset();
    let row = mcp_servers::Model {
        id: 1,
        name: "bench".into(),
        transport: "http".into(),
        url: Some(format!("http://127.0.0.1:{port}/mcp")),
        command: None,
        args: json!([]),
        headers: json!({}),
        tool_allow_list: json!([]),
        timeout_ms: 10_000,
        approval: json!({"mode": "never"}),
        department_ids: json!([]),
        is_global: true,
        is_active: true,
        tools: json!([]),
        tools_refreshed_at: None,
        created_at: now,
        updated_at: now,
    };
    let session = McpSession::new(row, false);
    let tools = session.list_tools().await.map_err(anyhow::Error::msg)?;
    assert_eq!(tools.len(), 1);
    for _ in 0..WARMUP {
        session
            .call("noop", json!({}))
            .await
            .map_err(anyhow::Error::msg)?;
    }
    server_times
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clear();
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        session
            .call("noop", json!({}))
            .await
            .map_err(anyhow::Error::msg)?;
        times.push(started.elapsed());
    }
    times.sort();
    let mut own = server_times
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    own.sort();
    let median = percentile(&times, 0.5);
    let own_median = percentile(&own, 0.5);
    println!("MCP tool call over streamable HTTP on loopback, {CALLS} calls, one session:");
    println!(
        "  per call: median {:.3} ms, p99 {:.3} ms; the tool's own time: median {:.3} ms",
        median.as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        own_median.as_secs_f64() * 1e3
    );
    let added = median.saturating_sub(own_median);
    println!(
        "  added by MCP: {:.3} ms median (target ≤ 2 ms): {}",
        added.as_secs_f64() * 1e3,
        if added <= Duration::from_millis(2) {
            "ok"
        } else {
            "OVER"
        }
    );
    Ok(())
}
