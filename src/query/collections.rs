//! The field maps of the collections: every camelCase path a `where` or `sort` may name, and
//! where it lives in the schema. Password and key hashes are deliberately absent, so that
//! no query can probe them.

use super::fields::{Field, FieldMap, Kind, Scalar};

const fn col(name: &'static str, column: &'static str, ty: Scalar) -> Field {
    Field {
        name,
        kind: Kind::Column { column, ty },
    }
}

const fn json_value(
    name: &'static str,
    column: &'static str,
    path: &'static [&'static str],
    ty: Scalar,
) -> Field {
    Field {
        name,
        kind: Kind::JsonValue { column, path, ty },
    }
}

const fn json(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        kind: Kind::Json { column },
    }
}

const fn relation(name: &'static str, column: &'static str, target: &'static FieldMap) -> Field {
    Field {
        name,
        kind: Kind::Relation { column, target },
    }
}

const ID: Field = col("id", "id", Scalar::Int);
const CREATED_AT: Field = col("createdAt", "created_at", Scalar::Date);
const UPDATED_AT: Field = col("updatedAt", "updated_at", Scalar::Date);

/// `departments`.
pub static DEPARTMENTS: FieldMap = FieldMap {
    table: "departments",
    fields: &[
        ID,
        col("slug", "slug", Scalar::Text),
        col("name", "name", Scalar::Text),
        col("description", "description", Scalar::Text),
        col("icon", "icon", Scalar::Text),
        col("color", "color", Scalar::Text),
        col("priority", "priority", Scalar::Int),
        col("isActive", "is_active", Scalar::Bool),
        col("coreDepartment", "core_department", Scalar::Bool),
        col("defaultModel", "default_model", Scalar::Text),
        col("maxAgentSteps", "max_agent_steps", Scalar::Int),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// `agents`.
pub static AGENTS: FieldMap = FieldMap {
    table: "agents",
    fields: &[
        ID,
        col("agentId", "agent_id", Scalar::Text),
        col("name", "name", Scalar::Text),
        col("description", "description", Scalar::Text),
        relation("department", "department_id", &DEPARTMENTS),
        col("isDepartmentHead", "is_department_head", Scalar::Bool),
        col("model", "model", Scalar::Text),
        col("instructionsPrompt", "instructions_prompt", Scalar::Text),
        Field {
            name: "toolNames",
            kind: Kind::JsonArray {
                column: "tool_names",
                key: "toolName",
            },
        },
        col("maxAgentSteps", "max_agent_steps", Scalar::Int),
        col("isActive", "is_active", Scalar::Bool),
        json_value(
            "executionSettings.maxRetries",
            "execution_settings",
            &["maxRetries"],
            Scalar::Int,
        ),
        json_value(
            "executionSettings.timeout",
            "execution_settings",
            &["timeout"],
            Scalar::Int,
        ),
        json_value(
            "executionSettings.temperature",
            "execution_settings",
            &["temperature"],
            Scalar::Float,
        ),
        json("outputSchema", "output_schema"),
        col(
            "performanceMetrics.totalExecutions",
            "total_executions",
            Scalar::Int,
        ),
        col(
            "performanceMetrics.successfulExecutions",
            "successful_executions",
            Scalar::Int,
        ),
        col(
            "performanceMetrics.failedExecutions",
            "failed_executions",
            Scalar::Int,
        ),
        Field {
            name: "performanceMetrics.averageExecutionTime",
            kind: Kind::Derived {
                sql: "(CASE WHEN {t}.\"total_executions\" > 0 THEN {t}.\"total_execution_time_ms\" / {t}.\"total_executions\" ELSE 0 END)",
                ty: Scalar::Int,
            },
        },
        Field {
            name: "performanceMetrics.successRate",
            kind: Kind::Derived {
                sql: "(CASE WHEN {t}.\"total_executions\" > 0 THEN CAST({t}.\"successful_executions\" AS DOUBLE PRECISION) * 100.0 / {t}.\"total_executions\" ELSE 0.0 END)",
                ty: Scalar::Float,
            },
        },
        col("lastExecutedAt", "last_executed_at", Scalar::Date),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// `custom-tools`.
pub static CUSTOM_TOOLS: FieldMap = FieldMap {
    table: "custom_tools",
    fields: &[
        ID,
        col("toolName", "tool_name", Scalar::Text),
        col("displayName", "display_name", Scalar::Text),
        col("description", "description", Scalar::Text),
        json("inputSchema", "input_schema"),
        json("exampleInputs", "example_inputs"),
        col("executeFunction", "execute_function", Scalar::Text),
        Field {
            name: "departments",
            kind: Kind::RelationMany {
                link_table: "custom_tool_departments",
                owner_column: "tool_id",
                target_column: "department_id",
                target: &DEPARTMENTS,
            },
        },
        col("isGlobal", "is_global", Scalar::Bool),
        col("isActive", "is_active", Scalar::Bool),
        col("timeoutMs", "timeout_ms", Scalar::Int),
        col("version", "version", Scalar::Text),
        col("performanceMetrics.totalCalls", "total_calls", Scalar::Int),
        col(
            "performanceMetrics.failedCalls",
            "failed_calls",
            Scalar::Int,
        ),
        Field {
            name: "performanceMetrics.averageExecutionTime",
            kind: Kind::Derived {
                sql: "(CASE WHEN {t}.\"total_calls\" > 0 THEN {t}.\"total_execution_time_ms\" / {t}.\"total_calls\" ELSE 0 END)",
                ty: Scalar::Int,
            },
        },
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// `projects`.
pub static PROJECTS: FieldMap = FieldMap {
    table: "projects",
    fields: &[
        ID,
        col("name", "name", Scalar::Text),
        col("slug", "slug", Scalar::Text),
        col("description", "description", Scalar::Text),
        col("genre", "genre", Scalar::Text),
        col("status", "status", Scalar::Text),
        json("metadata", "metadata"),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// `models` (the price table).
pub static MODELS: FieldMap = FieldMap {
    table: "models",
    fields: &[
        ID,
        col("modelId", "model_id", Scalar::Text),
        col("provider", "provider", Scalar::Text),
        col("displayName", "display_name", Scalar::Text),
        col("inputPricePerMTok", "input_price_per_mtok", Scalar::Float),
        col("outputPricePerMTok", "output_price_per_mtok", Scalar::Float),
        col("contextWindow", "context_window", Scalar::Int),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// `users`: no password, no key hash.
pub static USERS: FieldMap = FieldMap {
    table: "users",
    fields: &[
        ID,
        col("email", "email", Scalar::Text),
        col("name", "name", Scalar::Text),
        col("role", "role", Scalar::Text),
        col("enableAPIKey", "enable_api_key", Scalar::Bool),
        col("disabled", "disabled", Scalar::Bool),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// `agent-executions`.
pub static EXECUTIONS: FieldMap = FieldMap {
    table: "agent_executions",
    fields: &[
        ID,
        relation("agent", "agent_id", &AGENTS),
        col("agentId", "agent_slug", Scalar::Text),
        relation("department", "department_id", &DEPARTMENTS),
        relation("project", "project_id", &PROJECTS),
        col("episode", "episode_id", Scalar::Text),
        col("conversationId", "conversation_id", Scalar::Text),
        col("parentExecution", "parent_execution_id", Scalar::Int),
        col("prompt", "prompt", Scalar::Text),
        json("params", "params"),
        col("status", "status", Scalar::Text),
        json("output", "output"),
        col("outputText", "output_text", Scalar::Text),
        col("executionTime", "execution_time_ms", Scalar::Int),
        col("tokenUsage.inputTokens", "input_tokens", Scalar::Int),
        col("tokenUsage.outputTokens", "output_tokens", Scalar::Int),
        col("tokenUsage.totalTokens", "total_tokens", Scalar::Int),
        col("tokenUsage.estimatedCost", "estimated_cost", Scalar::Float),
        col("tokenUsage.costSource", "cost_source", Scalar::Text),
        col("error.message", "error_message", Scalar::Text),
        col("error.code", "error_code", Scalar::Text),
        json("error.details", "error_details"),
        col("retryCount", "retry_count", Scalar::Int),
        col("maxRetries", "max_retries", Scalar::Int),
        json("agentSnapshot", "agent_snapshot"),
        col("startedAt", "started_at", Scalar::Date),
        col("completedAt", "completed_at", Scalar::Date),
        col("createdBy", "created_by", Scalar::Int),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// Tool data (`tool_documents`): a few fixed fields, every other path inside the document.
pub static TOOL_DATA: FieldMap = FieldMap {
    table: "tool_documents",
    fields: &[
        ID,
        col("project", "project_id", Scalar::Int),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: Some("data"),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fields::Resolved;

    #[test]
    fn secrets_cannot_be_queried() {
        for path in [
            "password",
            "passwordHash",
            "apiKey",
            "apiKeyHash",
            "api_key_hash",
        ] {
            assert!(USERS.resolve(path).is_none(), "{path}");
        }
    }

    #[test]
    fn every_map_has_id_and_timestamps() {
        for map in [
            &DEPARTMENTS,
            &AGENTS,
            &CUSTOM_TOOLS,
            &PROJECTS,
            &MODELS,
            &USERS,
            &EXECUTIONS,
            &TOOL_DATA,
        ] {
            for f in ["id", "createdAt", "updatedAt"] {
                assert!(map.field(f).is_some(), "{} {f}", map.table);
            }
        }
    }

    #[test]
    fn relations_reach_their_targets() {
        assert!(matches!(
            EXECUTIONS.resolve("agent.department.slug"),
            Some(Resolved::RelationSub { .. })
        ));
        assert!(matches!(
            CUSTOM_TOOLS.resolve("departments.slug"),
            Some(Resolved::Many { sub: Some(_), .. })
        ));
    }
}
