//! What both bench targets share: the busy-machine check.

use std::time::Duration;

/// Fraction of CPU time spent busy over `window`, from /proc/stat.
pub fn cpu_busy(window: Duration) -> f64 {
    let read = || -> (u64, u64) {
        let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<u64> =
            s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        (v.iter().sum(), idle)
    };
    let (t0, i0) = read();
    std::thread::sleep(window);
    let (t1, i1) = read();
    let total = (t1 - t0).max(1) as f64;
    1.0 - (i1 - i0) as f64 / total
}

/// The busy check's verdict as one line, or exit 2 on a busy machine with
/// `strict` (ratios from a loaded machine are unreliable).
pub fn load_note(strict: bool) -> String {
    let busy = cpu_busy(Duration::from_secs(1));
    if busy <= 0.15 {
        return format!("machine idle before the run ({:.0}% busy)", busy * 100.0);
    }
    let msg = format!("machine busy: {:.0}% of CPU time used before the run; ratios are unreliable", busy * 100.0);
    if strict {
        eprintln!("refusing: {msg}");
        std::process::exit(2);
    }
    format!("WARNING {msg}")
}
