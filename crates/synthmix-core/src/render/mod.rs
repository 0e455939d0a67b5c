//! Pictures of image sets: labelled sample grids (`show --grid`, the
//! generator's per-epoch grids, the report's figures) and the bitmap text
//! they are labelled with. Below both the trainers and the report.

pub mod grid;
pub mod text;
