//! Aladdin
pub mod sandbox;
