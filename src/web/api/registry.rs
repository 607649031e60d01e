//! The routes the API serves, read from the router itself rather than from a list kept by
//! hand: the OpenAPI document is checked against it, and the tests send bad bodies to every
//! `POST` and `PATCH` it contains, so a new route is covered without anyone remembering to.
//!
//! actix-web exposes no list of its routes, so the patterns are read from the resource map of
//! a router built with [`super::configure`] (each confirmed with the router's own matcher),
//! and each pattern's methods are found by asking the router: a method it does not serve
//! answers 405. No application state is registered in that router, so no handler can reach a
//! database or the runner while being asked.

use actix_web::http::{Method, StatusCode};
use actix_web::{App, HttpRequest, HttpResponse, test as actix_test, web};

/// One route: a method and a full path pattern, e.g. `POST /api/agents/{agentId}/execute`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiRoute {
    /// The HTTP method, upper case.
    pub method: String,
    /// The path pattern as registered, e.g. `/api/users/{id}/api-key`.
    pub pattern: String,
}

impl std::fmt::Display for ApiRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.pattern)
    }
}

/// The methods a route may serve (Payload's REST API uses these; `HEAD` and `OPTIONS` are
/// never routed).
pub const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

const DUMP: &str = "/__registry__/patterns";

/// Every `(method, pattern)` the router serves under `/api`, sorted, patterns written as
/// OpenAPI writes them (see [`normalize`]).
pub async fn registered() -> Vec<ApiRoute> {
    let app = actix_test::init_service(
        App::new()
            .configure(super::configure)
            .route(DUMP, web::get().to(dump_patterns)),
    )
    .await;
    let patterns: Vec<(String, String)> = actix_test::call_and_read_body_json(
        &app,
        actix_test::TestRequest::get().uri(DUMP).to_request(),
    )
    .await;
    let mut routes = Vec::new();
    for (pattern, sample) in patterns.into_iter().filter(|(p, _)| p.starts_with("/api")) {
        for method in METHODS {
            let request = actix_test::TestRequest::default()
                .method(method.clone())
                .uri(&sample)
                .to_request();
            let response = actix_test::call_service(&app, request).await;
            if response.status() != StatusCode::METHOD_NOT_ALLOWED {
                routes.push(ApiRoute {
                    method: method.to_string(),
                    pattern: normalize(&pattern),
                });
            }
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

/// The full patterns of the router's resources, each with a path it matches. The resource
/// map only shows its patterns in its `Debug` form, relative to their scope; each candidate
/// (as is, or under `/api`) is kept only when the router's matcher maps a path of that shape
/// back to exactly it.
async fn dump_patterns(req: HttpRequest) -> HttpResponse {
    let map = req.resource_map();
    let text = format!("{map:?}");
    let mut patterns: Vec<(String, String)> = text
        .split("Single(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once("\")").map(|(p, _)| p.replace("\\\\", "\\")))
        .flat_map(|p| [format!("/api{p}"), p])
        .filter(|p| p != DUMP)
        .filter_map(|p| sample_matching(map, &p).map(|sample| (p, sample)))
        .collect();
    patterns.sort();
    patterns.dedup();
    HttpResponse::Ok().json(patterns)
}

/// True when `pattern` is a resource of the router (not merely a path it would match under
/// another pattern). Parameter regexes are ignored: `{tail}` is `{tail:.*}`.
pub fn is_registered(map: &actix_web::dev::ResourceMap, pattern: &str) -> bool {
    sample_matching(map, pattern).is_some()
}

/// A concrete path that the router maps back to `pattern` (parameters filled with a number,
/// else with a slug, so that a parameter restricted by a regex to either still matches).
fn sample_matching(map: &actix_web::dev::ResourceMap, pattern: &str) -> Option<String> {
    if !pattern.starts_with('/') {
        return None;
    }
    ["1", "a1"]
        .into_iter()
        .map(|fill| sample_with(pattern, fill))
        .find(|sample| {
            map.match_pattern(sample)
                .is_some_and(|found| normalize(&found) == normalize(pattern))
        })
}

/// A pattern as OpenAPI writes it: `{name:regex}` becomes `{name}`.
pub fn normalize(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    let mut in_regex = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push('{');
                    in_regex = false;
                }
                depth += 1;
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    out.push('}');
                }
            }
            ':' if depth == 1 => in_regex = true,
            c if depth == 0 || !in_regex => out.push(c),
            _ => {}
        }
    }
    out
}

/// A concrete path of a pattern's shape: every `{name}` or `{name:regex}` segment becomes
/// `1` (a valid id, agent id and slug alike).
pub fn sample_path(pattern: &str) -> String {
    sample_with(pattern, "1")
}

fn sample_with(pattern: &str, fill: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut depth = 0usize;
    for c in pattern.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str(fill);
                }
                depth += 1;
            }
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_paths_fill_every_parameter() {
        assert_eq!(sample_path("/api/agents/{id}"), "/api/agents/1");
        assert_eq!(
            sample_path("/api/tool-data/{collection}/{id}"),
            "/api/tool-data/1/1"
        );
        assert_eq!(sample_path("/api/docs/{tail:.*}"), "/api/docs/1");
        assert_eq!(sample_path("/api/x/{n:[0-9]{1,3}}"), "/api/x/1");
    }

    #[test]
    fn normalized_patterns_drop_regexes() {
        assert_eq!(normalize("/api/docs/{tail:.*}"), "/api/docs/{tail}");
        assert_eq!(normalize("/api/x/{n:[0-9]{1,3}}/{id}"), "/api/x/{n}/{id}");
        assert_eq!(normalize("/api/agents"), "/api/agents");
    }

    #[actix_web::test]
    async fn the_router_lists_its_routes_with_their_methods() {
        let routes = registered().await;
        let has = |method: &str, pattern: &str| {
            routes
                .iter()
                .any(|r| r.method == method && r.pattern == pattern)
        };
        assert!(has("POST", "/api/agents/{agentId}/execute"), "{routes:?}");
        assert!(has("GET", "/api/agents/{id}"));
        assert!(has("PATCH", "/api/agents/{id}"));
        assert!(!has("PUT", "/api/agents/{id}"));
        assert!(has("POST", "/api/users/login"));
        assert!(!has("GET", "/api/users/login"));
        assert!(has("GET", "/api/agent-executions/{id}/events"));
        assert!(has("GET", "/api/docs/{tail}"));
        assert!(!has("POST", "/api/agent-executions"));
        assert!(routes.iter().all(|r| r.pattern.starts_with("/api")));
    }
}
