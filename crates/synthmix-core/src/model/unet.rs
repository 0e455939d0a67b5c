//! The class-conditional U-Net of the diffusion generator (`dpm-train`):
//! ε̂ = UNet(x_t, t, y).
//!
//! - conv 3×3 in, then per level `i` (channels `base · mults[i]`)
//!   `res_blocks` residual blocks and, except at the last level, a 2× down
//!   step (2×2 average pool + conv 3×3); the output of each level's blocks
//!   is kept for a skip connection;
//! - middle: residual block, self-attention (single head, on a flag), residual block;
//! - per level from the lowest up: the skip concatenated on channels,
//!   `res_blocks` residual blocks and, except at the top, a 2× up step
//!   (nearest upsample + conv 3×3);
//! - GroupNorm, SiLU, conv 3×3 out to the image's channels.
//!
//! A residual block is `h = conv(SiLU(GN(x))) + Linear(SiLU(emb))`, then
//! `conv(SiLU(GN(h)))`, added to `x` (through a 1×1 conv when the channels
//! change). `emb` is the sinusoidal embedding of t through Linear–SiLU–Linear,
//! plus a class embedding with one extra row, the "null" class
//! (`num_classes`), that classifier-free guidance trains with and samples
//! the unconditional prediction from.
//!
//! 28×28 images are not padded: two down steps go 28 → 14 → 7 (sides must
//! be divisible by 2^(levels−1)). Convs and the up/down resamplings use our
//! fused CPU ops, and so does every GroupNorm (with the SiLU after it:
//! `ops::group_norm`, one pass forward and one backward).

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::layers::{Conv2d, GroupNorm, Linear};
use crate::artifact::checkpoint::{self, Checkpoint};
use crate::data::ImageShape;
use crate::error::Error;
use crate::ops::{self, Act};
use crate::rng;

/// The arch name stored in checkpoints.
pub const ARCH: &str = "unet";

/// Everything needed to rebuild the U-Net; stored as JSON in its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnetConfig {
    pub image: ImageShape,
    pub num_classes: usize,
    /// Channels of the first level; level `i` has `base · mults[i]`.
    pub base: usize,
    pub mults: Vec<usize>,
    /// Residual blocks per level on each side.
    pub res_blocks: usize,
    /// GroupNorm groups (divides every level's channels).
    pub groups: usize,
    /// Self-attention in the middle (the lowest resolution).
    pub attention: bool,
    /// The noise schedule the model was trained with (sampling uses it).
    pub schedule: super::diffusion::ScheduleKind,
}

impl UnetConfig {
    /// The default for `image`: 32 base channels, mults 1,2,2 (28 → 14 → 7)
    /// for one grey channel; 64 for colour (CIFAR-10's 32 → 16 → 8).
    pub fn new(image: ImageShape, num_classes: usize) -> Self {
        let base = if image.c == 1 { 32 } else { 64 };
        UnetConfig {
            image,
            num_classes,
            base,
            mults: vec![1, 2, 2],
            res_blocks: 1,
            groups: 8,
            attention: true,
            schedule: Default::default(),
        }
    }

    /// Channels of every level.
    pub fn widths(&self) -> Vec<usize> {
        self.mults.iter().map(|m| self.base.saturating_mul(*m)).collect()
    }

    /// Width of the time/class embedding.
    pub fn emb_dim(&self) -> usize {
        4 * self.base
    }

    /// Checks the config can be built; errors name the flag.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.num_classes == 0 || self.num_classes > 255 {
            return bad(format!("{} classes: a U-Net needs 1 to 255", self.num_classes));
        }
        if self.base == 0 || self.base > 1024 || self.base % 2 != 0 {
            return bad(format!("--channels {} must be even, 2 to 1024", self.base));
        }
        if self.mults.is_empty() || self.mults.len() > 5 || self.mults.iter().any(|&m| m == 0 || m > 16) {
            return bad(format!("--channel-mults {:?}: 1 to 5 levels, each 1 to 16", self.mults));
        }
        if self.res_blocks == 0 || self.res_blocks > 8 {
            return bad(format!("--res-blocks {} must be 1 to 8", self.res_blocks));
        }
        if let Some(w) = self.widths().iter().find(|&&w| self.groups == 0 || w % self.groups != 0) {
            return bad(format!(
                "--groups {} does not divide the level width {w} (--channels × --channel-mults)",
                self.groups
            ));
        }
        let f = 1usize << (self.mults.len() - 1);
        if self.image.h % f != 0 || self.image.w % f != 0 || self.image.h < f || self.image.w < f {
            return bad(format!(
                "image {} : sides must be divisible by {f} for {} levels",
                self.image,
                self.mults.len()
            ));
        }
        Ok(())
    }

    /// FLOPs of one forward pass for one image, counting convolutions and
    /// linear layers as 2 × multiply-adds (as `just bench`'s PyTorch side
    /// counts them: norms, activations, pooling and attention's products left out).
    pub fn forward_flops(&self) -> u64 {
        let e = self.emb_dim();
        let conv = |(h, w): (usize, usize), cin: usize, cout: usize, k: usize| 2 * h * w * cout * cin * k * k;
        let res = |hw: (usize, usize), cin: usize, cout: usize| {
            let skip = if cin == cout { 0 } else { conv(hw, cin, cout, 1) };
            conv(hw, cin, cout, 3) + 2 * e * cout + conv(hw, cout, cout, 3) + skip
        };
        let (widths, top) = (self.widths(), (self.image.h, self.image.w));
        let mut f = 2 * self.base * e + 2 * e * e + conv(top, self.image.c, self.base, 3);
        let (mut hw, mut prev) = (top, self.base);
        let mut sizes = Vec::new();
        for (i, &w) in widths.iter().enumerate() {
            for j in 0..self.res_blocks {
                f += res(hw, if j == 0 { prev } else { w }, w);
            }
            sizes.push(hw);
            if i + 1 < widths.len() {
                hw = (hw.0 / 2, hw.1 / 2);
                f += conv(hw, w, w, 3);
            }
            prev = w;
        }
        f += 2 * res(hw, prev, prev);
        if self.attention {
            f += 2 * hw.0 * hw.1 * prev * 4 * prev;
        }
        for (i, &w) in widths.iter().enumerate().rev() {
            for j in 0..self.res_blocks {
                f += res(hw, if j == 0 { prev + w } else { w }, w);
            }
            if i > 0 {
                hw = sizes[i - 1];
                f += conv(hw, w, w, 3);
            }
            prev = w;
        }
        (f + conv(top, self.base, self.image.c, 3)) as u64
    }
}

/// Sinusoidal embedding `[cos(t·f_i), sin(t·f_i)]`, `f_i = 10000^(−i/half)`,
/// of each timestep, `[N, dim]` (computed on the host in f64).
pub fn timestep_embedding(ts: &[usize], dim: usize, device: &Device) -> Result<Tensor> {
    let half = dim / 2;
    let mut v = Vec::with_capacity(ts.len() * dim);
    for &t in ts {
        let f = |i: usize| (-(10000f64.ln()) * i as f64 / half as f64).exp() * t as f64;
        v.extend((0..half).map(|i| f(i).cos() as f32));
        v.extend((0..half).map(|i| f(i).sin() as f32));
    }
    Tensor::from_vec(v, (ts.len(), dim), device)
}

fn group_norm(vb: VarBuilder, groups: usize, c: usize) -> Result<GroupNorm> {
    GroupNorm::new(vb, groups, c)
}

/// `SiLU(GN(x))`, one fused op.
fn norm_act(n: &GroupNorm, x: &Tensor) -> Result<Tensor> {
    n.forward_silu(x)
}

#[derive(Debug)]
struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    emb: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    skip: Option<Conv2d>,
}

impl ResBlock {
    fn new(vb: VarBuilder, c_in: usize, c_out: usize, cfg: &UnetConfig) -> Result<Self> {
        Ok(ResBlock {
            norm1: group_norm(vb.pp("norm1"), cfg.groups, c_in)?,
            conv1: Conv2d::new(vb.pp("conv1"), c_in, c_out, 3, 1)?,
            emb: Linear::new(vb.pp("emb"), cfg.emb_dim(), c_out)?,
            norm2: group_norm(vb.pp("norm2"), cfg.groups, c_out)?,
            conv2: Conv2d::new(vb.pp("conv2"), c_out, c_out, 3, 1)?,
            skip: if c_in == c_out { None } else { Some(Conv2d::new(vb.pp("skip"), c_in, c_out, 1, 0)?) },
        })
    }

    /// `x` `[N, C, H, W]`, `emb_act` = SiLU(emb) `[N, E]`.
    fn forward(&self, x: &Tensor, emb_act: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward_act(&norm_act(&self.norm1, x)?, Act::Identity)?;
        let e = self.emb.forward(emb_act)?.unsqueeze(2)?.unsqueeze(3)?;
        let h = h.broadcast_add(&e)?;
        let h = self.conv2.forward_act(&norm_act(&self.norm2, &h)?, Act::Identity)?;
        let skip = match &self.skip {
            Some(s) => s.forward_act(x, Act::Identity)?,
            None => x.clone(),
        };
        skip + h
    }
}

/// Single-head self-attention over the positions of a feature map, residual.
#[derive(Debug)]
struct Attention {
    norm: GroupNorm,
    qkv: Linear,
    proj: Linear,
}

impl Attention {
    fn new(vb: VarBuilder, c: usize, cfg: &UnetConfig) -> Result<Self> {
        Ok(Attention {
            norm: group_norm(vb.pp("norm"), cfg.groups, c)?,
            qkv: Linear::new(vb.pp("qkv"), c, 3 * c)?,
            proj: Linear::new(vb.pp("proj"), c, c)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let p = h * w;
        // [N, C, P] → [N·P, C] rows for the linear layers.
        let t = self.norm.forward(x)?.reshape((n, c, p))?.transpose(1, 2)?.reshape((n * p, c))?;
        let qkv = self.qkv.forward(&t)?.reshape((n, p, 3 * c))?;
        let (q, k, v) = (qkv.narrow(2, 0, c)?, qkv.narrow(2, c, c)?, qkv.narrow(2, 2 * c, c)?);
        let scores = (q.contiguous()?.matmul(&k.t()?.contiguous()?)? / (c as f64).sqrt())?;
        let a = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v.contiguous()?)?;
        let out = self.proj.forward(&a.reshape((n * p, c))?)?.reshape((n, p, c))?.transpose(1, 2)?;
        x + out.reshape((n, c, h, w))?
    }
}

/// The U-Net.
#[derive(Debug)]
pub struct Unet {
    pub config: UnetConfig,
    time1: Linear,
    time2: Linear,
    class_emb: Tensor,
    conv_in: Conv2d,
    down: Vec<(Vec<ResBlock>, Option<Conv2d>)>,
    mid: (ResBlock, Option<Attention>, ResBlock),
    up: Vec<(Vec<ResBlock>, Option<Conv2d>)>,
    out_norm: GroupNorm,
    conv_out: Conv2d,
}

impl Unet {
    /// Builds the variables under `vb` (names as in the module docs' order).
    pub fn new(vb: VarBuilder, cfg: &UnetConfig) -> Result<Self> {
        cfg.validate().map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let (widths, e) = (cfg.widths(), cfg.emb_dim());
        let class_emb = vb.pp("class_emb").get((cfg.num_classes + 1, e), "embeddings")?;
        let mut down = Vec::new();
        let mut prev = cfg.base;
        for (i, &w) in widths.iter().enumerate() {
            let vb = vb.pp(format!("down.{i}"));
            let mut blocks = Vec::new();
            for j in 0..cfg.res_blocks {
                blocks.push(ResBlock::new(vb.pp(format!("res.{j}")), if j == 0 { prev } else { w }, w, cfg)?);
            }
            let step = (i + 1 < widths.len()).then(|| Conv2d::new(vb.pp("down"), w, w, 3, 1)).transpose()?;
            down.push((blocks, step));
            prev = w;
        }
        let mid = (
            ResBlock::new(vb.pp("mid.res1"), prev, prev, cfg)?,
            cfg.attention.then(|| Attention::new(vb.pp("mid.attn"), prev, cfg)).transpose()?,
            ResBlock::new(vb.pp("mid.res2"), prev, prev, cfg)?,
        );
        let mut up = Vec::new();
        for (i, &w) in widths.iter().enumerate().rev() {
            let vb = vb.pp(format!("up.{i}"));
            let mut blocks = Vec::new();
            for j in 0..cfg.res_blocks {
                let c_in = if j == 0 { prev + w } else { w };
                blocks.push(ResBlock::new(vb.pp(format!("res.{j}")), c_in, w, cfg)?);
            }
            let step = (i > 0).then(|| Conv2d::new(vb.pp("up"), w, w, 3, 1)).transpose()?;
            up.push((blocks, step));
            prev = w;
        }
        Ok(Unet {
            config: cfg.clone(),
            time1: Linear::new(vb.pp("time.fc1"), cfg.base, e)?,
            time2: Linear::new(vb.pp("time.fc2"), e, e)?,
            class_emb,
            conv_in: Conv2d::new(vb.pp("conv_in"), cfg.image.c, cfg.base, 3, 1)?,
            down,
            mid,
            up,
            out_norm: group_norm(vb.pp("out_norm"), cfg.groups, cfg.base)?,
            conv_out: Conv2d::new(vb.pp("conv_out"), cfg.base, cfg.image.c, 3, 1)?,
        })
    }

    /// ε̂ `[N, C, H, W]` for `x` `[N, C, H, W]`, timesteps `ts` (N of them,
    /// each below [`super::diffusion::T`]) and labels `y` `[N]` (U32; the
    /// null class `num_classes` for the unconditional prediction).
    pub fn forward(&self, x: &Tensor, ts: &[usize], y: &Tensor) -> Result<Tensor> {
        let t_emb = timestep_embedding(ts, self.config.base, x.device())?;
        let t_emb = self.time2.forward(&self.time1.forward(&t_emb)?.silu()?)?;
        let emb = (t_emb + self.class_emb.index_select(y, 0)?)?.silu()?;
        let mut h = self.conv_in.forward_act(x, Act::Identity)?;
        let mut skips = Vec::new();
        for (blocks, step) in &self.down {
            for b in blocks {
                h = b.forward(&h, &emb)?;
            }
            skips.push(h.clone());
            if let Some(s) = step {
                h = s.forward_act(&ops::avg_pool2x2(&h)?, Act::Identity)?;
            }
        }
        h = self.mid.0.forward(&h, &emb)?;
        if let Some(a) = &self.mid.1 {
            h = a.forward(&h)?;
        }
        h = self.mid.2.forward(&h, &emb)?;
        for (blocks, step) in &self.up {
            let skip = skips.pop().expect("one skip per level");
            h = Tensor::cat(&[&h, &skip], 1)?;
            for b in blocks {
                h = b.forward(&h, &emb)?;
            }
            if let Some(s) = step {
                h = s.forward_act(&ops::upsample_nearest2x(&h)?, Act::Identity)?;
            }
        }
        self.conv_out.forward_act(&norm_act(&self.out_norm, &h)?, Act::Identity)
    }
}

/// A freshly initialised U-Net (weights from `seed`, PyTorch's defaults,
/// GroupNorm γ = 1, β = 0) and its variables.
pub fn new_unet(cfg: &UnetConfig, seed: u64, device: &Device) -> crate::Result<(Unet, VarMap)> {
    cfg.validate()?;
    let vars = VarMap::new();
    let net = Unet::new(VarBuilder::from_varmap(&vars, DType::F32, device), cfg)?;
    super::init::pytorch_default(&vars, rng::stream(seed, "init/unet").next_u64())?;
    Ok((net, vars))
}

/// A U-Net built on `vars` (which must hold every variable, e.g. an EMA copy).
pub fn build_on(vars: &VarMap, cfg: &UnetConfig, device: &Device) -> crate::Result<Unet> {
    Ok(Unet::new(VarBuilder::from_varmap(vars, DType::F32, device), cfg)?)
}

/// Rebuilds a diffusion generator from its checkpoint file alone.
pub fn load_unet(path: &std::path::Path, device: &Device) -> crate::Result<(Unet, VarMap, Checkpoint)> {
    let ck = checkpoint::read(path, Some("generator"))?;
    from_checkpoint(path, ck, device)
}

/// The U-Net of an already read generator checkpoint (its arch must be [`ARCH`]).
pub fn from_checkpoint(
    path: &std::path::Path,
    ck: Checkpoint,
    device: &Device,
) -> crate::Result<(Unet, VarMap, Checkpoint)> {
    if ck.meta.arch != ARCH {
        return Err(Error::format(path, format!("arch {} is not a diffusion model ({ARCH})", ck.meta.arch)));
    }
    let cfg: UnetConfig = serde_json::from_str(&ck.meta.config)
        .map_err(|e| Error::format(path, format!("config is not a U-Net config: {e}")))?;
    cfg.validate().map_err(|e| Error::format(path, e.to_string()))?;
    let vars = VarMap::new();
    let net = build_on(&vars, &cfg, device).map_err(|e| Error::format(path, format!("cannot build model: {e}")))?;
    ck.load_into(path, &vars)?;
    Ok((net, vars, ck))
}

#[cfg(test)]
mod tests;
