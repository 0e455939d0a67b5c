//! Training loops: [`classifier`] (the `clf-train` stage) and the optimiser.

pub mod classifier;
pub mod clf_resume;
pub mod dpm;
pub mod epochs;
pub mod gan;
pub mod optim;
pub mod probe;
pub mod sample;
mod saved;
pub mod stop;

pub use crate::artifact::sibling;

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
