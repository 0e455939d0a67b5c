//! The MNIST-C corruptions against the reference functions (scikit-image,
//! SciPy, OpenCV, ImageMagick through Wand): `scripts/mnist_c_reference.py`
//! on the first 200 MNIST test images. Without the Python packages the test
//! says SKIP and why, on the terminal even when output is captured.

use crate::common;

use std::io::Write;
use std::process::Command;

use common::shared_data;

/// Writes past the test harness's capture, so a skip is never silent.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

#[test]
fn corruptions_match_the_reference() {
    let probe = Command::new("python3").args(["-c", "import numpy, scipy, skimage, cv2, PIL, safetensors"]).output();
    match probe {
        Err(e) => return say(&format!("SKIP mnist_c_reference: python3 not runnable ({e})")),
        Ok(o) if !o.status.success() => {
            let why = String::from_utf8_lossy(&o.stderr);
            let last = why.lines().last().unwrap_or("import failed");
            return say(&format!(
                "SKIP mnist_c_reference: the reference's Python packages are missing ({last}); \
                 pip install -r scripts/requirements-mnist-c.txt"
            ));
        }
        Ok(_) => {}
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let started = std::time::Instant::now();
    let out = Command::new("python3")
        .arg(format!("{root}/scripts/mnist_c_reference.py"))
        .arg("--synthmix")
        .arg(env!("CARGO_BIN_EXE_synthmix"))
        .arg("--data-dir")
        .arg(shared_data())
        .args(["--n", "200"])
        .output()
        .expect("python3 ran a moment ago");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        say(&format!("mnist_c_reference: {line}"));
    }
    say(&format!("mnist_c_reference: {:.0} s", started.elapsed().as_secs_f64()));
    assert!(out.status.success(), "reference comparison failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("mnist-c reference: "), "{stdout}");
}
