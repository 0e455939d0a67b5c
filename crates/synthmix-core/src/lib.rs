//! synthmix-core: the one library behind the synthmix stage binaries and the
//! pipeline runner. Modules are named for what they hold:
//!
//! - [`data`]: real datasets (IDX, CIFAR-10 binary, MNIST-C `.npy`), dataset
//!   names `DATASET:SPLIT`, MNIST-C shot noise, checksum-verified fetching.
//! - [`artifact`]: the on-disk contracts (image sets, checkpoints, provenance),
//!   validating readers and atomic writers.
//! - [`model`]: the classifiers (and generators), candle-nn style, seeded init.
//! - [`ops`]: CPU kernels with tested gradients (max-pool, conv).
//! - [`train`]: training loops and the Adam optimiser.
//! - [`metrics`]: accuracy, per-class accuracy, confusion matrices.
//! - [`report`]: sample grids and other pictures.
//! - [`cli`]: flags shared by every binary, logging, error reporting.
//! - [`stages`]: the five stage programs (flags and bodies), run by their own
//!   binaries and by the multi-call `synthmix`.
//! - [`rng`]: the seeded random generators every random draw comes from.
//! - [`threads`]: one thread pool for the work (candle's own kept empty).

pub mod artifact;
pub mod cli;
pub mod data;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod pipeline;
pub mod report;
pub mod rng;
pub mod stages;
pub mod threads;
pub mod train;

pub use error::{Error, Result};

/// mimalloc for every binary linking this library: glibc's allocator maps each
/// buffer above its mmap threshold afresh, and the page faults of a training
/// step's large temporaries cost a quarter of the cycles (measured, issue 7).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The synthmix version, recorded in every provenance record.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this library was built from ("unknown" outside a checkout).
pub const GIT_COMMIT: &str = env!("SYNTHMIX_GIT_COMMIT");
pub mod progress;
