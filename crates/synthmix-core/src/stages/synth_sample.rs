//! The `synth-sample` stage: draw a labelled synthetic image set from a generator.
//! Flags → `train::sample::run`.

use std::path::PathBuf;

use crate::cli::CommonArgs;
use crate::train::sample::{self, SampleParams};
use anyhow::Context;
use clap::Parser;

/// Sample N images per class (or a class-count table) from a generator
/// checkpoint into an image set (source = synthetic), seeded and
/// deterministic; a provenance record with the generator's hash goes beside it.
#[derive(Parser)]
#[command(name = "synth-sample", version)]
pub struct Args {
    /// Generator checkpoint (from gan-train or dpm-train; its arch says which family).
    #[arg(long)]
    generator: PathBuf,
    /// Images per class.
    #[arg(long, value_parser = crate::limits::per_class)]
    per_class: Option<usize>,
    /// Images of named classes, e.g. 0:100,1:50 (others get --per-class, or none).
    #[arg(long)]
    class_counts: Option<String>,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Scale of the noise: z ~ N(0, σ²I) of a GAN, the initial x_T of a
    /// diffusion model. Below 1 trades diversity for fidelity (truncation),
    /// above 1 the reverse (latent expansion).
    #[arg(long, default_value_t = 1.0, value_parser = crate::limits::latent_scale)]
    latent_scale: f64,
    /// Confidence filtering: a classifier checkpoint that judges each
    /// generated image (train it on the real data the regime has, never more).
    #[arg(long, requires = "min_confidence")]
    judge: Option<PathBuf>,
    /// Keep an image only if the judge gives its class at least this
    /// probability; images are drawn until every class has its count, and
    /// the acceptance rate per class is recorded.
    #[arg(long, requires = "judge", value_parser = crate::limits::fraction)]
    min_confidence: Option<f64>,
    /// When a class's candidates pass too rarely (none of 200 per image
    /// needed): `fail` stops with the class and its acceptance rate; `fill`
    /// completes the class with its most confident rejects and records how
    /// many in the set's metadata (`filled`).
    #[arg(long, value_enum, default_value_t = sample::Shortfall::Fail, requires = "judge")]
    shortfall: sample::Shortfall,
    /// Diffusion generators: ddim (deterministic, η = 0) or ddpm (ancestral)
    /// [default: ddim]. Refused with a GAN.
    #[arg(long, value_enum)]
    sampler: Option<crate::model::diffusion::Sampler>,
    /// Diffusion generators: reverse steps, 1 to 1000 [default: 50 for ddim,
    /// 1000 for ddpm]. Refused with a GAN.
    #[arg(long)]
    steps: Option<usize>,
    /// Diffusion generators: classifier-free guidance weight w ≥ 0,
    /// ε = (1 + w)·ε(y) − w·ε(∅); 0 is the conditional model [default: 1].
    /// Refused with a GAN.
    #[arg(long)]
    guidance: Option<f64>,
    /// Images per generator batch.
    #[arg(long, default_value_t = 500, value_parser = crate::limits::batch_size)]
    batch_size: usize,
    /// Output image set (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    pub(super) common: CommonArgs,
}

/// `synth-sample`'s body, run by [`super::run_with`] once the flags are parsed
/// and logging is set up.
pub fn run(a: Args) -> anyhow::Result<()> {
    let params = SampleParams {
        generator: a.generator,
        per_class: a.per_class,
        class_counts: a.class_counts,
        seed: a.seed,
        batch_size: a.batch_size,
        out: a.out.clone(),
        latent_scale: a.latent_scale,
        sampler: a.sampler,
        steps: a.steps,
        guidance: a.guidance,
        filter: a.judge.zip(a.min_confidence).map(|(judge, min_confidence)| sample::Filter {
            judge,
            min_confidence,
            shortfall: a.shortfall,
        }),
    };
    let mut inputs = vec![("--generator", params.generator.as_path())];
    if let Some(f) = &params.filter {
        inputs.push(("--judge", f.judge.as_path()));
    }
    super::check_outputs(&a.common, &a.out, vec![], &inputs)?;
    let device = a.common.device()?;
    let set = sample::run(&params, &device).with_context(|| format!("synth-sample {}", a.out.display()))?;
    println!("wrote {}: {} images, per class {:?}", a.out.display(), set.len(), set.class_histogram());
    Ok(())
}
