//! The bounds every count, size and rate is checked against before any work
//! or allocation, and the clap value parsers that enforce them on every
//! flag: a value out of bounds is one clap error line naming the flag, and
//! exit 2, before a file is read. Whatever the flags, sizes are computed in
//! checked arithmetic ([`images_bytes`]) so no product can wrap.

use crate::error::{Error, Result};

/// Images in any one set (a mix's total, a subset, a synthetic sample, FID samples).
pub const MAX_IMAGES: usize = 10_000_000;
/// Images of one class in a synthetic sample.
pub const MAX_PER_CLASS: usize = 1_000_000;
/// Either part of a mix ratio O:S.
pub const MAX_RATIO_PART: u32 = 1_000;
/// Epochs of any training run.
pub const MAX_EPOCHS: usize = 100_000;
/// Images per mini-batch or inference batch.
pub const MAX_BATCH: usize = 65_536;
/// Bytes of pixels one image set may hold in memory.
pub const MAX_SET_BYTES: u64 = 16 << 30;
/// A learning rate above this is a typo, not an experiment.
pub const MAX_LR: f64 = 10.0;
/// Pixels per image (a side of 4096 with 3 channels stays below it).
pub const MAX_PIXELS: usize = 64 << 20;
/// Pixels (width × height) of one image file `data import` reads, checked
/// from its header before decoding: 8192 × 8192, past any photograph a study
/// fits to at most 1024 × 1024, and at 8 bytes a pixel (16-bit RGBA) within
/// the image crate's default 512 MiB per decode.
pub const MAX_SOURCE_PIXELS: u64 = 64 << 20;

fn count(s: &str, lo: usize, hi: usize) -> std::result::Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("'{s}' is not a whole number"))?;
    if n < lo || n > hi {
        return Err(format!("{n} is out of range: must be {lo} to {hi}"));
    }
    Ok(n)
}

fn real(s: &str) -> std::result::Result<f64, String> {
    let x: f64 = s.trim().parse().map_err(|_| format!("'{s}' is not a number"))?;
    if !x.is_finite() {
        return Err(format!("{s} is not a finite number"));
    }
    Ok(x)
}

/// A set's size: 1 to [`MAX_IMAGES`].
pub fn images(s: &str) -> std::result::Result<usize, String> {
    count(s, 1, MAX_IMAGES)
}

/// Images per class: 1 to [`MAX_PER_CLASS`].
pub fn per_class(s: &str) -> std::result::Result<usize, String> {
    count(s, 1, MAX_PER_CLASS)
}

/// Epochs: 1 to [`MAX_EPOCHS`].
pub fn epochs(s: &str) -> std::result::Result<usize, String> {
    count(s, 1, MAX_EPOCHS)
}

/// A batch size: 1 to [`MAX_BATCH`].
pub fn batch_size(s: &str) -> std::result::Result<usize, String> {
    count(s, 1, MAX_BATCH)
}

/// A learning rate: finite, above 0, at most [`MAX_LR`].
pub fn learning_rate(s: &str) -> std::result::Result<f64, String> {
    let x = real(s)?;
    if x <= 0.0 || x > MAX_LR {
        return Err(format!("{x} is out of range: a learning rate must be above 0 and at most {MAX_LR}"));
    }
    Ok(x)
}

/// An Adam β: in [0, 1).
/// A weight or probability in [0, 1].
pub fn unit_interval(s: &str) -> std::result::Result<f64, String> {
    let x = real(s)?;
    if !(0.0..=1.0).contains(&x) {
        return Err(format!("{x} is out of range: must be between 0 and 1"));
    }
    Ok(x)
}

/// A noise scale σ: above 0, at most 10.
pub fn latent_scale(s: &str) -> std::result::Result<f64, String> {
    let x = real(s)?;
    if !(x > 0.0 && x <= 10.0) {
        return Err(format!("{x} is out of range: must be above 0 and at most 10"));
    }
    Ok(x)
}

pub fn beta(s: &str) -> std::result::Result<f64, String> {
    let x = real(s)?;
    if !(0.0..1.0).contains(&x) {
        return Err(format!("{x} is out of range: must be at least 0 and below 1"));
    }
    Ok(x)
}

/// Adam's ε: above 0, at most 1.
pub fn epsilon(s: &str) -> std::result::Result<f64, String> {
    let x = real(s)?;
    if x <= 0.0 || x > 1.0 {
        return Err(format!("{x} is out of range: must be above 0 and at most 1"));
    }
    Ok(x)
}

/// A held-out fraction: in [0, 1).
pub fn fraction(s: &str) -> std::result::Result<f64, String> {
    beta(s)
}

/// Bytes of `n` images of `pixels` bytes each, refused past [`MAX_SET_BYTES`]
/// (and past [`MAX_IMAGES`]) before anything is allocated.
pub fn images_bytes(n: usize, pixels: usize, what: &str) -> Result<usize> {
    if n > MAX_IMAGES {
        return Err(Error::Invalid(format!("{what}: {n} images is more than the limit of {MAX_IMAGES}")));
    }
    let bytes = (n as u64).checked_mul(pixels as u64).filter(|&b| b <= MAX_SET_BYTES).ok_or_else(|| {
        Error::Invalid(format!(
            "{what}: {n} images of {pixels} bytes is more than the {} GiB an image set may hold",
            MAX_SET_BYTES >> 30
        ))
    })?;
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_whole_and_bounded() {
        assert_eq!(images("60000"), Ok(60000));
        assert!(images("0").unwrap_err().contains("must be 1 to"));
        assert!(images("18446744073709551616").unwrap_err().contains("not a whole number"));
        assert!(images("-1").is_err() && images("1e3").is_err() && images("").is_err());
        assert!(batch_size("0").is_err() && batch_size("65537").is_err() && batch_size("64").is_ok());
        assert!(epochs("0").is_err() && per_class(&(MAX_PER_CLASS + 1).to_string()).is_err());
    }

    #[test]
    fn rates_are_finite_and_in_range() {
        assert_eq!(learning_rate("2e-4"), Ok(2e-4));
        for bad in ["0", "-1e-4", "nan", "NaN", "inf", "-inf", "11", "x"] {
            assert!(learning_rate(bad).is_err(), "{bad}");
        }
        assert!(beta("0.999").is_ok() && beta("0").is_ok() && beta("1").is_err() && beta("-0.1").is_err());
        assert!(epsilon("1e-8").is_ok() && epsilon("0").is_err() && epsilon("nan").is_err());
        assert!(fraction("0").is_ok() && fraction("1").is_err());
    }

    #[test]
    fn set_sizes_cannot_wrap() {
        assert_eq!(images_bytes(60000, 784, "x").unwrap(), 47_040_000);
        assert!(images_bytes(usize::MAX, 784, "x").unwrap_err().to_string().contains("limit"));
        let e = images_bytes(MAX_IMAGES, 1 << 20, "mix-build --total").unwrap_err().to_string();
        assert!(e.contains("mix-build --total") && e.contains("GiB"), "{e}");
    }
}
