//! The integration tests: one binary, the real application on a random port, a fresh
//! database per test (SQLite by default; PostgreSQL when `TEST_DATABASE_URL` is set).

mod helpers;

mod admin;
mod api;
mod auth;
mod foundation;
mod mcp;
mod otel;
mod runner;
mod scale;
