//! One tool call on the current (blocking) thread: a fresh QuickJS runtime and realm with the
//! limits installed, the bindings, the tool's function, the async job loop, the result.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{Context, Ctx, Function, Object, Runtime, Value};
use tokio::runtime::Handle;

use super::api::{Host, SharedConsole};
use super::bindings;
use super::error::{CompileError, ToolError};
use super::js::{self, Caught};
use super::{DataApi, Limits};

/// File name the tool's code is compiled under (appears in stacks and syntax errors).
pub(crate) const TOOL_FILE: &str = "tool.js";

/// Everything one call needs; moved onto the blocking thread.
pub(crate) struct Job {
    pub(crate) source: String,
    pub(crate) input_json: String,
    pub(crate) project_json: String,
    pub(crate) api: Arc<dyn DataApi>,
    pub(crate) handle: Handle,
    pub(crate) limits: Limits,
    pub(crate) deadline: Instant,
    pub(crate) console: SharedConsole,
}

/// How a call ended inside the realm, before deciding on the [`ToolError`].
enum Failure {
    Caught(Caught),
    Tool(ToolError),
    /// The returned promise is pending and no job is left to run. Either it awaits something
    /// that never comes, or the job that would have gone on failed. A job's exception is not
    /// seen here (QuickJS drops it), so the GC threshold at that moment tells whether the heap
    /// was near the limit (see [`Caught::Null`]).
    Unsettled {
        gc_threshold: usize,
    },
}

impl From<ToolError> for Failure {
    fn from(e: ToolError) -> Self {
        Failure::Tool(e)
    }
}

/// A runtime with the limits and the deadline interrupt installed.
struct Sandboxed {
    rt: Runtime,
    ctx: Context,
    interrupted: Rc<Cell<bool>>,
    memory_limit: usize,
}

fn sandboxed(memory: usize, stack: usize, deadline: Instant) -> Result<Sandboxed, ToolError> {
    let rt = Runtime::new().map_err(|e| ToolError::Internal(format!("creating runtime: {e}")))?;
    rt.set_memory_limit(memory);
    rt.set_max_stack_size(stack);
    let interrupted = Rc::new(Cell::new(false));
    let flag = interrupted.clone();
    rt.set_interrupt_handler(Some(Box::new(move || {
        let hit = Instant::now() >= deadline;
        if hit {
            flag.set(true);
        }
        hit
    })));
    // No module loader is installed (rquickjs' `loader` feature is off), so QuickJS rejects
    // every `import()` with "could not load module"; tests pin that down.
    let ctx =
        Context::full(&rt).map_err(|e| ToolError::Internal(format!("creating context: {e}")))?;
    Ok(Sandboxed {
        rt,
        ctx,
        interrupted,
        memory_limit: memory,
    })
}

impl Sandboxed {
    /// Maps an in-realm failure to the error the caller sees.
    fn finish(&self, failure: Failure, limits: &Limits) -> ToolError {
        let caught = match failure {
            Failure::Tool(e) => return e,
            Failure::Caught(c) => c,
            // A chain of promises that each wait for the next grows until the memory limit
            // stops the job that would have scheduled the next one.
            Failure::Unsettled { gc_threshold } if !self.interrupted.get() => {
                return if self.heap_was_near_limit(gc_threshold) {
                    ToolError::OutOfMemory {
                        limit_bytes: self.memory_limit,
                    }
                } else {
                    ToolError::Thrown(
                        "tool returned a promise that never settled (it awaits something that \
                         never resolves; timers are not available)"
                            .into(),
                    )
                };
            }
            Failure::Unsettled { .. } => Caught::Interrupted,
        };
        if self.interrupted.get() {
            return ToolError::Timeout {
                limit_ms: limits.timeout_ms(),
            };
        }
        match caught {
            Caught::Interrupted => ToolError::Timeout {
                limit_ms: limits.timeout_ms(),
            },
            Caught::OutOfMemory => ToolError::OutOfMemory {
                limit_bytes: self.memory_limit,
            },
            Caught::StackOverflow => ToolError::StackOverflow,
            // QuickJS throws `null` when it cannot even allocate the "out of memory" error.
            // A script can `throw null` too, so require signs that the heap was near the limit:
            // the GC threshold (1.5 x the heap after the last GC) or the heap as it is now.
            Caught::Null { gc_threshold } if self.heap_was_near_limit(gc_threshold) => {
                ToolError::OutOfMemory {
                    limit_bytes: self.memory_limit,
                }
            }
            Caught::Null { .. } => ToolError::Thrown("null".into()),
            Caught::Thrown(text) => ToolError::Thrown(text),
        }
    }

    /// Signs that the heap was near the limit when something failed without saying why: the
    /// GC threshold then (1.5 x the heap after the last GC) or the heap as it is now.
    fn heap_was_near_limit(&self, gc_threshold: usize) -> bool {
        let used = usize::try_from(self.rt.memory_usage().malloc_size).unwrap_or(usize::MAX);
        gc_threshold >= self.memory_limit / 2 || used >= self.memory_limit / 4 * 3
    }
}

/// Runs one tool call to completion on the current thread (never on an async worker).
pub(crate) fn execute(job: Job) -> Result<serde_json::Value, ToolError> {
    let limits = job.limits;
    let sb = sandboxed(limits.memory_bytes, limits.stack_bytes, job.deadline)?;
    let outcome = sb.ctx.with(|ctx| run_in_realm(&ctx, &job, &sb.interrupted));
    // The runtime and realm are dropped here, on this thread (they are !Send).
    outcome.map_err(|f| sb.finish(f, &limits))
}

fn run_in_realm<'js>(
    ctx: &Ctx<'js>,
    job: &Job,
    interrupted: &Rc<Cell<bool>>,
) -> Result<serde_json::Value, Failure> {
    let payload = install_bindings(ctx, job)?;
    let tool = compile(ctx, &job.source)?;
    let input = ctx
        .json_parse(job.input_json.as_bytes())
        .map_err(|e| caught(ctx, e))?;
    let project = ctx
        .json_parse(job.project_json.as_bytes())
        .map_err(|e| caught(ctx, e))?;
    let extra = Object::new(ctx.clone()).map_err(|e| caught(ctx, e))?;
    extra.set("payload", payload).map_err(|e| caught(ctx, e))?;
    extra.set("project", project).map_err(|e| caught(ctx, e))?;

    let mut value: Value = tool.call((input, extra)).map_err(|e| caught(ctx, e))?;
    if let Some(promise) = value.as_promise().cloned() {
        value = settle(ctx, &promise, job, interrupted)?;
    }
    to_json(ctx, value, &job.limits)
}

/// Installs `console` and the frozen `payload` (see [`bindings`]); returns `payload`.
fn install_bindings<'js>(ctx: &Ctx<'js>, job: &Job) -> Result<Object<'js>, Failure> {
    let host = Host {
        api: job.api.clone(),
        handle: job.handle.clone(),
        deadline: job.deadline,
    };
    bindings::install(ctx, &job.console, host).map_err(|e| caught(ctx, e))
}

/// `(` + source + `\n)`: the newline keeps a trailing `// comment` from eating the paren.
fn wrap(source: &str) -> String {
    let mut s = String::with_capacity(source.len() + 3);
    s.push('(');
    s.push_str(source);
    s.push_str("\n)");
    s
}

/// Compiles the tool's source as an expression and checks it is a function.
fn compile<'js>(ctx: &Ctx<'js>, source: &str) -> Result<Function<'js>, Failure> {
    if source.trim().is_empty() {
        return Err(ToolError::Compile(not_a_function()).into());
    }
    let mut opts = EvalOptions::default();
    // Sloppy mode like the seed's `new Function`; a tool can opt in with 'use strict'.
    opts.strict = false;
    opts.filename = Some(TOOL_FILE.into());
    let value: Value = match ctx.eval_with_options(wrap(source), opts) {
        Ok(v) => v,
        Err(rquickjs::Error::Exception) => {
            let thrown = ctx.catch();
            if let Some(err) = js::syntax_error(&thrown) {
                return Err(ToolError::Compile(err).into());
            }
            return Err(Failure::Caught(js::describe(ctx, thrown)));
        }
        Err(e) => return Err(ToolError::Internal(format!("compiling tool: {e}")).into()),
    };
    match value.into_function() {
        Some(f) => Ok(f),
        None => Err(ToolError::Compile(not_a_function()).into()),
    }
}

fn not_a_function() -> CompileError {
    CompileError::new(
        "the tool code must be a single function expression, \
         e.g. `async (input, { payload }) => { ... }`",
    )
}

/// Runs the job queue until `promise` settles, the deadline passes or nothing is left to run.
fn settle<'js>(
    ctx: &Ctx<'js>,
    promise: &rquickjs::Promise<'js>,
    job: &Job,
    interrupted: &Rc<Cell<bool>>,
) -> Result<Value<'js>, Failure> {
    loop {
        if let Some(result) = promise.result::<Value>() {
            return result.map_err(|e| caught(ctx, e));
        }
        if interrupted.get() || Instant::now() >= job.deadline {
            return Err(ToolError::Timeout {
                limit_ms: job.limits.timeout_ms(),
            }
            .into());
        }
        if !ctx.execute_pending_job() {
            return Err(Failure::Unsettled {
                gc_threshold: js::gc_threshold(ctx),
            });
        }
    }
}

/// Serializes the returned value with the realm's `JSON.stringify` and reads it back.
fn to_json<'js>(
    ctx: &Ctx<'js>,
    value: Value<'js>,
    limits: &Limits,
) -> Result<serde_json::Value, Failure> {
    if value.is_undefined() {
        return Ok(serde_json::Value::Null);
    }
    if value.is_function() {
        return Err(not_json(
            "it returned a function (did you mean to call it?)",
        ));
    }
    if value.is_symbol() {
        return Err(not_json("it returned a symbol"));
    }
    let text = match ctx.json_stringify(value) {
        Ok(Some(s)) => s.to_string().map_err(|e| caught(ctx, e))?,
        Ok(None) => return Err(not_json("the value has no JSON representation")),
        Err(rquickjs::Error::Exception) => {
            let thrown = ctx.catch();
            return Err(match js::describe(ctx, thrown) {
                Caught::Thrown(msg) if msg.contains("circular") || msg.contains("cyclic") => {
                    not_json("cyclic structure")
                }
                Caught::Thrown(msg) => not_json(&msg),
                other => Failure::Caught(other),
            });
        }
        Err(e) => return Err(caught(ctx, e)),
    };
    if text.len() > limits.max_output_bytes {
        return Err(ToolError::OutputTooLarge {
            limit_bytes: limits.max_output_bytes,
        }
        .into());
    }
    serde_json::from_str(&text)
        .map_err(|e| not_json(&format!("the JSON could not be read back: {e}")))
}

fn not_json(msg: &str) -> Failure {
    Failure::Tool(ToolError::NotJson(msg.to_string()))
}

/// Turns an rquickjs error into a failure, taking the pending JS exception if there is one.
fn caught(ctx: &Ctx<'_>, e: rquickjs::Error) -> Failure {
    match e {
        rquickjs::Error::Exception => Failure::Caught(js::describe(ctx, ctx.catch())),
        rquickjs::Error::Allocation => Failure::Caught(Caught::OutOfMemory),
        other => Failure::Tool(ToolError::Internal(other.to_string())),
    }
}

/// Checks that `source` compiles and is a function expression (sync or async, arrow or
/// `function`), without calling it.
///
/// Used by the admin form on save and by the runner when loading tools. Evaluating the
/// expression runs no tool code for well-formed sources; a source that smuggles statements
/// around the expression runs them in a throwaway realm bounded to 250 ms and 16 MiB, so this
/// is safe to call on request threads (worst case a quarter second of CPU).
pub fn check_syntax(source: &str) -> Result<(), CompileError> {
    const BUDGET: Duration = Duration::from_millis(250);
    let deadline = Instant::now() + BUDGET;
    let sb =
        sandboxed(16 << 20, 256 << 10, deadline).map_err(|e| CompileError::new(e.to_string()))?;
    let outcome = sb.ctx.with(|ctx| compile(&ctx, source).map(|_| ()));
    match outcome {
        Ok(()) => Ok(()),
        Err(Failure::Tool(ToolError::Compile(e))) => Err(e),
        Err(failure) => {
            let limits = Limits {
                timeout: BUDGET,
                memory_bytes: sb.memory_limit,
                ..Limits::default()
            };
            let why = sb.finish(failure, &limits);
            Err(CompileError::new(format!(
                "evaluating the tool code failed ({why}); it must be a single function expression"
            )))
        }
    }
}
