//! Pipeline specs: parsing, matrix expansion and validation.
//!
//! ```toml
//! [pipeline]
//! name = "quick"
//! out = "artifacts/quick"          # where outputs are placed (default: the artifacts dir)
//!
//! [axes]                           # value lists that several targets' matrices share
//! seed = [0, 1, 2]
//! mix = [{ name = "O", ratio = "1:0" }, { name = "1-1", ratio = "1:1" }]
//!
//! [params]                         # defaults every target may use as {name}
//! clf_epochs = 2
//!
//! [target."clf-{dataset}-{mix}-s{seed}"]
//! matrix = { dataset = ["mnist"], mix = "mix", seed = "seed" }   # a string names an axis ("mix[O, 1-1]": some of it)
//! command = "clf-train --train {in.train} --epochs {epochs} --seed {seed} --out {out}"
//! inputs = { train = "mix-{dataset}-{mix}" }                     # a target, DATASET:SPLIT or file
//! outputs = ["clf/{dataset}-{mix}-s{seed}.safetensors"]
//! params = { epochs = "{clf_epochs}" }
//! ```
//!
//! Every error names the spec file and line. Relative paths (`artifacts`,
//! `out`, file inputs) are relative to the working directory; `{spec_dir}` is
//! the spec's folder.
//!
//! The modules, in the order a spec is read: `lines` (positions),
//! `matrix` (cells), `expand` (the TOML and every target's cells),
//! `resolve` (inputs, commands, order), `commands` (every command parsed
//! by its own flags, its paths declared), `load` (the phases in order);
//! `model` is what comes out, `resources` the Slurm resources.

mod commands;
mod expand;
mod lines;
mod load;
mod matrix;
mod model;
mod resolve;
mod resources;

pub use commands::check_commands;
pub use load::load;
pub use model::{
    glob_match, normalize, Input, InputKind, LoadOptions, Output, Pipeline, StageVersion, Target, Threads, MAX_TARGETS,
};
pub use resources::Resources;
