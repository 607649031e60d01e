//! Reading thrown JavaScript values into Rust: error classification and syntax positions.

use rquickjs::{Coerced, Ctx, FromJs, Object, Value};

use super::engine::TOOL_FILE;
use super::error::CompileError;

/// A thrown JavaScript value, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caught {
    /// The deadline interrupt (uncatchable `InternalError: interrupted`).
    Interrupted,
    /// `InternalError: out of memory`.
    OutOfMemory,
    /// `RangeError: Maximum call stack size exceeded`.
    StackOverflow,
    /// `null` was thrown: either the script did, or QuickJS had no memory left for an Error.
    /// Carries the runtime's GC threshold at that moment (1.5 x the heap size after the last
    /// collection: it stays high after a memory bomb even though unwinding freed the bomb).
    Null {
        /// `JS_GetGCThreshold` in bytes.
        gc_threshold: usize,
    },
    /// Anything else the script threw, as text.
    Thrown(String),
}

/// Classifies a thrown value. Reads only own data (`name`, `message`, `stack`); a property
/// that cannot be read is left out rather than failing.
pub(crate) fn describe<'js>(ctx: &Ctx<'js>, thrown: Value<'js>) -> Caught {
    match classify(ctx, thrown) {
        Caught::Thrown(text) => Caught::Thrown(clip(text)),
        other => other,
    }
}

/// Longest error text kept (a script can throw a 10 MB string; events need not carry it).
pub(crate) const MAX_ERROR_BYTES: usize = 4096;

fn clip(mut text: String) -> String {
    if text.len() > MAX_ERROR_BYTES {
        let mut cut = MAX_ERROR_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("… [truncated]");
    }
    text
}

fn classify<'js>(ctx: &Ctx<'js>, thrown: Value<'js>) -> Caught {
    if thrown.is_null() {
        return Caught::Null {
            gc_threshold: gc_threshold(ctx),
        };
    }
    if thrown.is_error() {
        let Some(obj) = thrown.as_object() else {
            return Caught::Thrown("Error".into());
        };
        let name = prop(ctx, obj, "name").unwrap_or_else(|| "Error".into());
        let message = prop(ctx, obj, "message").unwrap_or_default();
        if thrown.is_uncatchable_error() && message == "interrupted" {
            return Caught::Interrupted;
        }
        // "string too long": a string past QuickJS's 2^30 characters, which ropes let a
        // doubling loop reach without allocating; no heap limit would have held it anyway.
        if name == "InternalError" && (message == "out of memory" || message == "string too long") {
            return Caught::OutOfMemory;
        }
        if (name == "RangeError" && message == "Maximum call stack size exceeded")
            || (name == "InternalError" && message == "stack overflow")
        {
            return Caught::StackOverflow;
        }
        let mut text = if message.is_empty() {
            name
        } else {
            format!("{name}: {message}")
        };
        if let Some(frame) = prop(ctx, obj, "stack").as_deref().and_then(tool_frame) {
            text.push_str("\n    ");
            text.push_str(frame);
        }
        return Caught::Thrown(text);
    }
    if let Some(s) = thrown.as_string() {
        return Caught::Thrown(s.to_string().unwrap_or_else(|_| "<string>".into()));
    }
    let text = match ctx.json_stringify(thrown.clone()) {
        Ok(Some(s)) => s.to_string().ok(),
        _ => {
            let _ = ctx.catch();
            None
        }
    };
    let text = text
        .or_else(|| coerce(ctx, thrown.clone()))
        .unwrap_or_else(|| format!("<{}>", thrown.type_name()));
    Caught::Thrown(text)
}

/// The runtime's current GC threshold (rquickjs has a setter but no getter).
#[allow(unsafe_code)]
pub(crate) fn gc_threshold(ctx: &Ctx<'_>) -> usize {
    // SAFETY: `ctx` is a live context borrowed for the duration of this call, so its runtime
    // pointer is valid; `JS_GetGCThreshold` only reads one field of the runtime.
    let threshold = unsafe {
        rquickjs::qjs::JS_GetGCThreshold(rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr()))
    };
    usize::try_from(threshold).unwrap_or(usize::MAX)
}

/// The first stack frame inside the tool's own code (skipping native and host frames), else the first.
fn tool_frame(stack: &str) -> Option<&str> {
    let mut frames = stack.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = frames.clone().next();
    frames.find(|l| l.contains(TOOL_FILE)).or(first)
}

/// An own property coerced to a string, clearing any exception its getter throws.
fn prop(ctx: &Ctx<'_>, obj: &Object<'_>, key: &str) -> Option<String> {
    match obj.get::<_, Option<Coerced<String>>>(key) {
        Ok(v) => v.map(|c| c.0),
        Err(_) => {
            let _ = ctx.catch();
            None
        }
    }
}

fn coerce<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> Option<String> {
    match Coerced::<String>::from_js(ctx, v) {
        Ok(c) => Some(c.0),
        Err(_) => {
            let _ = ctx.catch();
            None
        }
    }
}

/// If `thrown` is a `SyntaxError` from compiling the wrapped tool source, its message and
/// position in the tool's own source (the wrapper's `(` shifts line 1 by one column).
pub(crate) fn syntax_error(thrown: &Value<'_>) -> Option<CompileError> {
    let obj = thrown.as_object()?;
    if !thrown.is_error() {
        return None;
    }
    let name: String = obj.get::<_, Option<Coerced<String>>>("name").ok()??.0;
    if name != "SyntaxError" {
        return None;
    }
    let message = obj
        .get::<_, Option<Coerced<String>>>("message")
        .ok()
        .flatten()
        .map(|c| c.0)
        .unwrap_or_default();
    let stack = obj
        .get::<_, Option<Coerced<String>>>("stack")
        .ok()
        .flatten()
        .map(|c| c.0)
        .unwrap_or_default();
    let (line, column) = position(&stack).unzip();
    let column = match (line, column) {
        (Some(1), Some(c)) => Some(c.saturating_sub(1).max(1)),
        _ => column,
    };
    Some(CompileError {
        message: format!("SyntaxError: {message}"),
        line,
        column,
    })
}

/// Finds `tool.js:LINE:COL` in a stack trace.
fn position(stack: &str) -> Option<(u32, u32)> {
    let at = stack.find(TOOL_FILE)? + TOOL_FILE.len();
    let rest = stack[at..].strip_prefix(':')?;
    let mut parts = rest.splitn(3, |c: char| !c.is_ascii_digit());
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    Some((line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_positions_in_stacks() {
        assert_eq!(position("    at tool.js:3:7\n"), Some((3, 7)));
        assert_eq!(position("    at f (tool.js:12:40)"), Some((12, 40)));
        assert_eq!(position("    at other.js:1:1"), None);
        assert_eq!(
            tool_frame("    at find (native)\n    at f (tool.js:2:3)\n"),
            Some("at f (tool.js:2:3)")
        );
        let long = clip("é".repeat(3000));
        assert!(long.len() <= MAX_ERROR_BYTES + "… [truncated]".len());
        assert!(long.ends_with("… [truncated]"));
    }
}
