//! MCP both ways, against the official Python SDK (installed by `.ci/run` into
//! `target/mcp-venv`, or named by `MCP_PYTHON`): a missing SDK fails these tests.

mod client;
mod server;

use std::path::PathBuf;
use std::process::Command;

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
