//! report.md of a typed [`crate::report::document::Document`], every
//! study's (paper, regimes, strategies): [`document`].

pub mod document;
