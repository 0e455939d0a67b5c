//! `synth-sample`: draw a labelled synthetic image set from a generator.
//! Thin: its flags and body are `synthmix_core::stages::synth_sample`, which the
//! multi-call `synthmix` runs too (`synthmix synth-sample ...`).

fn main() -> std::process::ExitCode {
    synthmix_core::stages::main("synth-sample")
}
