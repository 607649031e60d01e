//! The field map of tool data, and the collections' maps under their old names.

use super::fields::{Field, FieldMap, Kind, Scalar};

pub use crate::collections::agents::FIELDS as AGENTS;
pub use crate::collections::custom_tools::FIELDS as CUSTOM_TOOLS;
pub use crate::collections::departments::FIELDS as DEPARTMENTS;
pub use crate::collections::executions::FIELDS as EXECUTIONS;
pub use crate::collections::models::FIELDS as MODELS;
pub use crate::collections::projects::FIELDS as PROJECTS;
pub use crate::collections::users::FIELDS as USERS;

const fn col(name: &'static str, column: &'static str, ty: Scalar) -> Field {
    Field {
        name,
        kind: Kind::Column { column, ty },
    }
}

const ID: Field = col("id", "id", Scalar::Int);
const CREATED_AT: Field = col("createdAt", "created_at", Scalar::Date);
const UPDATED_AT: Field = col("updatedAt", "updated_at", Scalar::Date);

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
