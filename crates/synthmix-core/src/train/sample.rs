//! `synth-sample`: draws a labelled synthetic image set from a generator
//! checkpoint. Images come in class order (all of class 0, then 1, …); image
//! `i`'s noise is the `i`-th block of N(0, 1) draws of one stream keyed by
//! the seed, so a seed fixes the set, and the batch size only changes how
//! many images go through the generator at once.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::artifact::checkpoint::Checkpoint;
use crate::artifact::image_set;
use crate::artifact::meta::{DrawRecord, FilterRecord, SampledRecord};
use crate::artifact::provenance::{self, Provenance};
use crate::data::{ImageSet, SetMeta, Source};
use crate::error::{Error, Result};
use crate::model::diffusion::Sampler;
use crate::model::dpm_sample::{self, SampleOptions};
use crate::model::gan;
use crate::model::unet::{self, Unet};
use crate::rng;

/// Every parameter of a `synth-sample` run; saved in its provenance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleParams {
    pub generator: PathBuf,
    /// Images per class (classes not named in `class_counts`).
    pub per_class: Option<usize>,
    /// Per-class counts `CLASS:N,…` overriding `per_class` for those classes.
    pub class_counts: Option<String>,
    pub seed: u64,
    pub batch_size: usize,
    pub out: PathBuf,
    /// Noise scale σ: z ~ N(0, σ²I) (1 = the generator's training noise).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub latent_scale: f64,
    /// Keep only images a judge classifier assigns their class with at least
    /// this probability (confidence filtering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Diffusion generators only: the sampler, its steps, the guidance weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<Sampler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
}

/// A generator of either family, as its checkpoint says (`arch`).
pub enum AnyGenerator {
    Gan(gan::Generator),
    Dpm(Unet, SampleOptions),
}

impl AnyGenerator {
    /// Loads `params.generator`; flags of the other family are refused in one line.
    pub fn load(params: &SampleParams, device: &Device) -> Result<(AnyGenerator, Checkpoint)> {
        let path = &params.generator;
        let header = crate::artifact::meta::read_checkpoint_header(path)?;
        if header.arch != unet::ARCH {
            let given = [
                ("--sampler", params.sampler.is_some()),
                ("--steps", params.steps.is_some()),
                ("--guidance", params.guidance.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|g| g.1) {
                return Err(Error::Invalid(format!(
                    "{flag} applies to diffusion generators (dpm-train); --generator {} is a GAN (arch {})",
                    path.display(),
                    header.arch
                )));
            }
            let (g, _, ck) = gan::load_generator(path, device)?;
            return Ok((AnyGenerator::Gan(g), ck));
        }
        let sampler = params.sampler.unwrap_or_default();
        let opts = SampleOptions {
            sampler,
            steps: params.steps.unwrap_or(sampler.default_steps()),
            guidance: params.guidance.unwrap_or(DEFAULT_GUIDANCE),
            sigma: params.latent_scale,
        };
        opts.check()?;
        let (net, _, ck) = unet::load_unet(path, device)?;
        Ok((AnyGenerator::Dpm(net, opts), ck))
    }

    pub fn image(&self) -> crate::data::ImageShape {
        match self {
            AnyGenerator::Gan(g) => g.config.image,
            AnyGenerator::Dpm(n, _) => n.config.image,
        }
    }

    pub fn num_classes(&self) -> usize {
        match self {
            AnyGenerator::Gan(g) => g.config.num_classes,
            AnyGenerator::Dpm(n, _) => n.config.num_classes,
        }
    }

    /// Images for `labels` (0–255), noise from `rng`, scaled by `sigma`
    /// (a GAN's z, a diffusion model's x_T).
    pub fn generate(
        &self,
        labels: &[u8],
        rng: &mut rng::Rng,
        batch: usize,
        sigma: f64,
        device: &Device,
    ) -> Result<Vec<u8>> {
        match self {
            AnyGenerator::Gan(g) => gan::generate_scaled(g, labels, rng, batch, sigma, device),
            AnyGenerator::Dpm(n, o) => {
                dpm_sample::generate(n, labels, rng, batch, &SampleOptions { sigma, ..*o }, device)
            }
        }
    }
}

/// `--guidance` when not given (diffusion generators).
pub const DEFAULT_GUIDANCE: f64 = 1.0;

fn one() -> f64 {
    1.0
}
fn is_one(x: &f64) -> bool {
    *x == 1.0
}

/// Confidence filtering: a judge classifier and the threshold τ.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Filter {
    /// A classifier checkpoint (trained on the real data of the regime, never more).
    pub judge: PathBuf,
    pub min_confidence: f64,
    /// What happens when a class's candidates pass too rarely.
    #[serde(default, skip_serializing_if = "Shortfall::is_fail")]
    pub shortfall: Shortfall,
}

/// What confidence filtering does when a class has drawn its maximum of
/// candidates ([`MAX_DRAWS_PER_IMAGE`] per image) and still lacks images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Shortfall {
    /// Stop with an error naming the class and its acceptance rate.
    #[default]
    Fail,
    /// Complete the class with the most confident of its rejected
    /// candidates (below τ), and record how many in the set's metadata
    /// (`filled`), so a sweep can include a τ the generator cannot reach.
    Fill,
}

impl Shortfall {
    fn is_fail(&self) -> bool {
        *self == Shortfall::Fail
    }
}

/// Draws per class at most this many candidates per image kept before
/// giving up on a filter no image passes.
const MAX_DRAWS_PER_IMAGE: usize = 200;

/// Images per class from `--per-class` and `--class-counts` (e.g.
/// `0:100,1:50`): named classes get their count, the others `per_class`
/// (or none without it).
pub fn class_counts(per_class: Option<usize>, table: Option<&str>, num_classes: usize) -> Result<Vec<usize>> {
    if per_class.is_none() && table.is_none() {
        return Err(Error::Invalid("give --per-class N and/or --class-counts CLASS:N,…".into()));
    }
    let mut counts = vec![per_class.unwrap_or(0); num_classes];
    if let Some(t) = table {
        let mut seen = vec![false; num_classes];
        for item in t.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || Error::Invalid(format!("--class-counts: '{item}' is not CLASS:N (e.g. 0:100,1:50)"));
            let (c, n) = item.split_once(':').ok_or_else(bad)?;
            let c: usize = c.trim().parse().map_err(|_| bad())?;
            let n: usize = n.trim().parse().map_err(|_| bad())?;
            if n > crate::limits::MAX_PER_CLASS {
                return Err(Error::Invalid(format!(
                    "--class-counts: {n} images of class {c} is more than the limit of {}",
                    crate::limits::MAX_PER_CLASS
                )));
            }
            if c >= num_classes {
                return Err(Error::Invalid(format!(
                    "--class-counts: class {c} is not below the generator's {num_classes} classes"
                )));
            }
            if std::mem::replace(&mut seen[c], true) {
                return Err(Error::Invalid(format!("--class-counts: class {c} is given twice")));
            }
            counts[c] = n;
        }
    }
    // Each count is bounded, so the sum cannot wrap.
    if counts.iter().sum::<usize>() == 0 {
        return Err(Error::Invalid("nothing to sample: every class count is 0".into()));
    }
    Ok(counts)
}

/// Samples `counts[c]` images of every class `c` with `g`, noise scaled by `sigma`.
pub fn sample(
    g: &AnyGenerator,
    counts: &[usize],
    seed: u64,
    batch: usize,
    sigma: f64,
    device: &Device,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let labels: Vec<u8> = counts.iter().enumerate().flat_map(|(c, &n)| std::iter::repeat_n(c as u8, n)).collect();
    let images = g.generate(&labels, &mut rng::stream(seed, "synth-sample/noise"), batch, sigma, device)?;
    Ok((images, labels))
}

/// What confidence filtering did per class: candidates drawn and accepted,
/// and images completed below τ under [`Shortfall::Fill`].
#[derive(Debug, Clone, PartialEq)]
pub struct Acceptance {
    pub drawn: Vec<usize>,
    pub accepted: Vec<usize>,
    pub filled: Vec<usize>,
}

impl Acceptance {
    pub fn rates(&self) -> Vec<f64> {
        self.drawn.iter().zip(&self.accepted).map(|(&d, &a)| a as f64 / d.max(1) as f64).collect()
    }
}

/// Samples `counts[c]` images of every class whose judge confidence in
/// class `c` is at least `f.min_confidence`: candidates are drawn class by
/// class from a per-class noise stream, in batches, and kept in order until
/// the count is met (so the seed fixes the set). A class whose candidates
/// pass too rarely is an error naming the class and its acceptance rate, or
/// under [`Shortfall::Fill`] is completed with its most confident rejects.
#[allow(clippy::too_many_arguments)]
pub fn sample_filtered(
    g: &AnyGenerator,
    judge: &crate::model::Classifier,
    counts: &[usize],
    seed: u64,
    batch: usize,
    sigma: f64,
    f: &Filter,
    device: &Device,
) -> Result<(Vec<u8>, Vec<u8>, Acceptance)> {
    let p = g.image().pixels();
    let k = counts.len();
    let tau = f.min_confidence;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let mut acc = Acceptance { drawn: vec![0; k], accepted: vec![0; k], filled: vec![0; k] };
    for (c, &need) in counts.iter().enumerate() {
        let mut r = rng::stream(seed, &format!("synth-sample/filtered/class{c}"));
        let mut kept = 0;
        let mut rejects = Rejects::new(need, f.shortfall == Shortfall::Fill);
        while kept < need {
            if acc.drawn[c] >= need.saturating_mul(MAX_DRAWS_PER_IMAGE) {
                if f.shortfall == Shortfall::Fail {
                    return Err(Error::Invalid(format!(
                        "--min-confidence {tau}: class {c} kept {kept} of {need} images after {} candidates \
                         (acceptance {:.4}); lower the threshold, use a better generator, or --shortfall fill",
                        acc.drawn[c],
                        acc.accepted[c] as f64 / acc.drawn[c].max(1) as f64
                    )));
                }
                let fill = rejects.best(need - kept);
                tracing::warn!(
                    "--min-confidence {tau}: class {c} kept {kept} of {need} images after {} candidates; the other {} \
                     are its most confident rejects (confidence ≥ {:.4})",
                    acc.drawn[c],
                    fill.len(),
                    fill.last().map_or(0.0, |r| r.0)
                );
                for (_, _, px) in fill {
                    images.extend_from_slice(&px);
                    labels.push(c as u8);
                }
                acc.filled[c] = need - kept;
                break;
            }
            let n = batch.max(1);
            let cand_labels = vec![c as u8; n];
            let px = g.generate(&cand_labels, &mut r, n, sigma, device)?;
            let cand = ImageSet::new(Path::new("<candidates>"), px, cand_labels, g.image(), k, candidate_meta())?;
            let conf = crate::model::label_confidence(judge, &cand, n, device)?;
            for (i, &q) in conf.iter().enumerate() {
                let img = &cand.images[i * p..(i + 1) * p];
                if f64::from(q) >= tau {
                    acc.accepted[c] += 1;
                    if kept < need {
                        images.extend_from_slice(img);
                        labels.push(c as u8);
                        kept += 1;
                    }
                } else {
                    rejects.offer(q, acc.drawn[c] + i, img);
                }
            }
            acc.drawn[c] += n;
        }
    }
    Ok((images, labels, acc))
}

/// The most confident rejected candidates of one class (at most `cap`),
/// kept only under [`Shortfall::Fill`]; ties go to the earlier draw, so the
/// seed fixes the choice.
struct Rejects {
    cap: usize,
    keep: bool,
    items: Vec<(f32, usize, Vec<u8>)>,
}

impl Rejects {
    fn new(cap: usize, keep: bool) -> Self {
        Rejects { cap, keep, items: Vec::new() }
    }

    fn offer(&mut self, confidence: f32, draw: usize, image: &[u8]) {
        if !self.keep || self.cap == 0 {
            return;
        }
        self.items.push((confidence, draw, image.to_vec()));
        // Prune to the best `cap` once twice that many are held: amortised O(1).
        if self.items.len() >= self.cap.saturating_mul(2).max(64) {
            self.sort_and_truncate(self.cap);
        }
    }

    fn sort_and_truncate(&mut self, n: usize) {
        self.items.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        self.items.truncate(n);
    }

    /// The best `n`, most confident first.
    fn best(mut self, n: usize) -> Vec<(f32, usize, Vec<u8>)> {
        self.sort_and_truncate(n);
        self.items
    }
}

fn candidate_meta() -> SetMeta {
    SetMeta::new("", "", Source::Synthetic)
}

/// Runs `synth-sample`: writes the set (`source = synthetic`) and its
/// provenance (with the generator's BLAKE3) beside `params.out`.
pub fn run(params: &SampleParams, device: &Device) -> Result<ImageSet> {
    let started = std::time::Instant::now();
    check_params(params)?;
    let (g, ck) = AnyGenerator::load(params, device)?;
    let counts = class_counts(params.per_class, params.class_counts.as_deref(), g.num_classes())?;
    crate::limits::images_bytes(counts.iter().sum(), g.image().pixels(), "synth-sample")?;
    let mut prov = Provenance::start("synth-sample", params, Some(params.seed))?;
    prov.input_file("generator", &params.generator)?;
    let generator_hash = prov.inputs.last().expect("just pushed").blake3.clone();
    let judge = load_judge(params, &g, &mut prov, device)?;
    let t0 = std::time::Instant::now();
    let (images, labels, acceptance) = draw(params, &g, judge.as_ref(), &counts, device)?;
    let secs = t0.elapsed().as_secs_f64();
    let filter = filter_record(params, acceptance.as_ref(), &mut prov);
    let meta = sampled_meta(params, &ck, generator_hash, filter);
    let set = ImageSet::new(Path::new(&params.out), images, labels, g.image(), g.num_classes(), meta)?;
    image_set::write(&params.out, &set)?;
    prov.output_file("out", &params.out)?;
    prov.metrics.push(("images".into(), set.len() as f64));
    prov.metrics.push(("images_per_s".into(), set.len() as f64 / secs));
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
    tracing::info!("sampled {} images in {:.2} s ({:.0} img/s)", set.len(), secs, set.len() as f64 / secs);
    Ok(set)
}

fn check_params(params: &SampleParams) -> Result<()> {
    if params.batch_size == 0 {
        return Err(Error::Invalid("--batch-size must be at least 1".into()));
    }
    if !(params.latent_scale > 0.0 && params.latent_scale.is_finite()) {
        return Err(Error::Invalid(format!("--latent-scale {} must be a positive number", params.latent_scale)));
    }
    Ok(())
}

/// `--judge`'s classifier, checked against the generator (classes, input shape).
fn load_judge(
    params: &SampleParams,
    g: &AnyGenerator,
    prov: &mut Provenance,
    device: &Device,
) -> Result<Option<crate::model::Classifier>> {
    let Some(f) = &params.filter else {
        return Ok(None);
    };
    let (clf, _) = crate::model::load_classifier(&f.judge, device)?;
    if clf.config.num_classes != g.num_classes() {
        return Err(Error::Invalid(format!(
            "--judge {}: {} classes, the generator has {}",
            f.judge.display(),
            clf.config.num_classes,
            g.num_classes()
        )));
    }
    crate::data::check_fit(g.image(), clf.config.input)
        .map_err(|e| Error::Invalid(format!("--judge {}: {e}", f.judge.display())))?;
    prov.input_file("judge", &f.judge)?;
    Ok(Some(clf))
}

/// The images and labels, filtered by the judge when there is one (with
/// its acceptance per class).
fn draw(
    params: &SampleParams,
    g: &AnyGenerator,
    judge: Option<&crate::model::Classifier>,
    counts: &[usize],
    device: &Device,
) -> Result<(Vec<u8>, Vec<u8>, Option<Acceptance>)> {
    let (seed, batch, scale) = (params.seed, params.batch_size, params.latent_scale);
    match (judge, &params.filter) {
        (Some(clf), Some(f)) => {
            let (i, l, a) = sample_filtered(g, clf, counts, seed, batch, scale, f, device)?;
            Ok((i, l, Some(a)))
        }
        _ => {
            let (i, l) = sample(g, counts, seed, batch, scale, device)?;
            Ok((i, l, None))
        }
    }
}

/// The confidence filter's record (and its acceptance per class into the provenance).
fn filter_record(
    params: &SampleParams,
    acceptance: Option<&Acceptance>,
    prov: &mut Provenance,
) -> Option<FilterRecord> {
    let (f, a) = (params.filter.as_ref()?, acceptance?);
    for (c, r) in a.rates().iter().enumerate() {
        prov.metrics.push((format!("acceptance[{c}]"), *r));
    }
    tracing::info!("confidence filter τ = {}: acceptance per class {:?}", f.min_confidence, a.rates());
    Some(FilterRecord {
        judge: f.judge.display().to_string(),
        min_confidence: f.min_confidence,
        acceptance: a.rates(),
        filled: a.filled.iter().any(|&n| n > 0).then(|| a.filled.clone()),
    })
}

/// The sampled set's metadata: which generator drew it, how, and the
/// split of the set that generator was trained on.
fn sampled_meta(
    params: &SampleParams,
    ck: &Checkpoint,
    generator_blake3: String,
    filter: Option<FilterRecord>,
) -> SetMeta {
    let split = ck.meta.train().and_then(|t| t.rsplit_once(':')).map(|(_, s)| s.to_string());
    SetMeta {
        sampled: Some(SampledRecord {
            generator: params.generator.clone(),
            generator_blake3,
            latent_scale: (params.latent_scale != 1.0).then_some(params.latent_scale),
            filter,
        }),
        draw: Some(DrawRecord {
            generator_arch: ck.meta.arch.clone(),
            generator_epoch: ck.meta.epoch,
            seed: params.seed,
        }),
        ..SetMeta::new(ck.meta.dataset.clone(), split.unwrap_or_else(|| "train".into()), Source::Synthetic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_table() {
        assert_eq!(class_counts(Some(3), None, 4).unwrap(), vec![3, 3, 3, 3]);
        assert_eq!(class_counts(Some(3), Some("0:10, 2:0"), 4).unwrap(), vec![10, 3, 0, 3]);
        assert_eq!(class_counts(None, Some("1:5"), 3).unwrap(), vec![0, 5, 0]);
        for bad in ["1", "x:2", "1:-2", "9:1", "1:1,1:2"] {
            assert!(class_counts(None, Some(bad), 3).is_err(), "{bad}");
        }
        assert!(class_counts(None, None, 3).is_err());
        assert!(class_counts(Some(0), None, 3).is_err());
        let e = class_counts(None, Some("0:99999999999,1:18446744073709551615"), 3).unwrap_err().to_string();
        assert!(e.contains("class 0") && e.contains("limit"), "{e}");
    }
}
