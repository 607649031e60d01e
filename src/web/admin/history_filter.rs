//! The executions list's filter, read from the query string. Values that cannot be read (a
//! date that is not `YYYY-MM-DD`, an id that is not a number, an unknown status) are left out
//! of the filter and reported, so the page can say so instead of failing or silently showing
//! everything.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::list::ListQuery;
use crate::db::executions::ExecutionFilter;
use crate::domain::executions::Status;

/// A filter value that was ignored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The query parameter.
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

/// The filter and what could not be read of it.
#[derive(Debug, Clone, Default)]
pub struct ParsedFilter {
    /// What the list is narrowed by.
    pub filter: ExecutionFilter,
    /// Ignored values.
    pub problems: Vec<Problem>,
}

impl ParsedFilter {
    /// True when `field` was ignored (its input is marked invalid).
    pub fn invalid(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }
}

/// Reads the filter parameters: `q`, `status`, `agent`, `department`, `project`,
/// `conversation`, `from` and `to` (UTC dates, both inclusive).
pub fn parse(query: &ListQuery) -> ParsedFilter {
    let mut problems = Vec::new();
    let mut id = |field: &'static str, label: &str| -> Option<i32> {
        let raw = query.get(field)?;
        match raw.parse::<i32>() {
            Ok(id) if id > 0 => Some(id),
            _ => {
                problems.push(Problem {
                    field,
                    message: format!("{label} “{}” is not a valid id.", shorten(raw)),
                });
                None
            }
        }
    };
    let department_id = id("department", "Department");
    let project_id = id("project", "Project");
    let status = query.get("status").and_then(|raw| {
        let parsed = Status::parse(raw);
        if parsed.is_none() {
            problems.push(Problem {
                field: "status",
                message: format!("“{}” is not a status.", shorten(raw)),
            });
        }
        parsed.map(|s| s.as_str().to_owned())
    });
    let from = date(query, "from", "From", &mut problems);
    let to = date(query, "to", "To", &mut problems);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        problems.push(Problem {
            field: "to",
            message: format!("The range ends ({t}) before it starts ({f}): no run can match."),
        });
    }
    ParsedFilter {
        filter: ExecutionFilter {
            q: query.q(),
            status,
            agent: query.get("agent").map(|a| a.chars().take(200).collect()),
            department_id,
            project_id,
            conversation_id: query
                .get("conversation")
                .map(|c| c.chars().take(200).collect()),
            created_from: from.map(start_of),
            created_before: to.and_then(|t| t.succ_opt()).map(start_of),
        },
        problems,
    }
}

fn date(
    query: &ListQuery,
    field: &'static str,
    label: &str,
    problems: &mut Vec<Problem>,
) -> Option<NaiveDate> {
    let raw = query.get(field)?;
    let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
    if parsed.is_none() {
        problems.push(Problem {
            field,
            message: format!("{label} “{}” is not a date: use YYYY-MM-DD.", shorten(raw)),
        });
    }
    parsed
}

/// Midnight UTC at the start of `day`.
pub fn start_of(day: NaiveDate) -> DateTime<FixedOffset> {
    day.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .fixed_offset()
}

/// Today in UTC.
pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn shorten(raw: &str) -> String {
    let mut s: String = raw.chars().take(40).collect();
    if raw.chars().count() > 40 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> ParsedFilter {
        parse(&ListQuery::from_pairs(
            serde_urlencoded::from_str(s).unwrap_or_default(),
        ))
    }

    #[test]
    fn a_date_range_covers_whole_utc_days() {
        let p = parsed("from=2025-03-01&to=2025-03-02");
        assert!(p.problems.is_empty());
        assert_eq!(
            p.filter.created_from.map(|d| d.to_rfc3339()),
            Some("2025-03-01T00:00:00+00:00".into())
        );
        assert_eq!(
            p.filter.created_before.map(|d| d.to_rfc3339()),
            Some("2025-03-03T00:00:00+00:00".into()),
            "the end day is included"
        );
    }

    #[test]
    fn bad_values_are_reported_and_left_out() {
        let p = parsed("from=yesterday&department=abc&project=-2&status=done&agent=x");
        assert_eq!(p.filter.created_from, None);
        assert_eq!(p.filter.department_id, None);
        assert_eq!(p.filter.project_id, None);
        assert_eq!(p.filter.status, None);
        assert_eq!(p.filter.agent.as_deref(), Some("x"));
        let fields: Vec<&str> = p.problems.iter().map(|p| p.field).collect();
        assert_eq!(fields, vec!["department", "project", "status", "from"]);
        assert!(p.invalid("from") && !p.invalid("to"));
        assert!(p.problems[3].message.contains("YYYY-MM-DD"));
    }

    #[test]
    fn an_inverted_range_is_explained() {
        let p = parsed("from=2025-03-05&to=2025-03-01");
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].message.contains("before it starts"));
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let p = parsed(&format!("from={}", "9".repeat(500)));
        assert!(p.problems[0].message.chars().count() < 100);
    }
}
