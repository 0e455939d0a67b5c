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
//! - [`stages`]: the six stage programs (flags and bodies), run by their own
//!   binaries and by the multi-call `synthmix`.
//! - [`rng`]: the seeded random generators every random draw comes from.
//! - [`terminal`]: names from files made safe to print (control characters escaped).
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
pub mod render;
pub mod report;
pub mod rng;
pub mod stages;
pub mod terminal;
pub mod threads;
pub mod train;

pub use error::{Error, Result};

/// mimalloc for every binary linking this library: glibc's allocator maps each
/// buffer above its mmap threshold afresh, and the page faults of a training
/// step's large temporaries cost a quarter of the cycles (measured, issue 7).
/// Wrapped in [`alloc::Capped`], so the property tests can bound any single
/// allocation (a reader that trusts a size field is caught, not the OOM killer).
#[global_allocator]
static GLOBAL: alloc::Capped<mimalloc::MiMalloc> = alloc::Capped(mimalloc::MiMalloc);

pub mod alloc {
    //! The global allocator's optional cap on a single allocation.
    use std::alloc::{GlobalAlloc, Layout};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

    /// Makes any single allocation above `bytes` fail (the process then
    /// aborts with "memory allocation of N bytes failed"). For tests.
    pub fn set_cap(bytes: usize) {
        CAP.store(bytes, Ordering::Relaxed);
    }

    /// An allocator that refuses requests above the cap and passes the rest on.
    pub struct Capped<A>(pub A);

    fn over(size: usize) -> bool {
        size > CAP.load(Ordering::Relaxed)
    }

    unsafe impl<A: GlobalAlloc> GlobalAlloc for Capped<A> {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            if over(l.size()) {
                return std::ptr::null_mut();
            }
            unsafe { self.0.alloc(l) }
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            if over(l.size()) {
                return std::ptr::null_mut();
            }
            unsafe { self.0.alloc_zeroed(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { self.0.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            if over(new) {
                return std::ptr::null_mut();
            }
            unsafe { self.0.realloc(p, l, new) }
        }
    }

    /// The variable by which a user sets mimalloc's purge delay themselves.
    pub const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

    /// mimalloc v3's `mi_option_purge_delay` (the 16th of its `mi_option_e`;
    /// libmimalloc-sys names the options around it but not this one).
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

    extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
        fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
    }

    /// Keeps freed memory in the process instead of returning it to the OS
    /// after mimalloc's default 1 s, unless the user set
    /// [`PURGE_DELAY_VAR`]. Training frees and reallocates the same large
    /// buffers every step; each return made the kernel zero fresh pages on
    /// the next touch (a conv layer's forward + backward spent more time in
    /// the kernel than in user code; docs/performance.md, "Returning
    /// memory"). A stage is a short-lived process: holding its peak is no loss.
    pub fn keep_freed_memory() {
        if std::env::var_os(PURGE_DELAY_VAR).is_none() {
            // SAFETY: mimalloc's option setter, with plain integers.
            unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
        }
    }

    /// mimalloc's purge delay in ms (-1: never purge).
    pub fn purge_delay() -> i64 {
        // SAFETY: mimalloc's option getter.
        unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) as i64 }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn purge_delay_is_the_option_we_set() {
            if std::env::var_os(super::PURGE_DELAY_VAR).is_some() {
                return; // the user's choice stands
            }
            // 1000 ms is mimalloc's default purge delay and no neighbouring
            // option's, so option 15 is the purge delay (or -1: another test
            // of this process has already set it).
            assert!([1000, -1].contains(&super::purge_delay()), "option 15 reads {}", super::purge_delay());
            super::keep_freed_memory();
            assert_eq!(super::purge_delay(), -1);
        }
    }
}

/// The synthmix version, recorded in every provenance record.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this library was built from ("unknown" outside a checkout).
pub const GIT_COMMIT: &str = env!("SYNTHMIX_GIT_COMMIT");
pub mod progress;
