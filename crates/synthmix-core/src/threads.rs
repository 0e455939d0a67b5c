//! Thread pools. All of our parallel work (convs, dense layers, data
//! preparation) runs on rayon's global pool; candle 0.11.1 keeps a second pool
//! of its own for its elementwise CPU ops, whose workers spin for 25 000
//! iterations after every op before parking. On a small machine those spinning
//! workers take cores from rayon in the middle of our gemms: with both pools,
//! a Deep CNN training step on 2 cores ran 766 images/s, with candle's pool at
//! zero workers 941 (issue 7, `just bench`). candle sizes that pool from
//! `CANDLE_NUM_THREADS` when it first uses it, so [`configure`] sets it to 1
//! (candle's ops then run on the calling thread) unless the user set it.

/// The environment variable candle sizes its own CPU pool from.
pub const CANDLE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";

/// Keeps candle's own pool empty unless `CANDLE_NUM_THREADS` is already set.
/// Call first thing in `main`, before any thread is started or any tensor
/// op runs (the environment is process-wide and candle reads it once).
pub fn configure() {
    if std::env::var_os(CANDLE_THREADS_VAR).is_none() {
        std::env::set_var(CANDLE_THREADS_VAR, "1");
    }
}
