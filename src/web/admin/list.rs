//! The state of a list page (search, filters, sort, page, page size) read leniently from the
//! query string, and turned back into links so that the filter always lives in the URL.
//!
//! The filter itself is a Payload `where` over the collection's field map, turned into SQL
//! and paged by the same functions as the JSON API's `GET /api/{slug}`: a filter means the
//! same rows in the admin and in the API.

use actix_web::HttpRequest;
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, Select};
use serde_json::Value;

use crate::db::list::Sort;
use crate::db::listing::{self, PageRequest};
use crate::db::{self, Page};
use crate::error::{AppError, AppResult};
use crate::query::{self, FieldMap, Operator, SortKey, Where, sql};

/// Page sizes offered.
pub const PAGE_SIZES: [u64; 4] = [10, 25, 50, 100];
/// Default page size.
pub const DEFAULT_PER_PAGE: u64 = 25;

/// Names that are list state rather than filters.
const STATE_KEYS: [&str; 3] = ["page", "sort", "per_page"];

/// The raw parameters of a list request (query string, or the hidden fields of a bulk form).
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pairs: Vec<(String, String)>,
}

impl ListQuery {
    /// The query string of a request; malformed strings count as empty.
    pub fn from_request(req: &HttpRequest) -> Self {
        Self::from_pairs(serde_urlencoded::from_str(req.query_string()).unwrap_or_default())
    }

    /// Parameters given as pairs (later duplicates are ignored).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut unique: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            if !unique.iter().any(|(u, _)| *u == k) {
                unique.push((k, v));
            }
        }
        Self { pairs: unique }
    }

    /// A non-empty parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The search text.
    pub fn q(&self) -> String {
        self.get("q").unwrap_or("").chars().take(200).collect()
    }

    /// A yes/no filter (`true`/`false`); anything else means "any".
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            "true" | "yes" => Some(true),
            "false" | "no" => Some(false),
            _ => None,
        }
    }

    /// A text filter (a status, a provider), cut to 200 characters like the search text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| v.chars().take(200).collect())
    }

    /// A numeric id filter.
    pub fn id(&self, name: &str) -> Option<i32> {
        self.get(name)?.parse().ok().filter(|id| *id > 0)
    }

    /// The 1-based page.
    pub fn page(&self) -> u64 {
        self.get("page")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p >= 1 && *p <= 1_000_000)
            .unwrap_or(1)
    }

    /// The page size (one of [`PAGE_SIZES`]).
    pub fn per_page(&self) -> u64 {
        self.get("per_page")
            .and_then(|p| p.parse().ok())
            .filter(|p| PAGE_SIZES.contains(p))
            .unwrap_or(DEFAULT_PER_PAGE)
    }

    /// The sort, if its key is one of `allowed`, else `default`.
    pub fn sort(&self, allowed: &[&str], default: &str) -> Sort {
        self.get("sort")
            .map(Sort::parse)
            .filter(|s| allowed.contains(&s.key.as_str()))
            .unwrap_or_else(|| Sort::parse(default))
    }

    /// The view of this state for a template, once the total is known.
    pub fn view(
        &self,
        base: &'static str,
        sort: Sort,
        default_sort: &str,
        page: u64,
        total: u64,
    ) -> ListView {
        let per_page = self.per_page();
        ListView {
            base,
            filters: self
                .pairs
                .iter()
                .filter(|(k, v)| !STATE_KEYS.contains(&k.as_str()) && !v.trim().is_empty())
                .cloned()
                .collect(),
            sort,
            default_sort: default_sort.to_owned(),
            page,
            per_page,
            total,
            total_pages: total.div_ceil(per_page).max(1),
        }
    }
}

/// One link of the pagination.
#[derive(Debug, Clone)]
pub struct PageLink {
    /// The page number (0 for a gap).
    pub number: u64,
    /// Its URL.
    pub href: String,
    /// The page shown.
    pub current: bool,
}

/// A list's state as templates use it.
#[derive(Debug, Clone)]
pub struct ListView {
    /// The list's path, e.g. `/admin/agents`.
    pub base: &'static str,
    filters: Vec<(String, String)>,
    /// The active sort.
    pub sort: Sort,
    default_sort: String,
    /// The page shown.
    pub page: u64,
    /// The page size.
    pub per_page: u64,
    /// Rows matching the filter.
    pub total: u64,
    /// Number of pages.
    pub total_pages: u64,
}

impl ListView {
    /// The current value of a filter ("" when unset), for filter inputs.
    pub fn value(&self, name: &str) -> &str {
        self.filters
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// True when the filter `name` is set to `value` (selected options).
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.value(name) == value
    }

    /// True when the filter `name` is set to the id `value`.
    pub fn is_id(&self, name: &str, value: &i32) -> bool {
        self.value(name) == value.to_string()
    }

    /// True when any filter narrows the list.
    pub fn filtered(&self) -> bool {
        !self.filters.is_empty()
    }

    fn href(&self, page: u64, sort: &str, per_page: u64) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        if sort != self.default_sort {
            pairs.push(("sort", sort.to_owned()));
        }
        if per_page != DEFAULT_PER_PAGE {
            pairs.push(("per_page", per_page.to_string()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if query.is_empty() {
            self.base.to_owned()
        } else {
            format!("{}?{query}", self.base)
        }
    }

    /// This list, on its first page, without filters.
    pub fn clear_href(&self) -> String {
        self.base.to_owned()
    }

    /// This list sorted by `key` (ascending, or flipped when it is already the sort).
    pub fn sort_href(&self, key: &str) -> String {
        let next = if self.sort.key == key && !self.sort.desc {
            format!("-{key}")
        } else {
            key.to_owned()
        };
        self.href(1, &next, self.per_page)
    }

    /// `aria-sort` of a column header.
    pub fn aria_sort(&self, key: &str) -> &'static str {
        match (self.sort.key == key, self.sort.desc) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }
    }

    /// The previous page's URL, if any.
    pub fn prev_href(&self) -> Option<String> {
        (self.page > 1).then(|| self.href(self.page - 1, &self.sort.param(), self.per_page))
    }

    /// The next page's URL, if any.
    pub fn next_href(&self) -> Option<String> {
        (self.page < self.total_pages)
            .then(|| self.href(self.page + 1, &self.sort.param(), self.per_page))
    }

    /// Page links: the first, the last and two around the current one, with gaps (number 0).
    pub fn pages(&self) -> Vec<PageLink> {
        let mut links = Vec::new();
        let mut last = 0;
        for n in 1..=self.total_pages {
            let near = n + 2 >= self.page && n <= self.page + 2;
            if n == 1 || n == self.total_pages || near {
                if n > last + 1 {
                    links.push(PageLink {
                        number: 0,
                        href: String::new(),
                        current: false,
                    });
                }
                links.push(PageLink {
                    number: n,
                    href: self.href(n, &self.sort.param(), self.per_page),
                    current: n == self.page,
                });
                last = n;
            }
        }
        links
    }

    /// Page-size choices with their URLs (back to the first page).
    pub fn sizes(&self) -> Vec<(u64, String, bool)> {
        PAGE_SIZES
            .iter()
            .map(|size| {
                (
                    *size,
                    self.href(1, &self.sort.param(), *size),
                    *size == self.per_page,
                )
            })
            .collect()
    }

    /// The sort as a query parameter (hidden field of the filter form).
    pub fn sort_param(&self) -> String {
        self.sort.param()
    }

    /// 1-based index of the first row shown (0 when empty).
    pub fn first_shown(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            (self.page - 1) * self.per_page + 1
        }
    }

    /// 1-based index of the last row shown.
    pub fn last_shown(&self) -> u64 {
        (self.page * self.per_page).min(self.total)
    }

    /// Every parameter of the current view, as hidden fields of bulk and row-action forms,
    /// so that the list can be re-rendered as it was after a change.
    pub fn state_fields(&self) -> Vec<(String, String)> {
        let mut fields = self.filters.clone();
        fields.push(("sort".into(), self.sort.param()));
        fields.push(("per_page".into(), self.per_page.to_string()));
        fields.push(("page".into(), self.page.to_string()));
        fields
    }
}

/// Fetches the requested page; when it is past the end (rows were just deleted), the last
/// page instead. (For lists read through a hand-written query; the others use
/// [`ListSpec::fetch`].)
pub async fn fetch_page<T, F, Fut>(
    query: &ListQuery,
    fetch: F,
) -> Result<crate::db::Page<T>, sea_orm::DbErr>
where
    F: Fn(u64, u64) -> Fut,
    Fut: std::future::Future<Output = Result<crate::db::Page<T>, sea_orm::DbErr>>,
{
    let limit = query.per_page();
    let page = fetch(limit, query.page()).await?;
    if page.items.is_empty() && page.page > 1 && page.total > 0 {
        return fetch(limit, page.total_pages()).await;
    }
    Ok(page)
}

/// How one admin list reads its URL state: the collection's field map, the paths its
/// search box looks in, and its sort keys with the field path each one orders by.
#[derive(Debug)]
pub struct ListSpec {
    /// The list's path, e.g. `/admin/agents`.
    pub base: &'static str,
    /// The collection's field map (the API's).
    pub map: &'static FieldMap,
    /// Paths the search text `q` is looked for in (any of them, Payload's `like`).
    pub search: &'static [&'static str],
    /// Sort keys offered in the URL and the field path each one orders by (`runs` →
    /// `performanceMetrics.totalExecutions`): the URL keeps its short names, the order is
    /// the API's.
    pub sorts: &'static [(&'static str, &'static str)],
    /// The sort when none (or an unknown one) is asked for, e.g. `name` or `-created`.
    pub default_sort: &'static str,
    /// Sort keys whose missing values go last in both directions (a run without a cost is
    /// not the cheapest, nor the dearest).
    pub missing_last: &'static [&'static str],
}

impl ListSpec {
    /// The filter of `query`: the search text in any of [`ListSpec::search`], and every
    /// given condition.
    pub fn filter(
        &self,
        query: &ListQuery,
        conditions: impl IntoIterator<Item = Option<Where>>,
    ) -> Where {
        let mut parts: Vec<Where> = search(&query.q(), self.search).into_iter().collect();
        parts.extend(conditions.into_iter().flatten());
        Where::And(parts)
    }

    /// The sort of `query`, if its key is one of [`ListSpec::sorts`].
    pub fn sort(&self, query: &ListQuery) -> Sort {
        let keys: Vec<&str> = self.sorts.iter().map(|(key, _)| *key).collect();
        query.sort(&keys, self.default_sort)
    }

    /// ORDER BY keys of `sort`, as the API orders by the same path (then by id).
    pub fn order(&self, sort: &Sort, backend: sea_orm::DbBackend) -> Vec<SortKey> {
        let path = self
            .sorts
            .iter()
            .find(|(key, _)| *key == sort.key)
            .map_or("createdAt", |(_, path)| *path);
        let item = if sort.desc {
            format!("-{path}")
        } else {
            path.to_owned()
        };
        let mut keys = Vec::new();
        if self.missing_last.contains(&sort.key.as_str())
            && let Some(exprs) = sql::sort_expr(self.map, path, backend.into())
        {
            // `x IS NULL` is false (0) before true (1) on both databases.
            keys.extend(exprs.into_iter().map(|e| SortKey {
                expr: Expr::cust(format!("({e} IS NULL)")),
                order: Order::Asc,
                nullable: false,
            }));
        }
        keys.extend(query::order(self.map, &[item], backend));
        keys
    }

    /// The SQL condition of `filter` (None: everything). The admin builds its filters itself,
    /// so a refusal here is a value the engine cannot take (e.g. a NUL in the search text):
    /// a 400 with the engine's explanation.
    fn condition(
        &self,
        filter: &Where,
        backend: sea_orm::DbBackend,
    ) -> AppResult<Option<sea_orm::Condition>> {
        sql::condition(self.map, filter, backend.into())
            .map_err(|e| AppError::BadRequest(e.to_string()))
    }

    /// The requested page of `select` narrowed by `filter`, read like the API reads it
    /// (rows and exact total in one statement), with the list's view. A page past the end
    /// (rows were just deleted) shows the last page instead.
    pub async fn fetch<E>(
        &self,
        db: &impl ConnectionTrait,
        select: Select<E>,
        query: &ListQuery,
        filter: &Where,
    ) -> AppResult<(Page<E::Model>, ListView)>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
    {
        let backend = db.get_database_backend();
        let condition = self.condition(filter, backend)?;
        let sort = self.sort(query);
        let order = self.order(&sort, backend);
        let request = |page| PageRequest {
            filter: condition.clone(),
            order: &order,
            limit: query.per_page(),
            page,
            count: true,
        };
        let mut page = listing::find_page(db, select.clone(), request(query.page())).await?;
        if page.items.is_empty() && page.page > 1 && page.total > 0 {
            page = listing::find_page(db, select, request(page.total_pages())).await?;
        }
        let view = query.view(self.base, sort, self.default_sort, page.page, page.total);
        Ok((page, view))
    }

    /// Ids of every row of `select` matching `filter` ("delete all matching").
    pub async fn ids<E>(
        &self,
        db: &impl ConnectionTrait,
        select: Select<E>,
        id: impl ColumnTrait,
        filter: &Where,
    ) -> AppResult<Vec<i32>>
    where
        E: EntityTrait,
    {
        let condition = self.condition(filter, db.get_database_backend())?;
        Ok(db::list::ids(db, select, id, condition).await?)
    }
}

/// The search of the search box: any of `paths` is `like` the text (every word present,
/// case-insensitive, `%` and `_` literal). Beyond the engine's word limit, later words are
/// dropped rather than refused; NUL characters, which no stored text holds, are dropped too.
pub fn search(q: &str, paths: &[&str]) -> Option<Where> {
    let words: Vec<&str> = q.split_whitespace().take(sql::MAX_WORDS).collect();
    let text = words.join(" ").replace('\0', "");
    if text.trim().is_empty() || paths.is_empty() {
        return None;
    }
    Some(Where::Or(
        paths
            .iter()
            .map(|path| field(path, Operator::Like, text.clone()))
            .collect(),
    ))
}

/// `path` `op` `value`, one condition of a where.
pub fn field(path: &str, op: Operator, value: impl Into<Value>) -> Where {
    Where::Field {
        path: path.to_owned(),
        op,
        value: value.into(),
    }
}

/// `path` equals `value`.
pub fn equals(path: &str, value: impl Into<Value>) -> Where {
    field(path, Operator::Equals, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(s: &str) -> ListQuery {
        ListQuery::from_pairs(serde_urlencoded::from_str(s).unwrap_or_default())
    }

    #[test]
    fn bad_values_fall_back_to_defaults() {
        let q = query("page=-3&per_page=7&sort=password&active=maybe");
        assert_eq!(q.page(), 1);
        assert_eq!(q.per_page(), DEFAULT_PER_PAGE);
        assert_eq!(q.sort(&["name"], "name").key, "name");
        assert_eq!(q.flag("active"), None);
    }

    #[test]
    fn links_keep_the_filter_and_flip_the_sort() {
        let q = query("q=story&department=2&sort=name&page=2");
        let view = q.view("/admin/agents", q.sort(&["name"], "name"), "name", 2, 120);
        assert_eq!(
            view.sort_href("name"),
            "/admin/agents?q=story&department=2&sort=-name"
        );
        assert_eq!(
            view.next_href().as_deref(),
            Some("/admin/agents?q=story&department=2&page=3")
        );
        assert_eq!(view.total_pages, 5);
        let numbers: Vec<u64> = view.pages().iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![1, 2, 3, 4, 5]);
    }

    static SPEC: ListSpec = ListSpec {
        base: "/admin/agents",
        map: &crate::collections::agents::FIELDS,
        search: &["name", "agentId"],
        sorts: &[
            ("name", "name"),
            ("runs", "performanceMetrics.totalExecutions"),
        ],
        default_sort: "name",
        missing_last: &[],
    };

    #[test]
    fn the_url_state_becomes_a_payload_where() {
        let q = query("q=100%25+done&active=true");
        let filter = SPEC.filter(&q, [q.flag("active").map(|yes| equals("isActive", yes))]);
        assert_eq!(
            filter,
            Where::And(vec![
                Where::Or(vec![
                    field("name", Operator::Like, "100% done"),
                    field("agentId", Operator::Like, "100% done"),
                ]),
                equals("isActive", true),
            ])
        );
        assert_eq!(SPEC.filter(&query("q=+"), []), Where::And(vec![]));
    }

    #[test]
    fn searches_beyond_the_engines_limits_are_cut_not_refused() {
        let many = vec!["w"; 30].join(" ");
        let Some(Where::Or(parts)) = search(&format!("{many}\0"), &["name"]) else {
            panic!("a search");
        };
        let Where::Field { value, .. } = &parts[0] else {
            panic!("a field");
        };
        let text = value.as_str().unwrap_or_default();
        assert_eq!(text.split_whitespace().count(), sql::MAX_WORDS);
        assert!(!text.contains('\0'));
        assert!(
            SPEC.condition(
                &SPEC.filter(&query(&format!("q={many}%00")), []),
                sea_orm::DbBackend::Sqlite
            )
            .is_ok()
        );
    }

    #[test]
    fn admin_sort_keys_order_by_the_apis_paths() {
        let order = |raw: &str| {
            SPEC.order(&Sort::parse(raw), sea_orm::DbBackend::Postgres)
                .iter()
                .map(|k| format!("{:?}", k.expr))
                .collect::<Vec<_>>()
        };
        let runs = order("-runs");
        assert_eq!(runs.len(), 2, "the column, then id");
        assert!(runs[0].contains("total_executions"), "{runs:?}");
        assert!(
            runs[1].contains("id") && !runs[1].contains("total"),
            "{runs:?}"
        );
    }

    #[test]
    fn long_paginations_have_gaps() {
        let q = query("page=10");
        let view = q.view("/x", Sort::parse("name"), "name", 10, 25 * 40);
        let numbers: Vec<u64> = view.pages().iter().map(|p| p.number).collect();
        assert_eq!(numbers, vec![1, 0, 8, 9, 10, 11, 12, 0, 40]);
    }
}
