//! Versions and experiments at queue time: a new run is stamped with its agent's version
//! and, while an experiment of the agent runs, gets a variant (by weight, sticky per
//! conversation) whose overrides are applied to the snapshot the run will use. When the run
//! starts, the versions of the custom tools it loaded are stamped too.

use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};

use super::log::EventLog;
use crate::db;
use crate::db::executions::{NewExecution, Stamp};
use crate::db::experiments::RunStamp;
use crate::domain::experiments::{apply_to_snapshot, choose, stored_variants};

/// The stamp of a new run of agent `agent_id`, and the run with its variant applied.
pub async fn stamp(
    db: &impl ConnectionTrait,
    agent_id: i32,
    new: NewExecution,
) -> Result<(NewExecution, Stamp), DbErr> {
    Ok(apply(db::experiments::run_stamp(db, agent_id).await?, new))
}

/// Applies what `db::experiments::run_stamp` found: the version, and the variant chosen for
/// the run's conversation with its overrides in the snapshot.
pub fn apply(found: RunStamp, mut new: NewExecution) -> (NewExecution, Stamp) {
    let mut stamp = Stamp {
        agent_version: found.agent_version,
        ..Stamp::default()
    };
    if let Some((experiment_id, sticky_by, variants)) = found.experiment {
        let variants = stored_variants(&variants);
        if let Some(variant) = choose(experiment_id, &sticky_by, &variants, &new.conversation_id) {
            apply_to_snapshot(&mut new.agent_snapshot, &variant.overrides);
            stamp.experiment_id = Some(experiment_id);
            stamp.variant = Some(variant.name.clone());
        }
    }
    (new, stamp)
}

/// The stamp of a pinned run (an evaluation's): the pinned version (else the current one),
/// its overrides in the snapshot, and no experiment.
pub fn pin(found: RunStamp, mut new: NewExecution, pin: &super::Pinned) -> (NewExecution, Stamp) {
    apply_to_snapshot(&mut new.agent_snapshot, &pin.overrides);
    let stamp = Stamp {
        agent_version: pin.version.or(found.agent_version),
        ..Stamp::default()
    };
    (new, stamp)
}

/// Stamps the versions of the custom tools a run loaded (`[{toolName, version}]`): written
/// with the run's first events.
pub(crate) fn stamp_tools(log: &mut EventLog, tools: &[(String, i32)]) -> Result<(), DbErr> {
    if tools.is_empty() {
        return Ok(());
    }
    let stamped: Vec<Value> = tools
        .iter()
        .map(|(name, version)| json!({"toolName": name, "version": version}))
        .collect();
    log.stamp_tool_versions(Value::Array(stamped))
}
