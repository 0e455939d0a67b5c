//! Pictures a person would rather look at than read: sample grids (and, with
//! the pipeline, the paper's figures).

pub mod figures;
pub mod grid;
pub mod study;
pub mod tables;
mod text;
