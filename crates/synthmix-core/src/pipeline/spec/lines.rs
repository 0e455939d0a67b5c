//! Spec positions: every error names the spec file and line.

use std::path::Path;

use crate::error::Error;

/// Line numbers from byte offsets.
pub(super) struct Lines<'a> {
    pub(super) path: &'a Path,
    pub(super) src: &'a str,
}

impl Lines<'_> {
    pub(super) fn line(&self, offset: usize) -> usize {
        self.src[..offset.min(self.src.len())].bytes().filter(|&b| b == b'\n').count() + 1
    }

    pub(super) fn err(&self, offset: usize, msg: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}:{}: {msg}", self.path.display(), self.line(offset)))
    }

    pub(super) fn err_line(&self, line: usize, msg: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}:{line}: {msg}", self.path.display()))
    }
}
