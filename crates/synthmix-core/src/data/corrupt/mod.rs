//! The fifteen MNIST-C corruptions (Mu & Gilmer 2019), written in Rust from
//! the reference's behaviour (`google-research/mnist-c`, `corruptions.py`,
//! Apache-2.0, with the scikit-image, SciPy, OpenCV and ImageMagick functions
//! it calls). Every output pixel is the reference's float result saved as
//! the MNIST-C files were, `np.round(x).astype(np.uint8)`.
//!
//! The reference drew from numpy's unseeded global generator, so random draws
//! (noise, shuffles, signs, angles, line endpoints) come from seeded ChaCha
//! streams here: same seed, same bytes, at any thread count. Shot noise keeps
//! its one stream over the whole set; every other corruption draws from a
//! stream per image (seed, corruption, image index).
//!
//! `scripts/mnist_c_reference.py` checks each one against the reference.

mod affine;
mod canny;
mod filter;
mod lines;
mod noise;

use rayon::prelude::*;

pub use noise::{shot_noise, shot_noise_pmf, shot_noise_value, SHOT_NOISE_C};

use super::{ImageSet, Source};
use crate::artifact::meta::CorruptionRecord;
use crate::error::{Error, Result};
use crate::rng;

/// Side of an MNIST image; the reference hard-codes it (and its centre 13.5).
pub const SIDE: usize = 28;
const PIXELS: usize = SIDE * SIDE;

/// One image as the reference's float array (row-major, 28×28).
pub(crate) type Img = [f64; PIXELS];

/// An MNIST-C corruption, or `identity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corruption {
    Identity,
    ShotNoise,
    ImpulseNoise,
    GlassBlur,
    MotionBlur,
    Shear,
    Scale,
    Rotate,
    Brightness,
    Translate,
    Stripe,
    Fog,
    Spatter,
    DottedLine,
    Zigzag,
    CannyEdges,
}

/// Identity and the fifteen corruptions, in MNIST-C's order.
pub const ALL: [Corruption; 16] = [
    Corruption::Identity,
    Corruption::ShotNoise,
    Corruption::ImpulseNoise,
    Corruption::GlassBlur,
    Corruption::MotionBlur,
    Corruption::Shear,
    Corruption::Scale,
    Corruption::Rotate,
    Corruption::Brightness,
    Corruption::Translate,
    Corruption::Stripe,
    Corruption::Fog,
    Corruption::Spatter,
    Corruption::DottedLine,
    Corruption::Zigzag,
    Corruption::CannyEdges,
];

impl Corruption {
    pub fn name(self) -> &'static str {
        match self {
            Corruption::Identity => "identity",
            Corruption::ShotNoise => "shot_noise",
            Corruption::ImpulseNoise => "impulse_noise",
            Corruption::GlassBlur => "glass_blur",
            Corruption::MotionBlur => "motion_blur",
            Corruption::Shear => "shear",
            Corruption::Scale => "scale",
            Corruption::Rotate => "rotate",
            Corruption::Brightness => "brightness",
            Corruption::Translate => "translate",
            Corruption::Stripe => "stripe",
            Corruption::Fog => "fog",
            Corruption::Spatter => "spatter",
            Corruption::DottedLine => "dotted_line",
            Corruption::Zigzag => "zigzag",
            Corruption::CannyEdges => "canny_edges",
        }
    }

    pub fn parse(s: &str) -> Option<Corruption> {
        ALL.into_iter().find(|c| c.name() == s)
    }

    /// The reference function's default severity, the one MNIST-C was made
    /// with; `None` for the corruptions that take no severity.
    pub fn default_severity(self) -> Option<u8> {
        use Corruption::*;
        match self {
            ShotNoise | Brightness | Fog => Some(5),
            ImpulseNoise | Spatter => Some(4),
            Scale | Translate => Some(3),
            Shear | Rotate => Some(2),
            GlassBlur | MotionBlur => Some(1),
            Identity | Stripe | DottedLine | Zigzag | CannyEdges => None,
        }
    }

    /// The severity used for a requested one (`None`: the default). Ignored,
    /// and `None`, for corruptions without severities.
    pub fn severity(self, requested: Option<u8>) -> Result<Option<u8>> {
        let Some(default) = self.default_severity() else { return Ok(None) };
        let s = requested.unwrap_or(default);
        if !(1..=5).contains(&s) {
            return Err(Error::Invalid(format!("{} severity {s} is outside 1..=5", self.name())));
        }
        Ok(Some(s))
    }
}

/// Applies `c` to `images` (concatenated 28×28 greyscale images).
pub fn apply(c: Corruption, images: &[u8], severity: Option<u8>, seed: u64) -> Result<Vec<u8>> {
    let sev = c.severity(severity)?;
    if images.len() % PIXELS != 0 {
        return Err(Error::Invalid(format!(
            "MNIST-C corruptions take 28x28 greyscale images; {} bytes is not a whole number of them",
            images.len()
        )));
    }
    match c {
        Corruption::Identity => return Ok(images.to_vec()),
        // One stream over the set, as shot noise always had (its bytes are pinned).
        Corruption::ShotNoise => return shot_noise(images, sev.unwrap_or(5), seed),
        _ => {}
    }
    let s = sev.unwrap_or(0) as usize;
    let mut out = vec![0u8; images.len()];
    out.par_chunks_mut(PIXELS).zip(images.par_chunks(PIXELS)).enumerate().for_each(|(i, (o, x))| {
        let mut r = rng::stream(seed, &format!("mnist-c/{}/{i}", c.name()));
        o.copy_from_slice(&one(c, s, x, &mut r));
    });
    Ok(out)
}

/// One image through corruption `c` at severity `s` (0 where it has none).
fn one(c: Corruption, s: usize, x: &[u8], r: &mut rng::Rng) -> [u8; PIXELS] {
    use Corruption::*;
    let img = unit(x);
    match c {
        Identity | ShotNoise => unreachable!("handled on the whole set"),
        ImpulseNoise => noise::impulse_noise(x, s, r),
        GlassBlur => filter::glass_blur(&img, s, r),
        MotionBlur => filter::motion_blur(x, s, r),
        Shear => affine::shear(&img, s, r),
        Scale => affine::scale(&img, s),
        Rotate => affine::rotate(&img, s, r),
        Brightness => affine::brightness(&img, s),
        Translate => affine::translate(&img, s, r),
        Stripe => affine::stripe(x),
        Fog => filter::fog(&img, s, r),
        Spatter => filter::spatter(&img, s, r),
        DottedLine => lines::dotted_line(&img, r),
        Zigzag => lines::zigzag(&img, r),
        CannyEdges => canny::canny_edges(&img),
    }
}

/// `np.array(x) / 255.`
fn unit(x: &[u8]) -> Img {
    let mut img = [0.0; PIXELS];
    for (o, &v) in img.iter_mut().zip(x) {
        *o = v as f64 / 255.0;
    }
    img
}

/// The reference's float32 result (`x.astype(np.float32)`) saved with
/// `np.round(x).astype(np.uint8)`: ties to even, in float32.
fn save_f32(v: f64) -> u8 {
    (v as f32).round_ties_even().clamp(0.0, 255.0) as u8
}

/// As [`save_f32`] for the corruptions whose result stays float64 (spatter).
fn save_f64(v: f64) -> u8 {
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// `clip(x, 0, 1) * 255` saved as float32, for a whole image.
fn save_unit(img: &Img) -> [u8; PIXELS] {
    let mut out = [0u8; PIXELS];
    for (o, &v) in out.iter_mut().zip(img) {
        *o = save_f32(v.clamp(0.0, 1.0) * 255.0);
    }
    out
}

/// The MNIST-C version of a (MNIST) set under corruption `c`, with the
/// metadata every corrupted set carries (the one place it is written).
pub fn corrupt_set(base: &ImageSet, c: Corruption, severity: Option<u8>, seed: u64) -> Result<ImageSet> {
    let sh = base.shape;
    if (sh.c, sh.h, sh.w) != (1, SIDE, SIDE) {
        return Err(Error::Invalid(format!(
            "MNIST-C corruptions take 1x28x28 images; {} {} has {sh}",
            base.meta.dataset, base.meta.split
        )));
    }
    let sev = c.severity(severity)?;
    let mut set = base.clone();
    set.images = apply(c, &base.images, sev, seed)?;
    set.meta.source = Source::Corrupted;
    set.meta.corruption = Some(CorruptionRecord {
        corruption: c.name().into(),
        severity: sev,
        seed,
        origin: "computed (MNIST-C algorithm, seeded)".into(),
    });
    Ok(set)
}

/// The MNIST-C shot-noise version of a (MNIST) set.
pub fn shot_noise_set(base: &ImageSet, severity: u8, seed: u64) -> Result<ImageSet> {
    corrupt_set(base, Corruption::ShotNoise, Some(severity), seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring, like a zero: ink in the middle, background at the borders.
    fn ring() -> Vec<u8> {
        (0..PIXELS)
            .map(|i| {
                let (r, c) = ((i / SIDE) as f64 - 13.5, (i % SIDE) as f64 - 13.5);
                let d = (r * r + c * c).sqrt();
                if (5.0..9.0).contains(&d) {
                    (255.0 * (1.0 - (d - 7.0).abs() / 2.0)) as u8
                } else {
                    0
                }
            })
            .collect()
    }

    fn images(n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| ring()).collect()
    }

    fn mass(x: &[u8]) -> f64 {
        x.iter().map(|&v| v as f64).sum()
    }

    /// Mean column and row of the ink.
    fn centre(x: &[u8]) -> (f64, f64) {
        let m = mass(x);
        let c = x.iter().enumerate().map(|(i, &v)| (i % SIDE) as f64 * v as f64).sum::<f64>() / m;
        let r = x.iter().enumerate().map(|(i, &v)| (i / SIDE) as f64 * v as f64).sum::<f64>() / m;
        (c, r)
    }

    #[test]
    fn names_round_trip_and_match_the_dataset_list() {
        for (c, name) in ALL.iter().zip(crate::data::name::MNIST_C_CORRUPTIONS.iter()) {
            assert_eq!(c.name(), *name);
            assert_eq!(Corruption::parse(name), Some(*c));
        }
        assert_eq!(Corruption::parse("frost"), None);
    }

    #[test]
    fn every_corruption_is_seeded_deterministic_and_keeps_the_shape() {
        let x = images(3);
        for c in ALL {
            let a = apply(c, &x, None, 7).unwrap();
            assert_eq!(a.len(), x.len(), "{}", c.name());
            assert_eq!(a, apply(c, &x, None, 7).unwrap(), "{} is not deterministic", c.name());
            let random = !matches!(
                c,
                Corruption::Identity
                    | Corruption::Scale
                    | Corruption::Brightness
                    | Corruption::Stripe
                    | Corruption::CannyEdges
            );
            // Signs are one bit per image: three images may agree for two seeds.
            if random && !matches!(c, Corruption::Shear | Corruption::Rotate | Corruption::Translate) {
                assert_ne!(a, apply(c, &x, None, 8).unwrap(), "{} ignores the seed", c.name());
            }
            if c != Corruption::Identity {
                assert_ne!(a, x, "{} changed nothing", c.name());
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let x = images(8);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        for c in [Corruption::Fog, Corruption::GlassBlur, Corruption::Zigzag] {
            let one = pool.install(|| apply(c, &x, None, 3).unwrap());
            assert_eq!(one, apply(c, &x, None, 3).unwrap(), "{}", c.name());
        }
    }

    #[test]
    fn severities_default_to_mnist_c_and_are_checked() {
        assert_eq!(Corruption::ShotNoise.severity(None).unwrap(), Some(5));
        assert_eq!(Corruption::GlassBlur.severity(None).unwrap(), Some(1));
        assert_eq!(Corruption::Stripe.severity(Some(3)).unwrap(), None);
        let e = apply(Corruption::Fog, &ring(), Some(6), 0).unwrap_err().to_string();
        assert!(e.contains("fog severity 6"), "{e}");
        let e = apply(Corruption::Fog, &[0; 10], None, 0).unwrap_err().to_string();
        assert!(e.contains("28x28"), "{e}");
    }

    #[test]
    fn geometric_corruptions_move_the_ink_as_the_reference_does() {
        let x = ring();
        let (c0, r0) = centre(&x);
        // Stripe is its own inverse; brightness lifts black to 0.5.
        assert_eq!(apply(Corruption::Stripe, &apply(Corruption::Stripe, &x, None, 0).unwrap(), None, 0).unwrap(), x);
        let b = apply(Corruption::Brightness, &x, None, 0).unwrap();
        assert_eq!(b[0], 128);
        // Scale shrinks by 0.7 about the centre: ink mass by about 0.49.
        let s = apply(Corruption::Scale, &x, None, 0).unwrap();
        let ratio = mass(&s) / mass(&x);
        assert!((0.4..0.6).contains(&ratio), "{ratio}");
        // Translate moves the ink 3 pixels along each axis.
        let t = apply(Corruption::Translate, &x, None, 0).unwrap();
        let (c1, r1) = centre(&t);
        assert!(((c1 - c0).abs() - 3.0).abs() < 0.2 && ((r1 - r0).abs() - 3.0).abs() < 0.2, "{c1} {r1}");
        // A rotation of the centred ring barely changes it.
        let rot = apply(Corruption::Rotate, &x, None, 0).unwrap();
        assert!((mass(&rot) / mass(&x) - 1.0).abs() < 0.05);
        assert_eq!(affine::warp_rotate(&unit(&x), 0.0).to_vec(), x);
    }

    #[test]
    fn lines_only_add_ink_and_edges_are_binary() {
        let x = ring();
        for c in [Corruption::DottedLine, Corruption::Zigzag] {
            let y = apply(c, &x, None, 1).unwrap();
            assert!(y.iter().zip(&x).all(|(a, b)| a >= b), "{}", c.name());
            assert!(mass(&y) > mass(&x) + 255.0 * 5.0, "{}", c.name());
        }
        // dotted_line leaves columns 0-1, 4-5, ... untouched.
        let y = apply(Corruption::DottedLine, &images(20), None, 1).unwrap();
        assert!(y.iter().zip(images(20)).enumerate().all(|(i, (a, b))| (i % SIDE) % 4 >= 2 || *a == b));
        let e = apply(Corruption::CannyEdges, &x, None, 0).unwrap();
        assert!(e.iter().all(|&v| v == 0 || v == 255));
        // Two circles of edges around the ring, none in the far corners.
        assert!(e.iter().filter(|&&v| v == 255).count() > 40);
        assert_eq!(e[0] as u32 + e[SIDE - 1] as u32 + e[PIXELS - 1] as u32, 0);
        let line = lines::line_from_points(0.0, 5.0, 27.0, 5.0);
        assert_eq!(line[5 * SIDE + 10], 1.0);
        assert_eq!(line[5 * SIDE + 27], 0.0, "the reference zeroes column 27");
    }

    #[test]
    fn noise_and_weather_have_the_reference_shape() {
        let x = images(50);
        let imp = apply(Corruption::ImpulseNoise, &x, None, 0).unwrap();
        let flipped = imp.iter().zip(&x).filter(|(a, b)| a != b).count() as f64;
        let expect_changed = x.iter().map(|&v| if v == 0 || v == 255 { 0.085 } else { 0.17 }).sum::<f64>();
        assert!((flipped / expect_changed - 1.0).abs() < 0.05, "{flipped} vs {expect_changed}");
        let fog = apply(Corruption::Fog, &x, None, 0).unwrap();
        assert!(fog[0..PIXELS].iter().filter(|&&v| v > 0).count() > PIXELS / 2, "fog reaches the background");
        let sp = apply(Corruption::Spatter, &x, None, 0).unwrap();
        assert!(sp.iter().any(|&v| v == 63), "mud is grey 63");
        let mb = apply(Corruption::MotionBlur, &x, None, 0).unwrap();
        assert!((mass(&mb) / mass(&x) - 1.0).abs() < 0.1, "motion blur keeps the ink");
        let p = filter::plasma_fractal(256, 1.4, &mut rng::stream(0, "t"));
        assert_eq!(p.iter().copied().fold(f64::INFINITY, f64::min), 0.0);
        assert_eq!(p.iter().copied().fold(0.0, f64::max), 1.0);
        let k = filter::gaussian_kernel(1.0);
        assert_eq!(k.len(), 5);
        assert!((k[0] + 2.0 * k[1..].iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
