//! One home per collection. Each file here is the whole definition of one collection: its
//! queryable fields (the where-engine's [`FieldMap`]), its API document (the `View`, which is
//! also what the admin form edits and what a `PATCH` is merged into), its access rules and its
//! writes, tied to its entity and its validated input (`crate::domain`). The JSON API's
//! handlers (`web::api::collection`), the admin's lists and forms, the OpenAPI document and the
//! where-engine all read these definitions; nothing else describes a collection.
//!
//! A new collection is: a migration and an entity, a validated input in `domain/`, a file
//! here implementing [`Collection`], and one line in [`each`].

pub mod agent_chains;
pub mod agent_proposals;
pub mod agent_versions;
pub mod agents;
pub mod approvals;
pub mod budgets;
pub mod custom_tool_versions;
pub mod custom_tools;
pub mod departments;
pub mod eval_datasets;
pub mod eval_runs;
pub mod execution_events;
pub mod executions;
pub mod experiments;
pub mod mcp_servers;
pub mod models;
pub mod projects;
pub mod users;

use std::collections::HashMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{DatabaseConnection, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::Value;

use crate::auth::api_credentials::CredentialCache;
use crate::auth::current_user::CurrentUser;
use crate::config::Settings;
use crate::db::{self, Page, listing::PageRequest};
use crate::error::{AppError, AppResult};
use crate::query::FieldMap;

/// The stored row of a collection.
pub type Row<C> = <<C as Collection>::Entity as EntityTrait>::Model;

/// A collection: served under `/api/{SLUG}`, listed and edited in the admin, documented in
/// the OpenAPI document, queried through the where-engine with [`Collection::fields`].
///
/// Its futures need not be `Send`: actix runs every handler on its worker's own thread.
#[allow(async_fn_in_trait)]
pub trait Collection: 'static {
    /// URL slug, e.g. `custom-tools`.
    const SLUG: &'static str;
    /// Label of one document, e.g. `Custom Tool` (Payload's default labels).
    const SINGULAR: &'static str;
    /// Label of several.
    const PLURAL: &'static str;
    /// False for read-only collections (no POST, PATCH, DELETE: 405).
    const WRITABLE: bool = true;
    /// Who may read and write, in words (the OpenAPI description).
    const ACCESS: &'static str = "Read: any user. Write: editors and admins.";

    /// The entity.
    type Entity: EntityTrait<Model: Sync>;
    /// The API document.
    type View: Serialize + utoipa::ToSchema;

    /// Queryable fields.
    fn fields() -> &'static FieldMap;

    /// The row's id.
    fn id(row: &Row<Self>) -> i32;

    /// May `user` list and read this collection?
    fn can_read(_user: &CurrentUser) -> bool {
        true
    }

    /// May `user` read the document `id` (users may read themselves)?
    fn can_read_doc(user: &CurrentUser, _id: i32) -> bool {
        Self::can_read(user)
    }

    /// May `user` create, update and delete (per-document rules live in the writes)?
    fn can_write(user: &CurrentUser) -> bool {
        user.can_edit()
    }

    /// May `user` change the document `id` (users may change themselves)?
    fn can_write_doc(user: &CurrentUser, _id: i32) -> bool {
        Self::can_write(user)
    }

    /// Runs after a document was changed or deleted, with this instance's cache of verified
    /// credentials (users evict theirs).
    fn after_write(_credentials: &CredentialCache, _id: i32) {}

    /// Refuses a write the server's settings forbid, before anything is written: `body` is
    /// the created document or the patch, `stored` the row it changes. Called by the API's
    /// and the admin's create and update.
    fn admit(_settings: &Settings, _stored: Option<&Row<Self>>, _body: &Value) -> AppResult<()> {
        Ok(())
    }

    /// The row with this id.
    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(Self::find_many(db, &[id]).await?.pop())
    }

    /// The rows with these ids (in no particular order; missing ids are skipped).
    async fn find_many(db: &DatabaseConnection, ids: &[i32]) -> AppResult<Vec<Row<Self>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(Self::Entity::find()
            .filter(
                Expr::col((Self::Entity::default(), Alias::new("id"))).is_in(ids.iter().copied()),
            )
            .all(db)
            .await?)
    }

    /// Renders rows as API documents, populating relations `depth` levels deep.
    async fn render(
        db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        depth: u8,
    ) -> AppResult<Vec<Self::View>>;

    /// The document of one row at depth 0 (relations as ids), as JSON: what a `PATCH` is
    /// merged into and what the admin form edits.
    async fn document(db: &DatabaseConnection, row: Row<Self>) -> AppResult<Value> {
        let view = Self::render(db, vec![row], 0)
            .await?
            .pop()
            .ok_or_else(|| AppError::Unexpected(anyhow::anyhow!("rendering lost a document")))?;
        serde_json::to_value(view)
            .map_err(|e| AppError::Unexpected(anyhow::Error::new(e).context("document to JSON")))
    }

    /// One page of documents, relations populated `depth` levels deep: the rows are read,
    /// then rendered. A collection whose relations can come along with the rows in the same
    /// statement overrides this.
    async fn find_page(
        db: &DatabaseConnection,
        request: PageRequest<'_>,
        depth: u8,
    ) -> AppResult<Page<Self::View>> {
        let Page {
            items,
            total,
            page,
            limit,
        } = db::listing::find_page(db, Self::Entity::find(), request).await?;
        let items = Self::render(db, items, depth).await?;
        Ok(Page {
            items,
            total,
            page,
            limit,
        })
    }

    /// Creates a document from a request body (or an admin form turned into one).
    async fn create(
        _db: &DatabaseConnection,
        _user: &CurrentUser,
        _body: &Value,
    ) -> AppResult<Row<Self>> {
        Err(AppError::BadRequest(format!(
            "{} cannot be created through the API.",
            Self::PLURAL
        )))
    }

    /// Applies a partial update (merged into the current document, then validated whole).
    async fn update(
        _db: &DatabaseConnection,
        _user: &CurrentUser,
        _row: Row<Self>,
        _patch: &Value,
    ) -> AppResult<Row<Self>> {
        Err(AppError::BadRequest(format!(
            "{} cannot be changed through the API.",
            Self::PLURAL
        )))
    }

    /// Executions that a change of a document lets continue: `after` is `None` when it was
    /// deleted. Budgets name the runs they paused when they are raised, deactivated or
    /// deleted; the web layer resumes them through the runner (collections know no runner).
    async fn released_runs(
        _db: &DatabaseConnection,
        _before: &Row<Self>,
        _after: Option<&Row<Self>>,
    ) -> AppResult<Vec<i32>> {
        Ok(Vec::new())
    }

    /// Deletes a document.
    async fn delete(
        _db: &DatabaseConnection,
        _user: &CurrentUser,
        _row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        Err(AppError::BadRequest(format!(
            "{} cannot be deleted through the API.",
            Self::PLURAL
        )))
    }
}

/// Something done once per collection (registering routes, documenting them, testing them).
pub trait Visitor {
    /// Called with each collection in turn.
    fn visit<C: Collection>(&mut self);
}

/// Visits every collection, in the order of the API's documentation.
pub fn each(visitor: &mut impl Visitor) {
    visitor.visit::<agents::Agents>();
    visitor.visit::<agent_chains::AgentChains>();
    visitor.visit::<departments::Departments>();
    visitor.visit::<custom_tools::CustomTools>();
    visitor.visit::<projects::Projects>();
    visitor.visit::<executions::Executions>();
    visitor.visit::<execution_events::ExecutionEvents>();
    visitor.visit::<approvals::Approvals>();
    visitor.visit::<models::Models>();
    visitor.visit::<mcp_servers::McpServers>();
    visitor.visit::<users::Users>();
    visitor.visit::<agent_versions::AgentVersions>();
    visitor.visit::<custom_tool_versions::CustomToolVersions>();
    visitor.visit::<experiments::Experiments>();
    visitor.visit::<budgets::Budgets>();
    visitor.visit::<eval_datasets::EvalDatasets>();
    visitor.visit::<eval_runs::EvalRuns>();
    visitor.visit::<agent_proposals::AgentProposals>();
}

/// The slugs of every collection (names that tool data may not take).
pub fn slugs() -> Vec<&'static str> {
    struct Slugs(Vec<&'static str>);
    impl Visitor for Slugs {
        fn visit<C: Collection>(&mut self) {
            self.0.push(C::SLUG);
        }
    }
    let mut slugs = Slugs(Vec::new());
    each(&mut slugs);
    slugs.0
}

/// The documents of `C` with these ids, rendered `depth` levels deep, by id (for populating
/// relations to `C`).
pub async fn populate<C: Collection>(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = i32>,
    depth: u8,
) -> AppResult<HashMap<i32, C::View>> {
    let mut ids: Vec<i32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = C::find_many(db, &ids).await?;
    let ids: Vec<i32> = rows.iter().map(C::id).collect();
    let views = C::render(db, rows, depth).await?;
    Ok(ids.into_iter().zip(views).collect())
}

/// A relation: the related id at depth 0, the related document at depth ≥ 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Relation<T> {
    /// The id.
    Id(i32),
    /// The populated document.
    Doc(Box<T>),
}

impl<T> Relation<T> {
    /// The populated document when `populated` holds one for `id`, else the id.
    pub fn of(id: i32, populated: Option<T>) -> Self {
        match populated {
            Some(doc) => Relation::Doc(Box::new(doc)),
            None => Relation::Id(id),
        }
    }
}

/// The OpenAPI schema of a relation to `T`: an integer id or the document.
pub fn relation_schema<T: utoipa::ToSchema>() -> utoipa::openapi::schema::OneOf {
    use utoipa::openapi::Ref;
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some("The related id (depth 0).")),
        )
        .item(Ref::from_schema_name(T::name()))
        .build()
}

/// The OpenAPI schema of a field holding a relation to `T`.
pub fn relation_field<T: utoipa::ToSchema>() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    utoipa::openapi::RefOr::T(utoipa::openapi::Schema::OneOf(relation_schema::<T>()))
}

/// Fields every collection has.
pub(crate) mod common {
    use crate::query::fields::{Field, Kind, Scalar};

    /// A column.
    pub const fn col(name: &'static str, column: &'static str, ty: Scalar) -> Field {
        Field {
            name,
            kind: Kind::Column { column, ty },
        }
    }

    /// A scalar inside a JSON column.
    pub const fn json_value(
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

    /// A whole JSON column.
    pub const fn json(name: &'static str, column: &'static str) -> Field {
        Field {
            name,
            kind: Kind::Json { column },
        }
    }

    /// A to-one relation.
    pub const fn relation(
        name: &'static str,
        column: &'static str,
        target: &'static crate::query::FieldMap,
    ) -> Field {
        Field {
            name,
            kind: Kind::Relation { column, target },
        }
    }

    /// `id`.
    pub const ID: Field = col("id", "id", Scalar::Int);
    /// `createdAt`.
    pub const CREATED_AT: Field = col("createdAt", "created_at", Scalar::Date);
    /// `updatedAt`.
    pub const UPDATED_AT: Field = col("updatedAt", "updated_at", Scalar::Date);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fields::Resolved;

    struct Maps(Vec<&'static FieldMap>);
    impl Visitor for Maps {
        fn visit<C: Collection>(&mut self) {
            self.0.push(C::fields());
        }
    }

    #[test]
    fn every_map_has_id_and_timestamps() {
        let mut maps = Maps(vec![&crate::db::tool_documents::FIELDS]);
        each(&mut maps);
        for map in maps.0 {
            for f in ["id", "createdAt", "updatedAt"] {
                // Events are append-only: written once, never updated.
                if f == "updatedAt" && map.table == "execution_events" {
                    continue;
                }
                assert!(map.field(f).is_some(), "{} {f}", map.table);
            }
        }
    }

    #[test]
    fn secrets_cannot_be_queried() {
        for path in [
            "password",
            "passwordHash",
            "apiKey",
            "apiKeyHash",
            "api_key_hash",
        ] {
            assert!(users::FIELDS.resolve(path).is_none(), "{path}");
        }
    }

    #[test]
    fn relations_reach_their_targets() {
        assert!(matches!(
            executions::FIELDS.resolve("agent.department.slug"),
            Some(Resolved::RelationSub { .. })
        ));
        assert!(matches!(
            custom_tools::FIELDS.resolve("departments.slug"),
            Some(Resolved::Many { sub: Some(_), .. })
        ));
    }

    #[test]
    fn slugs_are_unique() {
        let mut slugs = slugs();
        let n = slugs.len();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), n);
    }
}
