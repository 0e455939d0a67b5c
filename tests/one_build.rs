//! One build: `cargo build --release --workspace --bins` (what `just build`,
//! the studies and `just install` use) and `cargo test --release --workspace`
//! must resolve every crate they share with the same features. Cargo's
//! resolver turns on a dev-dependency's features only in the test build, so
//! a dev-dependency that enables a feature of a shared crate (proptest did,
//! for getrandom under tempfile, zip, safetensors and candle) makes the tests
//! compile candle, synthmix-core and every binary a second time. The fix is
//! to ask for that feature in the normal build too (see the workspace
//! Cargo.toml's `getrandom`).

use std::collections::BTreeMap;
use std::process::Command;

/// `cargo tree` over the workspace: package → its enabled features, for the
/// given edge kinds (with `dev`, the test build's resolution; without, the
/// binaries').
fn resolved(edges: &str) -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--workspace", "--frozen", "--prefix", "none", "-e", edges, "-f", "{p}|{f}"])
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo tree -e {edges}: {}", String::from_utf8_lossy(&out.stderr));
    let mut m = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let line = line.trim_end_matches(" (*)");
        let Some((pkg, features)) = line.split_once('|') else { continue };
        let features = features.trim_end_matches(" (*)").to_string();
        if let Some(old) = m.insert(pkg.to_string(), features.clone()) {
            assert_eq!(old, features, "{pkg}: one resolution, two feature sets");
        }
    }
    assert!(m.keys().any(|p| p.starts_with("candle-core ")), "no candle-core in the tree: {m:?}");
    m
}

#[test]
fn the_tests_reuse_the_binaries_build() {
    let bins = resolved("normal,build");
    let tests = resolved("normal,build,dev");
    let differ: Vec<String> = bins
        .iter()
        .filter_map(|(p, f)| match tests.get(p) {
            Some(g) if g != f => Some(format!("{p}: build [{f}], test [{g}]")),
            _ => None,
        })
        .collect();
    assert!(
        differ.is_empty(),
        "crates resolved with other features in the test build, so `cargo test` compiles them (and all \
         that depends on them) again; turn the same features on in the normal build:\n{}",
        differ.join("\n")
    );
    // The test build only adds crates (the dev-dependencies); it never drops one.
    let missing: Vec<&String> = bins.keys().filter(|p| !tests.contains_key(*p)).collect();
    assert!(missing.is_empty(), "{missing:?}");
}
