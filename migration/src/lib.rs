//! Database schema of Aladdin, as sea-orm migrations. The same migrations run on SQLite and
//! PostgreSQL; JSON columns are `jsonb` on PostgreSQL and JSON text on SQLite.

pub use sea_orm_migration::prelude::*;

mod timestamps;

mod m20261123_000001_create_users;
mod m20261123_000002_create_departments;
mod m20261123_000003_create_agents;
mod m20261123_000004_create_custom_tools;
mod m20261123_000005_create_projects;
mod m20261123_000006_create_executions;
mod m20261123_000007_create_models;
mod m20261123_000008_create_tool_documents;
mod m20261124_000009_list_order_indexes;
mod m20261204_000010_create_agent_chains;
mod m20261204_000011_multi_agent;
mod m20261204_000012_cost_resilience;
mod m20261204_000015_versions_experiments;
mod m20261204_000016_create_mcp_servers;
mod m20261204_000017_durable_runs;
mod m20261204_000018_approvals;
mod m20261204_000019_budgets;
mod m20261204_000020_evals;
mod m20261204_000021_scale_out;
mod m20261204_000022_budget_reservations;
mod m20261204_000023_trace_parent;
mod m20261205_000024_checkpoint_steps;
mod m20261205_000025_drop_duplicate_execution_index;

/// Runs every migration in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_departments::Migration),
            Box::new(m20261123_000003_create_agents::Migration),
            Box::new(m20261123_000004_create_custom_tools::Migration),
            Box::new(m20261123_000005_create_projects::Migration),
            Box::new(m20261123_000006_create_executions::Migration),
            Box::new(m20261123_000007_create_models::Migration),
            Box::new(m20261123_000008_create_tool_documents::Migration),
            Box::new(m20261124_000009_list_order_indexes::Migration),
            Box::new(m20261204_000010_create_agent_chains::Migration),
            Box::new(m20261204_000011_multi_agent::Migration),
            Box::new(m20261204_000012_cost_resilience::Migration),
            Box::new(m20261204_000015_versions_experiments::Migration),
            Box::new(m20261204_000016_create_mcp_servers::Migration),
            Box::new(m20261204_000017_durable_runs::Migration),
            Box::new(m20261204_000018_approvals::Migration),
            Box::new(m20261204_000019_budgets::Migration),
            Box::new(m20261204_000020_evals::Migration),
            Box::new(m20261204_000021_scale_out::Migration),
            Box::new(m20261204_000022_budget_reservations::Migration),
            Box::new(m20261204_000023_trace_parent::Migration),
            Box::new(m20261205_000024_checkpoint_steps::Migration),
            Box::new(m20261205_000025_drop_duplicate_execution_index::Migration),
        ]
    }
}
