//! `mix-build`: a mix of a real and a synthetic set at ratio O:S with a
//! constant total size, class by class, drawn without replacement.
//!
//! Counts are exact: the total is split over classes by the largest-remainder
//! method (in the real set's class proportions, or uniformly), the real share
//! `T·O/(O+S)` is split over classes the same way, and each class takes the
//! rest from the synthetic set. `1:0` at the real set's size therefore gives
//! back exactly the real set's images.

use std::path::PathBuf;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::subset::Subset;
use super::{load_set, DataOptions, ImageSet, SetMeta, Source};
use crate::artifact::image_set;
use crate::artifact::meta::{MixKind, MixRecord, SubsetRecord};
use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::error::{Error, Result};
use crate::rng;

/// Original:Synthetic, e.g. `5:1`; `1:0` and `0:1` are the pure sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ratio {
    pub original: u32,
    pub synthetic: u32,
}

impl std::str::FromStr for Ratio {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("ratio '{s}' is not O:S with whole numbers, e.g. 5:1, 1:0 or 0:1"));
        let (o, sy) = s.split_once(':').ok_or_else(bad)?;
        let r =
            Ratio { original: o.trim().parse().map_err(|_| bad())?, synthetic: sy.trim().parse().map_err(|_| bad())? };
        if r.original == 0 && r.synthetic == 0 {
            return Err(bad());
        }
        let max = crate::limits::MAX_RATIO_PART;
        if r.original > max || r.synthetic > max {
            return Err(Error::Invalid(format!("ratio '{s}': each part must be at most {max}")));
        }
        Ok(r)
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.original, self.synthetic)
    }
}

/// How the total is spread over classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    /// The real set's class proportions (the paper's constant-size mixes).
    Stratified,
    /// The same number of images per class.
    Uniform,
}

impl Balance {
    pub fn name(&self) -> &'static str {
        match self {
            Balance::Stratified => "stratified",
            Balance::Uniform => "uniform",
        }
    }
}

impl std::str::FromStr for Balance {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "stratified" => Ok(Balance::Stratified),
            "uniform" => Ok(Balance::Uniform),
            _ => Err(Error::Invalid(format!("balance '{s}' is not stratified or uniform"))),
        }
    }
}

/// Splits `total` into integer parts proportional to `weights` (largest
/// remainder; ties to the lower index), summing exactly to `total`.
pub fn allocate(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() || sum <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut parts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut left = total - parts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// What `mix-build` makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MixMode {
    /// Real and synthetic at ratio O:S (the paper's mixes).
    Ratio(Ratio),
    /// Every real image, plus synthetic images of each class up to the
    /// largest class's count (the imbalance regime's synthetic fill).
    Fill,
    /// A reduced real set, no synthetic images (see [`super::subset`]).
    Subset(Subset),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixParams {
    pub real: String,
    /// The synthetic set; empty for a subset.
    pub synthetic: String,
    /// The ratio of a ratio mix (kept as its own field so the parameters of
    /// the paper's mixes read as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<Ratio>,
    /// Fill and subset modes; absent for a ratio mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MixMode>,
    /// Total images; default the real set's size.
    pub total: Option<usize>,
    /// Keep every real image: the total follows from the ratio.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all_real: bool,
    /// Store which items are synthetic in the set (a `synthetic` tensor).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mark_synthetic: bool,
    pub balance: Balance,
    pub seed: u64,
    pub out: PathBuf,
}

impl MixParams {
    /// The mode, with a plain ratio as [`MixMode::Ratio`].
    pub fn mode(&self) -> Result<MixMode> {
        match (&self.mode, self.ratio) {
            (Some(m), None) => Ok(m.clone()),
            (None, Some(r)) => Ok(MixMode::Ratio(r)),
            _ => Err(Error::Invalid("give exactly one of --ratio, --fill and --subset".into())),
        }
    }
}

/// Which source image each mix item is: `source[i]` 0 = real, 1 = synthetic,
/// `index[i]` its index in that source.
#[derive(Debug, Clone, PartialEq)]
pub struct MixManifest {
    pub source: Vec<u8>,
    pub index: Vec<u32>,
    pub real_per_class: Vec<usize>,
    pub synthetic_per_class: Vec<usize>,
}

/// Builds a ratio mix in memory (the paper's mixes).
pub fn build(
    real: &ImageSet,
    synthetic: &ImageSet,
    ratio: Ratio,
    total: Option<usize>,
    balance: Balance,
    seed: u64,
) -> Result<(ImageSet, MixManifest)> {
    check_match(real, synthetic)?;
    let total = total.unwrap_or(real.len());
    crate::limits::images_bytes(total, real.shape.pixels(), "mix")?;
    let weights: Vec<f64> = match balance {
        Balance::Stratified => real.class_histogram().iter().map(|&n| n as f64).collect(),
        Balance::Uniform => vec![1.0; real.num_classes],
    };
    let per_class = allocate(total, &weights);
    let o_share = ratio.original as f64 / (ratio.original as f64 + ratio.synthetic as f64);
    let real_total = (total as f64 * o_share).round() as usize;
    let real_pc = allocate(real_total, &per_class.iter().map(|&n| n as f64).collect::<Vec<_>>());
    let synth_pc: Vec<usize> = per_class.iter().zip(&real_pc).map(|(n, r)| n - r).collect();
    let kind = MixKind::Ratio(ratio, balance);
    draw(real, synthetic, &real_pc, &synth_pc, seed, kind, &format!("mix {ratio} of {total} images"))
}

/// Every real image, and synthetic images of each class up to the largest
/// class's count: a balanced set whose minority classes are filled.
pub fn build_fill(real: &ImageSet, synthetic: &ImageSet, seed: u64) -> Result<(ImageSet, MixManifest)> {
    check_match(real, synthetic)?;
    let real_pc = real.class_histogram();
    let top = real_pc.iter().copied().max().unwrap_or(0);
    let total = top.checked_mul(real.num_classes).ok_or_else(|| Error::Invalid("fill: size overflows".into()))?;
    crate::limits::images_bytes(total, real.shape.pixels(), "fill")?;
    let synth_pc: Vec<usize> = real_pc.iter().map(|&n| top - n).collect();
    draw(real, synthetic, &real_pc, &synth_pc, seed, MixKind::Fill, &format!("fill to {top} images per class"))
}

/// A reduced real set: the images [`Subset::select`] keeps, in source order.
pub fn build_subset(real: &ImageSet, rule: &Subset, seed: u64) -> Result<(ImageSet, MixManifest)> {
    let keep = rule.select(real, seed)?;
    let mut set = real.select(&keep);
    let minority_classes = match rule {
        Subset::Step { classes, .. } => Some(rule.minority_classes(classes, real.num_classes, seed)?),
        _ => None,
    };
    // The real set's records (class names, import, corruption) carry over;
    // the new rule replaces any earlier one.
    set.meta.source = Source::Mix;
    set.meta.subset = Some(SubsetRecord { rule: rule.clone(), seed, minority_classes });
    set.meta.mix =
        Some(MixRecord { kind: MixKind::Subset, real_count: keep.len(), synthetic_count: 0, mix_seed: None });
    let manifest = MixManifest {
        source: vec![0; keep.len()],
        index: keep.iter().map(|&i| i as u32).collect(),
        real_per_class: set.class_histogram(),
        synthetic_per_class: vec![0; real.num_classes],
    };
    Ok((set, manifest))
}

fn check_match(real: &ImageSet, synthetic: &ImageSet) -> Result<()> {
    if real.shape != synthetic.shape || real.num_classes != synthetic.num_classes {
        return Err(Error::Invalid(format!(
            "real set ({} images of {}, {} classes) and synthetic set ({} of {}, {} classes) do not match",
            real.len(),
            real.shape,
            real.num_classes,
            synthetic.len(),
            synthetic.shape,
            synthetic.num_classes
        )));
    }
    Ok(())
}

/// Draws `real_pc[c]` real and `synth_pc[c]` synthetic images of every class
/// without replacement, in a seeded order; `what` names the mix in errors.
fn draw(
    real: &ImageSet,
    synthetic: &ImageSet,
    real_pc: &[usize],
    synth_pc: &[usize],
    seed: u64,
    kind: MixKind,
    what: &str,
) -> Result<(ImageSet, MixManifest)> {
    let names = real.class_names();
    let (real_by, synth_by) = (real.indices_by_class(), synthetic.indices_by_class());
    for c in 0..real.num_classes {
        for (kind, need, have) in
            [("real", real_pc[c], real_by[c].len()), ("synthetic", synth_pc[c], synth_by[c].len())]
        {
            if need > have {
                return Err(Error::Invalid(format!(
                    "{what} needs {need} {kind} images of class {c} ({}) but the {kind} set has only {have}",
                    names[c]
                )));
            }
        }
    }
    let total = real_pc.iter().sum::<usize>() + synth_pc.iter().sum::<usize>();
    let mut r = rng::stream(seed, "mix/draw");
    let mut items: Vec<(u8, u32)> = Vec::with_capacity(total);
    for c in 0..real.num_classes {
        for (src, by, need) in [(0u8, &real_by, real_pc[c]), (1u8, &synth_by, synth_pc[c])] {
            let mut idx = by[c].clone();
            idx.shuffle(&mut r);
            items.extend(idx.into_iter().take(need).map(|i| (src, i as u32)));
        }
    }
    items.shuffle(&mut rng::stream(seed, "mix/order"));
    let p = real.shape.pixels();
    let mut images = Vec::with_capacity(total * p);
    let mut labels = Vec::with_capacity(total);
    for &(src, i) in &items {
        let set = if src == 0 { real } else { synthetic };
        images.extend_from_slice(set.image(i as usize));
        labels.push(set.labels[i as usize]);
    }
    let real_n: usize = real_pc.iter().sum();
    let synth_n: usize = synth_pc.iter().sum();
    let meta = SetMeta {
        class_names: real.meta.class_names.clone(),
        mix: Some(MixRecord { kind, real_count: real_n, synthetic_count: synth_n, mix_seed: Some(seed) }),
        // How the synthetic part was drawn, and a reduced real set's rule,
        // travel with the mix (the reports group results by them).
        sampled: if synth_n > 0 { synthetic.meta.sampled.clone() } else { None },
        subset: real.meta.subset.clone(),
        ..SetMeta::new(real.meta.dataset.clone(), real.meta.split.clone(), Source::Mix)
    };
    let mix = ImageSet::new(std::path::Path::new("<mix>"), images, labels, real.shape, real.num_classes, meta)?;
    let manifest = MixManifest {
        source: items.iter().map(|x| x.0).collect(),
        index: items.iter().map(|x| x.1).collect(),
        real_per_class: real_pc.to_vec(),
        synthetic_per_class: synth_pc.to_vec(),
    };
    Ok((mix, manifest))
}

/// The total of `--all-real`: every real image at ratio O:S, so
/// `n · (O+S) / O`, which must be whole.
pub fn all_real_total(real_len: usize, ratio: Ratio) -> Result<usize> {
    let (o, s) = (ratio.original as usize, ratio.synthetic as usize);
    let bad = || Error::Invalid(format!("--all-real: {real_len} real images at ratio {ratio} is not a whole mix"));
    if o == 0 {
        return Err(Error::Invalid(format!("--all-real needs real images in the ratio, not {ratio}")));
    }
    let scaled = real_len.checked_mul(o + s).ok_or_else(bad)?;
    if scaled % o != 0 {
        return Err(bad());
    }
    Ok(scaled / o)
}

/// Runs `mix-build`: writes the mix and its provenance (with the manifest of
/// source indices).
pub fn run(params: &MixParams, opts: &DataOptions) -> Result<(ImageSet, MixManifest)> {
    let started = std::time::Instant::now();
    let mode = params.mode()?;
    let no_synthetic = matches!(mode, MixMode::Ratio(r) if r.synthetic == 0) || matches!(mode, MixMode::Subset(_));
    if params.synthetic.is_empty() && !no_synthetic {
        return Err(Error::Invalid("--synthetic is required (all but --subset and a ratio O:0 draw from it)".into()));
    }
    let real = load_set(&params.real, opts)?;
    let mut prov = Provenance::start("mix-build", params, Some(params.seed))?;
    prov.inputs.push(FileRecord { role: "real".into(), path: params.real.clone(), blake3: real.content_hash()? });
    let synthetic = match mode {
        MixMode::Subset(_) => None,
        // O:0 draws nothing synthetic: without --synthetic the real set
        // stands in (a test set or an all-real mix costs one load, not two).
        MixMode::Ratio(r) if r.synthetic == 0 && params.synthetic.is_empty() => Some(real.clone()),
        _ => {
            let s = load_set(&params.synthetic, opts)?;
            let h = s.content_hash()?;
            prov.inputs.push(FileRecord { role: "synthetic".into(), path: params.synthetic.clone(), blake3: h });
            Some(s)
        }
    };
    let (mix, manifest) = match (&mode, &synthetic) {
        (MixMode::Ratio(r), Some(syn)) => {
            let total = if params.all_real { Some(all_real_total(real.len(), *r)?) } else { params.total };
            let built = build(&real, syn, *r, total, params.balance, params.seed)?;
            if params.all_real && built.1.real_per_class != real.class_histogram() {
                return Err(Error::Invalid(format!("--all-real: ratio {r} does not keep every real image")));
            }
            built
        }
        (MixMode::Fill, Some(syn)) => build_fill(&real, syn, params.seed)?,
        (MixMode::Subset(rule), _) => build_subset(&real, rule, params.seed)?,
        _ => unreachable!("a synthetic set is loaded for every mode but subset"),
    };
    let flags = params.mark_synthetic.then_some(manifest.source.as_slice());
    crate::artifact::write_atomic(&params.out, &image_set::encode_marked(&mix, flags)?)?;
    prov.output_file("mix", &params.out)?;
    let real_idx: Vec<u32> =
        manifest.source.iter().zip(&manifest.index).filter(|(s, _)| **s == 0).map(|(_, i)| *i).collect();
    let synth_idx: Vec<u32> =
        manifest.source.iter().zip(&manifest.index).filter(|(s, _)| **s == 1).map(|(_, i)| *i).collect();
    prov.metrics.push(("real_count".into(), real_idx.len() as f64));
    prov.metrics.push(("synthetic_count".into(), synth_idx.len() as f64));
    prov.indices.push(("source".into(), manifest.source.iter().map(|&s| s as u32).collect()));
    prov.indices.push(("real".into(), real_idx));
    prov.indices.push(("synthetic".into(), synth_idx));
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
    Ok((mix, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_parse_within_bounds() {
        assert_eq!("5:1".parse::<Ratio>().unwrap(), Ratio { original: 5, synthetic: 1 });
        assert_eq!("1000:1".parse::<Ratio>().unwrap().original, 1000);
        for bad in ["0:0", "5x1", "1:", "-1:1", "1001:1", "1:4294967295", "4294967296:1", "1.5:1"] {
            assert!(bad.parse::<Ratio>().is_err(), "{bad}");
        }
        assert!("4294967295:1".parse::<Ratio>().unwrap_err().to_string().contains("at most 1000"));
    }

    #[test]
    fn allocation_sums_exactly() {
        assert_eq!(allocate(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
        assert_eq!(allocate(7, &[0.0, 2.0]), vec![0, 7]);
        assert_eq!(allocate(5, &[]), Vec::<usize>::new());
    }
}
