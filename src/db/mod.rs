//! Hand-written queries and mutations, one file per collection, named like sentences.
//! Handlers and the runner never build queries themselves.

pub mod agent_chains;
pub mod agents;
pub mod api_tokens;
pub mod approvals;
mod batch;
pub mod budgets;
pub mod custom_tools;
pub mod dashboard;
pub mod departments;
pub mod evals;
pub mod executions;
pub mod experiments;
pub mod list;
pub mod listing;
pub mod login_failures;
pub mod mcp_servers;
pub mod models;
pub mod projects;
pub mod sessions;
pub mod settings;
pub mod spend;
pub mod stats;
pub mod tool_documents;
pub mod users;
pub mod versions;

use std::time::Duration;

use anyhow::Context as _;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, SqlErr,
    Statement,
};

use crate::error::AppError;

/// Opens the pool. For SQLite, creates the file's directory and uses WAL with a busy timeout,
/// so the server and the CLI can share the file.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    if let Some(path) = sqlite_path(url)
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let mut opts = ConnectOptions::new(url.to_owned());
    // sqlx pings a pooled connection on every checkout by default: one more round trip per
    // statement. A SQLite connection is a file handle that cannot go stale, so it is never
    // pinged; a PostgreSQL one is pinged only after sitting idle long enough for the server
    // or a proxy to have dropped it.
    if sqlite_url(url) {
        opts.test_before_acquire(false);
    } else {
        opts.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    }
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        // Every statement is a DEBUG event of `sqlx::query` (`RUST_LOG=sqlx::query=debug`
        // shows them; the benches count them); filtered out, it costs a level check.
        .sqlx_logging(true)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // 1 MiB of page cache per connection (SQLite's default is 2 MiB): with a
                // pool of 24 the caches could otherwise hold 48 MiB of copies of the same
                // pages, which the operating system's file cache keeps anyway.
                .pragma("cache_size", "-1024")
        });
    Database::connect(opts)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redact_url(url)))
}

/// A pooled PostgreSQL connection idle for this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// True for a `sqlite:` URL.
pub fn sqlite_url(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file path of a `sqlite://` URL (None for in-memory and other databases).
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Runs `SELECT 1`: the health check.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT 1",
    ))
    .await
    .map(|_| ())
}

/// True on PostgreSQL.
pub fn is_postgres(db: &impl ConnectionTrait) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Rows matching the filter, over all pages.
    pub total: u64,
    /// 1-based page number.
    pub page: u64,
    /// Page size (0: everything on one page).
    pub limit: u64,
}

impl<T> Page<T> {
    /// Number of pages (at least 1).
    pub fn total_pages(&self) -> u64 {
        if self.limit == 0 {
            1
        } else {
            self.total.div_ceil(self.limit).max(1)
        }
    }

    /// Maps the rows, keeping the counts.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            limit: self.limit,
        }
    }
}

/// Largest page size served (the query language's: queries build on it, never the reverse).
pub const MAX_LIMIT: u64 = crate::query::MAX_LIMIT;

/// Turns a unique-constraint violation into a field error on `field`, other errors as usual.
pub fn unique_violation(err: DbErr, field: &str) -> AppError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            AppError::field(field, "Value must be unique.")
        }
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found() {
        assert_eq!(
            sqlite_path("sqlite://data/aladdin.db?mode=rwc"),
            Some("data/aladdin.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://bob:secret@localhost/db"),
            "postgres://bob:***@localhost/db"
        );
    }
}
