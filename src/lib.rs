//! Aladdin

pub mod runner;
pub mod testing;
