//! `GET /api/openapi.json` (OpenAPI 3.1) and `/api/docs` (Swagger UI from the assets vendored
//! in utoipa-swagger-ui: no CDN). Collections are documented from their [`Collection`]
//! implementations (slug, labels, access, view schema); the other routes are described
//! below. Only routes the router has are documented, and a test checks that every route it
//! has is (see [`super::registry`]).

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_swagger_ui::Config;

use super::auth::{LoginRequest, LoginResponse, MeResponse, MessageResponse, RefreshResponse};
use super::errors::{ErrorResponse, method_not_allowed, route_not_found};
use super::registry;
use super::users::ApiKeyResponse;
use crate::collections::executions::ExecutionResponse;
use crate::collections::{self, Collection, Visitor};

/// The routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi_json))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/docs")
            .route(web::get().to(|| async {
                HttpResponse::Found()
                    .insert_header((header::LOCATION, "/api/docs/"))
                    .finish()
            }))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/docs/{tail:.*}")
            .route(web::get().to(swagger_ui))
            .default_service(web::to(method_not_allowed)),
    );
}

/// The document of the routes this router has (computed once: the router does not change).
async fn openapi_json(req: HttpRequest) -> HttpResponse {
    static BODY: OnceLock<String> = OnceLock::new();
    let body = BODY.get_or_init(|| {
        openapi(&|pattern| registry::is_registered(req.resource_map(), pattern)).to_string()
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.as_str())
}

async fn swagger_ui(req: actix_web::HttpRequest, tail: web::Path<String>) -> HttpResponse {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| Arc::new(Config::new(["/api/openapi.json"]).try_it_out_enabled(true)))
        .clone();
    match utoipa_swagger_ui::serve(&tail, config) {
        Ok(Some(file)) => {
            let mut response = HttpResponse::Ok();
            if file.gzpipped {
                response.insert_header((header::CONTENT_ENCODING, "gzip"));
            }
            response
                .content_type(file.content_type)
                .body(file.bytes.into_owned())
        }
        Ok(None) => route_not_found(req).await,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve the API docs");
            super::errors::error_response(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong.",
            )
        }
    }
}

/// A collection as documented.
struct Documented<'a> {
    slug: &'a str,
    tag: &'a str,
    writable: bool,
    access: &'a str,
}

/// Documents each built-in collection from its [`Collection`] implementation.
struct Describe<'a> {
    paths: &'a mut Map<String, Value>,
    schemas: &'a mut Map<String, Value>,
}

impl Visitor for Describe<'_> {
    fn visit<C: Collection>(&mut self) {
        add_schema::<C::View>(self.schemas);
        let item = reference(&<C::View as ToSchema>::name());
        collection_paths(
            self.paths,
            &Documented {
                slug: C::SLUG,
                tag: C::PLURAL,
                writable: C::WRITABLE,
                access: C::ACCESS,
            },
            &[],
            item.clone(),
            json!({"allOf": [item], "description": "The document's fields; read-only ones (id, metrics, timestamps) are ignored. On update, only the fields given change."}),
        );
    }
}

fn add_schema<T: ToSchema>(schemas: &mut Map<String, Value>) {
    let mut found = Vec::new();
    T::schemas(&mut found);
    found.push((T::name().into_owned(), T::schema()));
    for (name, schema) in found {
        schemas.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
}

fn reference(schema: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{schema}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

fn error(code: u16) -> (String, Value) {
    let description = match code {
        400 => {
            "Invalid request: malformed JSON, a body that is not an object, validation errors (with field paths; wrong types and NUL characters included), a malformed query, or a missing `where` on bulk operations."
        }
        401 => "No valid credentials.",
        403 => "The role does not allow it.",
        404 => "No such document.",
        409 => "Conflicts with the current state.",
        413 => "The body is larger than MAX_BODY_BYTES.",
        415 => "A non-empty body without `Content-Type: application/json`.",
        429 => "Too many failed logins.",
        _ => "Error.",
    };
    (
        code.to_string(),
        json!({"description": description, "content": json_content(reference("ErrorResponse"))}),
    )
}

fn responses(success: &[(&str, Value)], errors: &[u16]) -> Value {
    let mut map = Map::new();
    for (code, response) in success {
        map.insert((*code).to_owned(), response.clone());
    }
    for code in errors {
        let (k, v) = error(*code);
        map.insert(k, v);
    }
    Value::Object(map)
}

/// A parameter, written out in full (utoipa's model has no parameter references).
fn param(name: &str) -> Value {
    parameters()[name].clone()
}

fn operation(
    tag: &str,
    summary: &str,
    description: &str,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Value,
) -> Value {
    let mut op = json!({
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": params,
        "responses": responses,
    });
    if let Some(schema) = body {
        op["requestBody"] = json!({"required": true, "content": json_content(schema)});
    }
    op
}

fn list_schema(item: Value) -> Value {
    json!({
        "type": "object",
        "description": "Payload's paginated list.",
        "required": ["docs", "totalDocs", "limit", "totalPages", "page", "pagingCounter", "hasPrevPage", "hasNextPage", "prevPage", "nextPage"],
        "properties": {
            "docs": {"type": "array", "items": item},
            "totalDocs": {"type": "integer"},
            "limit": {"type": "integer"},
            "totalPages": {"type": "integer"},
            "page": {"type": "integer"},
            "pagingCounter": {"type": "integer"},
            "hasPrevPage": {"type": "boolean"},
            "hasNextPage": {"type": "boolean"},
            "prevPage": {"type": ["integer", "null"]},
            "nextPage": {"type": ["integer", "null"]}
        }
    })
}

fn doc_schema(item: Value) -> Value {
    json!({"type": "object", "required": ["doc", "message"], "properties": {"doc": item, "message": {"type": "string"}}})
}

fn bulk_schema(item: Value) -> Value {
    json!({
        "type": "object",
        "required": ["docs", "errors", "message"],
        "properties": {
            "docs": {"type": "array", "items": item},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "message": {"type": "string"}}}},
            "message": {"type": "string"}
        }
    })
}

fn count_schema() -> Value {
    json!({"type": "object", "required": ["totalDocs"], "properties": {"totalDocs": {"type": "integer"}}})
}

/// The five routes of a collection (and their methods).
fn collection_paths(
    paths: &mut Map<String, Value>,
    c: &Documented,
    extra_params: &[Value],
    item: Value,
    input: Value,
) {
    let base = format!("/api/{}", c.slug);
    let mut list_params = vec![
        param("where"),
        param("limit"),
        param("page"),
        param("sort"),
        param("depth"),
        param("pagination"),
    ];
    list_params.extend_from_slice(extra_params);
    let mut where_params = vec![param("whereRequired"), param("depth")];
    where_params.extend_from_slice(extra_params);
    let mut id_params = vec![param("id"), param("depth")];
    id_params.extend_from_slice(extra_params);
    let access = c.access;
    let mut list = json!({
        "get": operation(c.tag, &format!("Find {}", c.tag), &format!("Payload's find: `where` in bracket syntax or JSON, `sort`, `limit`, `page`, `depth`, `pagination=false`. {access}"),
            list_params.clone(), None, responses(&[("200", ok("One page.", list_schema(item.clone())))], &[400, 401, 403])),
    });
    let mut one = json!({
        "get": operation(c.tag, "Find by id", &format!("The bare document. {access}"), id_params.clone(), None,
            responses(&[("200", ok("The document.", item.clone()))], &[400, 401, 403, 404])),
    });
    if c.writable {
        list["post"] = operation(
            c.tag,
            "Create",
            &format!(
                "201 with `{{doc, message}}`; every invalid field is listed with its path. {access}"
            ),
            [&[param("depth")], extra_params].concat(),
            Some(input.clone()),
            responses(
                &[("201", ok("Created.", doc_schema(item.clone())))],
                &[400, 401, 403, 413, 415],
            ),
        );
        list["patch"] = operation(
            c.tag,
            "Update many",
            &format!(
                "Applies the body to every document matching `where` (required, non-empty). {access}"
            ),
            where_params.clone(),
            Some(input.clone()),
            responses(
                &[
                    ("200", ok("All updated.", bulk_schema(item.clone()))),
                    (
                        "400",
                        ok(
                            "Some could not be updated, or no `where`.",
                            bulk_schema(item.clone()),
                        ),
                    ),
                ],
                &[401, 403],
            ),
        );
        list["delete"] = operation(
            c.tag,
            "Delete many",
            &format!("Deletes every document matching `where` (required, non-empty). {access}"),
            where_params,
            None,
            responses(
                &[
                    ("200", ok("All deleted.", bulk_schema(item.clone()))),
                    (
                        "400",
                        ok(
                            "Some could not be deleted, or no `where`.",
                            bulk_schema(item.clone()),
                        ),
                    ),
                ],
                &[401, 403],
            ),
        );
        one["patch"] = operation(
            c.tag,
            "Update by id",
            &format!("Merges the body into the document, then validates the whole. {access}"),
            id_params.clone(),
            Some(input),
            responses(
                &[("200", ok("Updated.", doc_schema(item.clone())))],
                &[400, 401, 403, 404, 413, 415],
            ),
        );
        one["delete"] = operation(
            c.tag,
            "Delete by id",
            access,
            id_params,
            None,
            responses(
                &[(
                    "200",
                    ok("Deleted (the document as it was).", doc_schema(item)),
                )],
                &[401, 403, 404, 409],
            ),
        );
    }
    let mut count_params = vec![param("where")];
    count_params.extend_from_slice(extra_params);
    paths.insert(format!("{base}/count"), json!({
        "get": operation(c.tag, "Count", "Documents matching `where`.", count_params, None, responses(&[("200", ok("The count.", count_schema()))], &[400, 401, 403])),
    }));
    paths.insert(base.clone(), list);
    paths.insert(format!("{base}/{{id}}"), one);
}

/// Every body-taking operation under `/api` may be refused for its body alone (see
/// [`super::extract::check_body`]): 400, 413 and 415 are documented on each.
fn body_errors(paths: &mut Map<String, Value>) {
    for (path, item) in paths.iter_mut() {
        if !path.starts_with("/api") {
            continue;
        }
        for method in ["post", "patch", "put"] {
            let Some(responses) = item
                .get_mut(method)
                .and_then(|op| op.get_mut("responses"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for code in [400, 413, 415] {
                let (key, value) = error(code);
                responses.entry(key).or_insert(value);
            }
        }
    }
}

fn auth_paths(paths: &mut Map<String, Value>) {
    let tag = "Authentication";
    paths.insert("/api/users/login".into(), json!({"post": operation(tag, "Log in",
        "Returns a token (send it as `Authorization: JWT <token>` or `Bearer <token>`) and sets the `payload-token` cookie. Rate-limited per email and client address.",
        vec![], Some(reference("LoginRequest")), responses(&[("200", ok("Logged in.", reference("LoginResponse")))], &[400, 401, 429]))}));
    paths.insert("/api/users/me".into(), json!({"get": operation(tag, "Current user",
        "Always 200: `user` is null for anonymous requests.", vec![], None, responses(&[("200", ok("The caller.", reference("MeResponse")))], &[]))}));
    paths.insert("/api/users/logout".into(), json!({"post": operation(tag, "Log out",
        "Revokes the token used and clears the cookie.", vec![], None, responses(&[("200", ok("Logged out.", reference("MessageResponse")))], &[400]))}));
    paths.insert("/api/users/refresh-token".into(), json!({"post": operation(tag, "Refresh the token",
        "Issues a new token with a new expiry; the one presented stays valid until its own expiry (as in Payload).", vec![], None, responses(&[("200", ok("A new token.", reference("RefreshResponse")))], &[401, 403]))}));
    paths.insert("/api/users/{id}/api-key".into(), json!({"post": operation(tag, "Generate an API key",
        "A new random key, enabled and returned once (stored hashed). Send it as `Authorization: users API-Key <key>`. The user or an admin.",
        vec![param("id")], None, responses(&[("200", ok("The key.", reference("ApiKeyResponse")))], &[401, 403, 404]))}));
}

fn other_paths(paths: &mut Map<String, Value>) {
    paths.insert("/api/agent-executions/{id}/cancel".into(), json!({"post": operation("Agent Executions", "Cancel",
        "Editors and admins. A pending, paused or awaiting_approval run is cancelled at once, with its unfinished descendants; a running one is flagged and signalled for its worker to stop. 409 when it already ended.",
        vec![param("id"), param("depth")], None, responses(&[("200", ok("Cancelled or requested.", doc_schema(reference("ExecutionResponse"))))], &[401, 403, 404, 409]))}));
    paths.insert("/api/agent-executions/{id}/resume".into(), json!({"post": operation("Agent Executions", "Resume",
        "Editors and admins (`allowOverBudget`: admins). An `interrupted` (failed with code `interrupted`), `timeout` or `paused` run continues from its last checkpoint (`runState`) on the same row: event `resume`, status back to `pending`. `allowOverBudget: true` (admins; 403 for editors) lets the run ignore its budgets from then on (stored on the execution as `allowOverBudget`; its spend is still counted). Completed tool calls are never repeated; a timed-out run gets its whole deadline again. 409 for any other status.",
        vec![param("id"), param("depth")], Some(json!({"type": "object", "properties": {"allowOverBudget": {"type": "boolean", "default": false, "description": "Admins: continue past an exhausted budget."}}})),
        responses(&[("200", ok("Resumed.", doc_schema(reference("ExecutionResponse"))))], &[401, 403, 404, 409]))}));
    let decision_body = |input: bool| {
        let mut props = json!({"comment": {"type": "string", "description": "Shown in the run's log (and, for a rejection, to the model)."}});
        if input {
            props["input"] = json!({"type": "object", "description": "An edited input for the call, checked against the tool's input schema (400 naming `input.<path>`)."});
        }
        json!({"type": "object", "properties": props})
    };
    paths.insert("/api/approvals/{id}/approve".into(), json!({"post": operation("Approvals", "Approve",
        "Editors and admins. The pending call runs (with the edited `input`, when given) exactly once and the run resumes: event `approval_decided`. 409 when it was already decided or expired.",
        vec![param("id"), param("depth")], Some(decision_body(true)),
        responses(&[("200", ok("Approved.", doc_schema(reference("ApprovalResponse"))))], &[400, 401, 403, 404, 409]))}));
    paths.insert("/api/approvals/{id}/reject".into(), json!({"post": operation("Approvals", "Reject",
        "Editors and admins. The model gets the tool error \"rejected by <email>: <comment>\" and the run resumes: event `approval_decided`. 409 when it was already decided or expired.",
        vec![param("id"), param("depth")], Some(decision_body(false)),
        responses(&[("200", ok("Rejected.", doc_schema(reference("ApprovalResponse"))))], &[400, 401, 403, 404, 409]))}));
    paths.insert("/api/openapi.json".into(), json!({"get": {"tags": ["Meta"], "summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}}));
    paths.insert("/api/docs".into(), json!({"get": {"tags": ["Meta"], "summary": "Swagger UI (vendored assets)", "security": [], "responses": {"302": {"description": "Redirect to /api/docs/"}}}}));
    paths.insert("/api/docs/{tail}".into(), json!({"get": {"tags": ["Meta"], "summary": "Swagger UI's page and assets", "security": [],
        "parameters": [{"name": "tail", "in": "path", "required": true, "schema": {"type": "string"}, "description": "A file of the UI (empty for its page)."}],
        "responses": {"200": {"description": "The file"}, "404": error(404).1}}}));
    paths.insert("/metrics".into(), json!({"get": {"tags": ["Meta"], "summary": "Prometheus metrics",
        "description": "Text exposition format. Any user's token or API key (for Prometheus: `authorization: {type: \"users API-Key\", credentials: <key>}`), or a signed-in admin's session cookie.",
        "responses": {"200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}, "401": error(401).1, "403": error(403).1}}}));
    paths.insert("/healthz".into(), json!({"get": {"tags": ["Meta"], "summary": "Health", "security": [],
        "responses": {"200": {"description": "Up, database answering"}, "503": {"description": "Database unavailable"}}}}));
}

/// Restore, experiment results, promote, stop and feedback.
fn version_paths(paths: &mut Map<String, Value>, schemas: &mut Map<String, Value>) {
    use crate::collections::experiments::ExperimentResults;
    use crate::web::api::experiments::FeedbackResponse;
    add_schema::<ExperimentResults>(schemas);
    add_schema::<crate::collections::experiments::VariantResults>(schemas);
    add_schema::<crate::collections::experiments::Interval>(schemas);
    add_schema::<FeedbackResponse>(schemas);
    let version = json!({"name": "version", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}, "description": "The version number (1, 2, 3… per document)."});
    for (base, tag, schema, what) in [
        ("agents", "Agents", "AgentResponse", "agent"),
        ("custom-tools", "Custom Tools", "ToolResponse", "tool"),
    ] {
        paths.insert(format!("/api/{base}/{{id}}/versions/{{version}}/restore"), json!({"post": operation(tag, "Restore a version",
            &format!("Editors and admins. Writes a new version of the {what} equal to version `version` (change note `Restored version N.`). 404 when the {what} or the version does not exist; 400 when the old configuration is no longer valid (e.g. its department was deleted)."),
            vec![param("id"), version.clone(), param("depth")], None,
            responses(&[("200", ok("Restored.", doc_schema(reference(schema))))], &[400, 401, 403, 404]))}));
    }
    paths.insert("/api/experiments/{id}/results".into(), json!({"get": operation("Experiments", "Results",
        "Any user. Per variant: runs, completed, successRate (completed / ended) with its 95% Wilson interval, avgCostUsd, p50/p95 duration (nearest rank), avgTotalTokens, feedbackUp/Down, evalScore (null until evaluations exist). Computed with SQL aggregates.",
        vec![param("id")], None, responses(&[("200", ok("The results.", reference("ExperimentResults")))], &[401, 404]))}));
    let promote_response = json!({"type": "object", "required": ["agent", "experiment", "message"], "properties": {
        "agent": reference("AgentResponse"), "experiment": reference("ExperimentResponse"), "message": {"type": "string"}}});
    paths.insert("/api/experiments/{id}/promote".into(), json!({"post": operation("Experiments", "Promote a variant",
        "Editors and admins. Writes the variant's overrides as a new version of the agent and stops the experiment.",
        vec![param("id"), param("depth")],
        Some(json!({"type": "object", "required": ["variant"], "properties": {"variant": {"type": "string", "description": "The variant's name."}}})),
        responses(&[("200", ok("Promoted.", promote_response))], &[400, 401, 403, 404]))}));
    paths.insert("/api/experiments/{id}/stop".into(), json!({"post": operation("Experiments", "Stop",
        "Editors and admins. Sets `status` to `stopped`: new runs of the agent get no variant.",
        vec![param("id"), param("depth")], None,
        responses(&[("200", ok("Stopped.", doc_schema(reference("ExperimentResponse"))))], &[401, 403, 404]))}));
    paths.insert("/api/agent-executions/{id}/feedback".into(), json!({"post": operation("Agent Executions", "Rate an execution",
        "Any signed-in user. One rating per user per execution: a second one replaces the first. Counted per agent, version and experiment variant.",
        vec![param("id")],
        Some(json!({"type": "object", "required": ["rating"], "properties": {"rating": {"type": "integer", "enum": [1, -1]}, "comment": {"type": "string", "maxLength": 5000}}})),
        responses(&[("200", ok("Recorded.", doc_schema(reference("FeedbackResponse"))))], &[400, 401, 404]))}));
}

/// Eval runs, comparison and proposals.
fn eval_paths(paths: &mut Map<String, Value>, schemas: &mut Map<String, Value>) {
    use crate::collections::eval_runs::{CaseResult, ComparedCase, EvalComparison};
    add_schema::<EvalComparison>(schemas);
    add_schema::<ComparedCase>(schemas);
    add_schema::<CaseResult>(schemas);
    let overrides = json!({"type": "object", "description": "Applied on top of the version or variant.", "properties": {
        "model": {"type": "string"}, "instructionsPrompt": {"type": "string"}, "temperature": {"type": "number", "minimum": 0, "maximum": 2}}});
    paths.insert("/api/eval-datasets/{id}/run".into(), json!({"post": operation("Eval Datasets", "Run a dataset",
        "Editors and admins. Creates an `eval-runs` document (`pending`) and runs every case as an ordinary execution of the agent (at most `EVAL_CONCURRENCY` at once), checking `contains` / `notContains` (case-sensitive), `regex`, `jsonSchema` (structured output, else the output text as JSON) and `rubric` (the judge agent: the dataset's `judgeAgent`, else `EVAL_JUDGE_AGENT`; its cost goes to `judgeCostUsd`). `version` runs an older configuration of the agent, `variant` the overrides of a variant of one of its experiments; no running experiment applies to eval executions. Executions carry `params.evalRun` and `params.evalCase` (judge runs also `params.judge`). Poll the run (`GET /api/eval-runs/{id}`) for progress.",
        vec![param("id"), param("depth")],
        Some(json!({"type": "object", "properties": {
            "agentId": {"type": "string", "description": "The agent (its agentId). Default: the dataset's agent."},
            "version": {"type": "integer", "minimum": 1},
            "variant": {"type": "string", "description": "A variant name of one of the agent's experiments (not with `version`)."},
            "overrides": overrides}})),
        responses(&[("201", ok("Started.", doc_schema(reference("EvalRunResponse"))))], &[400, 401, 403, 404]))}));
    paths.insert("/api/eval-runs/{id}/cancel".into(), json!({"post": operation("Eval Runs", "Cancel an eval run",
        "Editors and admins. No further case starts; cases already running finish and count. 409 when the run has ended.",
        vec![param("id"), param("depth")], None,
        responses(&[("200", ok("Cancelled.", doc_schema(reference("EvalRunResponse"))))], &[401, 403, 404, 409]))}));
    paths.insert("/api/eval-runs/compare".into(), json!({"get": operation("Eval Runs", "Compare two eval runs",
        "Any user. Case by case (by index): each run's verdict, and `change`: `same`, `fixed` (failed in A, passed in B), `regressed` or `missing`.",
        vec![json!({"name": "a", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1}}), json!({"name": "b", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 1}})],
        None, responses(&[("200", ok("The comparison.", reference("EvalComparison")))], &[400, 401]))}));
    paths.insert("/api/agents/{id}/proposals".into(), json!({"post": operation("Agent Proposals", "Suggest an improvement",
        "Editors and admins. Runs the optimizer agent (`EVAL_OPTIMIZER_AGENT`, default `prompt-optimizer-001`) on the agent's prompt and its recent failed or down-rated executions (prompts, outputs, feedback comments), waits for it, and stores its answer (`{proposedPrompt, rationale}`) as an `agent-proposals` document with a line diff. 409 when the optimizer is missing or its run does not complete.",
        vec![param("id"), param("depth")], None,
        responses(&[("201", ok("Written.", doc_schema(reference("AgentProposalResponse"))))], &[401, 403, 404, 409]))}));
    let accept_response = json!({"type": "object", "required": ["agent", "proposal", "message"], "properties": {
        "agent": reference("AgentResponse"), "proposal": reference("AgentProposalResponse"), "message": {"type": "string"}}});
    paths.insert("/api/agent-proposals/{id}/accept".into(), json!({"post": operation("Agent Proposals", "Accept a proposal",
        "Editors and admins. Saves the proposed prompt as a new version of the agent (change note `Accepted proposal N.`); the proposal becomes `accepted`. 409 when it was already decided.",
        vec![param("id"), param("depth")], None,
        responses(&[("200", ok("Accepted.", accept_response))], &[400, 401, 403, 404, 409]))}));
    paths.insert("/api/agent-proposals/{id}/reject".into(), json!({"post": operation("Agent Proposals", "Reject a proposal",
        "Editors and admins. 409 when it was already decided.",
        vec![param("id"), param("depth")], None,
        responses(&[("200", ok("Rejected.", doc_schema(reference("AgentProposalResponse"))))], &[401, 403, 404, 409]))}));
    paths.insert("/api/agent-proposals/{id}/experiment".into(), json!({"post": operation("Agent Proposals", "Try in an experiment",
        "Editors and admins. Creates a `draft` experiment of the agent: `current` vs `proposal-<id>` (the proposed prompt), 50/50.",
        vec![param("id"), param("depth")], None,
        responses(&[("201", ok("Created.", doc_schema(reference("ExperimentResponse"))))], &[400, 401, 403, 404]))}));
    let evaluate_response = json!({"type": "object", "required": ["current", "proposal", "message"], "properties": {
        "current": reference("EvalRunResponse"), "proposal": reference("EvalRunResponse"), "message": {"type": "string"}}});
    paths.insert("/api/agent-proposals/{id}/evaluate".into(), json!({"post": operation("Agent Proposals", "Evaluate a proposal",
        "Editors and admins. Starts two eval runs of the dataset: the agent as it is, and with the proposed prompt (variant `proposal-<id>`). Compare them with `GET /api/eval-runs/compare`.",
        vec![param("id"), param("depth")],
        Some(json!({"type": "object", "required": ["datasetId"], "properties": {"datasetId": {"type": "integer", "minimum": 1}}})),
        responses(&[("201", ok("Started.", evaluate_response))], &[400, 401, 403, 404]))}));
}

/// The body of `execute`.
fn execute_request_schema() -> Value {
    json!({
        "type": "object",
        "required": ["prompt", "projectId"],
        "properties": {
            "prompt": {"type": "string", "minLength": 1, "maxLength": 200_000, "description": "The user message the run starts from."},
            "projectId": {"type": "integer", "minimum": 1, "description": "The project the run works in (its tool data)."},
            "conversationId": {"type": "string", "maxLength": 200, "description": "Groups runs of one conversation: earlier turns are replayed to the model."},
            "episodeId": {"type": "string", "maxLength": 200},
            "metadata": {"type": "object", "additionalProperties": true, "description": "Stored with the execution, queryable as `metadata.<key>`."},
            "wait": {"type": "boolean", "default": false, "description": "Answer once the run has finished or stopped to wait (`awaiting_approval`, `paused`) (also `?wait=true`)."},
            "previousExecution": {"type": "integer", "minimum": 1, "description": "Start from that execution's whole conversation (its `runState`, tool calls included), then this prompt. Agents only."}
        }
    })
}

fn run_paths(paths: &mut Map<String, Value>) {
    let execute_response = json!({
        "type": "object",
        "required": ["doc", "message", "eventsUrl"],
        "properties": {
            "doc": reference("ExecutionResponse"),
            "message": {"type": "string"},
            "eventsUrl": {"type": "string", "description": "Where to follow the run (SSE)."}
        }
    });
    paths.insert("/api/agents/{agentId}/execute".into(), json!({"post": operation("Runs", "Execute an agent",
        "Editors and admins. Queues a run of the agent (by its `agentId`, e.g. `story-head`): 202 with the execution and its event-stream URL; with `wait: true`, 200 once it has finished.",
        vec![json!({"name": "agentId", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The agent's `agentId` (a slug)."}), json!({"name": "wait", "in": "query", "schema": {"type": "boolean"}})],
        Some(reference("ExecuteRequest")),
        responses(&[("202", ok("Queued.", execute_response.clone())), ("200", ok("Finished (`wait`).", execute_response.clone()))], &[400, 401, 403, 404, 413, 415]))}));
    paths.insert("/api/agent-chains/{chainId}/execute".into(), json!({"post": operation("Runs", "Execute a chain",
        "Editors and admins. Queues one execution for the chain (by its `chainId`): `chain` set, `agent` empty, `agentId` the chainId; its children are the step executions, its output the last step's, and a failed step fails it with `step_failed`. 202 with the execution and its event-stream URL; with `wait: true`, 200 once it has finished. 404 for an unknown or inactive chain, 409 when a step's agent is missing or inactive.",
        vec![json!({"name": "chainId", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The chain's `chainId` (a slug)."}), json!({"name": "wait", "in": "query", "schema": {"type": "boolean"}})],
        Some(reference("ExecuteRequest")),
        responses(&[("202", ok("Queued.", execute_response.clone())), ("200", ok("Finished (`wait`).", execute_response))], &[400, 401, 403, 404, 409, 413, 415]))}));
    let mut stream_responses = responses(&[], &[401, 404]);
    stream_responses["200"] = json!({"description": "The event stream.", "content": {"text/event-stream": {"schema": {"type": "string"}}}});
    paths.insert("/api/agent-executions/{id}/events".into(), json!({"get": operation("Runs", "Follow a run (SSE)",
        "Server-sent events: JSON data, the event's sequence number as its id and its type (`start`, `text`, `text_delta`, `tool_call`, `tool_result`, `usage` (with `cacheReadTokens`/`cacheWriteTokens` and the `model`), `retry`, `fallback` (`fromModel`, `toModel`, `reason`), `breaker` (`model`, `state`: `open`/`half_open`/`closed`), `budget_warning` (`budgetId`, `spentUsd`, `limitUsd`, `warnAt`), `budget_reached` (`budgetId`, `spentUsd`, `limitUsd`; the run pauses), `subagent_start`, `subagent_finish`, `resume`, `approval_requested` (`approvalId`, `toolCallId`, `toolName`, `input`), `approval_decided` (`approvalId`, `decision`, `by`, `comment`), `warning`, `status`, …; the last is a `status` with a final status) as its name. Resumes after `Last-Event-ID` or `?after=N`; a finished run sends its history and the stream ends. Idle streams get keep-alive comments. Any user.",
        vec![param("id"), json!({"name": "Last-Event-ID", "in": "header", "schema": {"type": "integer"}}), json!({"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}})],
        None,
        stream_responses)}));
    let mut mcp_responses = responses(&[], &[400, 401, 404, 413, 415]);
    mcp_responses["200"] = json!({"description": "A JSON-RPC response, as JSON or as an event stream (progress notifications, then the result).", "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": {"type": "string"}}}});
    let mut refresh_responses = responses(
        &[(
            "200",
            ok(
                "The server with its discovered tools.",
                json!({"type": "object", "properties": {"doc": reference("McpServerResponse"), "message": {"type": "string"}}}),
            ),
        )],
        &[401, 403, 404],
    );
    refresh_responses["502"] = json!({"description": "The MCP server could not be reached.", "content": {"application/json": {"schema": reference("ErrorResponse")}}});
    paths.insert("/api/mcp-servers/{id}/refresh".into(), json!({"post": operation("MCP", "Refresh an MCP server's tools",
        "Editors and admins. Connects to the server, lists its tools (name, description, inputSchema) and stores them in `tools`.",
        vec![param("id")], None, refresh_responses)}));
    let mcp_doc = "Model Context Protocol over streamable HTTP (JSON-RPC 2.0). Any user may list tools, `list_agents` and `get_execution {id}`; `run_<agentId> {prompt, projectId?}` needs an editor or admin and returns the output text, the structured output and the execution id, with progress notifications while it runs (send a `progressToken`). `GET` opens the session's server stream, `DELETE` ends the session (`Mcp-Session-Id`).";
    paths.insert("/api/mcp".into(), json!({
        "post": operation("MCP", "Send an MCP message", mcp_doc, vec![], Some(json!({"type": "object", "description": "A JSON-RPC 2.0 request or notification."})), mcp_responses.clone()),
        "get": operation("MCP", "Open the MCP server stream", mcp_doc, vec![], None, mcp_responses.clone()),
        "delete": operation("MCP", "End an MCP session", mcp_doc, vec![], None, mcp_responses),
    }));
}

fn parameters() -> Value {
    json!({
        "where": {"name": "where", "in": "query", "style": "deepObject", "explode": true, "schema": {"type": "object"},
            "description": "Payload query: `where[field][operator]=value`, nested `where[or][0][field][equals]=x` / `where[and][1][or][0]…`, or a JSON string. Operators: equals, not_equals, in, not_in, like, not_like, contains, greater_than, greater_than_equal, less_than, less_than_equal, exists. Relation subfields (`department.slug`) and JSON paths (`metadata.era`) are accepted."},
        "whereRequired": {"name": "where", "in": "query", "required": true, "style": "deepObject", "explode": true, "schema": {"type": "object"},
            "description": "The documents to change (required and non-empty, so that no bulk operation ever touches a whole collection by accident)."},
        "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 10, "maximum": crate::query::MAX_LIMIT}, "description": "Page size (0 means the maximum)."},
        "page": {"name": "page", "in": "query", "schema": {"type": "integer", "default": 1, "minimum": 1}},
        "sort": {"name": "sort", "in": "query", "schema": {"type": "string", "default": "-createdAt"}, "description": "Comma-separated fields, `-` for descending."},
        "depth": {"name": "depth", "in": "query", "schema": {"type": "integer", "default": crate::query::DEFAULT_DEPTH, "maximum": crate::query::MAX_DEPTH}, "description": "0: relations as ids; 1 and more: populated documents."},
        "pagination": {"name": "pagination", "in": "query", "schema": {"type": "boolean", "default": true}, "description": "false: no count, one page."},
        "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}},
        "project": {"name": "project", "in": "query", "required": true, "schema": {"type": "string"}, "description": "The project (id or slug): tool data is isolated per project."},
        "collection": {"name": "collection", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"}, "description": "A tool-data collection, e.g. `world-rules`."}
    })
}

/// The OpenAPI document of the whole HTTP surface. `is_registered` says whether the router
/// has a path pattern: routes it does not have (e.g. an optional fallback) are left out, so
/// the document never promises a route that answers 404.
pub fn openapi(is_registered: &dyn Fn(&str) -> bool) -> Value {
    let mut schemas = Map::new();
    add_schema::<ErrorResponse>(&mut schemas);
    add_schema::<LoginRequest>(&mut schemas);
    add_schema::<LoginResponse>(&mut schemas);
    add_schema::<MeResponse>(&mut schemas);
    add_schema::<RefreshResponse>(&mut schemas);
    add_schema::<MessageResponse>(&mut schemas);
    add_schema::<ApiKeyResponse>(&mut schemas);
    add_schema::<ExecutionResponse>(&mut schemas);
    schemas.insert("ToolDataDocument".into(), json!({
        "type": "object", "additionalProperties": true,
        "description": "A free-form document of a tool-data collection, plus id, collection, project, createdAt and updatedAt.",
        "properties": {"id": {"type": "integer"}, "collection": {"type": "string"}, "project": {"type": "integer"}, "createdAt": {"type": "string"}, "updatedAt": {"type": "string"}}
    }));
    schemas.insert("ExecuteRequest".into(), execute_request_schema());
    let mut paths = Map::new();
    auth_paths(&mut paths);
    collections::each(&mut Describe {
        paths: &mut paths,
        schemas: &mut schemas,
    });
    collection_paths(
        &mut paths,
        &Documented {
            slug: "tool-data/{collection}",
            tag: "Tool Data",
            writable: true,
            access: "Read: any user. Write: editors and admins. The project is a required query parameter.",
        },
        &[param("collection"), param("project")],
        reference("ToolDataDocument"),
        json!({"type": "object", "additionalProperties": true}),
    );
    collection_paths(
        &mut paths,
        &Documented {
            slug: "{collection}",
            tag: "Tool Data",
            writable: true,
            access: "A tool-data collection under its own name, as a Payload client calls it (names of built-in collections and routes never reach it). `project` is an ordinary field: filter on it with `where[project][equals]=<id>`, give it in the body on create. Read: any user. Write: editors and admins.",
        },
        &[param("collection")],
        reference("ToolDataDocument"),
        json!({"type": "object", "additionalProperties": true, "required": ["project"], "properties": {"project": {"type": "integer"}}}),
    );
    run_paths(&mut paths);
    other_paths(&mut paths);
    version_paths(&mut paths, &mut schemas);
    eval_paths(&mut paths, &mut schemas);
    paths.retain(|path, _| !path.starts_with("/api") || is_registered(path));
    body_errors(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Aladdin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "PayloadCMS-compatible REST API of Aladdin. Errors are `{\"errors\":[{\"message\":…}]}`; validation errors add `name: ValidationError` and `data.errors[{path, message}]`."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "A login token from POST /api/users/login, as `Bearer <token>` or `JWT <token>`."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`users API-Key <key>`"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "payload-token"}
            }
        },
        "security": [{"token": []}, {"apiKey": []}, {"cookie": []}]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_every_schema_and_no_dangling_reference() {
        let doc = openapi(&|_| true);
        for schema in [
            "AgentResponse",
            "DepartmentResponse",
            "ToolResponse",
            "ExecutionResponse",
            "UserResponse",
            "ErrorResponse",
            "AgentMetrics",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        for path in [
            "/api/agents/{id}",
            "/api/users/login",
            "/api/tool-data/{collection}/count",
            "/api/agents/{agentId}/execute",
            "/api/agent-chains/{chainId}/execute",
            "/api/agent-executions/{id}/events",
            "/api/mcp",
            "/api/docs/{tail}",
            "/api/{collection}/{id}",
            "/metrics",
        ] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        // Every body-taking operation documents the refusals of a bad body.
        for code in ["400", "413", "415"] {
            assert!(
                doc["paths"]["/api/users/logout"]["post"]["responses"][code].is_object(),
                "{code}"
            );
        }
        // Routes the router does not have are left out; the rest stays.
        let bare = openapi(&|_| false);
        let paths = bare["paths"].as_object().cloned().unwrap_or_default();
        assert!(paths.keys().all(|p| !p.starts_with("/api")), "{paths:?}");
        assert!(paths.contains_key("/metrics"));
        let user = doc["components"]["schemas"]["UserResponse"]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert!(
            user.contains_key("email")
                && !user.keys().any(|k| k.contains("password") || k == "apiKey")
        );
        // Every $ref points to a defined schema or parameter.
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/").skip(1) {
            let target = part.split('"').next().unwrap_or_default();
            let (kind, name) = target.split_once('/').unwrap_or_default();
            assert!(
                doc["components"][kind][name].is_object(),
                "dangling $ref {target}"
            );
        }
    }
}
