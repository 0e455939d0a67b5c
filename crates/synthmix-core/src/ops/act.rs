//! Bias + activation in one pass, for the fully connected layers (the MLP
//! cGAN, the classifiers' dense heads).
//!
//! As candle ops, `act(x W^T + b)` costs a broadcast add, two or three
//! elementwise ops for LeakyReLU (`max(x, a·x)`) and, in the backward, a
//! strided sum over the batch for the bias gradient and 4-5 more passes for
//! the activation's gradient: at batch 100 these small passes took ~15 % of
//! a cGAN step (perf, see the README's speed section). Here the forward is one
//! pass over `[N, O]` and the backward one pass producing the input gradient
//! and the bias gradient together.
//!
//! The activation's derivative is read from the output `y`: for ReLU and
//! LeakyReLU with slope `a >= 0`, `y > 0` exactly when the pre-activation
//! is; for tanh `1 - y²`. Deterministic: the bias gradient is summed over rows
//! in row order on one thread.

use candle_core::{bail, CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_slice;

/// The activation applied after the bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    Identity,
    Relu,
    /// LeakyReLU with this negative slope (0 ≤ a ≤ 1).
    Leaky(f32),
    Tanh,
}

/// Calls `$body` with `$f` bound to the activation (`$which = fwd`) or its
/// derivative from the output (`$which = grad`) as a closure of its own, so
/// every inner loop is compiled (and vectorised) per activation instead of
/// matching on the enum per element.
macro_rules! with_act {
    ($act:expr, fwd, $f:ident, $body:expr) => {
        match $act {
            Act::Identity => {
                let $f = |v: f32| v;
                $body
            }
            Act::Relu => {
                let $f = |v: f32| v.max(0.0);
                $body
            }
            Act::Leaky(a) => {
                // Branch-free: signs are random, and a branch mispredicts half the time.
                let $f = move |v: f32| v.max(0.0) + a * v.min(0.0);
                $body
            }
            Act::Tanh => {
                let $f = fast_tanh;
                $body
            }
        }
    };
    ($act:expr, grad, $f:ident, $body:expr) => {
        match $act {
            Act::Identity => {
                let $f = |_y: f32| 1.0f32;
                $body
            }
            Act::Relu => {
                let $f = |y: f32| (y > 0.0) as u32 as f32;
                $body
            }
            Act::Leaky(a) => {
                let $f = move |y: f32| a + (1.0 - a) * ((y > 0.0) as u32 as f32);
                $body
            }
            Act::Tanh => {
                let $f = |y: f32| 1.0 - y * y;
                $body
            }
        }
    };
}

pub(crate) use with_act;

/// tanh as a rational function (Eigen's `generic_fast_tanh_float`: odd
/// degree-13 numerator over even degree-6 denominator, inputs clamped to
/// ±7.9053, where tanh is 1 in f32). Unlike libm's `tanhf` it has no call
/// and no branch, so the loops around it vectorise: libm's tanh took a fifth
/// of generator sampling. Within 5e-7 of `f64::tanh` (tested; a few f32 ulps).
// The coefficients keep Eigen's digits, so they can be checked against it.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub fn fast_tanh(v: f32) -> f32 {
    let x = v.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let mut p = x2 * -2.760_768_5e-16 + 2.000_187_9e-13;
    p = p * x2 + -8.604_671_5e-11;
    p = p * x2 + 5.122_297e-8;
    p = p * x2 + 1.485_722_4e-5;
    p = p * x2 + 6.372_619_3e-4;
    p = p * x2 + 4.893_524_6e-3;
    p *= x;
    let mut q = x2 * 1.198_258_4e-6 + 1.185_347_1e-4;
    q = q * x2 + 2.268_434_6e-3;
    q = q * x2 + 4.893_525e-3;
    // Tiny inputs: tanh(x) = x to f32 precision (and keeps -0.0).
    if v.abs() < 4e-4 {
        v
    } else {
        p / q
    }
}

impl Act {
    /// The same with candle's own ops (other devices and dtypes).
    pub(crate) fn candle(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Act::Identity => Ok(x.clone()),
            Act::Relu => x.relu(),
            Act::Leaky(a) => x.maximum(&x.affine(a as f64, 0.0)?),
            Act::Tanh => x.tanh(),
        }
    }
}

/// `act(x + b)` for `x` `[N, O]` and `b` `[O]` (broadcast over rows). On the
/// CPU with F32 tensors one fused custom op with a fused backward; elsewhere
/// candle's own ops, so model code runs on every device.
pub fn bias_act(x: &Tensor, b: &Tensor, act: Act) -> Result<Tensor> {
    let (_, o) = x.dims2()?;
    if b.dims() != [o] {
        bail!("bias_act: bias shape {:?}, expected [{o}]", b.dims());
    }
    if let Act::Leaky(a) = act {
        if !(0.0..=1.0).contains(&a) {
            bail!("bias_act: leaky slope {a} is outside [0, 1]");
        }
    }
    let fast = x.device().is_cpu() && x.dtype() == DType::F32 && b.dtype() == DType::F32 && x.elem_count() > 0;
    if !fast {
        return act.candle(&x.broadcast_add(b)?);
    }
    x.contiguous()?.apply_op2(&b.contiguous()?, BiasAct(act))
}

/// Rows per rayon task: enough work per task to amortise scheduling.
fn rows_per_task(o: usize) -> usize {
    (16384 / o.max(1)).max(1)
}

struct BiasAct(Act);

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, o) = l1.shape().dims2()?;
        let (x, b) = (cpu_slice(s1, l1, "bias_act: input")?, cpu_slice(s2, l2, "bias_act: bias")?);
        let mut y = x.to_vec();
        add_bias_act(&mut y, b, self.0);
        Ok((CpuStorage::F32(y), Shape::from((n, o))))
    }

    fn bwd(&self, _x: &Tensor, _b: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (n, o) = res.dims2()?;
        // One op computes [N + 1, O]: the input gradient, then the bias
        // gradient as the last row; both are views of it.
        let both = res.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &BiasActBackward(self.0))?;
        Ok((Some(both.narrow(0, 0, n)?), Some(both.narrow(0, n, 1)?.reshape(o)?)))
    }
}

/// From (output, upstream gradient): [`act_backward`].
pub(crate) struct BiasActBackward(pub(crate) Act);

impl CustomOp2 for BiasActBackward {
    fn name(&self) -> &'static str {
        "bias-act-backward"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, o) = l1.shape().dims2()?;
        let (y, dy) = (cpu_slice(s1, l1, "bias_act: output")?, cpu_slice(s2, l2, "bias_act: gradient")?);
        Ok((CpuStorage::F32(act_backward(y, dy, o, self.0)), Shape::from((n + 1, o))))
    }
}

/// In place on `[N, O]` rows: `y[r, j] = act(y[r, j] + b[j])`.
pub(crate) fn add_bias_act(y: &mut [f32], b: &[f32], act: Act) {
    let o = b.len();
    let rows = rows_per_task(o);
    with_act!(act, fwd, f, {
        y.par_chunks_mut(rows * o).for_each(|yc| {
            for yr in yc.chunks_exact_mut(o) {
                for (yv, &bv) in yr.iter_mut().zip(b) {
                    *yv = f(*yv + bv);
                }
            }
        })
    });
}

/// From the output `y` and upstream gradient `dy` (`[N, O]`): `[N + 1, O]`
/// holding `g = dy·act'(y)` and, as the last row, `Σ_rows g`.
pub(crate) fn act_backward(y: &[f32], dy: &[f32], o: usize, act: Act) -> Vec<f32> {
    let n = y.len() / o.max(1);
    let mut out = vec![0f32; (n + 1) * o];
    let (g, db) = out.split_at_mut(n * o);
    let rows = rows_per_task(o);
    with_act!(act, grad, f, {
        g.par_chunks_mut(rows * o).zip(y.par_chunks(rows * o)).zip(dy.par_chunks(rows * o)).for_each(
            |((gc, yc), dc)| {
                for ((gv, &yv), &dv) in gc.iter_mut().zip(yc).zip(dc) {
                    *gv = dv * f(yv);
                }
            },
        )
    });
    // Row order, one thread: the same sum every run.
    for row in g.chunks_exact(o) {
        for (d, &v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::Rng;

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut r = crate::rng::stream(seed, "act-test");
        (0..n).map(|_| r.gen_range(-2.0..2.0)).collect()
    }

    /// Forward and both gradients against candle's own ops, on random shapes.
    #[test]
    fn matches_candle_ops_forward_and_gradients() {
        let dev = Device::Cpu;
        for (i, &(n, o)) in [(1, 1), (3, 7), (100, 256), (200, 1024), (5, 40000)].iter().enumerate() {
            for act in [Act::Identity, Act::Relu, Act::Leaky(0.2), Act::Tanh] {
                let x = Var::from_vec(rand_vec(n * o, i as u64), (n, o), &dev).unwrap();
                let b = Var::from_vec(rand_vec(o, 100 + i as u64), o, &dev).unwrap();
                let up = Tensor::from_vec(rand_vec(n * o, 200 + i as u64), (n, o), &dev).unwrap();
                let ours = bias_act(x.as_tensor(), b.as_tensor(), act).unwrap();
                let theirs = act.candle(&x.as_tensor().broadcast_add(b.as_tensor()).unwrap()).unwrap();
                let close = |a: &Tensor, b: &Tensor, what: &str| {
                    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                    assert_eq!(a.len(), b.len());
                    for (k, (p, q)) in a.iter().zip(&b).enumerate() {
                        let tol = 1e-5 * q.abs().max(1.0);
                        assert!((p - q).abs() <= tol, "{act:?} {n}x{o} {what}[{k}]: {p} vs {q}");
                    }
                };
                close(&ours, &theirs, "forward");
                let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
                let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
                close(g1.get(&x).unwrap(), g2.get(&x).unwrap(), "dx");
                close(g1.get(&b).unwrap(), g2.get(&b).unwrap(), "db");
            }
        }
    }

    #[test]
    fn fast_tanh_is_accurate() {
        let mut worst = 0f64;
        for k in -200_000..=200_000 {
            let x = k as f32 * 1e-4; // [-20, 20]
            let err = (fast_tanh(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
        }
        for &x in &[0.0f32, -0.0, 1e-30, -3e-5, 7.9, -7.91, 100.0, -100.0, f32::MAX, f32::MIN] {
            let err = (fast_tanh(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
        }
        assert!(worst < 5e-7, "max |fast_tanh - tanh| = {worst:e}");
        assert!(fast_tanh(-0.0).is_sign_negative());
    }

    #[test]
    fn refuses_wrong_bias_and_slope() {
        let x = Tensor::zeros((2, 3), DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
        assert!(bias_act(&x, &b, Act::Relu).is_err());
        let b = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        assert!(bias_act(&x, &b, Act::Leaky(-0.5)).is_err());
    }
}
