//! `clf-train`: train the paper's classifier on an image set or DATASET:SPLIT.
//! Thin: its flags and body are `synthmix_core::stages::clf_train`, which the
//! multi-call `synthmix` runs too (`synthmix clf-train ...`).

fn main() -> std::process::ExitCode {
    synthmix_core::stages::main("clf-train")
}
