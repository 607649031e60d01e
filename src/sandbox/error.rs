//! Errors of tool compilation and execution.

use std::fmt;

/// A tool's source did not compile, or is not a function expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The engine's message, e.g. `SyntaxError: unexpected token in expression: ')'`.
    pub message: String,
    /// 1-based line in the tool's source, when known.
    pub line: Option<u32>,
    /// 1-based column in the tool's source, when known.
    pub column: Option<u32>,
}

impl CompileError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CompileError {
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " (line {line}, column {column})"),
            (Some(line), None) => write!(f, " (line {line})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for CompileError {}

/// Why a tool call failed. `Display` gives a sentence fit for the tool_result event and the
/// admin's "Try it" panel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The wall-clock limit was hit.
    #[error("tool exceeded its time limit of {limit_ms} ms")]
    Timeout {
        /// The limit in milliseconds.
        limit_ms: u64,
    },
    /// The heap limit was hit.
    #[error("tool ran out of memory (limit {} MiB)", fmt_mib(*.limit_bytes))]
    OutOfMemory {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// The JS stack limit was hit (usually unbounded recursion).
    #[error("tool exceeded the maximum call stack size (too deep recursion)")]
    StackOverflow,
    /// The returned value serialized to more JSON than allowed.
    #[error("tool returned more than {limit_bytes} bytes of JSON")]
    OutputTooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// The returned value is not JSON (a function, a symbol, a cyclic structure, a BigInt...).
    #[error("tool must return a JSON value: {0}")]
    NotJson(String),
    /// The script threw (or its promise rejected); message and first stack frame.
    #[error("tool threw an error: {0}")]
    Thrown(String),
    /// The source did not compile or is not a function expression.
    #[error("tool code does not compile: {0}")]
    Compile(CompileError),
    /// All sandbox workers stayed busy for longer than the tool's time limit.
    #[error("tool could not start: all sandbox workers are busy, try again later")]
    Busy,
    /// A failure of the sandbox itself, not of the tool.
    #[error("internal sandbox error: {0}")]
    Internal(String),
}

impl ToolError {
    /// A short stable code for events and metrics (`timeout`, `out_of_memory`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            ToolError::Timeout { .. } => "timeout",
            ToolError::OutOfMemory { .. } => "out_of_memory",
            ToolError::StackOverflow => "stack_overflow",
            ToolError::OutputTooLarge { .. } => "output_too_large",
            ToolError::NotJson(_) => "not_json",
            ToolError::Thrown(_) => "thrown",
            ToolError::Compile(_) => "compile",
            ToolError::Busy => "busy",
            ToolError::Internal(_) => "internal",
        }
    }
}

impl From<CompileError> for ToolError {
    fn from(e: CompileError) -> Self {
        ToolError::Compile(e)
    }
}

fn fmt_mib(bytes: usize) -> String {
    let mib = bytes as f64 / f64::from(1u32 << 20);
    if mib.fract() == 0.0 {
        format!("{mib:.0}")
    } else {
        format!("{mib:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_limit() {
        assert_eq!(
            ToolError::Timeout { limit_ms: 5000 }.to_string(),
            "tool exceeded its time limit of 5000 ms"
        );
        assert_eq!(
            ToolError::OutOfMemory {
                limit_bytes: 32 << 20
            }
            .to_string(),
            "tool ran out of memory (limit 32 MiB)"
        );
        let c = CompileError {
            message: "SyntaxError: unexpected token".into(),
            line: Some(3),
            column: Some(7),
        };
        assert_eq!(
            c.to_string(),
            "SyntaxError: unexpected token (line 3, column 7)"
        );
    }
}
