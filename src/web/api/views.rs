//! Response shapes shared by every collection: Payload's list envelope, the `{doc, message}`
//! of writes, bulk results and counts.

use serde::Serialize;

/// Payload's paginated list.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    /// This page's documents.
    pub docs: Vec<T>,
    /// Documents matching the query, over all pages.
    pub total_docs: u64,
    /// Page size.
    pub limit: u64,
    /// Number of pages.
    pub total_pages: u64,
    /// This page (1-based).
    pub page: u64,
    /// 1-based position of this page's first document.
    pub paging_counter: u64,
    /// A previous page exists.
    pub has_prev_page: bool,
    /// A next page exists.
    pub has_next_page: bool,
    /// The previous page, if any.
    pub prev_page: Option<u64>,
    /// The next page, if any.
    pub next_page: Option<u64>,
}

impl<T> ListResponse<T> {
    /// The envelope of one page, computed as Payload does (`totalPages` is 0 for no
    /// documents). Unpaginated lists (`pagination=false`) are one page of everything returned.
    pub fn new(docs: Vec<T>, total: u64, limit: u64, page: u64, paginated: bool) -> Self {
        if !paginated {
            return Self {
                total_docs: docs.len() as u64,
                docs,
                limit,
                total_pages: 1,
                page: 1,
                paging_counter: 1,
                has_prev_page: false,
                has_next_page: false,
                prev_page: None,
                next_page: None,
            };
        }
        let total_pages = if limit == 0 { 1 } else { total.div_ceil(limit) };
        let has_prev_page = page > 1;
        let has_next_page = total_pages > page;
        Self {
            docs,
            total_docs: total,
            limit,
            total_pages,
            page,
            paging_counter: (page - 1).saturating_mul(limit) + 1,
            has_prev_page,
            has_next_page,
            prev_page: has_prev_page.then(|| page - 1),
            next_page: has_next_page.then(|| page + 1),
        }
    }
}

/// The answer to a create, update or delete by id.
#[derive(Debug, Serialize)]
pub struct DocResponse<T> {
    /// The document (after the change; as it was, for a delete).
    pub doc: T,
    /// What happened, in Payload's words.
    pub message: String,
}

/// One document a bulk operation could not change.
#[derive(Debug, Serialize)]
pub struct BulkError {
    /// Its id.
    pub id: i32,
    /// Why.
    pub message: String,
}

/// The answer to a bulk update or delete.
#[derive(Debug, Serialize)]
pub struct BulkResponse<T> {
    /// The documents changed.
    pub docs: Vec<T>,
    /// The documents that could not be.
    pub errors: Vec<BulkError>,
    /// A summary, in Payload's words.
    pub message: String,
}

/// `GET /api/{slug}/count`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CountResponse {
    /// Documents matching the `where`.
    pub total_docs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_counts_like_payload() {
        let l = ListResponse::new(vec![1, 2], 12, 5, 2, true);
        assert_eq!(
            (
                l.total_pages,
                l.paging_counter,
                l.has_prev_page,
                l.has_next_page,
                l.prev_page,
                l.next_page
            ),
            (3, 6, true, true, Some(1), Some(3))
        );
        let l = ListResponse::<i32>::new(vec![], 0, 10, 1, true);
        assert_eq!(
            (l.total_pages, l.has_next_page, l.next_page),
            (0, false, None)
        );
        let l = ListResponse::new(vec![1, 2, 3], 999, 10, 4, false);
        assert_eq!((l.total_docs, l.page, l.total_pages), (3, 1, 1));
    }
}
