//! Progress bars for long loops (indicatif), hidden with `-q` or when stderr
//! is not a terminal-friendly target.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

static HIDDEN: AtomicBool = AtomicBool::new(false);

/// Hides every progress bar made after this call (`-q`).
pub fn set_hidden(hidden: bool) {
    HIDDEN.store(hidden, Ordering::Relaxed);
}

/// A bar over `len` items (images, batches, …) with rate and a message slot
/// for the loss.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    if HIDDEN.load(Ordering::Relaxed) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    let template = format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}} {{msg}}");
    pb.set_style(ProgressStyle::with_template(&template).expect("valid template").progress_chars("=> "));
    pb
}
