//! `evaluate`: score classifier checkpoints on test sets, or (`--fid`) compare
//! a generated set with a real one.
//! Thin: its flags and body are `synthmix_core::stages::evaluate`, which the
//! multi-call `synthmix` runs too (`synthmix evaluate ...`).

fn main() -> std::process::ExitCode {
    synthmix_core::stages::main("evaluate")
}
