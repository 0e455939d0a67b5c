//! Fully connected layer `act(x Wᵀ + b)` as one op with a fused backward.
//!
//! candle's CPU matmul hands each product to `gemm` with rayon parallelism
//! inside; at the cGAN's sizes (batch 100–200, widths 256–1024) the second
//! core then spends about a quarter of a step waiting, and the bias add and
//! activation run as separate passes. Here every product is split into
//! fixed column blocks of [`BLOCK`] outputs, each a single-threaded gemm in
//! its own rayon task, and bias + activation are applied in one pass (the
//! backward gives the bias gradient in the same pass as the activation's).
//!
//! - forward: `y[:, blk] = x · W[blk, :]ᵀ`, then `act(y + b)`;
//! - backward from `g = dy·act'(y)`: `dW[blk, :] = g[:, blk]ᵀ · x`,
//!   `dx[:, blk] = g · W[:, blk]` (skipped when `x` is not tracked, e.g.
//!   input data; for [`linear_act_cat`] computed only for the columns of
//!   tracked parts), `db = Σ_rows g`.
//!
//! Determinism: blocks depend only on the shapes, never on the thread count,
//! and each output element is computed by exactly one task, so results are
//! bit-identical between runs and for any number of threads.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::act::{self, Act};
use super::conv::{sgemm, sgemm_raw, transpose, with_scratch};
use super::cpu_slice;

/// Output columns per task (a multiple of the gemm micro-kernel's width).
const BLOCK: usize = 128;

/// `act(x · wᵀ + b)` for `x` `[N, I]`, `w` `[O, I]` (PyTorch's layout), `b`
/// `[O]`. On the CPU with F32 tensors one custom op; elsewhere candle's
/// matmul and [`act::bias_act`].
pub fn linear_act(x: &Tensor, w: &Tensor, b: &Tensor, act: Act) -> Result<Tensor> {
    let i = x.dims2()?.1;
    linear_op(x, w, b, act, if needs_grad(x) { vec![(0, i)] } else { Vec::new() })
}

/// [`linear_act`] on the concatenation of `parts` along features, e.g. an
/// image and a label embedding. The input gradient is computed only for the
/// columns of parts that need one (a variable or computed from one): for a
/// discriminator's data input and its embedding that is the embedding's 10
/// columns, not the image's 784.
pub fn linear_act_cat(parts: &[&Tensor], w: &Tensor, b: &Tensor, act: Act) -> Result<Tensor> {
    let (mut at, mut cols) = (0, Vec::<(usize, usize)>::new());
    for p in parts {
        let width = p.dims2()?.1;
        if needs_grad(p) {
            match cols.last_mut() {
                Some(last) if last.1 == at => last.1 += width,
                _ => cols.push((at, at + width)),
            }
        }
        at += width;
    }
    linear_op(&Tensor::cat(parts, 1)?, w, b, act, cols)
}

/// Whether backpropagation reaches `x`: a variable, or computed from one.
fn needs_grad(x: &Tensor) -> bool {
    x.is_variable() || x.track_op()
}

/// The op, with the input gradient computed for the column ranges `dx_cols`
/// only (none: no input gradient).
fn linear_op(x: &Tensor, w: &Tensor, b: &Tensor, act: Act, dx_cols: Vec<(usize, usize)>) -> Result<Tensor> {
    let (_, i) = x.dims2()?;
    let (o, i2) = w.dims2()?;
    if i != i2 {
        bail!("linear_act: input has {i} features, weight expects {i2}");
    }
    if b.dims() != [o] {
        bail!("linear_act: bias shape {:?}, expected [{o}]", b.dims());
    }
    let fast = x.device().is_cpu()
        && [x.dtype(), w.dtype(), b.dtype()].iter().all(|&d| d == DType::F32)
        && x.elem_count() > 0
        && w.elem_count() > 0;
    if !fast {
        return act::bias_act(&x.matmul(&w.t()?)?, b, act);
    }
    x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, Linear { act, dx_cols })
}

struct Linear {
    act: Act,
    /// Column ranges `[c0, c1)` of the input whose gradient is needed (the
    /// rest of the input gradient is zero); empty: no input gradient.
    dx_cols: Vec<(usize, usize)>,
}

/// Column blocks `[start, end)` of `0..n`.
fn blocks(n: usize) -> Vec<(usize, usize)> {
    (0..n.div_ceil(BLOCK)).map(|k| (k * BLOCK, ((k + 1) * BLOCK).min(n))).collect()
}

/// `lhs[m × k] · rhs[k × n]`, both row-major, through the dense layers' own
/// path (column blocks, one single-threaded gemm per rayon task), for
/// measuring that path on its own (`just bench`'s sgemm peak reference).
pub fn matmul(lhs: &[f32], rhs: &[f32], (m, k, n): (usize, usize, usize)) -> Result<Vec<f32>> {
    let (lhs_len, rhs_len) = (m.checked_mul(k), k.checked_mul(n));
    if lhs_len != Some(lhs.len()) || rhs_len != Some(rhs.len()) || m.checked_mul(n).is_none() {
        bail!("matmul: operands of {} and {} values for {m}×{k} · {k}×{n}", lhs.len(), rhs.len());
    }
    Ok(gemm_by_column_blocks((m, n, k), lhs, (1, k), Rhs::Strided(rhs, (1, n))))
}

/// The right-hand side of [`gemm_by_column_blocks`].
#[derive(Clone, Copy)]
enum Rhs<'a> {
    /// A `k × n` matrix with [`sgemm`]'s `(column, row)` strides.
    Strided(&'a [f32], (usize, usize)),
    /// The transpose of a row-major `[n, k]` matrix (a weight in PyTorch's
    /// layout). Each block is transposed (8×8 AVX blocks) into a scratch
    /// buffer first: handed over as a strided view, gemm packs it one
    /// element at a time, which was 13 % of a cGAN step (perf, issue 7).
    TransposeOf(&'a [f32]),
}

/// `lhs[m × k] · rhs[k × n]`, row-major, one task per column block, each
/// writing its block of the result in place. The result is neither zeroed
/// first nor assembled from per-block buffers: on a host with little memory
/// bandwidth those two extra passes cost as much as the product's own
/// stores. Strides are [`sgemm`]'s `(column, row)` pairs.
fn gemm_by_column_blocks(
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    lhs_strides: (usize, usize),
    rhs: Rhs,
) -> Vec<f32> {
    let len = m.checked_mul(n).expect("linear_act: output size overflows");
    if k == 0 || len == 0 {
        // Nothing to multiply, or nothing to write (and no allocation to
        // point into).
        return vec![0.0; len];
    }
    let mut dst = Vec::<f32>::with_capacity(len);
    let out = BlockDst(dst.as_mut_ptr());
    blocks(n).into_par_iter().for_each(|(j0, j1)| {
        let width = j1 - j0;
        // SAFETY: this block's elements r·n + j0 + c (r < m, c < width <= n
        // - j0) lie inside dst's capacity of m·n; the tasks' column ranges
        // are disjoint and dst is not otherwise used until they all end; it
        // is a fresh allocation, so it cannot overlap lhs or rhs.
        let d = unsafe { out.ptr().add(j0) };
        match rhs {
            Rhs::Strided(r, s) => unsafe {
                sgemm_raw(m, width, k, d, (1, n), false, lhs, lhs_strides, &r[j0 * s.0..], s)
            },
            Rhs::TransposeOf(r) => with_scratch(k * width, |rt| {
                // rt[k, width] = r[j0..j1, :]ᵀ, row-major.
                transpose(&r[j0 * k..], k, width, k, rt, width);
                // SAFETY: as above.
                unsafe { sgemm_raw(m, width, k, d, (1, n), false, lhs, lhs_strides, rt, (1, width)) }
            }),
        }
    });
    // SAFETY: the blocks cover columns 0..n and each gemm (k > 0, not
    // accumulating) wrote all m rows of its block: every element is set.
    unsafe { dst.set_len(len) };
    dst
}

/// The output of [`gemm_by_column_blocks`], shared by its tasks, each of
/// which writes only its own column block.
#[derive(Clone, Copy)]
struct BlockDst(*mut f32);

// SAFETY: the tasks write disjoint elements (see gemm_by_column_blocks).
unsafe impl Send for BlockDst {}
unsafe impl Sync for BlockDst {}

impl BlockDst {
    /// A method, not the field, so that closures capture the whole (Sync)
    /// struct rather than the raw pointer alone.
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

fn dims(lx: &Layout, lw: &Layout) -> Result<(usize, usize, usize)> {
    let (n, i) = lx.shape().dims2()?;
    let (o, _) = lw.shape().dims2()?;
    Ok((n, i, o))
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "linear-act"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, i, o) = dims(lx, lw)?;
        let (x, w, b) = (
            cpu_slice(sx, lx, "linear_act: input")?,
            cpu_slice(sw, lw, "linear_act: weight")?,
            cpu_slice(sb, lb, "linear_act: bias")?,
        );
        // y[N, O] = x[N, I] · wᵀ[I, O].
        let mut y = gemm_by_column_blocks((n, o, i), x, (1, i), Rhs::TransposeOf(w));
        act::add_bias_act(&mut y, b, self.act);
        Ok((CpuStorage::F32(y), Shape::from((n, o))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, o) = res.dims2()?;
        let both = res.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &act::BiasActBackward(self.act))?;
        let (g, db) = (both.narrow(0, 0, n)?, both.narrow(0, n, 1)?.reshape(o)?);
        let dw = g.apply_op2_no_bwd(x, &WeightGrad)?;
        let dx = if self.dx_cols.is_empty() {
            None
        } else {
            Some(g.apply_op2_no_bwd(w, &InputGrad { cols: &self.dx_cols })?)
        };
        Ok((dx, Some(dw), Some(db)))
    }
}

/// `dW[O, I] = gᵀ · x` from (g `[N, O]`, x `[N, I]`).
struct WeightGrad;

impl CustomOp2 for WeightGrad {
    fn name(&self) -> &'static str {
        "linear-weight-grad"
    }

    fn cpu_fwd(&self, sg: &CpuStorage, lg: &Layout, sx: &CpuStorage, lx: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, o) = lg.shape().dims2()?;
        let (_, i) = lx.shape().dims2()?;
        let (g, x) = (cpu_slice(sg, lg, "linear_act: gradient")?, cpu_slice(sx, lx, "linear_act: input")?);
        let mut dw = vec![0f32; o * i];
        // Blocks of BLOCK rows of dW (whole rows: disjoint slices). Each is
        // dW[blk, :]ᵀ[I, blk] = xᵀ[I, N] · g[N, blk], written with dst
        // (column, row) strides (I, 1), i.e. straight into dW's rows.
        dw.par_chunks_mut(BLOCK * i).enumerate().for_each(|(bk, dst)| {
            let j0 = bk * BLOCK;
            sgemm(i, dst.len() / i, n, dst, (i, 1), false, x, (i, 1), &g[j0..], (1, o));
        });
        Ok((CpuStorage::F32(dw), Shape::from((o, i))))
    }
}

/// `dx[N, I] = g · W` from (g `[N, O]`, W `[O, I]`), for the column ranges
/// `cols` of dx only (zero elsewhere).
struct InputGrad<'a> {
    cols: &'a [(usize, usize)],
}

impl CustomOp2 for InputGrad<'_> {
    fn name(&self) -> &'static str {
        "linear-input-grad"
    }

    fn cpu_fwd(&self, sg: &CpuStorage, lg: &Layout, sw: &CpuStorage, lw: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, o) = lg.shape().dims2()?;
        let (_, i) = lw.shape().dims2()?;
        let (g, w) = (cpu_slice(sg, lg, "linear_act: gradient")?, cpu_slice(sw, lw, "linear_act: weight")?);
        if let [(0, c1)] = self.cols {
            if *c1 == i {
                let dx = gemm_by_column_blocks((n, i, o), g, (1, o), Rhs::Strided(w, (1, i)));
                return Ok((CpuStorage::F32(dx), Shape::from((n, i))));
            }
        }
        let mut dx = vec![0f32; n * i];
        for &(c0, c1) in self.cols {
            if c0 >= c1 || c1 > i {
                bail!("linear_act: gradient columns {c0}..{c1} outside 0..{i}");
            }
            let width = c1 - c0;
            let part = gemm_by_column_blocks((n, width, o), g, (1, o), Rhs::Strided(&w[c0..], (1, i)));
            for (row, src) in dx.chunks_exact_mut(i).zip(part.chunks_exact(width)) {
                row[c0..c1].copy_from_slice(src);
            }
        }
        Ok((CpuStorage::F32(dx), Shape::from((n, i))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::Rng;

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut r = crate::rng::stream(seed, "linear-test");
        (0..n).map(|_| r.gen_range(-1.0..1.0)).collect()
    }

    fn close(a: &Tensor, b: &Tensor, what: &str) {
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        for (k, (p, q)) in a.iter().zip(&b).enumerate() {
            assert!((p - q).abs() <= 1e-5 * scale, "{what}[{k}]: {p} vs {q}");
        }
    }

    /// The bench's `matmul` against a naive product, across the block width,
    /// and bad operand sizes refused with the shapes named.
    #[test]
    fn matmul_matches_a_naive_product_and_checks_sizes() {
        let (m, k, n) = (3, 5, 130);
        let (a, b) = (rand_vec(m * k, 1), rand_vec(k * n, 2));
        let c = matmul(&a, &b, (m, k, n)).unwrap();
        for (r, row) in c.chunks_exact(n).enumerate() {
            for (j, &got) in row.iter().enumerate() {
                let want: f32 = (0..k).map(|t| a[r * k + t] * b[t * n + j]).sum();
                assert!((got - want).abs() <= 1e-5, "[{r}, {j}]: {got} vs {want}");
            }
        }
        let e = matmul(&a, &b[1..], (m, k, n)).unwrap_err().to_string();
        assert!(e.contains("3×5 · 5×130"), "{e}");
        assert!(matmul(&[], &[], (usize::MAX, 0, 2)).is_err());
    }

    /// Forward and every gradient against candle's matmul + ops, on shapes
    /// below, at and across the block width.
    #[test]
    fn matches_candle_forward_and_gradients() {
        let dev = Device::Cpu;
        for (s, &(n, i, o)) in
            [(1, 1, 1), (3, 5, 7), (100, 110, 256), (64, 300, 129), (200, 1024, 512), (7, 784, 1)].iter().enumerate()
        {
            for act in [Act::Identity, Act::Leaky(0.2), Act::Tanh, Act::Relu] {
                let s = s as u64;
                let x = Var::from_vec(rand_vec(n * i, s), (n, i), &dev).unwrap();
                let w = Var::from_vec(rand_vec(o * i, 10 + s), (o, i), &dev).unwrap();
                let b = Var::from_vec(rand_vec(o, 20 + s), o, &dev).unwrap();
                let up = Tensor::from_vec(rand_vec(n * o, 30 + s), (n, o), &dev).unwrap();
                let ours = linear_act(x.as_tensor(), w.as_tensor(), b.as_tensor(), act).unwrap();
                let pre = x.as_tensor().matmul(&w.as_tensor().t().unwrap()).unwrap();
                let theirs = act.candle(&pre.broadcast_add(b.as_tensor()).unwrap()).unwrap();
                let what = format!("{act:?} {n}x{i}->{o}");
                close(&ours, &theirs, &format!("{what} forward"));
                let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
                let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
                for (v, name) in [(&x, "dx"), (&w, "dw"), (&b, "db")] {
                    close(g1.get(v).unwrap(), g2.get(v).unwrap(), &format!("{what} {name}"));
                }
            }
        }
    }

    /// Data parts and tracked parts: the same forward and gradients as
    /// candle's ops on the concatenation, and no gradient computed for data,
    /// with the tracked part first, last or between two data parts.
    #[test]
    fn cat_matches_candle_and_skips_untracked_parts() {
        let dev = Device::Cpu;
        let (n, o) = (50, 130);
        for (s, widths, tracked) in [
            (0u64, [784, 10, 3], [false, true, false]),
            (1, [5, 7, 129], [true, false, false]),
            (2, [9, 1, 300], [false, false, true]),
            (3, [4, 6, 8], [true, false, true]),
        ] {
            let parts: Vec<Tensor> = widths
                .iter()
                .zip(tracked)
                .enumerate()
                .map(|(k, (&wd, t))| {
                    let v = rand_vec(n * wd, 40 + 3 * s + k as u64);
                    if t {
                        Var::from_vec(v, (n, wd), &dev).unwrap().as_tensor().clone()
                    } else {
                        Tensor::from_vec(v, (n, wd), &dev).unwrap()
                    }
                })
                .collect();
            let i: usize = widths.iter().sum();
            let w = Var::from_vec(rand_vec(o * i, 50 + s), (o, i), &dev).unwrap();
            let b = Var::from_vec(rand_vec(o, 60 + s), o, &dev).unwrap();
            let up = Tensor::from_vec(rand_vec(n * o, 70 + s), (n, o), &dev).unwrap();
            let refs: Vec<&Tensor> = parts.iter().collect();
            let act = Act::Leaky(0.2);
            let ours = linear_act_cat(&refs, w.as_tensor(), b.as_tensor(), act).unwrap();
            let cat = Tensor::cat(&refs, 1).unwrap();
            let pre = cat.matmul(&w.as_tensor().t().unwrap()).unwrap();
            let theirs = act.candle(&pre.broadcast_add(b.as_tensor()).unwrap()).unwrap();
            close(&ours, &theirs, &format!("cat {widths:?} forward"));
            let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
            for (k, p) in parts.iter().enumerate() {
                let g = g1.get(p);
                if tracked[k] {
                    close(
                        g.expect("tracked part has a gradient"),
                        g2.get(p).unwrap(),
                        &format!("cat {widths:?} d(part {k})"),
                    );
                } else if let Some(g) = g {
                    // candle's cat backward hands every part its slice; an
                    // untracked part's slice was never computed: zeros.
                    let v = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    assert!(v.iter().all(|&x| x == 0.0), "cat {widths:?}: untracked part {k} got a gradient");
                }
            }
            close(g1.get(&w).unwrap(), g2.get(&w).unwrap(), &format!("cat {widths:?} dw"));
            close(g1.get(&b).unwrap(), g2.get(&b).unwrap(), &format!("cat {widths:?} db"));
        }
    }

    /// Input data (not tracked) gets no gradient computed; the weights do.
    #[test]
    fn untracked_input_gets_no_gradient() {
        let dev = Device::Cpu;
        let x = Tensor::from_vec(rand_vec(6 * 4, 1), (6, 4), &dev).unwrap();
        let w = Var::from_vec(rand_vec(3 * 4, 2), (3, 4), &dev).unwrap();
        let b = Var::from_vec(rand_vec(3, 3), 3, &dev).unwrap();
        let y = linear_act(&x, w.as_tensor(), b.as_tensor(), Act::Relu).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none());
        assert!(grads.get(&w).is_some() && grads.get(&b).is_some());
    }

    /// The same bits for one thread and for several.
    #[test]
    fn thread_count_does_not_change_the_result() {
        let dev = Device::Cpu;
        let (n, i, o) = (100, 300, 700);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let x = Var::from_vec(rand_vec(n * i, 1), (n, i), &dev).unwrap();
                let w = Var::from_vec(rand_vec(o * i, 2), (o, i), &dev).unwrap();
                let b = Var::from_vec(rand_vec(o, 3), o, &dev).unwrap();
                let y = linear_act(x.as_tensor(), w.as_tensor(), b.as_tensor(), Act::Leaky(0.2)).unwrap();
                let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                [y, g.get(&x).unwrap().clone(), g.get(&w).unwrap().clone()]
                    .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap())
            })
        };
        assert!(run(1) == run(3));
    }
}
