//! Both test suites (tests/suite.rs and the library's) are one binary each
//! with `autotests = false`: a file in their folder not listed as a module
//! of suite.rs would silently never run.

use std::path::Path;

/// Every `NAME.rs` in `tests_dir` but suite.rs is a `mod NAME;` line of its suite.rs.
pub fn every_file_is_a_module_of_the_suite(tests_dir: &Path) {
    let suite = std::fs::read_to_string(tests_dir.join("suite.rs")).unwrap();
    for e in std::fs::read_dir(tests_dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".rs") else { continue };
        if stem != "suite" {
            assert!(
                suite.contains(&format!("\nmod {stem};\n")),
                "{name} is not a module of {}",
                tests_dir.join("suite.rs").display()
            );
        }
    }
}
