//! The executions list's filter, read from the query string. Values that cannot be read (a
//! date that is not `YYYY-MM-DD`, an id that is not a number, an unknown status) are left out
//! of the filter and reported, so the page can say so instead of failing or silently showing
//! everything. What can be read becomes a Payload `where` on `agent-executions`, the same
//! one `GET /api/agent-executions?where=…` would take.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Utc};

use super::list::{ListQuery, ListSpec, equals, field};
use crate::domain::executions::Status;
use crate::query::{Operator, Where};

/// The execution history: searched by agentId, prompt and conversation id, newest first.
pub static LIST: ListSpec = ListSpec {
    base: super::executions::BASE,
    map: &crate::collections::executions::FIELDS,
    search: &["agentId", "prompt", "conversationId"],
    sorts: &[
        ("created", "createdAt"),
        ("status", "status"),
        ("agent", "agentId"),
        ("time", "executionTime"),
        ("tokens", "tokenUsage.totalTokens"),
        ("cost", "tokenUsage.estimatedCost"),
    ],
    default_sort: "-created",
    missing_last: &["time", "cost"],
};

/// A filter value that was ignored, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The query parameter.
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

/// The filter and what could not be read of it.
#[derive(Debug, Clone)]
pub struct ParsedFilter {
    /// What the list is narrowed by.
    pub filter: Where,
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
/// `conversation`, `top` (top-level runs only), `from` and `to` (UTC dates, both inclusive).
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
    let department = id("department", "Department");
    let project = id("project", "Project");
    let status = query.get("status").and_then(|raw| {
        let parsed = Status::parse(raw);
        if parsed.is_none() {
            problems.push(Problem {
                field: "status",
                message: format!("“{}” is not a status.", shorten(raw)),
            });
        }
        parsed.map(|s| s.as_str())
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
    let filter = LIST.filter(
        query,
        [
            status.map(|s| equals("status", s)),
            query.text("agent").map(|slug| equals("agentId", slug)),
            department.map(|id| equals("department", id)),
            project.map(|id| equals("project", id)),
            query
                .text("conversation")
                .map(|c| equals("conversationId", c)),
            // Top-level only: runs no other run started (not sub-runs, not chain steps).
            query
                .flag("top")
                .filter(|top| *top)
                .map(|_| field("parentExecution", Operator::Exists, false)),
            from.map(|day| created(Operator::GreaterThanEqual, day)),
            // The end day is included: before the next midnight (none after 9999-12-31).
            to.and_then(|day| day.succ_opt())
                .filter(|day| day.year() <= 9999)
                .map(|day| created(Operator::LessThan, day)),
        ],
    );
    ParsedFilter { filter, problems }
}

/// `createdAt` compared with midnight UTC at the start of `day`.
fn created(op: Operator, day: NaiveDate) -> Where {
    field("createdAt", op, start_of(day).to_rfc3339())
}

fn date(
    query: &ListQuery,
    field: &'static str,
    label: &str,
    problems: &mut Vec<Problem>,
) -> Option<NaiveDate> {
    let raw = query.get(field)?;
    // Years the databases (and the query engine) take.
    let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|d| (1..=9999).contains(&d.year()));
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

    /// The field conditions of the filter, as `path op value`.
    fn conditions(p: &ParsedFilter) -> Vec<String> {
        let Where::And(parts) = &p.filter else {
            return vec![format!("{:?}", p.filter)];
        };
        parts
            .iter()
            .map(|part| match part {
                Where::Field { path, op, value } => format!("{path} {} {value}", op.as_str()),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_date_range_covers_whole_utc_days() {
        let p = parsed("from=2025-03-01&to=2025-03-02");
        assert!(p.problems.is_empty());
        assert_eq!(
            conditions(&p),
            [
                r#"createdAt greater_than_equal "2025-03-01T00:00:00+00:00""#,
                r#"createdAt less_than "2025-03-03T00:00:00+00:00""#,
            ],
            "the end day is included"
        );
        let last = parsed("to=9999-12-31");
        assert!(last.problems.is_empty());
        assert!(
            conditions(&last).is_empty(),
            "nothing is after the last day"
        );
    }

    #[test]
    fn every_filter_is_a_condition_on_the_apis_paths() {
        let p = parsed("status=failed&agent=a-1&department=2&project=3&conversation=c-9&top=true");
        assert_eq!(
            conditions(&p),
            [
                r#"status equals "failed""#,
                r#"agentId equals "a-1""#,
                "department equals 2",
                "project equals 3",
                r#"conversationId equals "c-9""#,
                "parentExecution exists false",
            ]
        );
    }

    #[test]
    fn bad_values_are_reported_and_left_out() {
        let p = parsed("from=yesterday&department=abc&project=-2&status=done&agent=x");
        assert_eq!(conditions(&p), [r#"agentId equals "x""#]);
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
    fn years_the_databases_cannot_store_are_not_dates() {
        let p = parsed("from=10000-01-01&to=0000-12-31");
        assert!(conditions(&p).is_empty());
        assert!(p.invalid("from") && p.invalid("to"));
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let p = parsed(&format!("from={}", "9".repeat(500)));
        assert!(p.problems[0].message.chars().count() < 100);
    }
}
