//! Building blocks in candle-nn's style (built from a `VarBuilder`, `forward`),
//! routed through our kernels where candle's are slow or wrong.

use std::sync::Mutex;

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::ops::{self, Act, ConvAlgorithm};
use crate::rng::Rng;

/// 2-D convolution, stride 1, with bias and optional fused ReLU.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Tensor,
    padding: usize,
    algo: ConvAlgorithm,
}

impl Conv2d {
    pub fn new(vb: VarBuilder, c_in: usize, c_out: usize, kernel: usize, padding: usize) -> Result<Self> {
        let weight = vb.get((c_out, c_in, kernel, kernel), "weight")?;
        let bias = vb.get(c_out, "bias")?;
        Ok(Conv2d { weight, bias, padding, algo: ConvAlgorithm::default() })
    }

    /// Computes the convolution with `algo` (default im2col).
    pub fn with_algorithm(mut self, algo: ConvAlgorithm) -> Self {
        self.algo = algo;
        self
    }

    /// Convolution + bias, then `act`.
    /// One fused op (`ops::conv2d_bias_act`): candle's own conv2d and its
    /// backward are several times slower on the CPU.
    pub fn forward_act(&self, xs: &Tensor, act: Act) -> Result<Tensor> {
        ops::conv2d_bias_act(xs, &self.weight, &self.bias, self.padding, act, self.algo)
    }
}

/// GroupNorm with per-channel scale and shift (variables `weight` = 1 and
/// `bias` = 0 at creation, as candle-nn's and PyTorch's), optionally with
/// SiLU after it, as one op (`ops::group_norm`).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
}

impl GroupNorm {
    pub fn new(vb: VarBuilder, groups: usize, c: usize) -> Result<Self> {
        let weight = vb.get_with_hints(c, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(c, "bias", candle_nn::Init::Const(0.0))?;
        Ok(GroupNorm { weight, bias, groups })
    }

    /// `GN(x)`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        ops::group_norm(xs, &self.weight, &self.bias, self.groups, false)
    }

    /// `SiLU(GN(x))`.
    pub fn forward_silu(&self, xs: &Tensor) -> Result<Tensor> {
        ops::group_norm(xs, &self.weight, &self.bias, self.groups, true)
    }
}

/// Fully connected layer `y = x Wᵀ + b` (weights `[out, in]`, as PyTorch).
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Tensor,
}

impl Linear {
    pub fn new(vb: VarBuilder, d_in: usize, d_out: usize) -> Result<Self> {
        Ok(Linear { weight: vb.get((d_out, d_in), "weight")?, bias: vb.get(d_out, "bias")? })
    }

    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_act(xs, Act::Identity)
    }

    /// `act(x Wᵀ + b)` as one op with a fused backward (`ops::linear_act`).
    pub fn forward_act(&self, xs: &Tensor, act: Act) -> Result<Tensor> {
        ops::linear_act(xs, &self.weight, &self.bias, act)
    }

    /// `act(concat(parts) Wᵀ + b)`, concatenating along features, with the
    /// input gradient only for the parts that need one (`ops::linear_act_cat`).
    pub fn forward_cat(&self, parts: &[&Tensor], act: Act) -> Result<Tensor> {
        ops::linear_act_cat(parts, &self.weight, &self.bias, act)
    }
}

/// Inverted dropout with masks drawn from our seeded generator (candle-nn's
/// `dropout` uses an unseeded RNG, so runs would not repeat).
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    rng: Mutex<Rng>,
}

impl Dropout {
    pub fn new(p: f32, rng: Rng) -> Self {
        Dropout { p, rng: Mutex::new(rng) }
    }

    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        if !train {
            return Ok(xs.clone());
        }
        dropout(xs, self.p, &mut self.rng.lock().expect("dropout rng lock"))
    }

    /// How far the mask stream has run (for `--resume`).
    pub fn position(&self) -> u128 {
        self.rng.lock().expect("dropout rng lock").get_word_pos()
    }

    /// Moves the mask stream to `pos` (from [`Dropout::position`]).
    pub fn set_position(&self, pos: u128) {
        self.rng.lock().expect("dropout rng lock").set_word_pos(pos)
    }
}

/// Inverted dropout of `xs` with rate `p`, the mask drawn from `rng` (one
/// uniform per element, in order): one fused op (`ops::dropout`).
pub fn dropout(xs: &Tensor, p: f32, rng: &mut Rng) -> Result<Tensor> {
    ops::dropout(xs, p, rng)
}

/// 2×2 max-pool with a correct gradient.
pub fn max_pool2(xs: &Tensor) -> Result<Tensor> {
    ops::max_pool2x2(xs)
}
