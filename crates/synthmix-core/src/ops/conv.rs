//! Fast, deterministic 2-D convolution (stride 1, zero padding) with fused
//! bias and activation (ReLU, LeakyReLU, tanh or none), for the CNN
//! classifiers and the DCGAN.
//!
//! candle 0.11.1's CPU `conv2d` and its backward (a hand-rolled
//! `conv_transpose2d` for the input gradient, a transposed `conv2d` for the
//! weight gradient) are several times slower than PyTorch. Here every product
//! is im2col + one single-threaded `gemm` (the `gemm` crate, as in candle),
//! inside rayon tasks over fixed groups of images, with per-thread scratch
//! buffers reused across calls. Two layouts:
//!
//! - **Channels-last** (layers with `C·KH·KW >= 64`, i.e. all but a network's
//!   first conv): images are transposed to padded `[H, W, C]`, where an
//!   im2col row is `KH` contiguous runs of `KW·C` values, and the gemms run
//!   with O or C as the micro-kernel's vector dimension (a multiple of 16 in
//!   our models), over several small images at once.
//!   - forward: `y[B·P, O] = col[B·P, K] · W[K, O]`, transposed back to NCHW
//!     with bias and activation;
//!   - weight gradient: `dW[O, K] += g[B·P, O]ᵀ · col[B·P, K]`;
//!   - input gradient: the correlation of the upstream gradient (padded by
//!     `K - 1 - p`) with the flipped kernel, i.e. a forward conv with
//!     reduction length `O·KH·KW` (much faster than a gemm with reduction
//!     length O followed by a col2im scatter).
//! - **NCHW** (few input channels: a network's first conv): im2col rows are
//!   whole input-row segments and the output is written in place, which for
//!   a reduction length of 9 or 27 beats any transposing.
//!
//! The backward is one fused op producing all three gradients: it recomputes
//! im2col rather than keeping it from the forward, scales the upstream
//! gradient by the activation's derivative read from the saved output, and
//! sums the bias gradient on the way.
//!
//! Determinism: tasks are fixed groups of [`IMAGES_PER_TASK`] images (all
//! blocking depends only on the shapes), each task runs on one thread in a
//! fixed order, and per-task weight/bias gradients are summed in task order,
//! so results are bit-identical between runs and independent of the rayon
//! thread count.

use std::cell::RefCell;

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

use super::act::{fast_tanh, with_act, Act};
use super::cpu_slice;
use super::winograd::{self, Frames};

/// Images per backward task: one partial weight gradient per task, summed in
/// task order. Fixed, never derived from the thread count, so the order of
/// the floating-point reduction does not depend on scheduling.
const IMAGES_PER_TASK: usize = 8;

/// Output pixels per gemm in the channels-last path: enough rows to amortise
/// the gemm's packing of W on small feature maps, few enough for the im2col
/// tile to stay near cache.
const GEMM_ROWS: usize = 512;

/// Below this reduction length (`C·KH·KW`) the NCHW path is used.
const MIN_K_CHANNELS_LAST: usize = 64;

/// How the channels-last 3×3 convolutions are computed. Both give the same
/// convolution up to rounding (relative differences ~1e-6), not the same
/// bits, so a model records which one it was trained with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConvAlgorithm {
    /// im2col + gemm everywhere.
    #[default]
    Im2col,
    /// Winograd F(2x2, 3x3) (2.25x fewer multiplies) on the 3x3 layers with
    /// at least 32 channels in and out, im2col elsewhere.
    Winograd,
}

impl ConvAlgorithm {
    /// For `skip_serializing_if`: configs written before the choice existed
    /// keep their bytes.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether Winograd beats im2col for a 3×3 layer with `c` input and `o`
/// output channels (or the input gradient's `o` → `c`), as measured on the
/// CPU (docs/performance.md, "Winograd"): a layer's forward + backward is
/// 1.1–1.4× faster from 32 channels in and out; fewer were not measured.
pub fn winograd_pays(c: usize, o: usize) -> bool {
    c.min(o) >= 32
}

/// `act(conv2d(x, w) + b)` with stride 1 and `padding` zeros on every side.
///
/// `x` is `[N, C, H, W]`, `w` is `[O, C, KH, KW]`, `b` is `[O]`; the result is
/// `[N, O, H + 2p - KH + 1, W + 2p - KW + 1]`. On the CPU with F32 tensors this
/// is a custom op with a fused, deterministic backward (gradients for `x`, `w`
/// and `b`; the gradient for an `x` that is not tracked, e.g. input data, is
/// skipped). On other devices or dtypes it falls back to candle's own ops, so
/// the same model code runs everywhere. The activation's derivative is read
/// from the output (ReLU: `out > 0`; LeakyReLU, slope in [0, 1]: 1 or the
/// slope; tanh: `1 - out²`), as in [`super::act::bias_act`]. `algo` picks
/// the CPU kernels of the channels-last layers.
pub fn conv2d_bias_act(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    padding: usize,
    act: Act,
    algo: ConvAlgorithm,
) -> Result<Tensor> {
    let (_, c, h, wd) = x.dims4()?;
    let (o, c2, kh, kw) = w.dims4()?;
    if c != c2 {
        bail!("conv2d_bias_act: input has {c} channels, kernel expects {c2}");
    }
    if b.dims() != [o] {
        bail!("conv2d_bias_act: bias shape {:?}, expected [{o}]", b.dims());
    }
    if h + 2 * padding < kh || wd + 2 * padding < kw {
        bail!("conv2d_bias_act: kernel {kh}x{kw} larger than padded input {h}x{wd} (padding {padding})");
    }
    if let Act::Leaky(a) = act {
        if !(0.0..=1.0).contains(&a) {
            bail!("conv2d_bias_act: leaky slope {a} is outside [0, 1]");
        }
    }
    // Empty tensors and other dtypes/devices take candle's path.
    let fast = x.device().is_cpu()
        && [x.dtype(), w.dtype(), b.dtype()].iter().all(|&d| d == DType::F32)
        && x.elem_count() > 0
        && w.elem_count() > 0;
    if !fast {
        let y = x.conv2d(w, padding, 1, 1, 1)?.broadcast_add(&b.reshape((1, o, 1, 1))?)?;
        return act.candle(&y);
    }
    x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, ConvBiasAct { padding, act, algo })
}

// ---------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------

/// Problem sizes shared by the forward and backward kernels.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    kh: usize,
    kw: usize,
    pad: usize,
    oh: usize,
    ow: usize,
    /// Winograd for the forward and both gradients (channels-last 3×3 only).
    winograd: bool,
}

impl Geom {
    fn new(x: &Layout, w: &Layout, pad: usize, algo: ConvAlgorithm) -> Result<Self> {
        let (n, c, h, wd) = x.shape().dims4()?;
        let (o, _, kh, kw) = w.shape().dims4()?;
        let (oh, ow) = (h + 2 * pad + 1 - kh, wd + 2 * pad + 1 - kw);
        let mut g = Self { n, c, h, w: wd, o, kh, kw, pad, oh, ow, winograd: false };
        g.winograd = algo == ConvAlgorithm::Winograd && (kh, kw) == (3, 3) && g.channels_last() && winograd_pays(c, o);
        Ok(g)
    }
    /// The forward reduction length C·KH·KW.
    fn k(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Output pixels per image.
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    /// Input pixels per image.
    fn hw(&self) -> usize {
        self.h * self.w
    }
    fn in_len(&self) -> usize {
        self.c * self.hw()
    }
    fn out_len(&self) -> usize {
        self.o * self.p()
    }
    fn channels_last(&self) -> bool {
        self.k() >= MIN_K_CHANNELS_LAST
    }
    /// Images handled together: about [`GEMM_ROWS`] pixels (channels-last),
    /// one (NCHW); at most a task. Winograd: a whole task (it chunks the
    /// tiles itself, and the weight gradient's final transform then runs
    /// once per task).
    fn batch(&self) -> usize {
        if self.winograd {
            IMAGES_PER_TASK
        } else if self.channels_last() {
            (GEMM_ROWS / self.p().max(self.hw())).clamp(1, IMAGES_PER_TASK)
        } else {
            1
        }
    }
    /// The forward input, padded, channels-last: `[H + 2p, W + 2p, C]`
    /// (Winograd: enough more zero rows and columns for whole 4×4 tiles).
    fn x_pad(&self) -> Padded {
        let p = self.pad as isize;
        let (h, w) = self.frame(self.oh, self.ow, (self.h + 2 * self.pad, self.w + 2 * self.pad));
        Padded { c: self.c, h, w, off_h: p, off_w: p }
    }
    /// A frame's size for an `oh`×`ow` output: `plain`, or Winograd's whole tiles.
    fn frame(&self, oh: usize, ow: usize, plain: (usize, usize)) -> (usize, usize) {
        if !self.winograd {
            return plain;
        }
        let (th, tw) = winograd::tiles(oh, ow);
        (plain.0.max(2 * th + 2), plain.1.max(2 * tw + 2))
    }
    /// Scratch floats of the products: an im2col tile of `rows` rows of the
    /// longer reduction, or Winograd's chunk buffers and its weight-gradient
    /// accumulator.
    fn product_scratch(&self, rows: usize) -> usize {
        if self.winograd {
            winograd::scratch_len(self.c, self.o) + winograd::XI * self.c * self.o
        } else {
            rows * self.k().max(self.o * self.kh * self.kw)
        }
    }
    /// The upstream gradient shifted by `K - 1 - p` (negative: cropped) in a
    /// `[H + KH - 1, W + KW - 1, O]` frame, so that the input gradient is a
    /// plain correlation with the flipped kernel.
    fn g_pad(&self) -> Padded {
        let (ph, pw) = (self.kh as isize - 1 - self.pad as isize, self.kw as isize - 1 - self.pad as isize);
        let (h, w) = self.frame(self.h, self.w, (self.h + self.kh - 1, self.w + self.kw - 1));
        Padded { c: self.o, h, w, off_h: ph, off_w: pw }
    }
}

/// A channels-last image `[h, w, c]` holding a source image shifted by
/// (`off_h`, `off_w`) with zeros around it; negative offsets crop.
#[derive(Clone, Copy, Debug)]
struct Padded {
    c: usize,
    h: usize,
    w: usize,
    off_h: isize,
    off_w: isize,
}

impl Padded {
    fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// Calls `row(dst_row, source_row, lo, hi, sx0)` for every row of `dst`:
    /// destination pixels `lo..hi` come from source pixels `sx0..` of
    /// `source_row`; the rest of the row (or all of it, when `source_row` is
    /// `None`) has been zeroed.
    fn fill(&self, sh: usize, sw: usize, dst: &mut [f32], mut row: impl FnMut(&mut [f32], usize, usize, usize, usize)) {
        let c = self.c;
        let lo = self.off_w.clamp(0, self.w as isize) as usize;
        let hi = (sw as isize + self.off_w).clamp(lo as isize, self.w as isize) as usize;
        let sx0 = (lo as isize - self.off_w) as usize;
        for (y, d) in dst.chunks_exact_mut(self.w * c).enumerate() {
            let sy = y as isize - self.off_h;
            if !(0..sh as isize).contains(&sy) || lo == hi {
                d.fill(0.0);
                continue;
            }
            d[..lo * c].fill(0.0);
            d[hi * c..].fill(0.0);
            row(d, sy as usize, lo, hi, sx0);
        }
    }

    /// Fills `dst` from an NCHW image `src` (`[c, sh, sw]`).
    fn fill_from_nchw(&self, src: &[f32], sh: usize, sw: usize, dst: &mut [f32]) {
        let c = self.c;
        self.fill(sh, sw, dst, |d, sy, lo, hi, sx0| {
            transpose(&src[sy * sw + sx0..], sh * sw, c, hi - lo, &mut d[lo * c..], c);
        });
    }

    /// Fills `dst` from a channels-last image `src` (`[sh, sw, c]`).
    fn fill_from_cl(&self, src: &[f32], sh: usize, sw: usize, dst: &mut [f32]) {
        let c = self.c;
        self.fill(sh, sw, dst, |d, sy, lo, hi, sx0| {
            d[lo * c..hi * c].copy_from_slice(&src[(sy * sw + sx0) * c..][..(hi - lo) * c]);
        });
    }

    /// Rows `r0..` (as many as fit in `col`) of the channels-last im2col
    /// matrix of the consecutive padded images `imgs`, for a `kh`×`kw` kernel
    /// and an `oh`×`ow` output: row `r` is output pixel `r % (oh·ow)` of image
    /// `r / (oh·ow)` and holds `kh` contiguous runs of `kw·c` values.
    #[allow(clippy::too_many_arguments)]
    fn im2col(&self, imgs: &[f32], kh: usize, kw: usize, oh: usize, ow: usize, r0: usize, col: &mut [f32]) {
        let run = kw * self.c;
        let p = oh * ow;
        for (i, dst) in col.chunks_exact_mut(kh * run).enumerate() {
            let (img, pix) = ((r0 + i) / p, (r0 + i) % p);
            let base = img * self.len() + (pix / ow * self.w + pix % ow) * self.c;
            for (ki, d) in dst.chunks_exact_mut(run).enumerate() {
                d.copy_from_slice(&imgs[base + ki * self.w * self.c..][..run]);
            }
        }
    }
}

/// NCHW im2col of one image: `col[(ci·KH + ki)·KW + kj][oy·OW + ox] =
/// x[ci][oy + ki - p][ox + kj - p]` (zero outside). Each row is built from
/// contiguous input-row segments plus zero fills.
fn im2col_nchw(g: &Geom, x: &[f32], col: &mut [f32]) {
    let (p, ow) = (g.p(), g.ow);
    for ci in 0..g.c {
        let plane = &x[ci * g.hw()..][..g.hw()];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &mut col[((ci * g.kh + ki) * g.kw + kj) * p..][..p];
                // Output columns whose input column ox + kj - pad is inside the image.
                let lo = g.pad.saturating_sub(kj).min(ow);
                let hi = (g.w + g.pad).saturating_sub(kj).min(ow).max(lo);
                for (oy, dst) in row.chunks_exact_mut(ow).enumerate() {
                    let iy = oy + ki;
                    if iy < g.pad || iy - g.pad >= g.h {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[(iy - g.pad) * g.w..][..g.w];
                    dst[..lo].fill(0.0);
                    dst[lo..hi].copy_from_slice(&src[lo + kj - g.pad..hi + kj - g.pad]);
                    dst[hi..].fill(0.0);
                }
            }
        }
    }
}

/// The adjoint of [`im2col_nchw`]: `dx` (`[C, H, W]`) = scatter-add of `col`,
/// in a fixed order. `dx` is overwritten.
fn col2im_nchw(g: &Geom, col: &[f32], dx: &mut [f32]) {
    dx.fill(0.0);
    let (p, ow) = (g.p(), g.ow);
    for ci in 0..g.c {
        let plane = &mut dx[ci * g.hw()..][..g.hw()];
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = &col[((ci * g.kh + ki) * g.kw + kj) * p..][..p];
                let lo = g.pad.saturating_sub(kj).min(ow);
                let hi = (g.w + g.pad).saturating_sub(kj).min(ow).max(lo);
                for (oy, src) in row.chunks_exact(ow).enumerate() {
                    let iy = oy + ki;
                    if iy < g.pad || iy - g.pad >= g.h {
                        continue;
                    }
                    let dst = &mut plane[(iy - g.pad) * g.w..][..g.w];
                    for (d, s) in dst[lo + kj - g.pad..hi + kj - g.pad].iter_mut().zip(&src[lo..hi]) {
                        *d += *s;
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Kernels: gemm, transpose, small helpers
// ---------------------------------------------------------------------------

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, single-threaded, with explicit
/// (column, row) strides for each operand.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_strides: (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: &[f32],
    rhs_strides: (usize, usize),
) {
    // The raw-pointer gemm call below is only sound if every element it can
    // touch is inside the slices.
    assert!(dst.len() >= extent(dst_strides, m, n));
    // SAFETY: dst's extent checked above (the operands' in sgemm_raw); dst
    // does not alias lhs/rhs (&mut vs &).
    unsafe { sgemm_raw(m, n, k, dst.as_mut_ptr(), dst_strides, accumulate, lhs, lhs_strides, rhs, rhs_strides) }
}

/// Elements spanned by a `rows × cols` matrix with (column, row) strides.
pub(crate) fn extent((cs, rs): (usize, usize), rows: usize, cols: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// [`sgemm`] into a raw destination, for tasks that write disjoint blocks of
/// one output (each block a strided view no slice can express).
///
/// # Safety
/// `dst` must be valid for writes (and reads, with `accumulate`) of every
/// element `r·rs + c·cs` for `r < m`, `c < n`, no other thread may access
/// those elements during the call, and they must not overlap `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn sgemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    (dst_cs, dst_rs): (usize, usize),
    accumulate: bool,
    lhs: &[f32],
    (lhs_cs, lhs_rs): (usize, usize),
    rhs: &[f32],
    (rhs_cs, rhs_rs): (usize, usize),
) {
    assert!(lhs.len() >= extent((lhs_cs, lhs_rs), m, k));
    assert!(rhs.len() >= extent((rhs_cs, rhs_rs), k, n));
    // SAFETY: operands' extents checked above, dst's by the caller.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// `dst[c·dst_rs + r] = src[r·src_rs + c]` for `r < rows`, `c < cols`.
/// The channels-last path transposes every activation and gradient once or
/// twice, so full 8×8 blocks use AVX shuffles where available.
pub(crate) fn transpose(src: &[f32], src_rs: usize, rows: usize, cols: usize, dst: &mut [f32], dst_rs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(src_rs >= cols && dst_rs >= rows);
    assert!(src.len() >= (rows - 1) * src_rs + cols && dst.len() >= (cols - 1) * dst_rs + rows);
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    #[cfg(target_arch = "x86_64")]
    let done = r8 > 0 && c8 > 0 && std::arch::is_x86_feature_detected!("avx") && {
        // SAFETY: AVX is available; the blocks read src[r·src_rs + c] and
        // write dst[c·dst_rs + r] for r < r8 <= rows, c < c8 <= cols, inside
        // the extents asserted above.
        unsafe { avx::transpose_blocks(src.as_ptr(), src_rs, r8, c8, dst.as_mut_ptr(), dst_rs) };
        true
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = false;
    let scalar = |rs: std::ops::Range<usize>, cs: std::ops::Range<usize>, dst: &mut [f32]| {
        for c in cs {
            let d = &mut dst[c * dst_rs..];
            for r in rs.clone() {
                d[r] = src[r * src_rs + c];
            }
        }
    };
    if !done {
        scalar(0..r8, 0..c8, dst);
    }
    scalar(0..r8, c8..cols, dst);
    scalar(r8..rows, 0..cols, dst);
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// 8×8-block transpose of the `rows`×`cols` top-left of `src` (both
    /// multiples of 8) into `dst`.
    ///
    /// # Safety
    /// AVX must be available, and `src[r·src_rs + c]` / `dst[c·dst_rs + r]`
    /// valid for all `r < rows`, `c < cols`.
    #[target_feature(enable = "avx")]
    pub unsafe fn transpose_blocks(
        src: *const f32,
        src_rs: usize,
        rows: usize,
        cols: usize,
        dst: *mut f32,
        dst_rs: usize,
    ) {
        for r0 in (0..rows).step_by(8) {
            for c0 in (0..cols).step_by(8) {
                let s = src.add(r0 * src_rs + c0);
                let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(s.add(i * src_rs)));
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let out = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                let d = dst.add(c0 * dst_rs + r0);
                for (j, v) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(d.add(j * dst_rs), v);
                }
            }
        }
    }
}

/// `row[i] = act(row[i] + bias)` (one loop per activation, vectorised).
#[inline]
fn bias_act(row: &mut [f32], bias: f32, act: Act) {
    with_act!(act, fwd, f, row.iter_mut().for_each(|v| *v = f(*v + bias)))
}

/// The gradient at the pre-activation, `m = d · act'(y)`, from the output
/// `y`. ReLU is a select (so a clipped unit's gradient is +0 whatever `d`).
fn act_grad(m: &mut [f32], d: &[f32], y: &[f32], act: Act) {
    if act == Act::Relu {
        for ((m, &d), &y) in m.iter_mut().zip(d).zip(y) {
            *m = if y > 0.0 { d } else { 0.0 };
        }
        return;
    }
    with_act!(act, grad, f, {
        for ((m, &d), &y) in m.iter_mut().zip(d).zip(y) {
            *m = d * f(y);
        }
    })
}

/// Sum of a slice with 16 independent accumulators (vectorises; the order is
/// fixed, so the result is deterministic).
fn sum16(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = v.chunks_exact(16);
    let tail = chunks.remainder();
    for ch in chunks {
        for (a, x) in acc.iter_mut().zip(ch) {
            *a += *x;
        }
    }
    let mut s = 0f32;
    for a in acc {
        s += a;
    }
    for x in tail {
        s += *x;
    }
    s
}

/// A per-thread scratch buffer of at least `len` floats (contents arbitrary),
/// kept between calls so large scratch (im2col tiles, transposed weight
/// blocks) is not re-faulted in each call.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered on this thread (cannot happen today): use a fresh buffer.
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// Splits `buf` into consecutive pieces of the given lengths.
fn split<const N: usize>(mut buf: &mut [f32], lens: [usize; N]) -> [&mut [f32]; N] {
    lens.map(|len| {
        let (a, b) = std::mem::take(&mut buf).split_at_mut(len);
        buf = b;
        a
    })
}

// ---------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------

/// The forward custom op: (x, w, b) → act(conv(x, w) + b).
struct ConvBiasAct {
    padding: usize,
    act: Act,
    algo: ConvAlgorithm,
}

impl CustomOp3 for ConvBiasAct {
    fn name(&self) -> &'static str {
        "conv2d-bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(l1, l2, self.padding, self.algo)?;
        let x = cpu_slice(s1, l1, "conv2d_bias_act: x")?;
        let w = cpu_slice(s2, l2, "conv2d_bias_act: w")?;
        let bias = cpu_slice(s3, l3, "conv2d_bias_act: b")?;
        let (k, p, o, bsz) = (g.k(), g.p(), g.o, g.batch());
        // The product's right-hand side: Winograd's transformed kernels, or
        // the channels-last im2col weights.
        let wcl = if g.winograd {
            winograd::transform_weights(g.c, o, |co, ci| kernel3(w, g.c, co, ci))
        } else if g.channels_last() {
            weights_cl(&g, w)
        } else {
            Vec::new()
        };
        let mut out = vec![0f32; g.n * g.out_len()];
        // The forward has no reduction across images: any split is deterministic.
        out.par_chunks_mut(bsz * g.out_len()).zip(x.par_chunks(bsz * g.in_len())).for_each(|(out_c, x_c)| {
            if !g.channels_last() {
                with_scratch(k * p, |col| {
                    for (out_i, xi) in out_c.chunks_exact_mut(g.out_len()).zip(x_c.chunks_exact(g.in_len())) {
                        im2col_nchw(&g, xi, col);
                        // out[O, P] = W[O, K] · col[K, P]
                        sgemm(o, p, k, out_i, (1, p), false, w, (1, k), col, (1, p));
                        for (row, &b) in out_i.chunks_exact_mut(p).zip(bias) {
                            bias_act(row, b, self.act);
                        }
                    }
                });
                return;
            }
            let xp = g.x_pad();
            let nb = out_c.len() / g.out_len();
            let rows = nb * p;
            let tile = GEMM_ROWS.min(rows);
            let lens = [nb * xp.len(), g.product_scratch(tile), rows * o];
            with_scratch(lens.iter().sum(), |buf| {
                let [xpad, col, y] = split(buf, lens);
                for (xi, xpi) in x_c.chunks_exact(g.in_len()).zip(xpad.chunks_exact_mut(xp.len())) {
                    xp.fill_from_nchw(xi, g.h, g.w, xpi);
                }
                if g.winograd {
                    let frames = Frames { data: xpad, fh: xp.h, fw: xp.w, c: g.c };
                    winograd::conv(frames, g.oh, g.ow, &wcl, o, y, col);
                } else {
                    for r0 in (0..rows).step_by(tile) {
                        let nr = tile.min(rows - r0);
                        xp.im2col(xpad, g.kh, g.kw, g.oh, g.ow, r0, &mut col[..nr * k]);
                        // y[rows, O] = col[rows, K] · wcl[K, O]
                        sgemm(nr, o, k, &mut y[r0 * o..(r0 + nr) * o], (1, o), false, col, (1, k), &wcl, (1, o));
                    }
                }
                for (yi, out_i) in y.chunks_exact(p * o).zip(out_c.chunks_exact_mut(g.out_len())) {
                    transpose(yi, o, p, o, out_i, p);
                    for (row, &b) in out_i.chunks_exact_mut(p).zip(bias) {
                        bias_act(row, b, self.act);
                    }
                }
            })
        });
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.o, g.oh, g.ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Skip what nobody needs; the input gradient of a network's first
        // layer (its input is data, not a variable) is the usual case.
        let (need_x, need_w, need_b) = (x.track_op(), w.track_op(), b.track_op());
        if !(need_x || need_w || need_b) {
            return Ok((None, None, None));
        }
        let out = (self.act != Act::Identity).then_some(res);
        let op = ConvBackward { padding: self.padding, algo: self.algo, need_x, need_w, act: self.act, out };
        let packed = x.apply_op3_no_bwd(w, &grad_res.contiguous()?, &op)?;
        // packed = [dx (if need_x) | dw | db], one flat buffer.
        let (nx, nw, nb) = (if need_x { x.elem_count() } else { 0 }, w.elem_count(), b.elem_count());
        let dx = if need_x { Some(packed.narrow(0, 0, nx)?.reshape(x.shape())?) } else { None };
        let dw = if need_w { Some(packed.narrow(0, nx, nw)?.reshape(w.shape())?) } else { None };
        let db = if need_b { Some(packed.narrow(0, nx + nw, nb)?) } else { None };
        Ok((dx, dw, db))
    }
}

/// The 3×3 kernel `w[co, ci]` (of `[O, C, 3, 3]` weights with `c` inputs).
fn kernel3(w: &[f32], c: usize, co: usize, ci: usize) -> [f32; 9] {
    w[(co * c + ci) * 9..][..9].try_into().expect("9 floats")
}

/// `wcl[(ki, kj, c), o] = w[o, c, ki, kj]`: the forward gemm's rhs in the
/// channels-last im2col column order.
fn weights_cl(g: &Geom, w: &[f32]) -> Vec<f32> {
    let (k, o, kk) = (g.k(), g.o, g.kh * g.kw);
    let mut wcl = vec![0f32; k * o];
    for (oi, wo) in w.chunks_exact(k).enumerate() {
        for ci in 0..g.c {
            for t in 0..kk {
                wcl[(t * g.c + ci) * o + oi] = wo[ci * kk + t];
            }
        }
    }
    wcl
}

// ---------------------------------------------------------------------------
// Backward
// ---------------------------------------------------------------------------

/// The fused backward: (x, w, upstream grad) → flat `[dx? | dw | db]`.
/// The activation's derivative comes from the saved forward output.
struct ConvBackward<'a> {
    padding: usize,
    algo: ConvAlgorithm,
    need_x: bool,
    need_w: bool,
    act: Act,
    /// The forward output (`None` for the identity).
    out: Option<&'a Tensor>,
}

impl CustomOp3 for ConvBackward<'_> {
    fn name(&self) -> &'static str {
        "conv2d-bias-act-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(l1, l2, self.padding, self.algo)?;
        let x = cpu_slice(s1, l1, "conv2d_bias_act: x")?;
        let w = cpu_slice(s2, l2, "conv2d_bias_act: w")?;
        let dy = cpu_slice(s3, l3, "conv2d_bias_act: grad")?;
        let guard;
        let out_y = match self.out {
            None => None,
            Some(t) => {
                let (st, l) = t.storage_and_layout();
                guard = st;
                match &*guard {
                    Storage::Cpu(cs) => Some(cpu_slice(cs, l, "conv2d_bias_act: saved output")?),
                    _ => bail!("conv2d_bias_act: saved output is not on the cpu"),
                }
            }
        };
        if dy.len() != g.n * g.out_len() || out_y.is_some_and(|r| r.len() != dy.len()) {
            bail!("conv2d_bias_act: upstream gradient has {} elements, expected {}", dy.len(), g.n * g.out_len());
        }
        let (k, o) = (g.k(), g.o);
        let kern = BwdKernel::new(g, w, self.need_x, self.need_w);

        let nx = if self.need_x { x.len() } else { 0 };
        let mut packed = vec![0f32; nx + o * k + o];
        let (dx_all, dwb) = packed.split_at_mut(nx);
        let n_tasks = g.n.div_ceil(IMAGES_PER_TASK);
        // Per-task partial [dW | db], summed in task order below.
        let part_len = k * o + o;
        let mut partial = vec![0f32; n_tasks * part_len];
        let mut dx_tasks: Vec<Option<&mut [f32]>> =
            if self.need_x { dx_all.chunks_mut(IMAGES_PER_TASK * g.in_len()).map(Some).collect() } else { Vec::new() };
        dx_tasks.resize_with(n_tasks, || None);

        partial.par_chunks_mut(part_len).zip(dx_tasks).enumerate().for_each(|(t, (part, mut dx_t))| {
            let (dw_t, db) = part.split_at_mut(k * o);
            let first = t * IMAGES_PER_TASK;
            let last = (first + IMAGES_PER_TASK).min(g.n);
            let bsz = g.batch();
            let gbuf_len = if out_y.is_some() { bsz * g.out_len() } else { 0 };
            with_scratch(gbuf_len + kern.scratch_len(), |buf| {
                let (gbuf, scratch) = buf.split_at_mut(gbuf_len);
                for b0 in (first..last).step_by(bsz) {
                    let nb = bsz.min(last - b0);
                    let span = b0 * g.out_len()..(b0 + nb) * g.out_len();
                    // The gradient at the pre-activation.
                    let gc: &[f32] = match out_y {
                        Some(out) => {
                            let gm = &mut gbuf[..span.len()];
                            act_grad(gm, &dy[span.clone()], &out[span], self.act);
                            gm
                        }
                        None => &dy[span],
                    };
                    for gi in gc.chunks_exact(g.out_len()) {
                        for (acc, row) in db.iter_mut().zip(gi.chunks_exact(g.p())) {
                            *acc += sum16(row);
                        }
                    }
                    let xs = &x[b0 * g.in_len()..(b0 + nb) * g.in_len()];
                    let dx_c = dx_t.as_deref_mut().map(|d| &mut d[(b0 - first) * g.in_len()..][..nb * g.in_len()]);
                    kern.run(gc, xs, dw_t, b0 > first, dx_c, scratch);
                }
            })
        });

        // Task-ordered reduction (deterministic, thread-count independent),
        // parallel over element blocks.
        const BLOCK: usize = 4096;
        let mut sum = vec![0f32; part_len];
        sum.par_chunks_mut(BLOCK).enumerate().for_each(|(i, s)| {
            for part in partial.chunks_exact(part_len) {
                s.iter_mut().zip(&part[i * BLOCK..]).for_each(|(a, b)| *a += *b);
            }
        });
        let (dw, db) = dwb.split_at_mut(o * k);
        if g.channels_last() {
            // dW was accumulated as [(KH, KW, C), O]: back to [O, C, KH, KW].
            let kk = g.kh * g.kw;
            for (oi, dwo) in dw.chunks_exact_mut(k).enumerate() {
                for ci in 0..g.c {
                    for t in 0..kk {
                        dwo[ci * kk + t] = sum[(t * g.c + ci) * o + oi];
                    }
                }
            }
        } else {
            dw.copy_from_slice(&sum[..k * o]);
        }
        db.copy_from_slice(&sum[k * o..]);
        Ok((CpuStorage::F32(packed), Shape::from(nx + o * k + o)))
    }
}

/// The weight and input gradients of a group of consecutive images.
struct BwdKernel<'a> {
    g: Geom,
    w: &'a [f32],
    /// Channels-last: `wflip[(KH-1-ki, KW-1-kj, o), c] = w[o, c, ki, kj]`,
    /// the rhs of the input-gradient gemm, or its Winograd transform (empty
    /// when dx is not needed).
    wflip: Vec<f32>,
    need_x: bool,
    need_w: bool,
}

impl<'a> BwdKernel<'a> {
    fn new(g: Geom, w: &'a [f32], need_x: bool, need_w: bool) -> Self {
        let mut wflip = Vec::new();
        if need_x && g.winograd {
            // The input gradient's conv: O inputs, C outputs, flipped kernels.
            wflip = winograd::transform_weights(g.o, g.c, |ci, co| {
                let mut k = kernel3(w, g.c, co, ci);
                k.reverse();
                k
            });
        } else if need_x && g.channels_last() {
            let (o, c) = (g.o, g.c);
            wflip = vec![0f32; o * g.kh * g.kw * c];
            for oi in 0..o {
                for ci in 0..c {
                    for ki in 0..g.kh {
                        for kj in 0..g.kw {
                            let r = ((g.kh - 1 - ki) * g.kw + (g.kw - 1 - kj)) * o + oi;
                            wflip[r * c + ci] = w[((oi * c + ci) * g.kh + ki) * g.kw + kj];
                        }
                    }
                }
            }
        }
        Self { g, w, wflip, need_x, need_w }
    }

    /// Scratch floats [`Self::run`] needs.
    fn scratch_len(&self) -> usize {
        let g = &self.g;
        let (k, p, o, c, hw, bsz) = (g.k(), g.p(), g.o, g.c, g.hw(), g.batch());
        if !g.channels_last() {
            return k * p;
        }
        let (need_w, need_x) = (self.need_w, self.need_x);
        let tile = GEMM_ROWS.min(bsz * p.max(hw));
        let lens = [
            bsz * p * o,
            if need_w { bsz * g.x_pad().len() } else { 0 },
            if need_x { bsz * g.g_pad().len() } else { 0 },
            g.product_scratch(tile),
            if need_x { bsz * hw * c } else { 0 },
        ];
        lens.iter().sum()
    }

    /// For images `xs` (NCHW) with pre-activation gradients `gc` (NCHW):
    /// `dw (+)= ∂/∂w` (overwritten unless `accumulate`) and, if given,
    /// `dx = ∂/∂x`.
    fn run(
        &self,
        gc: &[f32],
        xs: &[f32],
        dw: &mut [f32],
        accumulate: bool,
        mut dx: Option<&mut [f32]>,
        scratch: &mut [f32],
    ) {
        let g = &self.g;
        let (k, p, o, c, hw) = (g.k(), g.p(), g.o, g.c, g.hw());
        let nb = xs.len() / g.in_len();
        if !g.channels_last() {
            let col = &mut scratch[..k * p];
            for (j, (gi, xi)) in gc.chunks_exact(g.out_len()).zip(xs.chunks_exact(g.in_len())).enumerate() {
                if self.need_w {
                    im2col_nchw(g, xi, col);
                    // dW[O, K] += g[O, P] · col[K, P]ᵀ
                    sgemm(o, k, p, dw, (1, k), accumulate || j > 0, gi, (1, p), col, (p, 1));
                }
                if let Some(dx) = dx.as_deref_mut() {
                    // dcol[K, P] = W[O, K]ᵀ · g[O, P] (K is small here), then scatter.
                    sgemm(k, p, o, col, (1, p), false, self.w, (k, 1), gi, (1, p));
                    col2im_nchw(g, col, &mut dx[j * g.in_len()..][..g.in_len()]);
                }
            }
            return;
        }
        if !(self.need_w || dx.is_some()) {
            return;
        }
        let (xp, gp) = (g.x_pad(), g.g_pad());
        let kg = o * g.kh * g.kw;
        let tile = GEMM_ROWS.min(nb * p.max(hw));
        let lens = [
            nb * p * o,
            if self.need_w { nb * xp.len() } else { 0 },
            if dx.is_some() { nb * gp.len() } else { 0 },
            g.product_scratch(tile),
            if dx.is_some() { nb * hw * c } else { 0 },
        ];
        let [g_cl, xpad, gpad, col, dx_cl] = split(scratch, lens);
        for (gi, gli) in gc.chunks_exact(g.out_len()).zip(g_cl.chunks_exact_mut(p * o)) {
            transpose(gi, p, o, p, gli, o);
        }
        if self.need_w {
            let rows = nb * p;
            for (xi, xpi) in xs.chunks_exact(g.in_len()).zip(xpad.chunks_exact_mut(xp.len())) {
                xp.fill_from_nchw(xi, g.h, g.w, xpi);
            }
            if g.winograd {
                let (acc, ws) = col.split_at_mut(winograd::XI * o * c);
                let frames = Frames { data: xpad, fh: xp.h, fw: xp.w, c };
                winograd::weight_grad(frames, g_cl, o, g.oh, g.ow, acc, false, ws);
                // In dW's [(KH, KW, C), O] order, as the gemm below writes it.
                winograd::finish_weight_grad(acc, c, o, dw, accumulate);
            } else {
                for r0 in (0..rows).step_by(tile) {
                    let nr = tile.min(rows - r0);
                    xp.im2col(xpad, g.kh, g.kw, g.oh, g.ow, r0, &mut col[..nr * k]);
                    // dW[O, K] (stored K×O) += g[rows, O]ᵀ · col[rows, K]
                    let g_rows = &g_cl[r0 * o..(r0 + nr) * o];
                    sgemm(o, k, nr, dw, (o, 1), accumulate || r0 > 0, g_rows, (o, 1), col, (1, k));
                }
            }
        }
        if let Some(dx) = dx {
            let rows = nb * hw;
            for (gli, gpi) in g_cl.chunks_exact(p * o).zip(gpad.chunks_exact_mut(gp.len())) {
                gp.fill_from_cl(gli, g.oh, g.ow, gpi);
            }
            if g.winograd {
                let frames = Frames { data: gpad, fh: gp.h, fw: gp.w, c: o };
                winograd::conv(frames, g.h, g.w, &self.wflip, c, dx_cl, col);
            } else {
                for r0 in (0..rows).step_by(tile) {
                    let nr = tile.min(rows - r0);
                    gp.im2col(gpad, g.kh, g.kw, g.h, g.w, r0, &mut col[..nr * kg]);
                    // dx[rows, C] = colg[rows, KH·KW·O] · wflip[KH·KW·O, C]
                    let dst = &mut dx_cl[r0 * c..(r0 + nr) * c];
                    sgemm(nr, c, kg, dst, (1, c), false, col, (1, kg), &self.wflip, (1, c));
                }
            }
            for (dxi, dxc) in dx.chunks_exact_mut(g.in_len()).zip(dx_cl.chunks_exact(hw * c)) {
                transpose(dxc, c, hw, c, dxi, hw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_matches_naive_on_ragged_sizes() {
        // Full 8×8 blocks (AVX where available) plus ragged edges, with row
        // strides wider than the matrix.
        for (rows, cols) in [(1, 1), (3, 5), (8, 8), (9, 17), (16, 13), (32, 1024), (121, 64)] {
            let (src_rs, dst_rs) = (cols + 3, rows + 5);
            let src: Vec<f32> = (0..rows * src_rs).map(|i| i as f32).collect();
            let mut dst = vec![-1f32; cols * dst_rs];
            transpose(&src, src_rs, rows, cols, &mut dst, dst_rs);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(dst[c * dst_rs + r], src[r * src_rs + c], "{rows}x{cols} at ({r}, {c})");
                }
            }
            // Padding between rows is left alone.
            assert!((0..cols).all(|c| dst[c * dst_rs + rows..(c + 1) * dst_rs].iter().all(|&v| v == -1.0)));
        }
    }

    #[test]
    fn padded_image_crops_and_pads() {
        // A 2-channel 3×4 image shifted by (1, -1) into a 4×4 frame.
        let src: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let p = Padded { c: 2, h: 4, w: 4, off_h: 1, off_w: -1 };
        let mut dst = vec![f32::NAN; p.len()];
        p.fill_from_nchw(&src, 3, 4, &mut dst);
        for y in 0..4 {
            for x in 0..4 {
                for ci in 0..2 {
                    let (sy, sx) = (y as isize - 1, x as isize + 1);
                    let want = if (0..3).contains(&sy) && (0..4).contains(&sx) {
                        src[ci * 12 + sy as usize * 4 + sx as usize]
                    } else {
                        0.0
                    };
                    assert_eq!(dst[(y * 4 + x) * 2 + ci], want, "({y}, {x}, {ci})");
                }
            }
        }
    }
}
