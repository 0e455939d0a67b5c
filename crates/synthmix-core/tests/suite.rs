//! The library's integration tests in one test binary, one module per file
//! beside this one (one link instead of one per file; the harness runs them
//! side by side). A new file here must be listed below:
//! `every_test_file_is_in_the_suite` fails otherwise.

#[path = "../../../tests/common/data.rs"]
mod common_data;

mod fetch;
mod fid;
mod formats;
mod mix;
mod ops_conv;
mod readers_fuzz;
mod stats_scipy;

/// `autotests = false` (Cargo.toml) means a file in tests/ not listed here
/// would silently never run.
#[test]
fn every_test_file_is_in_the_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let suite = std::fs::read_to_string(dir.join("suite.rs")).unwrap();
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".rs") else { continue };
        if stem != "suite" {
            assert!(suite.contains(&format!("\nmod {stem};\n")), "tests/{name} is not a module of tests/suite.rs");
        }
    }
}
