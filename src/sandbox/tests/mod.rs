//! Sandbox tests: contract, hostile code, pool isolation.

mod support;

mod probe;
