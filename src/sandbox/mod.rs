//! Placeholder until the sandbox branch lands: syntax checking only.

use std::fmt;

/// A syntax error with its position.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Checks that `source` is a function expression.
pub fn check_syntax(source: &str) -> Result<(), CompileError> {
    if source.trim().is_empty() {
        return Err(CompileError {
            message: "empty".into(),
        });
    }
    Ok(())
}
