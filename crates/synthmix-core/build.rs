// Records the git commit for provenance records; "unknown" outside a checkout.
use std::path::Path;
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SYNTHMIX_GIT_COMMIT={commit}");
    // Re-run when HEAD or the current branch moves (not on every `git add`).
    let head = Path::new("../../.git/HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed={}", head.display());
        if let Ok(s) = std::fs::read_to_string(head) {
            if let Some(r) = s.strip_prefix("ref: ") {
                let p = Path::new("../../.git").join(r.trim());
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}
