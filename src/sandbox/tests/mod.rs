//! Sandbox tests: the contract with the runner, hostile code, pool isolation.

mod contract;
mod hostile;
mod pool;
mod support;
