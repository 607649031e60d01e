//! Helpers shared by the sandbox tests.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::sandbox::memory::MemoryStore;
use crate::sandbox::{Limits, Sandbox, ToolRun};

pub(super) fn limits_ms(ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(ms),
        ..Limits::default()
    }
}

pub(super) fn project() -> Value {
    json!({ "id": "p1", "name": "Demo", "slug": "demo" })
}

pub(super) fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.add_project(project());
    store.add_project(json!({ "id": "p2", "name": "Other", "slug": "other" }));
    store
}

/// Runs `source` for project p1 on `sandbox` with `input`.
pub(super) async fn run_on(
    sandbox: &Sandbox,
    source: &str,
    input: Value,
    limits: Limits,
) -> ToolRun {
    let api = Arc::new(store().api("p1"));
    sandbox.run(source, input, project(), api, limits).await
}

/// Runs `source` on a fresh 2-worker sandbox with a 2 s limit and `{}` input.
pub(super) async fn run(source: &str) -> ToolRun {
    run_on(&Sandbox::new(2), source, json!({}), limits_ms(2000)).await
}
