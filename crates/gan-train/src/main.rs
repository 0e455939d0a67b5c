//! `gan-train`: train a class-conditional GAN on a real image set.
//! Thin: its flags and body are `synthmix_core::stages::gan_train`, which the
//! multi-call `synthmix` runs too (`synthmix gan-train ...`).

fn main() -> std::process::ExitCode {
    synthmix_core::stages::main("gan-train")
}
