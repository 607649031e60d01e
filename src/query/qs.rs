//! A query-string parser in the manner of the `qs` package that Payload and its SDK use:
//! `where[or][0][name][equals]=x` becomes `{"where":{"or":[{"name":{"equals":"x"}}]}}`.
//!
//! Values stay strings; the where-parser converts them by field type. Limits keep hostile
//! input cheap: at most [`MAX_PARAMS`] pairs, [`MAX_DEPTH`] bracket levels (deeper brackets
//! are kept as one literal key, as `qs` does), array indices up to [`MAX_INDEX`].
//! Ambiguous input (`a=1&a[b]=2`) is an error rather than a silently dropped filter: a
//! dropped condition in a bulk delete would widen what is deleted.

use serde_json::{Map, Value};

/// Most `key=value` pairs read from one query string.
pub const MAX_PARAMS: usize = 1000;
/// Most bracket levels below the top-level key.
pub const MAX_DEPTH: usize = 10;
/// Largest array index accepted (`where[or][1000]`).
pub const MAX_INDEX: usize = 1000;

/// Why a query string cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QsError(pub String);

#[derive(Debug, PartialEq)]
enum Segment {
    Key(String),
    Push,
}

/// Parses a raw (still percent-encoded) query string into a JSON object of strings,
/// objects and arrays.
pub fn parse(raw: &str) -> Result<Map<String, Value>, QsError> {
    let mut root = Map::new();
    for (n, pair) in raw.split('&').filter(|p| !p.is_empty()).enumerate() {
        if n >= MAX_PARAMS {
            return Err(QsError(format!(
                "The query string has more than {MAX_PARAMS} parameters."
            )));
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key);
        let value = decode(value);
        let segments = split_key(&key);
        let Some((Segment::Key(first), rest)) = segments.split_first() else {
            continue;
        };
        if first.is_empty() {
            continue;
        }
        insert(&mut root, first, rest, value).map_err(|()| {
            QsError(format!(
                "The query parameter “{key}” conflicts with another one."
            ))
        })?;
    }
    Ok(compact_map(root))
}

/// Percent-decodes one component (`+` is a space); invalid UTF-8 becomes U+FFFD.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `a[b][]` → `[Key(a), Key(b), Push]`. Past [`MAX_DEPTH`] levels, or at an unbalanced
/// bracket, the remainder is one literal key.
fn split_key(key: &str) -> Vec<Segment> {
    let Some(open) = key.find('[') else {
        return vec![Segment::Key(key.to_owned())];
    };
    if open == 0 {
        return vec![Segment::Key(key.to_owned())];
    }
    let mut segments = vec![Segment::Key(key[..open].to_owned())];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        if segments.len() > MAX_DEPTH {
            segments.push(Segment::Key(rest.to_owned()));
            return segments;
        }
        let Some(close) = stripped.find(']') else {
            segments.push(Segment::Key(rest.to_owned()));
            return segments;
        };
        let inner = &stripped[..close];
        segments.push(if inner.is_empty() {
            Segment::Push
        } else {
            Segment::Key(inner.to_owned())
        });
        rest = &stripped[close + 1..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Key(rest.to_owned()));
    }
    segments
}

fn insert(
    map: &mut Map<String, Value>,
    key: &str,
    rest: &[Segment],
    value: String,
) -> Result<(), ()> {
    match rest.split_first() {
        None => {
            match map.get_mut(key) {
                None => {
                    map.insert(key.to_owned(), Value::String(value));
                }
                // `a=1&a=2`: qs collects repeated keys into an array.
                Some(Value::String(old)) => {
                    let old = std::mem::take(old);
                    map.insert(
                        key.to_owned(),
                        Value::Array(vec![Value::String(old), Value::String(value)]),
                    );
                }
                Some(Value::Array(items)) => {
                    check_len(items.len())?;
                    items.push(Value::String(value));
                }
                Some(_) => return Err(()),
            }
            Ok(())
        }
        Some((Segment::Push, tail)) => {
            let slot = map
                .entry(key.to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else {
                return Err(());
            };
            check_len(items.len())?;
            if tail.is_empty() {
                items.push(Value::String(value));
                Ok(())
            } else {
                let mut child = Map::new();
                insert_segments(&mut child, tail, value)?;
                items.push(Value::Object(child));
                Ok(())
            }
        }
        Some((Segment::Key(next), tail)) => {
            let slot = map
                .entry(key.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(child) = slot else {
                return Err(());
            };
            if let Ok(index) = next.parse::<usize>()
                && index > MAX_INDEX
            {
                return Err(());
            }
            insert(child, next, tail, value)
        }
    }
}

fn insert_segments(
    map: &mut Map<String, Value>,
    segments: &[Segment],
    value: String,
) -> Result<(), ()> {
    match segments.split_first() {
        Some((Segment::Key(k), rest)) => insert(map, k, rest, value),
        // `a[][]=x`: nested pushes are too ambiguous to be useful.
        _ => Err(()),
    }
}

fn check_len(len: usize) -> Result<(), ()> {
    if len >= MAX_INDEX { Err(()) } else { Ok(()) }
}

/// Objects whose keys are all array indices become arrays, in index order (`qs` does the
/// same for `a[0]=x&a[1]=y`).
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let all_indices = !map.is_empty()
                && map.keys().all(|k| {
                    !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()) && k.len() <= 4
                });
            if all_indices {
                let mut items: Vec<(usize, Value)> = map
                    .into_iter()
                    .map(|(k, v)| (k.parse::<usize>().unwrap_or(usize::MAX), compact(v)))
                    .collect();
                items.sort_by_key(|(i, _)| *i);
                Value::Array(items.into_iter().map(|(_, v)| v).collect())
            } else {
                Value::Object(compact_map(map))
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

fn compact_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter().map(|(k, v)| (k, compact(v))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn qs(s: &str) -> Value {
        Value::Object(parse(s).expect("parses"))
    }

    #[test]
    fn brackets_nest_into_objects_and_indices_into_arrays() {
        assert_eq!(
            qs("where[name][equals]=Story%20Head&limit=5"),
            json!({"where": {"name": {"equals": "Story Head"}}, "limit": "5"})
        );
        assert_eq!(
            qs("where[or][1][a][equals]=y&where[or][0][a][equals]=x"),
            json!({"where": {"or": [{"a": {"equals": "x"}}, {"a": {"equals": "y"}}]}})
        );
        assert_eq!(
            qs("where[and][1][or][0][b][like]=z&where[and][0][a][exists]=true"),
            json!({"where": {"and": [{"a": {"exists": "true"}}, {"or": [{"b": {"like": "z"}}]}]}})
        );
    }

    #[test]
    fn repeated_keys_and_empty_brackets_make_arrays() {
        assert_eq!(
            qs("where[s][in]=a&where[s][in]=b"),
            json!({"where": {"s": {"in": ["a", "b"]}}})
        );
        assert_eq!(
            qs("where[s][in][]=a&where[s][in][]=b"),
            json!({"where": {"s": {"in": ["a", "b"]}}})
        );
    }

    #[test]
    fn percent_and_plus_are_decoded_and_bad_utf8_is_replaced() {
        assert_eq!(decode("a+b%2Cc"), "a b,c");
        assert_eq!(decode("%E2%9C%93"), "✓");
        assert_eq!(decode("%FF"), "\u{FFFD}");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%zz"), "%zz");
    }

    #[test]
    fn conflicting_shapes_are_refused() {
        assert!(parse("where[a]=1&where[a][equals]=2").is_err());
        assert!(parse("where[a][equals]=2&where[a]=1").is_err());
        assert!(parse("where[or][5000][a][equals]=1").is_err());
    }

    #[test]
    fn deep_brackets_stay_literal_and_junk_is_harmless() {
        let deep = format!("w{}=1", "[a]".repeat(20));
        assert!(parse(&deep).is_ok());
        assert!(parse("[a]=1&=2&&a[=3&a]]=4").is_ok());
        assert!(parse(&"a=1&".repeat(MAX_PARAMS + 1)).is_err());
    }
}
