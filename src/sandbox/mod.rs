//! Sandboxed execution of custom tools (`executeFunction` JavaScript) in QuickJS.
//!
//! Every call gets a fresh QuickJS [`rquickjs::Runtime`] and `Context`, created and dropped
//! on a `spawn_blocking` thread behind a semaphore ([`Sandbox`]), with a wall-clock deadline
//! (interrupt handler), a heap limit, a stack limit, a cap on the returned JSON and a cap on
//! captured console output. The only host objects in scope are `console` and the
//! project-scoped `payload` data API ([`DataApi`]).
//!
//! QuickJS is defense in depth, not a V8-grade security boundary: if stronger isolation is ever
//! needed, move [`engine::execute`] into a child process with rlimits behind the same API.

mod api;
mod engine;
mod error;
mod js;
mod limits;
pub mod memory;
mod pool;

#[cfg(test)]
mod tests;

use futures_util::future::BoxFuture;
use serde_json::Value;

pub use engine::check_syntax;
pub use error::{CompileError, ToolError};
pub use limits::Limits;
pub use pool::{OVERRUN_GRACE, Sandbox, ToolRun};

/// The project-scoped data API that the `payload` object calls into.
///
/// Implemented by the host (the DB-backed implementation lives elsewhere). Every call must
/// already be scoped to the execution's project by the implementation: a tool cannot name
/// another project, whatever arguments it passes. The future is driven on the tokio runtime
/// that called [`Sandbox::run`] while the tool's thread waits for it (bounded by the tool's
/// deadline). An `Err(message)` rejects the script's promise with `new Error(message)`, so
/// messages must be fit for tool authors to read.
pub trait DataApi: Send + Sync {
    /// Performs one data operation on behalf of the running tool.
    fn call(&self, op: DataOp) -> BoxFuture<'static, Result<Value, String>>;
}

/// One `payload.*` call made by a tool, shaped like Payload CMS's Local API.
#[derive(Debug, Clone, PartialEq)]
pub enum DataOp {
    /// `payload.find({ collection, where, limit, page, sort })`.
    Find {
        /// Collection slug, e.g. `world-rules`.
        collection: String,
        /// Payload-style query object, passed through unchanged.
        r#where: Option<Value>,
        /// Page size.
        limit: Option<u64>,
        /// 1-based page number.
        page: Option<u64>,
        /// Field name to sort by, `-field` for descending.
        sort: Option<String>,
    },
    /// `payload.findByID({ collection, id })`.
    FindById {
        /// Collection slug.
        collection: String,
        /// Document id (string or number, as the script passed it).
        id: Value,
    },
    /// `payload.create({ collection, data })`.
    Create {
        /// Collection slug.
        collection: String,
        /// The new document (a JSON object).
        data: Value,
    },
    /// `payload.update({ collection, id, data })`.
    Update {
        /// Collection slug.
        collection: String,
        /// Document id.
        id: Value,
        /// Fields to change (a JSON object).
        data: Value,
    },
    /// `payload.delete({ collection, id })`.
    Delete {
        /// Collection slug.
        collection: String,
        /// Document id.
        id: Value,
    },
    /// `payload.count({ collection, where })`.
    Count {
        /// Collection slug.
        collection: String,
        /// Payload-style query object.
        r#where: Option<Value>,
    },
}

impl DataOp {
    /// The collection this operation touches.
    pub fn collection(&self) -> &str {
        match self {
            DataOp::Find { collection, .. }
            | DataOp::FindById { collection, .. }
            | DataOp::Create { collection, .. }
            | DataOp::Update { collection, .. }
            | DataOp::Delete { collection, .. }
            | DataOp::Count { collection, .. } => collection,
        }
    }

    /// The JavaScript method name of this operation (`find`, `findByID`, ...).
    pub fn method(&self) -> &'static str {
        match self {
            DataOp::Find { .. } => "find",
            DataOp::FindById { .. } => "findByID",
            DataOp::Create { .. } => "create",
            DataOp::Update { .. } => "update",
            DataOp::Delete { .. } => "delete",
            DataOp::Count { .. } => "count",
        }
    }

    /// Whether this operation writes data.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            DataOp::Create { .. } | DataOp::Update { .. } | DataOp::Delete { .. }
        )
    }
}
