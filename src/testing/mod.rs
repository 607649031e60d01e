//! Test doubles used by tests and benches. Compiled into the library (not `cfg(test)`) so
//! that integration tests in `tests/` and bench binaries can use them too.

pub mod fake_llm;
