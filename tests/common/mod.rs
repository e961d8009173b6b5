//! Shared test helpers; each test binary uses a subset of them.
#![allow(dead_code)]

pub mod dynamic;
pub mod json;
pub mod reference;
