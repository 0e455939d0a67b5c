//! `mix-build`: mix a real and a synthetic set at ratio O:S.
//! Thin: its flags and body are `synthmix_core::stages::mix_build`, which the
//! multi-call `synthmix` runs too (`synthmix mix-build ...`).

fn main() -> std::process::ExitCode {
    synthmix_core::stages::main("mix-build")
}
