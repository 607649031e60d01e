//! The runner, end to end: the real application, real HTTP to the fake LLM server in both
//! wire formats (OpenRouter and Anthropic), on SQLite or PostgreSQL (`TEST_DATABASE_URL`).

pub mod support;

mod approvals;
mod breaker;
pub(crate) mod budgets;
mod caching;
pub mod chain;
mod cli;
mod conversation;
mod durable;
mod experiments;
mod fallback;
mod faults;
mod recovery;
mod routing;
mod statuses;
mod stream;
pub mod swarm;
mod tools;
mod usage;
