//! Training loops: [`classifier`] (the `clf-train` stage) and the optimiser.

pub mod classifier;
pub mod optim;

use std::path::{Path, PathBuf};

/// `dir/stem.safetensors` → `dir/stem.SUFFIX` (logs, grids, … beside an artifact).
pub fn sibling(artifact: &Path, suffix: &str) -> PathBuf {
    let stem = artifact.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    artifact.with_file_name(format!("{stem}.{suffix}"))
}

/// The loss is a finite number, or training has diverged.
pub(crate) fn check_finite(loss: f32, what: &str) -> crate::Result<()> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(crate::Error::Diverged(format!(
            "{what} loss is {loss}: training diverged (the last good checkpoint is kept)"
        )))
    }
}
