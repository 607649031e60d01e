//! Aladdin: a self-hosted server to define, run and watch AI agents.
//!
//! `main` is thin; everything lives here so that tests and benchmarks build the same
//! application as production.

pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod collections;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod entities;
pub mod error;
pub mod query;
pub mod runner;
pub mod sandbox;
pub mod seed;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod telemetry_metrics;
pub mod testing;
pub mod traces;
pub mod web;

/// mimalloc instead of the system allocator, for every binary built on this library (the
/// server, the tests and the benchmarks alike).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
