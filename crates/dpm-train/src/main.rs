//! `dpm-train`: train a class-conditional diffusion model on a real image set.
//! Thin: its flags and body are `synthmix_core::stages::dpm_train`, which the
//! multi-call `synthmix` runs too (`synthmix dpm-train ...`).

fn main() -> std::process::ExitCode {
    synthmix_core::stages::main("dpm-train")
}
