//! The Slurm tests' side of the single-node test cluster
//! (scripts/slurm-test-cluster.sh, started by `.ci/run`): whether it
//! answers, and stages written as shell scripts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The tests of one binary share the one cluster (2 CPUs): one at a time.
pub static CLUSTER: Mutex<()> = Mutex::new(());

/// Why no Slurm cluster answers (`sinfo` fails or shows no usable node);
/// asked once (an unreachable controller makes `sinfo` retry for seconds).
fn no_cluster() -> Option<String> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| match Command::new("sinfo").args(["-h", "-o", "%t"]).output() {
        Err(e) => Some(format!("sinfo cannot run ({e})")),
        Ok(o) if !o.status.success() => {
            Some(format!("sinfo failed: {}", String::from_utf8_lossy(&o.stderr).lines().next().unwrap_or("")))
        }
        Ok(o) => {
            let states = String::from_utf8_lossy(&o.stdout).into_owned();
            let usable = states.lines().any(|s| ["idle", "mix", "alloc"].contains(&s.trim()));
            (!usable).then(|| {
                format!("no usable node (sinfo states: {})", states.split_whitespace().collect::<Vec<_>>().join(","))
            })
        }
    })
    .clone()
}

/// Whether a Slurm cluster with an idle node answers; if not, says SKIP and
/// why on the terminal, past the test harness's capture, so a skip is never
/// silent.
pub fn cluster(test: &str) -> bool {
    let Some(why) = no_cluster() else {
        return true;
    };
    if std::env::var("SYNTHMIX_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
        panic!("{test}: SYNTHMIX_REQUIRE_SLURM=1 but no Slurm cluster: {why}");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIP {test}: no Slurm cluster: {why} (start one as root: scripts/slurm-test-cluster.sh start)"
    );
    false
}

/// Stages as shell scripts in `d/bin` (for `SYNTHMIX_BIN_DIR`): `write-file
/// OUT TEXT INPUTS…`, `slow-write OUT SECS`, `fail`, and `fail-at OUT N
/// TEXT INPUTS…`, which fails where N is `$SYNTHMIX_TEST_FAIL_AT`, writes
/// half its output and sleeps a minute (a task to cancel mid-stage) where N
/// is `$SYNTHMIX_TEST_SLOW_AT`, else writes as write-file does.
pub fn script_stages(d: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scripts = [
        ("write-file", "#!/bin/sh\nout=$1; shift; text=$1; shift\n{ echo \"$text\"; for f in \"$@\"; do cat \"$f\"; done; } > \"$out\"\n"),
        // Writes half its output, then sleeps: a job to cancel mid-run.
        ("slow-write", "#!/bin/sh\necho partial > \"$1\"\nsleep \"$2\"\necho slow >> \"$1\"\n"),
        ("fail", "#!/bin/sh\necho \"error: this stage always fails\" >&2\nexit 3\n"),
        (
            "fail-at",
            "#!/bin/sh\nout=$1; n=$2; shift 2\nif [ \"$n\" = \"${SYNTHMIX_TEST_FAIL_AT:-}\" ]; then\n  \
             echo \"error: told to fail at $n\" >&2; exit 3\nfi\n\
             if [ \"$n\" = \"${SYNTHMIX_TEST_SLOW_AT:-}\" ]; then echo partial > \"$out\"; sleep 60; fi\n\
             text=$1; shift\n\
             { echo \"$text\"; for f in \"$@\"; do cat \"$f\"; done; } > \"$out\"\n",
        ),
    ];
    for (name, body) in scripts {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}
