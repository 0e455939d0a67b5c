//! Branch-free f32 math that the compiler vectorises, for the elementwise
//! kernels (GroupNorm + SiLU): an `exp` and a sigmoid without libm calls,
//! f64 sums in a fixed lane order, and the AVX2 dispatch of a kernel.
//!
//! Everything here is plain Rust arithmetic: Rust never contracts `a·b + c`
//! into an FMA, so a kernel compiled for AVX2 (8 lanes) and the same kernel
//! compiled for the x86-64 baseline (4 lanes) round every operation alike
//! and give the same bits (tested). The lane order of a sum is fixed by
//! [`LANES`] in the source, not by the vector width or the thread count.

use std::mem::MaybeUninit;

/// Lanes of the fixed-order sums: element `i` of a slice goes to lane `i % 8`.
pub const LANES: usize = 8;

/// [`exp`] clamps its input to this range: `2^n` stays a normal f32 there.
pub const EXP_LO: f32 = -87.33;
pub const EXP_HI: f32 = 88.37;

/// `eˣ` as Cephes' `expf`: `x = n·ln 2 + r` (n rounded to nearest, `ln 2`
/// split in two so `r` is exact), a degree-7 polynomial in `|r| ≤ ln2/2`, and
/// `2ⁿ` built in the exponent bits. Inputs beyond [`EXP_LO`, `EXP_HI`] give
/// `exp` of the bound (≈ 1.2e-38 and ≈ 2.6e38); NaN gives NaN. Largest
/// relative error against f64's `exp` over every f32 of the range: 8.2e-8
/// (under one f32 ulp; `tests::EXP_MAX_REL_ERR`).
#[allow(clippy::excessive_precision)] // Cephes' digits, so they can be checked against it
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // 1.5·2²³: adding it rounds to an integer (ties to even) held in the low
    // mantissa bits, without a libm `roundf` (baseline x86-64 has no vector round).
    const MAGIC: f32 = 12_582_912.0;
    let x = if x < EXP_LO { EXP_LO } else { x };
    let x = if x > EXP_HI { EXP_HI } else { x };
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_150_0e-4f32;
    p = p * r + 1.398_199_950_7e-3;
    p = p * r + 8.333_451_907_3e-3;
    p = p * r + 4.166_579_589_4e-2;
    p = p * r + 1.666_666_545_9e-1;
    p = p * r + 5.000_000_120_1e-1;
    let e = p * (r * r) + r + 1.0;
    // n + 127 in [1, 254] after the clamp: a normal power of two.
    let bits = t.to_bits().wrapping_sub(MAGIC.to_bits()).wrapping_add(127) << 23;
    e * f32::from_bits(bits)
}

/// `1 / (1 + e⁻ᶻ)` with [`exp`]: within 1.5e-7 relative of f64's on
/// [-80, 80] (`tests::SIGMOID_MAX_REL_ERR`). Below −87.3 it is
/// `1/(1 + e^88.37)` ≈ 4e-39 instead of σ's smaller value (SiLU's
/// `z·σ(z)` is then 0 within 4e-37); it is 1 for z ≳ 17, as f64's rounded.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// Σ f(xᵢ) in f64: element `i` into lane `i % LANES`, the lanes then added
/// as a fixed tree. The same bits on every vector width.
#[inline(always)]
pub fn lane_sum(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    for (a, &v) in acc.iter_mut().zip(tail) {
        *a += f(v);
    }
    fold_lanes(acc)
}

/// (Σ f(xᵢ, yᵢ).0, Σ f(xᵢ, yᵢ).1) over two slices of one length, each
/// sum in the lanes and order of [`lane_sum`].
#[inline(always)]
pub fn lane_sum2(x: &[f32], y: &[f32], f: impl Fn(f32, f32) -> (f64, f64)) -> (f64, f64) {
    let (mut a, mut b) = ([0f64; LANES], [0f64; LANES]);
    let (xs, ys) = (x.chunks_exact(LANES), y.chunks_exact(LANES));
    let tail = xs.remainder().iter().zip(ys.remainder());
    for (xc, yc) in xs.zip(ys) {
        for l in 0..LANES {
            let (u, v) = f(xc[l], yc[l]);
            a[l] += u;
            b[l] += v;
        }
    }
    for (l, (&u, &v)) in tail.enumerate() {
        let (p, q) = f(u, v);
        a[l] += p;
        b[l] += q;
    }
    (fold_lanes(a), fold_lanes(b))
}

/// The lanes' total, in one fixed order.
#[inline(always)]
pub fn fold_lanes(a: [f64; LANES]) -> f64 {
    ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
}

/// A vector of `len` f32 written by `fill`, which sees it uninitialised:
/// no zeroing pass before a kernel that overwrites every element.
///
/// # Safety
/// `fill` must write every element of the slice it is given.
pub unsafe fn written_by(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    fill(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the caller's contract: all `len` elements are written.
    unsafe { v.set_len(len) };
    v
}

/// The slice once every element is written.
///
/// # Safety
/// Every element of `s` must have been written.
pub unsafe fn assume_written(s: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller vouches that
    // every element is initialised.
    unsafe { &mut *(s as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// Whether the AVX2 copies of the kernels may run (cached by std).
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `fn $name(args) = $body_fn`: `$name` calls `$avx2` — `$body_fn` compiled
/// with AVX2 enabled, so its 8-lane loops become one ymm register each — on
/// CPUs that have it, and `$body_fn` as built (x86-64 baseline) elsewhere.
/// The bits are the same either way (see the module docs). `$body_fn` must
/// be `#[inline(always)]` so it is compiled inside `$avx2`.
macro_rules! dispatch_avx2 {
    ($(#[$m:meta])* fn $name:ident / $avx2:ident ($($arg:ident: $ty:ty),* $(,)?) = $body:path) => {
        // `unsafe fn`: a safe `#[target_feature]` fn needs Rust 1.86, and
        // the workspace builds with 1.85.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn $avx2($($arg: $ty),*) {
            $body($($arg),*)
        }

        $(#[$m])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if $crate::ops::vmath::has_avx2() {
                // SAFETY: the CPU has AVX2 (checked just above).
                return unsafe { $avx2($($arg),*) };
            }
            $body($($arg),*)
        }
    };
}

pub(crate) use dispatch_avx2;

#[cfg(test)]
mod tests {
    use super::*;

    /// Bound on [`exp`]'s relative error over [EXP_LO, EXP_HI]: measured
    /// 8.155e-8 (at 15.596843) over every f32 there by `exp_exhaustive`.
    const EXP_MAX_REL_ERR: f64 = 1e-7;
    /// Bound on [`sigmoid`]'s relative error on [-80, 80]: measured 1.46e-7.
    const SIGMOID_MAX_REL_ERR: f64 = 2e-7;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    /// The largest relative error of `exp` against f64's over every
    /// `step`-th f32 bit pattern of [EXP_LO, EXP_HI] (both signs), and where.
    fn worst_exp_error(step: usize) -> (f64, f32) {
        let mut worst = (0f64, 0f32);
        for bits in (0..0x42b0_0000u32).step_by(step).chain([0, 1, 0x3f80_0000]) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                if !(EXP_LO..=EXP_HI).contains(&x) {
                    continue;
                }
                let e = rel(exp(x) as f64, (x as f64).exp());
                if e > worst.0 {
                    worst = (e, x);
                }
            }
        }
        worst
    }

    /// Every 97th f32 (≈ 22 million inputs, every binade down to 1e-38).
    #[test]
    fn exp_is_within_its_stated_error() {
        let (e, x) = worst_exp_error(97);
        eprintln!("exp: max relative error {e:.3e} at {x}");
        assert!(e <= EXP_MAX_REL_ERR, "exp({x}) off by {e:e}");
        assert_eq!(exp(0.0), 1.0);
    }

    /// Every f32 of the range (2.2 billion; minutes): how
    /// EXP_MAX_REL_ERR was measured. `cargo test --release -p synthmix-core
    /// exp_exhaustive -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn exp_exhaustive() {
        let (e, x) = worst_exp_error(1);
        eprintln!("exp: max relative error {e:.3e} at {x} over every f32");
        assert!(e <= EXP_MAX_REL_ERR, "exp({x}) off by {e:e}");
    }

    #[test]
    fn exp_clamps_and_keeps_nan() {
        assert_eq!(exp(-1000.0), exp(EXP_LO));
        assert_eq!(exp(1000.0), exp(EXP_HI));
        assert!(exp(-1000.0) > 0.0 && exp(1000.0).is_finite());
        assert!(exp(f32::NAN).is_nan());
        assert!(sigmoid(f32::NAN).is_nan());
    }

    /// σ over the range GroupNorm's output occupies and far beyond.
    #[test]
    fn sigmoid_matches_f64() {
        let mut worst = 0f64;
        for i in -400_000..=400_000 {
            let z = i as f32 * 2e-4;
            let want = 1.0 / (1.0 + (-(z as f64)).exp());
            worst = worst.max(rel(sigmoid(z) as f64, want));
        }
        eprintln!("sigmoid: max relative error {worst:.3e} on [-80, 80]");
        assert!(worst <= SIGMOID_MAX_REL_ERR, "{worst:e}");
        assert_eq!(sigmoid(0.0), 0.5);
    }

    /// The order is the documented one (lane i % 8, then the tree), on
    /// every length's tail, with values whose sum depends on the order.
    #[test]
    fn lane_sum_adds_in_the_documented_order() {
        let x: Vec<f32> = (0..61).map(|i| if i % 3 == 0 { 1e9 } else { 1.0 + i as f32 * 1e-3 }).collect();
        for len in 0..x.len() {
            let mut lanes = [0f64; LANES];
            for (i, &v) in x[..len].iter().enumerate() {
                lanes[i % LANES] += (v as f64).powi(3);
            }
            let want =
                ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
            assert_eq!(lane_sum(&x[..len], |v| (v as f64).powi(3)).to_bits(), want.to_bits(), "length {len}");
            let pairs = lane_sum2(&x[..len], &x[..len], |u, v| ((u as f64).powi(3), (v as f64).powi(3)));
            assert_eq!(pairs.0.to_bits(), want.to_bits(), "length {len}");
            assert_eq!(pairs.1.to_bits(), want.to_bits(), "length {len}");
        }
        let ints: Vec<f32> = (0..1001).map(|i| i as f32).collect();
        assert_eq!(lane_sum(&ints, |v| v as f64), 500_500.0);
    }
}
