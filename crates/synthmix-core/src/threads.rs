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
//! Either variable set by the user is kept, clamped to [`max_threads`]. The
//! pipeline runner sets `RAYON_NUM_THREADS` per stage (its share of the cores).

/// The environment variable candle sizes its own CPU pool from.
pub const CANDLE_THREADS_VAR: &str = "CANDLE_NUM_THREADS";
/// The variable rayon (and candle, for its gemm split) reads its thread count from.
pub const RAYON_THREADS_VAR: &str = "RAYON_NUM_THREADS";

/// The most threads either pool is given: 4 × the available parallelism,
/// at most 256, and never fewer than the cores there are. A thread count
/// past the cores buys nothing for our compute-bound work and each extra
/// worker costs a stack and a share of every wake-up (`RAYON_NUM_THREADS=30000`
/// made a 0.2 s training run take 90 s); 4× still lets a user oversubscribe on
/// purpose, or where the parallelism seen is lower than the cores a job may use
/// (a cgroup quota), and 256 bounds that on a large machine without ever
/// leaving cores idle on a larger one.
pub fn max_threads(available: usize) -> usize {
    available.saturating_mul(4).min(256).max(available)
}

/// A thread-count variable's value made sane: `Ok(None)` when `value` is
/// fine as it is, `Ok(Some(n))` when it is to be replaced by `n` silently
/// (0: the pool's default), `Err((n, why))` when it is replaced with a warning.
fn sanitise(value: &std::ffi::OsStr, available: usize) -> std::result::Result<Option<usize>, (usize, String)> {
    let max = max_threads(available);
    let text = value.to_string_lossy();
    // A value from the environment may be long: echo its start only.
    let shown: String = text.trim().chars().take(24).collect();
    let shown = if text.trim().chars().nth(24).is_some() { format!("{shown}…") } else { shown };
    match text.trim().parse::<usize>() {
        Ok(0) => Ok(Some(available)),
        Ok(n) if n <= max => Ok(None),
        Ok(_) => Err((max, format!("{shown} threads is more than the {max} allowed here"))),
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => {
            Err((max, format!("{shown} threads is more than the {max} allowed here")))
        }
        Err(_) => Err((available, format!("'{shown}' is not a number of threads"))),
    }
}

/// Warnings for [`report`]: `configure` runs before logging is set up.
static PENDING: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Sets `var` to `n` (the default) unless set; a set value past
/// [`max_threads`] or not a number is replaced, and a warning kept.
fn set_threads(var: &str, default: usize, available: usize) {
    let Some(value) = std::env::var_os(var) else {
        std::env::set_var(var, default.to_string());
        return;
    };
    match sanitise(&value, available) {
        Ok(None) => {}
        Ok(Some(n)) => std::env::set_var(var, n.to_string()),
        Err((n, why)) => {
            std::env::set_var(var, n.to_string());
            let msg = format!("{var}: {why}; using {n}");
            PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(msg);
        }
    }
}

/// Sets `CANDLE_NUM_THREADS=1` and `RAYON_NUM_THREADS` = the available
/// parallelism, each unless already set; a value the user set is clamped to
/// [`max_threads`] (or replaced when not a number), with a warning
/// [`report`] logs. Call first thing in `main`, before any thread is started
/// or any tensor op runs (the environment is process-wide, and candle and
/// rayon read it when they start).
pub fn configure() {
    crate::alloc::keep_freed_memory();
    let available = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    set_threads(CANDLE_THREADS_VAR, 1, available);
    set_threads(RAYON_THREADS_VAR, available, available);
}

/// Logs the warnings of [`configure`] (call once logging is set up).
pub fn report() {
    for msg in PENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..) {
        tracing::warn!("{}", crate::terminal::escape(&msg));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_cap_is_four_times_the_cores_at_most_256_never_below_the_cores() {
        assert_eq!((max_threads(1), max_threads(2), max_threads(64)), (4, 8, 256));
        assert_eq!((max_threads(512), max_threads(usize::MAX)), (512, usize::MAX));
    }

    #[test]
    fn thread_counts_past_the_cap_or_not_numbers_are_replaced_with_a_warning() {
        assert_eq!(sanitise(OsStr::new("8"), 2), Ok(None));
        assert_eq!(sanitise(OsStr::new("0"), 2), Ok(Some(2)));
        let (n, why) = sanitise(OsStr::new("30000"), 2).unwrap_err();
        assert_eq!(n, 8);
        assert!(why.contains("30000") && why.contains('8'), "{why}");
        assert_eq!(sanitise(OsStr::new("9"), 2).unwrap_err().0, 8);
        assert_eq!(sanitise(OsStr::new("99999999999999999999999"), 2).unwrap_err().0, 8);
        let (n, why) = sanitise(OsStr::new(&"7".repeat(10_000)), 2).unwrap_err();
        assert!(n == 8 && why.len() < 80, "{why}");
        let (n, why) = sanitise(OsStr::new("-3"), 4).unwrap_err();
        assert!(n == 4 && why.contains("'-3' is not a number"), "{why}");
    }
}
