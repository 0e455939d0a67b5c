//! Thread pools. All of our parallel work (convs, dense layers, data
//! preparation) runs on rayon's global pool; [`configure`] makes candle
//! 0.11.1 fit around it, for two measured reasons (issue 7):
//!
//! - candle keeps a second pool of its own for its elementwise CPU ops,
//!   whose workers spin for 25 000 iterations after every op before parking.
//!   On a small machine those spinning workers take cores from rayon in the
//!   middle of our gemms: with both pools a Deep CNN training step on 2
//!   cores ran 766 images/s, with candle's pool at zero workers 941. candle
//!   sizes that pool from `CANDLE_NUM_THREADS` when it first uses it, so it
//!   is set to 1 (candle's ops then run on the calling thread).
//! - Without `RAYON_NUM_THREADS`, candle works out its thread count on every
//!   matmul (and every tile of its own conv2d, e.g. in the backward of
//!   `upsample_nearest2d`) by parsing `/proc/cpuinfo`: 57 600 parses in a
//!   300-image DCGAN epoch, a third of its time in the kernel formatting
//!   that file. It is set to rayon's own default (the available
//!   parallelism), so rayon's pool is unchanged and candle reads a variable.
//!
//! Either variable set by the user is left alone. The pipeline runner sets
//! `RAYON_NUM_THREADS` per stage (its share of the cores).

/// The environment variable candle sizes its own CPU pool from.
pub const CANDLE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";
/// The variable rayon (and candle, for its gemm split) reads its thread count from.
pub const RAYON_THREADS_VAR: &str = "RAYON_NUM_THREADS";

/// Sets `CANDLE_NUM_THREADS=1` and `RAYON_NUM_THREADS` = the available
/// parallelism, each unless already set. Call first thing in `main`, before
/// any thread is started or any tensor op runs (the environment is
/// process-wide, and candle and rayon read it when they start).
pub fn configure() {
    crate::alloc::keep_freed_memory();
    if std::env::var_os(CANDLE_THREADS_VAR).is_none() {
        std::env::set_var(CANDLE_THREADS_VAR, "1");
    }
    if std::env::var_os(RAYON_THREADS_VAR).is_none() {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        std::env::set_var(RAYON_THREADS_VAR, n.to_string());
    }
}
