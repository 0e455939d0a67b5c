//! The library's integration tests in one test binary, one module per file
//! beside this one (one link instead of one per file; the harness runs them
//! side by side). A new file here must be listed below:
//! `every_test_file_is_in_the_suite` fails otherwise.

#[path = "../../../tests/common/data.rs"]
mod common_data;
#[path = "../../../tests/common/suite_files.rs"]
mod suite_files;

mod fetch;
mod fid;
mod formats;
mod mix;
mod ops_conv;
mod readers_fuzz;
mod stats_scipy;

#[test]
fn every_test_file_is_in_the_suite() {
    suite_files::every_file_is_a_module_of_the_suite(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"));
}
