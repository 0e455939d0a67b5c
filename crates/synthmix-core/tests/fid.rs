//! FID against closed forms and an independent square-root algorithm, and
//! the feature network's predictions against the classifier's own.

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use rand::Rng as _;
use rand_distr::{Distribution, StandardNormal};
use synthmix_core::metrics::fid::{self, frechet_distance, trace_sqrt_product, FeatureNet, Gaussian};
use synthmix_core::rng;

fn gaussian(mean: &[f64], cov: DMatrix<f64>) -> Gaussian {
    Gaussian { mean: DVector::from_column_slice(mean), cov, n: 0 }
}

/// A random symmetric positive-definite matrix `A Aᵀ + εI` (not diagonal).
fn random_spd(d: usize, seed: u64) -> DMatrix<f64> {
    let mut r = rng::stream(seed, "spd");
    let a = DMatrix::<f64>::from_fn(d, d, |_, _| StandardNormal.sample(&mut r));
    &a * a.transpose() + DMatrix::identity(d, d) * 0.1
}

fn random_rotation(d: usize, seed: u64) -> DMatrix<f64> {
    let mut r = rng::stream(seed, "rot");
    DMatrix::<f64>::from_fn(d, d, |_, _| StandardNormal.sample(&mut r)).qr().q()
}

fn rel_close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * b.abs().max(1.0), "{a} vs {b}");
}

#[test]
fn diagonal_covariances_match_closed_form() {
    // FID = ‖μ₁−μ₂‖² + Σ (√aᵢ − √bᵢ)².
    let a = [4.0, 1.0, 0.25, 9.0, 2.0];
    let b = [1.0, 1.0, 1.0, 16.0, 0.5];
    let (m1, m2) = ([0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 0.0, 3.0, 4.5]);
    let want: f64 = m1.iter().zip(&m2).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()
        + a.iter().zip(&b).map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2)).sum::<f64>();
    let g1 = gaussian(&m1, DMatrix::from_diagonal(&DVector::from_column_slice(&a)));
    let g2 = gaussian(&m2, DMatrix::from_diagonal(&DVector::from_column_slice(&b)));
    rel_close(frechet_distance(&g1, &g2), want, 1e-12);
    // 1 + 0 + 4 + 0 + 0.25 + (2−1)² + 0 + (0.5−1)² + (3−4)² + (√2−√0.5)².
    rel_close(want, 1.0 + 4.0 + 0.25 + 1.0 + 0.25 + 1.0 + 0.5, 1e-12);
}

#[test]
fn commuting_covariances_match_closed_form() {
    // Σ₁ = Q diag(a) Qᵀ, Σ₂ = Q diag(b) Qᵀ: not diagonal, but they commute,
    // so FID = ‖μ₁−μ₂‖² + Σ (√aᵢ − √bᵢ)² still.
    let d = 12;
    let q = random_rotation(d, 1);
    let mut r = rng::stream(2, "eig");
    let a: Vec<f64> = (0..d).map(|_| r.gen_range(0.01..5.0)).collect();
    let b: Vec<f64> = (0..d).map(|_| r.gen_range(0.01..5.0)).collect();
    let s = |v: &[f64]| &q * DMatrix::from_diagonal(&DVector::from_column_slice(v)) * q.transpose();
    let m1: Vec<f64> = (0..d).map(|_| r.gen_range(-1.0..1.0)).collect();
    let m2: Vec<f64> = (0..d).map(|_| r.gen_range(-1.0..1.0)).collect();
    let want = m1.iter().zip(&m2).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()
        + a.iter().zip(&b).map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2)).sum::<f64>();
    rel_close(frechet_distance(&gaussian(&m1, s(&a)), &gaussian(&m2, s(&b))), want, 1e-10);
}

#[test]
fn non_commuting_2x2_matches_the_trace_identity() {
    // For 2×2 M with positive eigenvalues, Tr √M = √(Tr M + 2√det M); the
    // eigenvalues of Σ₁^½Σ₂Σ₁^½ are those of Σ₁Σ₂.
    for seed in 0..20 {
        let (s1, s2) = (random_spd(2, seed), random_spd(2, seed + 100));
        assert!((&s1 * &s2 - &s2 * &s1).amax() > 1e-3, "test needs non-commuting matrices");
        let p = &s1 * &s2;
        let want = (p.trace() + 2.0 * p.determinant().sqrt()).sqrt();
        rel_close(trace_sqrt_product(&s1, &s2), want, 1e-12);
        // And the whole distance.
        let (m1, m2) = ([0.3, -1.0], [1.0, 2.0]);
        let full = 0.7f64.powi(2) + 9.0 + s1.trace() + s2.trace() - 2.0 * want;
        rel_close(frechet_distance(&gaussian(&m1, s1), &gaussian(&m2, s2)), full, 1e-11);
    }
}

/// √A by the Denman–Beavers iteration (no eigen-decomposition at all), for
/// a matrix whose eigenvalues are real and positive (such as Σ₁Σ₂).
fn sqrtm_denman_beavers(a: &DMatrix<f64>) -> DMatrix<f64> {
    let mut y = a.clone();
    let mut z = DMatrix::identity(a.nrows(), a.ncols());
    for _ in 0..100 {
        let yi = y.clone().try_inverse().unwrap();
        let zi = z.clone().try_inverse().unwrap();
        let y2 = (&y + zi) * 0.5;
        z = (&z + yi) * 0.5;
        let done = (&y2 - &y).amax() < 1e-14 * y2.amax();
        y = y2;
        if done {
            break;
        }
    }
    y
}

#[test]
fn non_commuting_random_case_matches_an_independent_sqrtm() {
    for (d, seed) in [(8, 1), (32, 2), (64, 3)] {
        let (s1, s2) = (random_spd(d, seed), random_spd(d, seed + 50));
        let root = sqrtm_denman_beavers(&(&s1 * &s2));
        assert!((&root * &root - &s1 * &s2).amax() < 1e-6 * (&s1 * &s2).amax(), "iteration converged");
        rel_close(trace_sqrt_product(&s1, &s2), root.trace(), 1e-9);
        // A symmetric eigen-solver applied to Σ₁Σ₂ itself (not symmetric) is
        // the classic mistake; it gives something else.
        let wrong: f64 = nalgebra::SymmetricEigen::new(&s1 * &s2).eigenvalues.iter().map(|l| l.max(0.0).sqrt()).sum();
        assert!((wrong - root.trace()).abs() > 1e-3 * root.trace(), "d={d}: the naive route should differ");
    }
}

fn random_features(n: usize, d: usize, seed: u64, shift: f32) -> Vec<f32> {
    let mut r = rng::stream(seed, "features");
    // Correlated columns: each row mixes a few latent factors.
    (0..n)
        .flat_map(|_| {
            let f: [f32; 3] =
                [StandardNormal.sample(&mut r), StandardNormal.sample(&mut r), StandardNormal.sample(&mut r)];
            let noise: Vec<f32> = (0..d).map(|_| StandardNormal.sample(&mut r)).collect();
            (0..d)
                .map(move |j| shift + f[j % 3] * (1.0 + j as f32 * 0.1) + 0.3 * noise[j] + (j as f32).sin())
                .collect::<Vec<f32>>()
        })
        .collect()
}

#[test]
fn fid_of_a_set_with_itself_is_zero_and_distances_are_symmetric() {
    let d = 32;
    let x = random_features(2000, d, 1, 0.0);
    let y = random_features(1500, d, 2, 0.2);
    let self_fid = fid::fid(&x, &x, d).unwrap();
    assert!(self_fid.abs() < 1e-9, "FID(X, X) = {self_fid}");
    let (xy, yx) = (fid::fid(&x, &y, d).unwrap(), fid::fid(&y, &x, d).unwrap());
    assert!(xy > 0.1, "different sets: {xy}");
    rel_close(xy, yx, 1e-9);
    // The mean shift of 0.2 in every column contributes 32 · 0.04 = 1.28;
    // finite samples add a positive bias of the covariance terms.
    assert!(xy > 1.2 && xy < 4.0, "{xy}");
    // Feeding the rows in another order changes nothing but rounding.
    let mut rev: Vec<f32> = x.chunks(d).rev().flatten().copied().collect();
    rel_close(fid::fid(&rev, &y, d).unwrap(), xy, 1e-9);
    rev.truncate(d);
    assert!(fid::fid(&rev, &y, d).is_err(), "one row cannot make a covariance");
}

#[test]
fn samples_of_known_gaussians_approach_the_closed_form() {
    // X ~ N(0, diag(1, 4)), Y ~ N((1, 0), diag(4, 1)): FID = 1 + 1 + 1 = 3.
    let mut r = rng::stream(9, "gauss");
    let n = 200_000;
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(2 * n);
    for _ in 0..n {
        let z: [f32; 4] = std::array::from_fn(|_| StandardNormal.sample(&mut r));
        x.extend([z[0], 2.0 * z[1]]);
        y.extend([1.0 + 2.0 * z[2], z[3]]);
    }
    let v = fid::fid(&x, &y, 2).unwrap();
    assert!((v - 3.0).abs() < 0.05, "{v}");
}

#[test]
fn feature_net_predictions_equal_the_classifiers() {
    use candle_core::Device;
    use synthmix_core::artifact::checkpoint::{self, CheckpointMeta};
    use synthmix_core::data::{ImageSet, ImageShape, SetMeta, Source};
    use synthmix_core::model::{self, ClassifierArch, ClassifierConfig};
    let dev = Device::Cpu;
    let cfg = ClassifierConfig::paper(ClassifierArch::SimpleCnn);
    let (clf, vars) = model::new_classifier(&cfg, 4, &dev).unwrap();
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("clf.safetensors");
    let meta = CheckpointMeta {
        kind: "classifier".into(),
        arch: "simple-cnn".into(),
        config: serde_json::to_string(&cfg).unwrap(),
        dataset: "mnist".into(),
        epoch: 0,
        trained: synthmix_core::artifact::checkpoint::Trained::Imported("the test".into()),
        other: Default::default(),
    };
    checkpoint::write(&path, &vars, &meta).unwrap();
    let mut r = rng::stream(1, "px");
    let n = 300;
    let shape = ImageShape { c: 1, h: 28, w: 28 };
    let images: Vec<u8> = (0..n * shape.pixels()).map(|_| r.gen()).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let meta = SetMeta::new("mnist", "test", Source::Synthetic);
    let set = ImageSet::new(Path::new("<t>"), images, labels, shape, 10, meta).unwrap();
    let net = FeatureNet::load(&path, &dev).unwrap();
    let ex = net.extract(&set, 64).unwrap();
    assert_eq!(ex.dim, 128);
    assert_eq!(ex.features.len(), n * 128);
    assert_eq!(ex.predictions, model::predict(&clf, &set, 64, &dev).unwrap());
    assert_eq!(net.blake3, synthmix_core::artifact::hash_file(&path).unwrap());
}
