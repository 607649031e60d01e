//! Sandbox tests: the contract with the runner, hostile code, pool isolation.

mod contract;
mod escape;
mod hostile;
mod pool;
mod support;
