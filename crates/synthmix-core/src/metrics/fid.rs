//! Fréchet distance between Gaussian fits of two feature sets (FID), on the
//! penultimate-layer features of a domain classifier (the "Fréchet LeNet
//! distance" practice: Inception weights cannot be downloaded here and fit
//! 28×28 digits badly), and how often generated images are recognised as the
//! class they were asked for.
//!
//! `FID = ‖μ₁ − μ₂‖² + Tr Σ₁ + Tr Σ₂ − 2 Tr √(Σ₁^½ Σ₂ Σ₁^½)`, in f64. Σ₁Σ₂ is
//! not symmetric, so the trace of its square root is taken through the
//! symmetric matrix `Σ₁^½ Σ₂ Σ₁^½` (same eigenvalues), with two symmetric
//! eigen-decompositions (nalgebra); tiny negative eigenvalues from rounding
//! are clamped to 0. Covariances are unbiased (÷ n−1), as `numpy.cov`.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::artifact::provenance::{self, FileRecord, Provenance};
use crate::data::{self, DataOptions, ImageSet};
use crate::error::{Error, Result};
use crate::model::{self, Classifier};

/// Mean and covariance of a feature set.
#[derive(Debug, Clone, PartialEq)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    /// Rows the fit came from.
    pub n: usize,
}

impl Gaussian {
    /// Fits rows of `d` features (`rows.len() = n·d`, row-major); needs n ≥ 2.
    pub fn fit(rows: &[f32], d: usize) -> Result<Gaussian> {
        if d == 0 || rows.len() % d != 0 {
            return Err(Error::Invalid(format!("FID: {} values are not rows of {d} features", rows.len())));
        }
        let n = rows.len() / d;
        if n < 2 {
            return Err(Error::Invalid(format!("FID needs at least 2 samples per set, got {n}")));
        }
        let x = DMatrix::from_row_iterator(n, d, rows.iter().map(|&v| v as f64));
        let mean = DVector::from_iterator(d, x.column_iter().map(|c| c.sum() / n as f64));
        let mut centred = x;
        for (j, mut col) in centred.column_iter_mut().enumerate() {
            col.add_scalar_mut(-mean[j]);
        }
        let cov = centred.tr_mul(&centred) / (n - 1) as f64;
        Ok(Gaussian { mean, cov, n })
    }
}

/// `A^½` of a symmetric positive semi-definite matrix (negative rounding
/// noise in the eigenvalues is clamped to 0).
pub fn sqrt_psd(a: &DMatrix<f64>) -> DMatrix<f64> {
    let e = SymmetricEigen::new(symmetrise(a));
    let s = DMatrix::from_diagonal(&e.eigenvalues.map(|l| l.max(0.0).sqrt()));
    &e.eigenvectors * s * e.eigenvectors.transpose()
}

fn symmetrise(a: &DMatrix<f64>) -> DMatrix<f64> {
    (a + a.transpose()) * 0.5
}

/// `Tr √(Σ₁^½ Σ₂ Σ₁^½)` = Σ √λᵢ(Σ₁Σ₂).
pub fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>) -> f64 {
    let h = sqrt_psd(s1);
    let m = symmetrise(&(&h * s2 * &h));
    SymmetricEigen::new(m).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum()
}

/// The Fréchet distance between two Gaussians. Never negative: rounding that
/// would make it so (e.g. a set against itself) is clamped to 0.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let dm = &a.mean - &b.mean;
    let d = dm.dot(&dm) + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(&a.cov, &b.cov);
    d.max(0.0)
}

/// FID between two feature sets of `d` columns (row-major).
pub fn fid(a: &[f32], b: &[f32], d: usize) -> Result<f64> {
    Ok(frechet_distance(&Gaussian::fit(a, d)?, &Gaussian::fit(b, d)?))
}

/// A classifier checkpoint used as the feature network: penultimate-layer
/// features for FID, and its predictions for recognition accuracy, from one
/// forward pass.
pub struct FeatureNet {
    clf: Classifier,
    head_w: Tensor,
    head_b: Tensor,
    /// The checkpoint's path and BLAKE3, recorded wherever its FIDs go.
    pub path: PathBuf,
    pub blake3: String,
    /// The dataset the classifier was trained on.
    pub dataset: String,
    pub device: Device,
}

/// Features (`n × dim`, row-major) and predicted classes of a set.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub features: Vec<f32>,
    pub dim: usize,
    pub predictions: Vec<u8>,
}

impl FeatureNet {
    /// Loads a `clf-train` checkpoint (validated) as a feature network.
    pub fn load(path: &Path, device: &Device) -> Result<FeatureNet> {
        let (clf, ck) = model::load_classifier(path, device)?;
        // The output layer, applied to the features here, so a set needs one
        // pass for both features and predictions (equal to `model::predict`,
        // which is tested).
        let head = |name: &str| -> Result<Tensor> {
            let (shape, values) =
                ck.weights.get(name).ok_or_else(|| Error::format(path, format!("tensor '{name}' is missing")))?;
            Ok(Tensor::from_slice(values, shape.as_slice(), device)?)
        };
        Ok(FeatureNet {
            head_w: head("fc2.weight")?,
            head_b: head("fc2.bias")?,
            clf,
            path: path.to_path_buf(),
            blake3: crate::artifact::hash_file(path)?,
            dataset: ck.meta.dataset.clone(),
            device: device.clone(),
        })
    }

    /// The classifier's number of classes.
    pub fn num_classes(&self) -> usize {
        self.clf.config.num_classes
    }

    /// Features and predictions of every image of `set` (inference mode), in
    /// batches of `batch`; the set is adapted to the classifier's input first.
    pub fn extract(&self, set: &ImageSet, batch: usize) -> Result<Extracted> {
        let fitted = data::fit_to_shape(set, self.clf.config.input)?;
        let dim = self.clf.config.hidden;
        let mut features = Vec::with_capacity(set.len() * dim);
        let mut predictions = Vec::with_capacity(set.len());
        let idx: Vec<usize> = (0..set.len()).collect();
        for chunk in idx.chunks(batch.max(1)) {
            let x = data::batch_tensor(&fitted, chunk, &self.device)?;
            let f = self.clf.features(&x, false)?;
            let logits = f.matmul(&self.head_w.t()?)?.broadcast_add(&self.head_b)?;
            let pred = logits.argmax(1)?.to_vec1::<u32>()?;
            predictions.extend(pred.into_iter().map(|p| p as u8));
            features.extend(f.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(Extracted { features, dim, predictions })
    }
}

/// FID and recognition of a generated set against a real one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FidReport {
    pub real: String,
    pub generated: String,
    pub features: String,
    pub features_blake3: String,
    pub feature_dim: usize,
    pub real_images: usize,
    pub generated_images: usize,
    pub fid: f64,
    /// FID between the real and generated images of each class (`None`
    /// where a class has fewer than 2 images in either set).
    pub per_class_fid: Vec<Option<f64>>,
    /// Share of generated images the classifier assigns to their label.
    pub recognition: f64,
    pub per_class_recognition: Vec<f64>,
    /// The classifier's accuracy on the real set (for scale).
    pub real_accuracy: f64,
    /// The real set's class names, index = class.
    pub class_names: Vec<String>,
}

impl FidReport {
    /// A readable summary.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "FID {:.3} ({} real vs {} generated images, {}-d features of {})",
            self.fid, self.real_images, self.generated_images, self.feature_dim, self.features
        );
        let _ = writeln!(
            s,
            "recognition {:.4} (classifier accuracy on the real set {:.4})",
            self.recognition, self.real_accuracy
        );
        let _ = writeln!(s, "{:>5} {:<12} {:>10} {:>12}", "class", "", "FID", "recognition");
        for (c, (f, r)) in self.per_class_fid.iter().zip(&self.per_class_recognition).enumerate() {
            let f = f.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                s,
                "{c:>5} {:<12} {f:>10} {r:>12.4}",
                self.class_names.get(c).map(String::as_str).unwrap_or("")
            );
        }
        s
    }
}

/// Rows of `x` (width `d`) whose label is `class`.
fn rows_of(x: &[f32], d: usize, labels: &[u8], class: u8) -> Vec<f32> {
    labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| l == class)
        .flat_map(|(i, _)| x[i * d..(i + 1) * d].iter().copied())
        .collect()
}

/// Compares extracted features of a real and a generated set (labels = the
/// classes the generated images were asked for).
pub fn compare(
    real: &Extracted,
    real_labels: &[u8],
    gen: &Extracted,
    gen_labels: &[u8],
    num_classes: usize,
) -> Result<(f64, Vec<Option<f64>>, crate::metrics::Confusion, crate::metrics::Confusion)> {
    let d = real.dim;
    let total = fid(&real.features, &gen.features, d)?;
    let per_class = (0..num_classes)
        .map(|c| {
            let (a, b) =
                (rows_of(&real.features, d, real_labels, c as u8), rows_of(&gen.features, d, gen_labels, c as u8));
            (a.len() >= 2 * d && b.len() >= 2 * d).then(|| fid(&a, &b, d)).transpose()
        })
        .collect::<Result<Vec<_>>>()?;
    let rec = crate::metrics::Confusion::from_predictions(num_classes, gen_labels, &gen.predictions);
    let real_conf = crate::metrics::Confusion::from_predictions(num_classes, real_labels, &real.predictions);
    Ok((total, per_class, rec, real_conf))
}

/// Parameters of `evaluate --fid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FidParams {
    pub real: String,
    pub generated: String,
    pub features: PathBuf,
    pub dump_features: Option<PathBuf>,
    pub batch_size: usize,
    pub out: Option<PathBuf>,
}

/// Runs `evaluate --fid`: FID, per-class FID and recognition of `generated`
/// against `real`; writes `out` (JSON) and `dump_features` when given.
pub fn run(params: &FidParams, opts: &DataOptions, device: &Device) -> Result<FidReport> {
    let started = std::time::Instant::now();
    let mut prov = Provenance::start("evaluate-fid", params, None)?;
    let net = FeatureNet::load(&params.features, device)?;
    prov.input_file("features", &params.features)?;
    let real = data::load_set(&params.real, opts)?;
    let gen = data::load_set(&params.generated, opts)?;
    for (role, spec, set) in [("real", &params.real, &real), ("generated", &params.generated, &gen)] {
        prov.inputs.push(FileRecord { role: role.into(), path: spec.clone(), blake3: set.content_hash()? });
        if set.num_classes != net.num_classes() {
            return Err(Error::Invalid(format!(
                "{spec}: {} classes, but the features classifier {} has {}",
                set.num_classes,
                params.features.display(),
                net.num_classes()
            )));
        }
    }
    if real.shape != gen.shape {
        return Err(Error::Invalid(format!(
            "{} holds {} images but {} holds {}",
            params.real, real.shape, params.generated, gen.shape
        )));
    }
    let fr = net.extract(&real, params.batch_size)?;
    let fg = net.extract(&gen, params.batch_size)?;
    let (total, per_class_fid, rec, real_conf) = compare(&fr, &real.labels, &fg, &gen.labels, real.num_classes)?;
    let report = FidReport {
        real: params.real.clone(),
        generated: params.generated.clone(),
        features: params.features.display().to_string(),
        features_blake3: net.blake3.clone(),
        feature_dim: fr.dim,
        real_images: real.len(),
        generated_images: gen.len(),
        fid: total,
        per_class_fid,
        recognition: rec.accuracy(),
        per_class_recognition: rec.per_class_accuracy(),
        real_accuracy: real_conf.accuracy(),
        class_names: real.class_names(),
    };
    prov.metrics.push(("fid".into(), report.fid));
    prov.metrics.push(("recognition".into(), report.recognition));
    let mut written = Vec::new();
    if let Some(path) = &params.dump_features {
        write_features(path, &fr, &real.labels, &fg, &gen.labels, &net)?;
        written.push(("features", path));
    }
    if let Some(out) = &params.out {
        let json = serde_json::to_string_pretty(&report).expect("report serialises");
        crate::artifact::write_atomic(out, json.as_bytes())?;
        written.push(("metrics", out));
    }
    for (role, path) in &written {
        prov.output_file(role, path)?;
    }
    if let Some((_, first)) = written.last() {
        prov.wall_time_s = started.elapsed().as_secs_f64();
        provenance::write(&provenance::path_for(first), &prov)?;
    }
    Ok(report)
}

/// Writes the feature matrices as safetensors: `real` and `generated` F32
/// `[N, D]`, and their labels (`real_labels`, `generated_labels`, U8 `[N]`).
pub fn write_features(
    path: &Path,
    real: &Extracted,
    real_labels: &[u8],
    gen: &Extracted,
    gen_labels: &[u8],
    net: &FeatureNet,
) -> Result<()> {
    use crate::artifact::st::{self, TensorBytes};
    use std::borrow::Cow;
    let f32s = |v: &[f32]| Cow::Owned(v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>());
    let d = real.dim;
    let tensors = [
        TensorBytes {
            name: "real".into(),
            dtype: safetensors::Dtype::F32,
            shape: vec![real_labels.len(), d],
            data: f32s(&real.features),
        },
        TensorBytes {
            name: "generated".into(),
            dtype: safetensors::Dtype::F32,
            shape: vec![gen_labels.len(), d],
            data: f32s(&gen.features),
        },
        TensorBytes {
            name: "real_labels".into(),
            dtype: safetensors::Dtype::U8,
            shape: vec![real_labels.len()],
            data: Cow::Borrowed(real_labels),
        },
        TensorBytes {
            name: "generated_labels".into(),
            dtype: safetensors::Dtype::U8,
            shape: vec![gen_labels.len()],
            data: Cow::Borrowed(gen_labels),
        },
    ];
    let meta = [
        (crate::artifact::meta::KIND.to_string(), "features".to_string()),
        (crate::artifact::meta::FORMAT.to_string(), crate::artifact::FORMAT_VERSION.to_string()),
        ("features".to_string(), net.path.display().to_string()),
        ("features_blake3".to_string(), net.blake3.clone()),
    ]
    .into_iter()
    .collect();
    crate::artifact::write_atomic(path, &st::encode(&tensors, &meta)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqrt_psd_squares_back() {
        let a = DMatrix::from_row_slice(3, 3, &[4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0]);
        let h = sqrt_psd(&a);
        assert!((&h * &h - &a).amax() < 1e-12);
    }

    #[test]
    fn fit_matches_numpy_conventions() {
        // np.cov([[1,2],[3,5],[5,11]], rowvar=False) = [[4, 9], [9, 21]].
        let g = Gaussian::fit(&[1.0, 2.0, 3.0, 5.0, 5.0, 11.0], 2).unwrap();
        assert_eq!(g.mean.as_slice(), &[3.0, 6.0]);
        assert_eq!(g.cov, DMatrix::from_row_slice(2, 2, &[4.0, 9.0, 9.0, 21.0]));
        assert!(Gaussian::fit(&[1.0, 2.0], 2).is_err());
        assert!(Gaussian::fit(&[1.0, 2.0, 3.0], 2).is_err());
    }
}
