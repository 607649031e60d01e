//! Shared pieces of the admin's list queries: the sort chosen in the UI and the ids a filter
//! matches (the filters themselves are the where-engine's).

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order, QueryFilter, QuerySelect,
    Select,
};

/// A sort order chosen in the UI: a key from the list's whitelist and a direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// Whitelisted key, e.g. `name`.
    pub key: String,
    /// Descending when true.
    pub desc: bool,
}

impl Sort {
    /// Parses `name` / `-name`.
    pub fn parse(raw: &str) -> Self {
        match raw.strip_prefix('-') {
            Some(key) => Self {
                key: key.to_owned(),
                desc: true,
            },
            None => Self {
                key: raw.to_owned(),
                desc: false,
            },
        }
    }

    /// The query-string form (`-name` when descending).
    pub fn param(&self) -> String {
        if self.desc {
            format!("-{}", self.key)
        } else {
            self.key.clone()
        }
    }

    /// The database order.
    pub fn order(&self) -> Order {
        if self.desc { Order::Desc } else { Order::Asc }
    }
}

/// Ids (`id`) of every row of `select` matching `filter`, for "delete all matching".
pub async fn ids<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id: impl ColumnTrait,
    filter: Option<Condition>,
) -> Result<Vec<i32>, DbErr> {
    let select = match filter {
        Some(condition) => select.filter(condition),
        None => select,
    };
    select.select_only().column(id).into_tuple().all(db).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse_both_directions() {
        assert_eq!(
            Sort::parse("-name"),
            Sort {
                key: "name".into(),
                desc: true
            }
        );
        assert_eq!(Sort::parse("name").param(), "name");
        assert_eq!(Sort::parse("-name").param(), "-name");
    }
}
