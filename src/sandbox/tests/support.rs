//! Helpers shared by the sandbox tests.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::sandbox::memory::MemoryStore;
use crate::sandbox::{DataApi, DataOp, Limits, Sandbox, ToolError, ToolRun};

pub(super) fn limits_ms(ms: u64) -> Limits {
    Limits {
        timeout: Duration::from_millis(ms),
        ..Limits::default()
    }
}

pub(super) fn project() -> Value {
    json!({ "id": "p1", "name": "Demo", "slug": "demo", "genre": "fantasy" })
}

/// A store with projects p1 (the caller's) and p2 (someone else's).
pub(super) fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.add_project(project());
    store.add_project(json!({ "id": "p2", "name": "Other", "slug": "other" }));
    store
}

/// Runs `source` for project p1 against `store`.
pub(super) async fn run_in(
    sandbox: &Sandbox,
    store: &MemoryStore,
    source: &str,
    input: Value,
    limits: Limits,
) -> ToolRun {
    let api = Arc::new(store.api("p1"));
    sandbox.run(source, input, project(), api, limits).await
}

/// Runs `source` with `input` on a fresh 2-worker sandbox and store, with `limits`.
pub(super) async fn run_with(source: &str, input: Value, limits: Limits) -> ToolRun {
    run_in(&Sandbox::new(2), &store(), source, input, limits).await
}

/// Runs `source` with `{}` input and a 5 s limit.
pub(super) async fn run(source: &str) -> ToolRun {
    run_with(source, json!({}), limits_ms(5000)).await
}

/// The returned value, panicking with the error and console otherwise.
#[track_caller]
pub(super) fn ok(run: &ToolRun) -> &Value {
    match &run.result {
        Ok(v) => v,
        Err(e) => panic!("expected success, got {e:?}\nconsole: {}", run.console),
    }
}

/// The error, panicking if the call succeeded.
#[track_caller]
pub(super) fn err(run: &ToolRun) -> &ToolError {
    match &run.result {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

/// A data API whose calls never complete.
pub(super) struct Hanging;

impl DataApi for Hanging {
    fn call(&self, _op: DataOp) -> BoxFuture<'static, Result<Value, String>> {
        Box::pin(futures_util::future::pending())
    }
}
