//! Pictures a person would rather look at than read: sample grids (and, with
//! the pipeline, the paper's figures).

pub mod grid;
mod text;
