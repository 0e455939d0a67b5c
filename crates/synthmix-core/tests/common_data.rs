// Shared by the integration tests of synthmix-core (included with `mod`).
#![allow(dead_code)]
use std::path::PathBuf;

/// The real shared data: env SYNTHMIX_DATA, else `../shared/data` beside the project.
pub fn shared_data() -> PathBuf {
    let p = match std::env::var_os("SYNTHMIX_DATA") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(p.join("mnist").is_dir(), "real data not found at {} (set SYNTHMIX_DATA)", p.display());
    p
}
