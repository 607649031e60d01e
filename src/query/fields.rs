//! What can be queried in a collection: the camelCase field names of its API documents,
//! each mapped to a column, a derived expression, a value inside a JSON column, or a
//! relation to another collection's fields.

/// The type a query value is converted to before it reaches the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// Whole numbers (ids, counters). Fractions are accepted for comparisons.
    Int,
    /// Floating-point numbers.
    Float,
    /// Text, compared exactly by `equals` and case-insensitively by `like` / `contains`.
    Text,
    /// `true` / `false`.
    Bool,
    /// Timestamps: RFC 3339, `YYYY-MM-DD`, or milliseconds since the epoch.
    Date,
}

/// Where a field's value lives.
#[derive(Debug)]
pub enum Kind {
    /// A column of the collection's table.
    Column {
        /// Column name.
        column: &'static str,
        /// Value type.
        ty: Scalar,
    },
    /// An SQL expression over the table's columns, the same on SQLite and PostgreSQL;
    /// `{t}` stands for the quoted table name.
    Derived {
        /// The expression.
        sql: &'static str,
        /// Value type.
        ty: Scalar,
    },
    /// A typed value at a fixed path inside a JSON column (e.g. `executionSettings.temperature`).
    JsonValue {
        /// JSON column.
        column: &'static str,
        /// Keys from the column's root.
        path: &'static [&'static str],
        /// Value type.
        ty: Scalar,
    },
    /// A free-form JSON column: `field.any.path` is queried, with types taken from the values.
    Json {
        /// JSON column.
        column: &'static str,
    },
    /// A many-to-one relation: the column holds the related id, and `field.sub` queries the
    /// related collection's fields.
    Relation {
        /// The foreign-key column.
        column: &'static str,
        /// The related collection.
        target: &'static FieldMap,
    },
    /// A many-to-many relation through a link table.
    RelationMany {
        /// The link table.
        link_table: &'static str,
        /// Its column holding this collection's id.
        owner_column: &'static str,
        /// Its column holding the related id.
        target_column: &'static str,
        /// The related collection.
        target: &'static FieldMap,
    },
    /// A JSON array of objects; `field.key` matches when any element's `key` matches.
    JsonArray {
        /// JSON column.
        column: &'static str,
        /// The text key inside each element.
        key: &'static str,
    },
}

/// One queryable field.
#[derive(Debug)]
pub struct Field {
    /// The API name (camelCase, may contain dots for group fields such as
    /// `tokenUsage.totalTokens`).
    pub name: &'static str,
    /// Where it lives.
    pub kind: Kind,
}

/// Every queryable field of a collection.
#[derive(Debug)]
pub struct FieldMap {
    /// The table (its primary key is `id`).
    pub table: &'static str,
    /// The fields.
    pub fields: &'static [Field],
    /// When set, paths that name no field are read from this JSON column (tool data, whose
    /// documents are free-form).
    pub open_json: Option<&'static str>,
}

/// Field maps are statics: one per table.
impl PartialEq for FieldMap {
    fn eq(&self, other: &Self) -> bool {
        self.table == other.table
    }
}

/// A field path resolved against a [`FieldMap`].
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    /// A scalar expression (column, derived, or typed JSON value).
    Scalar(Source, Scalar),
    /// A path inside a free-form JSON column; typed by the query value.
    DynamicJson {
        /// JSON column.
        column: &'static str,
        /// Keys (or array indices) from its root.
        path: Vec<String>,
    },
    /// A relation's subfield: `column IN (SELECT id FROM target WHERE <rest>)`.
    RelationSub {
        /// Foreign-key column.
        column: &'static str,
        /// The related collection.
        target: &'static FieldMap,
        /// The path inside the related collection.
        rest: String,
    },
    /// A many-to-many relation itself (matched by related ids).
    Many {
        /// Link table.
        link_table: &'static str,
        /// Owner column of the link table.
        owner_column: &'static str,
        /// Target column of the link table.
        target_column: &'static str,
        /// Related collection and, for a subfield, the path inside it.
        sub: Option<(&'static FieldMap, String)>,
    },
    /// A key of the elements of a JSON array.
    ArrayKey {
        /// JSON column.
        column: &'static str,
        /// Key inside each element.
        key: &'static str,
    },
}

/// Where a scalar comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A column.
    Column(&'static str),
    /// A derived expression (`{t}` is the table).
    Derived(&'static str),
    /// A fixed path inside a JSON column.
    Json(&'static str, Vec<String>),
}

/// Most segments in a JSON path.
const MAX_JSON_PATH: usize = 8;

impl FieldMap {
    /// The field with this exact name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Resolves a dotted path (`name`, `department.slug`, `metadata.world.era`). None when
    /// the path names nothing queryable.
    pub fn resolve(&self, path: &str) -> Option<Resolved> {
        if path.is_empty() || path.len() > 200 {
            return None;
        }
        if let Some(field) = self.field(path) {
            return Some(resolve_whole(field));
        }
        // The longest field name that is a prefix of the path, then the rest inside it.
        let segments: Vec<&str> = path.split('.').collect();
        for split in (1..segments.len()).rev() {
            let head = segments[..split].join(".");
            let rest = segments[split..].join(".");
            if let Some(field) = self.field(&head) {
                return resolve_inside(field, &rest);
            }
        }
        let column = self.open_json?;
        let path = json_path(path)?;
        Some(Resolved::DynamicJson { column, path })
    }
}

fn resolve_whole(field: &Field) -> Resolved {
    match &field.kind {
        Kind::Column { column, ty } => Resolved::Scalar(Source::Column(column), *ty),
        Kind::Derived { sql, ty } => Resolved::Scalar(Source::Derived(sql), *ty),
        Kind::JsonValue { column, path, ty } => Resolved::Scalar(
            Source::Json(column, path.iter().map(|s| (*s).to_owned()).collect()),
            *ty,
        ),
        Kind::Json { column } => Resolved::DynamicJson {
            column,
            path: Vec::new(),
        },
        Kind::Relation { column, .. } => Resolved::Scalar(Source::Column(column), Scalar::Int),
        Kind::RelationMany {
            link_table,
            owner_column,
            target_column,
            ..
        } => Resolved::Many {
            link_table,
            owner_column,
            target_column,
            sub: None,
        },
        Kind::JsonArray { column, key } => Resolved::ArrayKey { column, key },
    }
}

fn resolve_inside(field: &Field, rest: &str) -> Option<Resolved> {
    match &field.kind {
        Kind::Json { column } => Some(Resolved::DynamicJson {
            column,
            path: json_path(rest)?,
        }),
        Kind::Relation { column, target } => {
            // `department.id` is the foreign key itself.
            if rest == "id" {
                return Some(Resolved::Scalar(Source::Column(column), Scalar::Int));
            }
            target.resolve(rest)?;
            Some(Resolved::RelationSub {
                column,
                target,
                rest: rest.to_owned(),
            })
        }
        Kind::RelationMany {
            link_table,
            owner_column,
            target_column,
            target,
        } => {
            if rest == "id" {
                return Some(resolve_whole(field));
            }
            target.resolve(rest)?;
            Some(Resolved::Many {
                link_table,
                owner_column,
                target_column,
                sub: Some((target, rest.to_owned())),
            })
        }
        Kind::JsonArray { column, key } if rest == *key => Some(Resolved::ArrayKey { column, key }),
        _ => None,
    }
}

/// Splits a JSON path into segments: keys of letters, digits, `_` and `-` (so that they
/// can be written into SQL as literals), or array indices.
fn json_path(path: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
    let valid = segments.len() <= MAX_JSON_PATH
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        });
    valid.then_some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    static TARGET: FieldMap = FieldMap {
        table: "departments",
        fields: &[Field {
            name: "slug",
            kind: Kind::Column {
                column: "slug",
                ty: Scalar::Text,
            },
        }],
        open_json: None,
    };

    static MAP: FieldMap = FieldMap {
        table: "agents",
        fields: &[
            Field {
                name: "name",
                kind: Kind::Column {
                    column: "name",
                    ty: Scalar::Text,
                },
            },
            Field {
                name: "performanceMetrics.totalExecutions",
                kind: Kind::Column {
                    column: "total_executions",
                    ty: Scalar::Int,
                },
            },
            Field {
                name: "department",
                kind: Kind::Relation {
                    column: "department_id",
                    target: &TARGET,
                },
            },
            Field {
                name: "metadata",
                kind: Kind::Json { column: "metadata" },
            },
            Field {
                name: "toolNames",
                kind: Kind::JsonArray {
                    column: "tool_names",
                    key: "toolName",
                },
            },
        ],
        open_json: None,
    };

    #[test]
    fn paths_resolve_to_columns_relations_and_json() {
        assert_eq!(
            MAP.resolve("name"),
            Some(Resolved::Scalar(Source::Column("name"), Scalar::Text))
        );
        assert_eq!(
            MAP.resolve("performanceMetrics.totalExecutions"),
            Some(Resolved::Scalar(
                Source::Column("total_executions"),
                Scalar::Int
            ))
        );
        assert!(matches!(
            MAP.resolve("department.slug"),
            Some(Resolved::RelationSub { rest, .. }) if rest == "slug"
        ));
        assert_eq!(
            MAP.resolve("department.id"),
            Some(Resolved::Scalar(
                Source::Column("department_id"),
                Scalar::Int
            ))
        );
        assert_eq!(
            MAP.resolve("metadata.world.era"),
            Some(Resolved::DynamicJson {
                column: "metadata",
                path: vec!["world".into(), "era".into()]
            })
        );
        assert!(matches!(
            MAP.resolve("toolNames.toolName"),
            Some(Resolved::ArrayKey { .. })
        ));
    }

    #[test]
    fn unknown_and_unsafe_paths_do_not_resolve() {
        for path in [
            "password",
            "department.nope",
            "name.x",
            "metadata.a'b",
            "metadata.",
            "metadata.a..b",
            "",
            "toolNames.other",
        ] {
            assert_eq!(MAP.resolve(path), None, "{path}");
        }
    }
}
