//! Pictures a person would rather look at than read: sample grids (and, with
//! the pipeline, the paper's figures).

pub mod claims;
pub mod compare;
pub mod context;
pub mod corruptions;
pub mod figures;
pub mod generators;
pub mod html;
pub mod markdown;
pub mod md;
pub mod prior;
pub mod regimes;
pub mod results;
pub mod run_summary;
pub mod run_table;
pub mod runs;
pub mod stats;
pub mod strategies;
pub mod study;
pub mod tables;

pub use crate::render::{grid, text};
