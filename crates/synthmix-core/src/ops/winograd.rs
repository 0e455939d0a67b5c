//! Winograd F(2×2, 3×3) for the channels-last 3×3 convolutions of
//! [`super::conv`]: the forward, the input gradient (a forward with the
//! flipped kernel) and the weight gradient, each as 16 gemms over tiles
//! instead of one gemm over im2col rows — 2.25× fewer multiplies (Lavin &
//! Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//!
//! A 2×2 output tile reads a 4×4 input tile `d`; with
//! `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`, `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`
//! and `Aᵀ = [1 1 1 0; 0 1 -1 -1]`:
//! - forward: `y = Aᵀ [(G w Gᵀ) ⊙ (Bᵀ d B)] A`, summed over input channels
//!   (the ⊙ summed over channels is, per position ξ of the 4×4, a gemm
//!   `M[ξ][tiles, O] = V[ξ][tiles, C] · U[ξ][C, O]`);
//! - weight gradient (the adjoint of the forward in `w`):
//!   `dw = Gᵀ [Σ_tiles (A g Aᵀ) ⊙ (Bᵀ d B)] G`, i.e. per ξ a gemm reducing
//!   over tiles.
//!
//! Inputs are channels-last frames (`[fh, fw, C]`, zero-padded so every tile
//! is inside: `fh >= 2·⌈oh/2⌉ + 2`), outputs channels-last `[oh·ow, O]`.
//! Tiles are processed in fixed chunks (sizes from the shapes only) in a
//! fixed order, so results are deterministic and independent of threads.

use super::conv::sgemm;

/// Positions of the 4×4 transformed tile.
pub(super) const XI: usize = 16;

/// Floats of transformed data per chunk of tiles (input + output side):
/// keeps a chunk's `V` and `M` near the L2 cache.
const CHUNK_FLOATS: usize = 1 << 18;

/// The tile grid of an `oh`×`ow` output: `(⌈oh/2⌉, ⌈ow/2⌉)`.
pub(super) fn tiles(oh: usize, ow: usize) -> (usize, usize) {
    (oh.div_ceil(2), ow.div_ceil(2))
}

/// Tiles per chunk for `cin` input and `cout` output channels.
fn chunk_tiles(cin: usize, cout: usize) -> usize {
    (CHUNK_FLOATS / (XI * (cin + cout))).clamp(16, 512)
}

/// `U[ξ][ci][co] = (G w Gᵀ)[ξ]` for the 3×3 kernels `w(co, ci)` (row-major
/// 3×3 slices).
pub(super) fn transform_weights(cin: usize, cout: usize, w: impl Fn(usize, usize) -> [f32; 9]) -> Vec<f32> {
    let mut u = vec![0f32; XI * cin * cout];
    for co in 0..cout {
        for ci in 0..cin {
            let k = w(co, ci);
            // t = G k (4×3), then t Gᵀ (4×4).
            let mut t = [[0f32; 3]; 4];
            for j in 0..3 {
                let (a, b, c) = (k[j], k[3 + j], k[6 + j]);
                t[0][j] = a;
                t[1][j] = 0.5 * (a + b + c);
                t[2][j] = 0.5 * (a - b + c);
                t[3][j] = c;
            }
            for (i, r) in t.iter().enumerate() {
                let v = [r[0], 0.5 * (r[0] + r[1] + r[2]), 0.5 * (r[0] - r[1] + r[2]), r[2]];
                for (j, v) in v.into_iter().enumerate() {
                    u[((i * 4 + j) * cin + ci) * cout + co] = v;
                }
            }
        }
    }
    u
}

/// Scratch floats [`conv`] and [`weight_grad`] need.
pub(super) fn scratch_len(cin: usize, cout: usize) -> usize {
    XI * chunk_tiles(cin, cout) * (cin + cout)
}

/// Where tile `t` of a batch of images sits: its image and its top-left
/// output pixel.
#[derive(Clone, Copy)]
struct Grid {
    th: usize,
    tw: usize,
}

impl Grid {
    fn locate(&self, t: usize) -> (usize, usize, usize) {
        let per = self.th * self.tw;
        let (img, r) = (t / per, t % per);
        (img, 2 * (r / self.tw), 2 * (r % self.tw))
    }
}

/// A channels-last frame set: `n` frames of `[fh, fw, c]`.
#[derive(Clone, Copy)]
pub(super) struct Frames<'a> {
    pub data: &'a [f32],
    pub fh: usize,
    pub fw: usize,
    pub c: usize,
}

/// Defines `fn $name(args)` whose body is compiled twice, plainly and for
/// AVX-512F, and picks the AVX-512 copy at run time where the CPU has it.
/// The transforms are elementwise over channels (adds, subtractions, halves;
/// Rust never fuses them into FMAs), so both copies give the same bits.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($a: $t),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                fn avx512($($a: $t),*) {
                    body($($a),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F.
                    return unsafe { avx512($($a),*) };
                }
            }
            body($($a),*)
        }
    };
}

/// Channels handled together by the transforms: one AVX-512 register.
const L: usize = 16;

/// A block of `N` channels' values (`N` = [`L`], or 1 for a tail channel).
type Lanes<const N: usize> = [f32; N];

/// Lane-wise `a + b`. (Plain loops rather than `array::from_fn`, whose
/// closures the inliner leaves as calls inside the AVX-512 copies.)
#[inline(always)]
fn add<const N: usize>(a: Lanes<N>, b: Lanes<N>) -> Lanes<N> {
    let mut r = a;
    for k in 0..N {
        r[k] += b[k];
    }
    r
}
/// Lane-wise `a - b`.
#[inline(always)]
fn sub<const N: usize>(a: Lanes<N>, b: Lanes<N>) -> Lanes<N> {
    let mut r = a;
    for k in 0..N {
        r[k] -= b[k];
    }
    r
}
/// Lane-wise `-a`.
#[inline(always)]
fn neg<const N: usize>(a: Lanes<N>) -> Lanes<N> {
    let mut r = a;
    for v in &mut r {
        *v = -*v;
    }
    r
}
#[inline(always)]
fn load<const N: usize>(s: &[f32]) -> Lanes<N> {
    let mut r = [0f32; N];
    r.copy_from_slice(&s[..N]);
    r
}
#[inline(always)]
fn store<const N: usize>(d: &mut [f32], a: &Lanes<N>) {
    d[..N].copy_from_slice(a);
}

/// `Bᵀ d B` of one 4×4 tile.
#[inline(always)]
fn bt_d_b<const N: usize>(d: &[[Lanes<N>; 4]; 4]) -> [[Lanes<N>; 4]; 4] {
    let mut t = [[[0f32; N]; 4]; 4];
    for j in 0..4 {
        t[0][j] = sub(d[0][j], d[2][j]);
        t[1][j] = add(d[1][j], d[2][j]);
        t[2][j] = sub(d[2][j], d[1][j]);
        t[3][j] = sub(d[1][j], d[3][j]);
    }
    let mut o = [[[0f32; N]; 4]; 4];
    for r in 0..4 {
        o[r] = [sub(t[r][0], t[r][2]), add(t[r][1], t[r][2]), sub(t[r][2], t[r][1]), sub(t[r][1], t[r][3])];
    }
    o
}

/// `Aᵀ m A` (2×2) of one 4×4 tile.
#[inline(always)]
fn at_m_a<const N: usize>(m: &[[Lanes<N>; 4]; 4]) -> [[Lanes<N>; 2]; 2] {
    let mut s = [[[0f32; N]; 4]; 2];
    for j in 0..4 {
        s[0][j] = add(add(m[0][j], m[1][j]), m[2][j]);
        s[1][j] = sub(sub(m[1][j], m[2][j]), m[3][j]);
    }
    let mut y = [[[0f32; N]; 2]; 2];
    for r in 0..2 {
        y[r] = [add(add(s[r][0], s[r][1]), s[r][2]), sub(sub(s[r][1], s[r][2]), s[r][3])];
    }
    y
}

/// `A g Aᵀ` (4×4) of one 2×2 gradient tile.
#[inline(always)]
fn a_g_at<const N: usize>(g: &[[Lanes<N>; 2]; 2]) -> [[Lanes<N>; 4]; 4] {
    let t = [
        g[0],
        [add(g[0][0], g[1][0]), add(g[0][1], g[1][1])],
        [sub(g[0][0], g[1][0]), sub(g[0][1], g[1][1])],
        [neg(g[1][0]), neg(g[1][1])],
    ];
    let mut o = [[[0f32; N]; 4]; 4];
    for r in 0..4 {
        o[r] = [t[r][0], add(t[r][0], t[r][1]), sub(t[r][0], t[r][1]), neg(t[r][1])];
    }
    o
}

/// The `rows`×`cols` top-left part of an `R`×`C` grid of `N`-channel blocks
/// read from `src` at `base + r·rs + j·cs` (the rest zero).
#[inline(always)]
fn load_grid<const N: usize, const R: usize, const C: usize>(
    src: &[f32],
    base: usize,
    (rs, cs): (usize, usize),
    (rows, cols): (usize, usize),
) -> [[Lanes<N>; C]; R] {
    let mut grid = [[[0f32; N]; C]; R];
    for (r, row) in grid.iter_mut().enumerate().take(rows) {
        for (j, block) in row.iter_mut().enumerate().take(cols) {
            *block = load(&src[base + r * rs + j * cs..]);
        }
    }
    grid
}

/// Writes the `rows`×`cols` top-left part of `grid` to `dst` at
/// `base + r·rs + j·cs`.
#[inline(always)]
fn store_grid<const N: usize, const R: usize, const C: usize>(
    dst: &mut [f32],
    base: usize,
    (rs, cs): (usize, usize),
    (rows, cols): (usize, usize),
    grid: &[[Lanes<N>; C]; R],
) {
    for (r, row) in grid.iter().enumerate().take(rows) {
        for (j, block) in row.iter().enumerate().take(cols) {
            store(&mut dst[base + r * rs + j * cs..], block);
        }
    }
}

/// The input transform of channels `ch..ch + N` of one tile whose top-left
/// value is `tile[ch]` (rows `fw·c` apart), into its `[ξ][c]` block `v`.
#[inline(always)]
fn input_block<const N: usize>(tile: &[f32], fw: usize, c: usize, ch: usize, v: &mut [f32]) {
    let d = load_grid::<N, 4, 4>(tile, ch, (fw * c, c), (4, 4));
    store_grid(v, ch, (4 * c, c), (4, 4), &bt_d_b(&d));
}

/// The output transform of channels `co..co + N` of a tile's `[ξ][cout]`
/// block `m` into the `rows`×`cols` output pixels starting at `out[0]` (rows
/// `ow·cout` apart).
#[inline(always)]
fn output_block<const N: usize>(m: &[f32], cout: usize, co: usize, out: &mut [f32], ow: usize, size: (usize, usize)) {
    let q = load_grid::<N, 4, 4>(m, co, (4 * cout, cout), (4, 4));
    store_grid(out, co, (ow * cout, cout), size, &at_m_a(&q));
}

/// The gradient transform of channels `co..co + N` of the 2×2 gradient
/// tile starting at `g[0]` (rows `ow·cout` apart; `size` of it inside the
/// map, the rest zero) into its `[ξ][cout]` block `gt`.
#[inline(always)]
fn grad_block<const N: usize>(g: &[f32], ow: usize, cout: usize, co: usize, size: (usize, usize), gt: &mut [f32]) {
    let gm = load_grid::<N, 2, 2>(g, co, (ow * cout, cout), size);
    store_grid(gt, co, (4 * cout, cout), (4, 4), &a_g_at(&gm));
}

multiversion! {
    /// `V[i][ξ][c] = (Bᵀ d B)[ξ]` for the 4×4 input tiles of tiles
    /// `t0..t0 + n` (tile `i` of the chunk).
    fn input_tiles(x: Frames, grid: Grid, t0: usize, n: usize, v: &mut [f32]) {
        let (c, whole) = (x.c, x.c / L * L);
        for (i, vi) in v.chunks_exact_mut(XI * c).take(n).enumerate() {
            let (img, y, xx) = grid.locate(t0 + i);
            let tile = &x.data[((img * x.fh + y) * x.fw + xx) * c..][..(3 * x.fw + 4) * c];
            for ch in (0..whole).step_by(L) {
                input_block::<L>(tile, x.fw, c, ch, vi);
            }
            for ch in whole..c {
                input_block::<1>(tile, x.fw, c, ch, vi);
            }
        }
    }
}

multiversion! {
    /// `y = Aᵀ M A` for each tile of the chunk (`M[i][ξ][co]`), written to
    /// the output pixels inside the `oh`×`ow` map.
    fn transform_output(grid: Grid, t0: usize, n: usize, m: &[f32], cout: usize, oh: usize, ow: usize, out: &mut [f32]) {
        let whole = cout / L * L;
        for (i, mi) in m.chunks_exact(XI * cout).take(n).enumerate() {
            let (img, y, x) = grid.locate(t0 + i);
            let size = ((oh - y).min(2), (ow - x).min(2));
            let o = &mut out[((img * oh + y) * ow + x) * cout..];
            for co in (0..whole).step_by(L) {
                output_block::<L>(mi, cout, co, o, ow, size);
            }
            for co in whole..cout {
                output_block::<1>(mi, cout, co, o, ow, size);
            }
        }
    }
}

multiversion! {
    /// The gradient tiles `(A g Aᵀ)[i][ξ][co]` of tiles `t0..t0 + n` from the
    /// channels-last gradient `g` (`[n_img·oh·ow, cout]`), zero outside the map.
    fn transform_grad(grid: Grid, t0: usize, n: usize, g: &[f32], cout: usize, oh: usize, ow: usize, gt: &mut [f32]) {
        let whole = cout / L * L;
        for (i, gti) in gt.chunks_exact_mut(XI * cout).take(n).enumerate() {
            let (img, y, x) = grid.locate(t0 + i);
            let size = ((oh - y).min(2), (ow - x).min(2));
            let gi = &g[((img * oh + y) * ow + x) * cout..];
            for co in (0..whole).step_by(L) {
                grad_block::<L>(gi, ow, cout, co, size, gti);
            }
            for co in whole..cout {
                grad_block::<1>(gi, ow, cout, co, size, gti);
            }
        }
    }
}

/// `out[(img, y, x), co] = Σ_ci Σ_ki,kj frames[img][y + ki][x + kj][ci] ·
/// w(co, ci)[ki][kj]` for an `oh`×`ow` output per frame, with `u` from
/// [`transform_weights`]. `out` holds `n·oh·ow` rows of `cout`; `scratch`
/// at least [`scratch_len`] floats.
pub(super) fn conv(x: Frames, oh: usize, ow: usize, u: &[f32], cout: usize, out: &mut [f32], scratch: &mut [f32]) {
    let cin = x.c;
    let (th, tw) = tiles(oh, ow);
    let grid = Grid { th, tw };
    let n_img = out.len() / (oh * ow * cout);
    assert!(x.fh >= 2 * th + 2 && x.fw >= 2 * tw + 2 && x.data.len() >= n_img * x.fh * x.fw * cin);
    let tc = chunk_tiles(cin, cout);
    let (v, rest) = scratch.split_at_mut(XI * tc * cin);
    let m = &mut rest[..XI * tc * cout];
    let total = n_img * th * tw;
    for t0 in (0..total).step_by(tc) {
        let n = tc.min(total - t0);
        input_tiles(x, grid, t0, n, v);
        for xi in 0..XI {
            // M[·][ξ] = V[·][ξ] · U[ξ], rows one tile (16 positions) apart.
            let ux = &u[xi * cin * cout..][..cin * cout];
            let (vx, mx) = (&v[xi * cin..], &mut m[xi * cout..]);
            sgemm(n, cout, cin, mx, (1, XI * cout), false, vx, (1, XI * cin), ux, (1, cout));
        }
        transform_output(grid, t0, n, m, cout, oh, ow, out);
    }
}

/// The weight gradient of [`conv`]: `acc[ξ][ci][co] (+)= Σ_tiles (A g
/// Aᵀ)[ξ] ⊙ (Bᵀ d B)[ξ]` (overwritten unless `accumulate`), for the
/// channels-last output gradient `g`; [`finish_weight_grad`] turns it into
/// 3×3 kernels.
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grad(
    x: Frames,
    g: &[f32],
    cout: usize,
    oh: usize,
    ow: usize,
    acc: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
) {
    let cin = x.c;
    let (th, tw) = tiles(oh, ow);
    let grid = Grid { th, tw };
    let n_img = g.len() / (oh * ow * cout);
    assert!(x.fh >= 2 * th + 2 && x.fw >= 2 * tw + 2 && acc.len() >= XI * cout * cin);
    let tc = chunk_tiles(cin, cout);
    let (v, rest) = scratch.split_at_mut(XI * tc * cin);
    let gt = &mut rest[..XI * tc * cout];
    let total = n_img * th * tw;
    for t0 in (0..total).step_by(tc) {
        let n = tc.min(total - t0);
        input_tiles(x, grid, t0, n, v);
        transform_grad(grid, t0, n, g, cout, oh, ow, gt);
        let acc_now = accumulate || t0 > 0;
        for xi in 0..XI {
            let dst = &mut acc[xi * cin * cout..][..cin * cout];
            // acc[ci, co] += (gt[tiles, co]ᵀ · v[tiles, ci])ᵀ, stored
            // co-contiguous like the channels-last weight gradient.
            let (gx, vx) = (&gt[xi * cout..], &v[xi * cin..]);
            sgemm(cout, cin, n, dst, (cout, 1), acc_now, gx, (XI * cout, 1), vx, (1, XI * cin));
        }
    }
}

multiversion! {
    /// `dw(co, ci) = Gᵀ acc[·][ci][co] G` (3×3) into the channels-last
    /// weight-gradient layout `dw[(ki·3 + kj)·cin + ci][co]`, overwritten or
    /// (with `accumulate`) added to. Both sides are contiguous over `co`.
    pub(super) fn finish_weight_grad(acc: &[f32], cin: usize, cout: usize, dw: &mut [f32], accumulate: bool) {
        assert!(acc.len() >= XI * cin * cout && dw.len() >= 9 * cin * cout);
        let whole = cout / L * L;
        for ci in 0..cin {
            for co in (0..whole).step_by(L) {
                weight_block::<L>(acc, cin, cout, ci, co, dw, accumulate);
            }
            for co in whole..cout {
                weight_block::<1>(acc, cin, cout, ci, co, dw, accumulate);
            }
        }
    }
}

/// [`finish_weight_grad`] for output channels `co..co + N` of input
/// channel `ci`.
#[inline(always)]
fn weight_block<const N: usize>(
    acc: &[f32],
    cin: usize,
    cout: usize,
    ci: usize,
    co: usize,
    dw: &mut [f32],
    accumulate: bool,
) {
    let m = load_grid::<N, 4, 4>(acc, ci * cout + co, (4 * cin * cout, cin * cout), (4, 4));
    let k = gt_m_g(&m);
    for (r, row) in k.iter().enumerate() {
        for (j, kj) in row.iter().enumerate() {
            let d = &mut dw[((r * 3 + j) * cin + ci) * cout + co..];
            store(d, &if accumulate { add(load(d), *kj) } else { *kj });
        }
    }
}

/// Lane-wise `a · s`.
#[inline(always)]
fn scale<const N: usize>(a: Lanes<N>, s: f32) -> Lanes<N> {
    let mut r = a;
    for v in &mut r {
        *v *= s;
    }
    r
}

/// `Gᵀ m G` (3×3) of one 4×4 tile; `Gᵀ = [1 ½ ½ 0; 0 ½ -½ 0; 0 ½ ½ 1]`.
#[inline(always)]
fn gt_m_g<const N: usize>(m: &[[Lanes<N>; 4]; 4]) -> [[Lanes<N>; 3]; 3] {
    let mut t = [[[0f32; N]; 4]; 3];
    for j in 0..4 {
        let (a, b, c, d) = (m[0][j], m[1][j], m[2][j], m[3][j]);
        let half_sum = scale(add(b, c), 0.5);
        t[0][j] = add(a, half_sum);
        t[1][j] = scale(sub(b, c), 0.5);
        t[2][j] = add(half_sum, d);
    }
    let mut k = [[[0f32; N]; 3]; 3];
    for (r, tr) in t.iter().enumerate() {
        let half_sum = scale(add(tr[1], tr[2]), 0.5);
        k[r] = [add(tr[0], half_sum), scale(sub(tr[1], tr[2]), 0.5), add(half_sum, tr[3])];
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct channels-last convolution of frames, the reference.
    fn direct(x: &Frames, oh: usize, ow: usize, w: &[f32], cout: usize) -> Vec<f32> {
        let (cin, n) = (x.c, x.data.len() / (x.fh * x.fw * x.c));
        let mut out = vec![0f32; n * oh * ow * cout];
        for img in 0..n {
            for y in 0..oh {
                for xx in 0..ow {
                    for co in 0..cout {
                        let mut s = 0f64;
                        for ki in 0..3 {
                            for kj in 0..3 {
                                for ci in 0..cin {
                                    let xv = x.data[((img * x.fh + y + ki) * x.fw + xx + kj) * cin + ci];
                                    s += xv as f64 * w[((co * cin + ci) * 3 + ki) * 3 + kj] as f64;
                                }
                            }
                        }
                        out[((img * oh + y) * ow + xx) * cout + co] = s as f32;
                    }
                }
            }
        }
        out
    }

    fn seeded(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn kernel(w: &[f32], cin: usize) -> impl Fn(usize, usize) -> [f32; 9] + '_ {
        move |co, ci| std::array::from_fn(|t| w[(co * cin + ci) * 9 + t])
    }

    fn max_rel(a: &[f32], b: &[f32]) -> f32 {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
    }

    #[test]
    fn forward_and_weight_gradient_match_direct_convolution() {
        // Odd maps (partial tiles), channel counts off the vector width, and
        // enough tiles for several chunks.
        for &(n, oh, ow, cin, cout) in &[(2, 5, 7, 3, 5), (3, 8, 8, 17, 9), (2, 32, 32, 32, 32), (1, 11, 11, 64, 48)] {
            let (th, tw) = tiles(oh, ow);
            let (fh, fw) = (2 * th + 2, 2 * tw + 2);
            let data = seeded(n * fh * fw * cin, 1);
            let x = Frames { data: &data, fh, fw, c: cin };
            let w = seeded(cout * cin * 9, 2);
            let u = transform_weights(cin, cout, kernel(&w, cin));
            let mut scratch = vec![0f32; scratch_len(cin, cout)];
            let mut out = vec![f32::NAN; n * oh * ow * cout];
            conv(x, oh, ow, &u, cout, &mut out, &mut scratch);
            let want = direct(&x, oh, ow, &w, cout);
            assert!(max_rel(&out, &want) < 1e-5, "forward {n}x{oh}x{ow} {cin}->{cout}: {}", max_rel(&out, &want));

            // dw[co, ci, ki, kj] = Σ g[img, y, x, co] · x[img, y + ki, x + kj, ci]
            let g = seeded(n * oh * ow * cout, 3);
            let mut acc = vec![0f32; XI * cout * cin];
            weight_grad(x, &g, cout, oh, ow, &mut acc, false, &mut scratch);
            let mut dw_cl = vec![f32::NAN; 9 * cin * cout];
            finish_weight_grad(&acc, cin, cout, &mut dw_cl, false);
            let dw: Vec<f32> = (0..cout * cin * 9)
                .map(|i| {
                    let (co, ci, t) = (i / (cin * 9), i / 9 % cin, i % 9);
                    dw_cl[(t * cin + ci) * cout + co]
                })
                .collect();
            let mut want = vec![0f32; cout * cin * 9];
            for (i, wv) in want.iter_mut().enumerate() {
                let (co, ci, ki, kj) = (i / (cin * 9), i / 9 % cin, i / 3 % 3, i % 3);
                let mut s = 0f64;
                for img in 0..n {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let xv = data[((img * fh + y + ki) * fw + xx + kj) * cin + ci] as f64;
                            s += xv * g[((img * oh + y) * ow + xx) * cout + co] as f64;
                        }
                    }
                }
                *wv = s as f32;
            }
            assert!(max_rel(&dw, &want) < 1e-5, "weight grad {n}x{oh}x{ow} {cin}->{cout}: {}", max_rel(&dw, &want));
        }
    }
}
