//! MCP both ways, against the official Python SDK (installed by `.ci/run` into
//! `target/mcp-venv`, or named by `MCP_PYTHON`): a missing SDK fails these tests.

mod admin;
mod client;
mod server;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The Python interpreter that has the `mcp` package.
pub fn python() -> PathBuf {
    let path = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/mcp-venv/bin/python")
        });
    let ok = Command::new(&path)
        .args(["-c", "import mcp"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the MCP tests need Python with the official `mcp` SDK at {} (run: python3 -m venv \
         target/mcp-venv && target/mcp-venv/bin/pip install mcp, or set MCP_PYTHON)",
        path.display()
    );
    path
}

/// A script under tests/mcp/.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mcp")
        .join(name)
}

/// The Python MCP server over streamable HTTP on a free port; killed when dropped.
pub struct PyServer {
    child: Child,
    /// Its endpoint.
    pub url: String,
}

impl PyServer {
    /// Starts it and waits until it listens.
    pub async fn start() -> Self {
        let port = free_port();
        let mut child = Command::new(python())
            .arg(script("server.py"))
            .args(["http", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the MCP server starts");
        // Ready once it accepts connections (bounded: a server that never starts fails).
        for _ in 0..600 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Self {
                    child,
                    url: format!("http://127.0.0.1:{port}/mcp"),
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the Python MCP server did not start listening");
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on (yet).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Stores an MCP server as the collection validates it, without the save-time settings check
/// (a server saved while stdio was allowed).
pub async fn insert_server(
    db: &sea_orm::DatabaseConnection,
    doc: serde_json::Value,
) -> aladdin::entities::mcp_servers::Model {
    let input = aladdin::domain::mcp_servers::McpServerInput::from_json(&doc, &Default::default())
        .expect("a valid server");
    aladdin::db::mcp_servers::create(db, input)
        .await
        .expect("stored")
}
