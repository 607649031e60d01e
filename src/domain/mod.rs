//! The collections as documents: validated inputs parsed from JSON (API bodies, and admin
//! forms turned into JSON), and the camelCase documents that the API returns and the admin
//! edits. One set of rules for every surface.

pub mod agents;
pub mod approvals;
pub mod budgets;
pub mod chains;
pub mod custom_tools;
pub mod departments;
pub mod evals;
pub mod executions;
pub mod experiments;
pub mod fields;
pub mod mcp_servers;
pub mod models;
pub mod projects;
pub mod routing;
pub mod users;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

/// A timestamp as Payload writes it: RFC 3339, UTC, millisecond precision.
pub fn iso(ts: &DateTime<FixedOffset>) -> String {
    ts.with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The current time, as stored in the database.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}
