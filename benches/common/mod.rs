//! What both bench targets share: the Python interpreter, the busy-machine
//! check before the run and the watch on other processes during it (and the
//! peak reference, which only `just bench` uses).

use std::time::Duration;

/// The interpreter and the parameter counts, as the Python-side tests have
/// them (each bench uses part of it).
#[allow(dead_code)]
#[path = "../../tests/common/pytorch.rs"]
pub mod pytorch;

/// The machine's measured fp32 peak (`just bench` only).
#[allow(dead_code)]
pub mod peak;

/// The middle value (the upper one of an even count; NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `/proc/stat`'s first line: (all jiffies, idle + iowait jiffies).
fn machine_jiffies() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> =
        s.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (v.iter().sum(), idle)
}

/// This process's CPU jiffies, its own and its waited-for children's
/// (`/proc/self/stat` utime, stime, cutime, cstime).
fn own_jiffies() -> u64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime is field 14.
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().skip(11).take(4).filter_map(|x| x.parse::<u64>().ok()).sum()
}

/// Fraction of CPU time spent busy over `window`, from /proc/stat.
pub fn cpu_busy(window: Duration) -> f64 {
    let (t0, i0) = machine_jiffies();
    std::thread::sleep(window);
    let (t1, i1) = machine_jiffies();
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

/// Watches the machine during a run: the CPU time that neither this process
/// nor its (waited-for) children used, as a share of all CPU time. A run
/// that starts idle can still share the cores later; this says whether it
/// did. Call [`OthersWatch::note`] after every child has been waited for.
pub struct OthersWatch {
    machine: (u64, u64),
    own: u64,
}

impl OthersWatch {
    pub fn start() -> Self {
        Self { machine: machine_jiffies(), own: own_jiffies() }
    }

    /// Other processes' share of the machine's CPU time since `start`.
    pub fn others_busy(&self) -> f64 {
        let (t, i) = machine_jiffies();
        let total = t.saturating_sub(self.machine.0).max(1);
        let busy = total.saturating_sub(i.saturating_sub(self.machine.1));
        let own = own_jiffies().saturating_sub(self.own);
        busy.saturating_sub(own) as f64 / total as f64
    }

    /// One line on the run's sharing of the machine, flagged above 10 %.
    pub fn note(&self) -> String {
        let b = self.others_busy();
        let flag = if b > 0.10 { "WARNING " } else { "" };
        format!("{flag}other processes used {:.0}% of the CPU time during the run", b * 100.0)
    }
}
