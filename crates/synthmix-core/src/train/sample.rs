//! `synth-sample`: draws a labelled synthetic image set from a generator
//! checkpoint. Images come in class order (all of class 0, then 1, …); image
//! `i`'s noise is the `i`-th block of N(0, 1) draws of one stream keyed by
//! the seed, so a seed fixes the set, and the batch size only changes how
//! many images go through the generator at once.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::artifact::image_set;
use crate::artifact::provenance::{self, Provenance};
use crate::data::{ImageSet, SetMeta, Source};
use crate::error::{Error, Result};
use crate::model::gan;
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
}

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

/// Samples `counts[c]` images of every class `c` with `g`.
pub fn sample(
    g: &gan::Generator,
    counts: &[usize],
    seed: u64,
    batch: usize,
    device: &Device,
) -> Result<(Vec<u8>, Vec<u8>)> {
    let labels: Vec<u8> = counts.iter().enumerate().flat_map(|(c, &n)| std::iter::repeat_n(c as u8, n)).collect();
    let images = gan::generate(g, &labels, &mut rng::stream(seed, "synth-sample/noise"), batch, device)?;
    Ok((images, labels))
}

/// Runs `synth-sample`: writes the set (`source = synthetic`) and its
/// provenance (with the generator's BLAKE3) beside `params.out`.
pub fn run(params: &SampleParams, device: &Device) -> Result<ImageSet> {
    let started = std::time::Instant::now();
    if params.batch_size == 0 {
        return Err(Error::Invalid("--batch-size must be at least 1".into()));
    }
    let (g, _vars, ck) = gan::load_generator(&params.generator, device)?;
    let counts = class_counts(params.per_class, params.class_counts.as_deref(), g.config.num_classes)?;
    crate::limits::images_bytes(counts.iter().sum(), g.config.image.pixels(), "synth-sample")?;
    let mut prov = Provenance::start("synth-sample", params, Some(params.seed))?;
    prov.input_file("generator", &params.generator)?;
    let generator_hash = prov.inputs.last().expect("just pushed").blake3.clone();
    let t0 = std::time::Instant::now();
    let (images, labels) = sample(&g, &counts, params.seed, params.batch_size, device)?;
    let secs = t0.elapsed().as_secs_f64();
    let split = ck
        .meta
        .extra
        .get("train")
        .and_then(|t| t.rsplit_once(':'))
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| "train".into());
    let extra = [
        ("generator".to_string(), params.generator.display().to_string()),
        ("generator_blake3".to_string(), generator_hash),
        ("generator_arch".to_string(), ck.meta.arch.clone()),
        ("generator_epoch".to_string(), ck.meta.epoch.to_string()),
        ("seed".to_string(), params.seed.to_string()),
    ]
    .into_iter()
    .collect();
    let meta = SetMeta { dataset: ck.meta.dataset.clone(), split, source: Source::Synthetic, extra };
    let set = ImageSet::new(Path::new(&params.out), images, labels, g.config.image, g.config.num_classes, meta)?;
    image_set::write(&params.out, &set)?;
    prov.output_file("out", &params.out)?;
    prov.metrics.push(("images".into(), set.len() as f64));
    prov.metrics.push(("images_per_s".into(), set.len() as f64 / secs));
    prov.wall_time_s = started.elapsed().as_secs_f64();
    provenance::write(&provenance::path_for(&params.out), &prov)?;
    tracing::info!("sampled {} images in {:.2} s ({:.0} img/s)", set.len(), secs, set.len() as f64 / secs);
    Ok(set)
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
