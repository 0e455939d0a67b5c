//! Every end-to-end test of the workspace in one test binary, one module per
//! file beside this one. One binary links once where 35 linked 35 times
//! (the larger part of the test build), and the test harness runs the
//! files' tests side by side on its threads, where separate binaries ran one
//! after the other (most tests wait on one single-threaded stage at a time).
//! A new file here must be listed below: `every_test_file_is_in_the_suite`
//! fails otherwise. Run one file's tests: `cargo test --release --test suite
//! golden::` (a module path prefix), one test: `… --test suite NAME`.

#[path = "common/browser.rs"]
mod browser;
mod common;

mod cache_integrity;
mod cifar_jpeg;
mod cifar_quick;
mod classifier_cli;
mod compare;
mod config_rerun;
mod crash_torture;
mod curves;
mod data_cli;
mod data_import;
mod dpm_cli;
mod e2e_bench_models;
mod estimate;
mod gan_cli;
mod generator_until;
mod golden;
mod hostile_dataset;
mod hostile_probe;
mod mnist_c_cli;
mod mnist_c_reference;
mod multicall;
mod one_build;
mod paper_values;
mod pipeline_run;
mod pipeline_spec;
mod python_io;
mod readme_commands;
mod regimes;
mod reliability;
mod report_escaping;
mod report_quick;
mod report_verdicts;
mod slurm;
mod slurm_arrays;
mod strategies;

#[test]
fn every_test_file_is_in_the_suite() {
    common::suite_files::every_file_is_a_module_of_the_suite(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests"),
    );
}
