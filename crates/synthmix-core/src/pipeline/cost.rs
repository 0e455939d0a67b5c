//! What a stage's run cost, recorded in its cache record beside the wall
//! time: the CPU time its process used, the threads it was given, and
//! whether it resumed an interrupted run. The wall time of a run on a
//! shared machine grows with the machine's load; its CPU time barely does,
//! so `synthmix estimate` prices a target from CPU time ÷ threads (an idle
//! machine's duration), and leaves out a resumed run, whose record times
//! only its last part.

use std::process::{Child, ExitStatus};
use std::time::Instant;

/// A finished run's cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub wall_s: f64,
    /// User + system CPU seconds of the stage's process (all its threads);
    /// `None` where the platform does not say (only Linux's /proc does here).
    pub cpu_s: Option<f64>,
    pub threads: usize,
    pub resumed: bool,
}

/// A running stage and the CPU time it had used when last looked at.
#[derive(Debug)]
pub struct Watched {
    pub child: Child,
    started: Instant,
    cpu_s: Option<f64>,
    pub threads: usize,
    resumed: bool,
}

impl Watched {
    pub fn new(child: Child, threads: usize, resumed: bool) -> Self {
        Watched { child, started: Instant::now(), cpu_s: None, threads, resumed }
    }

    /// The exit status and cost once the process has ended; `None` while
    /// it runs. The CPU time is read just before reaping: an ended process
    /// (a zombie) still shows its final times in /proc until it is reaped.
    pub fn try_finish(&mut self) -> std::io::Result<Option<(ExitStatus, Cost)>> {
        if let Some(s) = cpu_seconds(self.child.id()) {
            self.cpu_s = Some(s);
        }
        Ok(self.child.try_wait()?.map(|status| (status, self.cost())))
    }

    /// Waits for the process to end, looking at its CPU time as it goes.
    pub fn wait(&mut self) -> std::io::Result<(ExitStatus, Cost)> {
        loop {
            if let Some(done) = self.try_finish()? {
                return Ok(done);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    fn cost(&self) -> Cost {
        Cost {
            wall_s: self.started.elapsed().as_secs_f64(),
            cpu_s: self.cpu_s,
            threads: self.threads,
            resumed: self.resumed,
        }
    }
}

/// Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux
/// architecture's user ABI (the kernel scales its own HZ to it).
const USER_HZ: f64 = 100.0;

/// User + system CPU seconds of process `pid` so far and of the children
/// it has waited for (a stage run through a script), from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// utime + stime + cutime + cstime (fields 14–17) of a /proc/PID/stat
/// line, in seconds. The command name (field 2) may hold spaces and
/// parentheses: the fields are counted after its last ')'.
fn parse_stat(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f = rest.split_whitespace().skip(11); // fields 3..13 precede utime
    let ticks: Vec<u64> = f.take(4).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    (ticks.len() == 4).then(|| ticks.iter().sum::<u64>() as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_user_plus_system_time_whatever_the_name() {
        // Fields from a real line; the name holds a space and a ')'.
        let line = "4242 (gan train) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 1234 66 50 50 20 0 3 0 100 0 0";
        assert_eq!(parse_stat(line), Some(14.0));
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_busy_child_is_charged_its_cpu_time_and_an_idle_one_none() {
        let busy = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        let (status, cost) = Watched::new(busy, 1, false).wait().unwrap();
        assert!(status.success());
        let cpu = cost.cpu_s.expect("Linux shows a process's CPU time");
        assert!(cpu > 0.05 && cpu <= cost.wall_s + 0.02, "cpu {cpu} wall {}", cost.wall_s);

        let idle = std::process::Command::new("sleep").arg("0.5").spawn().unwrap();
        let (_, cost) = Watched::new(idle, 2, true).wait().unwrap();
        assert!(cost.cpu_s.unwrap() < 0.1 && cost.wall_s >= 0.5, "{cost:?}");
        assert_eq!((cost.threads, cost.resumed), (2, true));
    }
}
