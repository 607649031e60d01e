//! Aladdin
