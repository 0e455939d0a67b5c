//! The one rule the tests of every crate in the workspace use to find the
//! real data (included by `tests/common/mod.rs` and by synthmix-core's tests).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The real shared data: env SYNTHMIX_DATA, else `../shared/data` beside the workspace.
pub fn shared_data() -> PathBuf {
    let p = match std::env::var_os("SYNTHMIX_DATA") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => workspace_root().join("../shared/data"),
    };
    assert!(p.join("mnist").is_dir(), "real data not found at {} (set SYNTHMIX_DATA)", p.display());
    p
}

/// The folder holding the workspace's Cargo.lock.
fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(here).to_path_buf()
}
