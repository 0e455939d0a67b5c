//! Class-conditional GANs: a generator `G(z, y)` and a discriminator
//! `D(x, y)`, both told the class `y`.
//!
//! - `mlp` (Mirza & Osindero style, the paper's cGAN): G is
//!   `concat(z, Embedding(y))` → 256 → 512 → 1024 → C·H·W → tanh, LeakyReLU 0.2
//!   between; D is `concat(flatten(x), Embedding(y))` → 1024 → 512 → 256 → 1
//!   logit, LeakyReLU 0.2 and dropout 0.3 after each hidden layer.
//! - `dcgan` (convolutional, also for CIFAR-10's 3×32×32): G is
//!   `concat(z, Embedding(y))` → linear to `g_hidden[0]`×H/4×W/4, then two
//!   [nearest ×2 upsample → conv 3×3 → ReLU] blocks and a conv 3×3 to C → tanh,
//!   with ProGAN's pixel norm after every hidden layer (batch norm would need
//!   running statistics and batch coupling; pixel norm is parameter-free and
//!   per sample). D is a projection discriminator (Miyato & Koyama 2018):
//!   conv 3×3 blocks with LeakyReLU 0.2 and 2×2 average pooling between, a
//!   mean over space giving φ(x), and `logit = w·φ(x) + b + Embedding(y)·φ(x)`.
//!   No spectral norm: candle has none built in, and a power-iteration
//!   version would add per-step state to save for an exact resume; Adam with
//!   β₁ 0.5 and the projection term train stably without it at this size.
//!
//! Images are in [-1, 1] (tanh); [`to_pixels`] turns them into 0–255.
//!
//! Variable names (the checkpoint's tensor names) and their PyTorch
//! counterparts in `scripts/bench_pytorch.py`'s `Generator` / `Discriminator`,
//! for importing a generator trained in PyTorch (transpose nothing: candle's
//! linear weights are `[out, in]` as PyTorch's):
//!
//! | synthmix (mlp)           | PyTorch               |
//! |--------------------------|-----------------------|
//! | `label_emb.embeddings`   | `label_emb.weight`    |
//! | `fc1.weight`, `fc1.bias` | `net.0.weight`, `.bias` |
//! | `fc2.*`                  | `net.2.*` (G) / `net.3.*` (D) |
//! | `fc3.*`                  | `net.4.*` (G) / `net.6.*` (D) |
//! | `fc4.*`                  | `net.6.*` (G) / `net.9.*` (D) |

use candle_core::{DType, Device, Result, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use super::flops;
use super::layers::{self, Conv2d, Linear};
use crate::artifact::checkpoint::{self, Checkpoint};
use crate::data::ImageShape;
use crate::error::Error;
use crate::ops::{self, Act, ConvAlgorithm};
use crate::rng::{self, Rng};

/// The GAN architectures (`--arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GanArch {
    /// Fully connected cGAN (the paper's, for MNIST / Fashion-MNIST).
    Mlp,
    /// Convolutional generator + projection discriminator (any size divisible by 4).
    Dcgan,
}

impl GanArch {
    /// The name stored as `arch` in checkpoints.
    pub fn name(&self) -> &'static str {
        match self {
            GanArch::Mlp => "mlp",
            GanArch::Dcgan => "dcgan",
        }
    }
}

/// Everything needed to rebuild both networks; stored as JSON (`config`) in
/// the generator's and the discriminator's checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GanConfig {
    pub arch: GanArch,
    /// The images G makes and D judges.
    pub image: ImageShape,
    pub num_classes: usize,
    /// Width of the N(0, 1) noise vector.
    pub latent: usize,
    /// Width of the label embedding fed to G (and to the MLP D).
    pub embed: usize,
    /// mlp: G's hidden widths; dcgan: G's channels, from the 4× smaller map up.
    pub g_hidden: Vec<usize>,
    /// mlp: D's hidden widths; dcgan: D's channels per conv block.
    pub d_hidden: Vec<usize>,
    /// LeakyReLU negative slope.
    pub leak: f64,
    /// Dropout after each of D's hidden layers (mlp).
    pub d_dropout: f32,
    /// The conv layers' CPU kernels (dcgan; not written when im2col, the
    /// default, so earlier checkpoints keep their bytes).
    #[serde(default, skip_serializing_if = "ConvAlgorithm::is_default")]
    pub conv: ConvAlgorithm,
}

impl GanConfig {
    /// The default config of `arch` for images of `image` with `num_classes`.
    pub fn new(arch: GanArch, image: ImageShape, num_classes: usize) -> Self {
        let (g_hidden, d_hidden, d_dropout) = match arch {
            GanArch::Mlp => (vec![256, 512, 1024], vec![1024, 512, 256], 0.3),
            // Small enough for CPU training; widen for a GPU.
            GanArch::Dcgan => (vec![128, 64, 32], vec![32, 64, 128], 0.0),
        };
        GanConfig {
            arch,
            image,
            num_classes,
            latent: 100,
            embed: num_classes,
            g_hidden,
            d_hidden,
            leak: 0.2,
            d_dropout,
            conv: ConvAlgorithm::Im2col,
        }
    }

    /// Checks the config can be built (sizes, counts).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("GAN config: {m}")));
        if self.num_classes == 0 || self.num_classes > 256 || self.latent == 0 || self.embed == 0 {
            return bad(format!(
                "num_classes {}, latent {}, embed {} must be positive",
                self.num_classes, self.latent, self.embed
            ));
        }
        if self.g_hidden.is_empty()
            || self.d_hidden.is_empty()
            || self.g_hidden.iter().chain(&self.d_hidden).any(|&w| w == 0)
        {
            return bad("hidden widths must be non-empty and positive".into());
        }
        if !(0.0..1.0).contains(&self.d_dropout) {
            return bad(format!("dropout {} is outside [0, 1)", self.d_dropout));
        }
        if self.arch == GanArch::Dcgan {
            if self.image.h % 4 != 0 || self.image.w % 4 != 0 || self.image.h < 4 || self.image.w < 4 {
                return bad(format!("dcgan needs image sides divisible by 4, got {}", self.image));
            }
            if self.g_hidden.len() != 3 || self.d_hidden.len() != 3 {
                return bad("dcgan needs 3 generator and 3 discriminator channel counts".into());
            }
        }
        Ok(())
    }

    /// Multiply-adds ×2 of one forward pass of G and of D, per image
    /// (counted as in [`super::flops`]).
    pub fn forward_flops(&self) -> (u64, u64) {
        let ImageShape { c, h, w } = self.image;
        let chain = |first: usize, hidden: &[usize], last: usize| -> u64 {
            let widths = std::iter::once(&first).chain(hidden).zip(hidden.iter().chain([&last]));
            widths.map(|(&i, &o)| flops::dense(i, o)).sum()
        };
        let (g, d, z) = (&self.g_hidden, &self.d_hidden, self.latent + self.embed);
        match self.arch {
            GanArch::Mlp => (chain(z, g, c * h * w), chain(c * h * w + self.embed, d, 1)),
            GanArch::Dcgan => {
                let (q, half, full) = ((h / 4, w / 4), (h / 2, w / 2), (h, w));
                let gf = flops::dense(z, g[0] * q.0 * q.1)
                    + flops::conv(g[0], g[1], 3, half)
                    + flops::conv(g[1], g[2], 3, full)
                    + flops::conv(g[2], c, 3, full);
                // D's head: the dense logit on the pooled features (the
                // projection term is an embedding, not counted).
                let df = flops::conv(c, d[0], 3, full)
                    + flops::conv(d[0], d[1], 3, half)
                    + flops::conv(d[1], d[2], 3, q)
                    + flops::dense(d[2], 1);
                (gf, df)
            }
        }
    }
}

/// Dropout when training (`rng` is the mask generator), none for inference
/// (`None`). The caller owns the generator, so a training loop can key it by
/// epoch and resume exactly.
fn dropout(x: &Tensor, p: f32, rng: Option<&mut Rng>) -> Result<Tensor> {
    match rng {
        Some(r) => layers::dropout(x, p, r),
        None => Ok(x.clone()),
    }
}

/// The conditional generator.
#[derive(Debug)]
pub struct Generator {
    pub config: GanConfig,
    label_emb: Tensor,
    fcs: Vec<Linear>,
    convs: Vec<Conv2d>,
}

impl Generator {
    /// Builds G's variables under `vb`.
    pub fn new(vb: VarBuilder, config: &GanConfig) -> Result<Self> {
        config.validate().map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let cfg = config.clone();
        let label_emb = vb.pp("label_emb").get((cfg.num_classes, cfg.embed), "embeddings")?;
        let d_in = cfg.latent + cfg.embed;
        let ImageShape { c, h, w } = cfg.image;
        let (mut fcs, mut convs) = (Vec::new(), Vec::new());
        match cfg.arch {
            GanArch::Mlp => {
                let mut prev = d_in;
                for (i, &width) in cfg.g_hidden.iter().enumerate() {
                    fcs.push(Linear::new(vb.pp(format!("fc{}", i + 1)), prev, width)?);
                    prev = width;
                }
                fcs.push(Linear::new(vb.pp(format!("fc{}", cfg.g_hidden.len() + 1)), prev, c * h * w)?);
            }
            GanArch::Dcgan => {
                let g = &cfg.g_hidden;
                fcs.push(Linear::new(vb.pp("fc1"), d_in, g[0] * (h / 4) * (w / 4))?);
                convs.push(Conv2d::new(vb.pp("conv1"), g[0], g[1], 3, 1)?.with_algorithm(cfg.conv));
                convs.push(Conv2d::new(vb.pp("conv2"), g[1], g[2], 3, 1)?.with_algorithm(cfg.conv));
                convs.push(Conv2d::new(vb.pp("conv3"), g[2], c, 3, 1)?.with_algorithm(cfg.conv));
            }
        }
        Ok(Generator { config: cfg, label_emb, fcs, convs })
    }

    /// Images `[N, C, H, W]` in [-1, 1] for noise `z` `[N, latent]` and
    /// labels `[N]` (U32).
    pub fn forward(&self, z: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let cfg = &self.config;
        let n = z.dim(0)?;
        let e = self.label_emb.index_select(labels, 0)?;
        let mut x = Tensor::cat(&[z, &e], 1)?;
        let ImageShape { c, h, w } = cfg.image;
        match cfg.arch {
            GanArch::Mlp => {
                let last = self.fcs.len() - 1;
                for fc in &self.fcs[..last] {
                    x = fc.forward_act(&x, Act::Leaky(cfg.leak as f32))?;
                }
                self.fcs[last].forward_act(&x, Act::Tanh)?.reshape((n, c, h, w))
            }
            GanArch::Dcgan => {
                let g = &cfg.g_hidden;
                let leak = Act::Leaky(cfg.leak as f32);
                x = self.fcs[0].forward_act(&x, leak)?.reshape((n, g[0], h / 4, w / 4))?;
                x = ops::pixel_norm(&x)?;
                x = ops::upsample_nearest2x(&x)?;
                x = ops::pixel_norm(&self.convs[0].forward_act(&x, Act::Relu)?)?;
                x = ops::upsample_nearest2x(&x)?;
                x = ops::pixel_norm(&self.convs[1].forward_act(&x, Act::Relu)?)?;
                self.convs[2].forward_act(&x, Act::Tanh)
            }
        }
    }
}

/// The conditional discriminator (one logit per image: real vs generated).
#[derive(Debug)]
pub struct Discriminator {
    pub config: GanConfig,
    label_emb: Tensor,
    fcs: Vec<Linear>,
    convs: Vec<Conv2d>,
}

impl Discriminator {
    /// Builds D's variables under `vb`.
    pub fn new(vb: VarBuilder, config: &GanConfig) -> Result<Self> {
        config.validate().map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let cfg = config.clone();
        let ImageShape { c, h, w } = cfg.image;
        let (mut fcs, mut convs) = (Vec::new(), Vec::new());
        let label_emb = match cfg.arch {
            GanArch::Mlp => {
                let mut prev = c * h * w + cfg.embed;
                for (i, &width) in cfg.d_hidden.iter().enumerate() {
                    fcs.push(Linear::new(vb.pp(format!("fc{}", i + 1)), prev, width)?);
                    prev = width;
                }
                fcs.push(Linear::new(vb.pp(format!("fc{}", cfg.d_hidden.len() + 1)), prev, 1)?);
                vb.pp("label_emb").get((cfg.num_classes, cfg.embed), "embeddings")?
            }
            GanArch::Dcgan => {
                let d = &cfg.d_hidden;
                convs.push(Conv2d::new(vb.pp("conv1"), c, d[0], 3, 1)?.with_algorithm(cfg.conv));
                convs.push(Conv2d::new(vb.pp("conv2"), d[0], d[1], 3, 1)?.with_algorithm(cfg.conv));
                convs.push(Conv2d::new(vb.pp("conv3"), d[1], d[2], 3, 1)?.with_algorithm(cfg.conv));
                fcs.push(Linear::new(vb.pp("fc1"), d[2], 1)?);
                // The projection embedding lives in φ's space.
                vb.pp("label_emb").get((cfg.num_classes, d[2]), "embeddings")?
            }
        };
        Ok(Discriminator { config: cfg, label_emb, fcs, convs })
    }

    /// A copy reading the current values of `vars` (D's variables) without
    /// tracking them: for G's step, which needs gradients through D to its
    /// input but none for D's own weights.
    pub fn frozen(vars: &VarMap, config: &GanConfig) -> Result<Self> {
        let data = vars.data().lock().expect("VarMap lock poisoned");
        let ts: std::collections::HashMap<String, Tensor> =
            data.iter().map(|(k, v)| (k.clone(), v.as_tensor().detach())).collect();
        let device = data.values().next().map(|v| v.device().clone()).unwrap_or(Device::Cpu);
        drop(data);
        Discriminator::new(VarBuilder::from_tensors(ts, DType::F32, &device), config)
    }

    /// Logits `[N]` for images `x` `[N, C, H, W]` in [-1, 1] and labels `[N]`
    /// (U32). `dropout` is the mask generator while training, `None` for
    /// inference.
    pub fn forward(&self, x: &Tensor, labels: &Tensor, mut dropout_rng: Option<&mut Rng>) -> Result<Tensor> {
        let cfg = &self.config;
        let n = x.dim(0)?;
        let e = self.label_emb.index_select(labels, 0)?;
        match cfg.arch {
            GanArch::Mlp => {
                let leak = Act::Leaky(cfg.leak as f32);
                // No input gradient for the image columns when the images
                // are data (D's step), only for the embedding's.
                let first = self.fcs[0].forward_cat(&[&x.reshape((n, ()))?, &e], leak)?;
                let mut h = dropout(&first, cfg.d_dropout, dropout_rng.as_deref_mut())?;
                let last = self.fcs.len() - 1;
                for fc in &self.fcs[1..last] {
                    h = dropout(&fc.forward_act(&h, leak)?, cfg.d_dropout, dropout_rng.as_deref_mut())?;
                }
                self.fcs[last].forward(&h)?.reshape(n)
            }
            GanArch::Dcgan => {
                let leak = Act::Leaky(cfg.leak as f32);
                let mut h = ops::avg_pool2x2(&self.convs[0].forward_act(x, leak)?)?;
                h = ops::avg_pool2x2(&self.convs[1].forward_act(&h, leak)?)?;
                h = self.convs[2].forward_act(&h, leak)?;
                // Mean (not SN-GAN's sum) over space: without spectral norm a
                // sum starts the logits ~50× too large and D saturates.
                let phi = h.mean((2, 3))?;
                let proj = (&phi * &e)?.sum(D::Minus1)?;
                self.fcs[0].forward(&phi)?.reshape(n)? + proj
            }
        }
    }
}

/// A freshly initialised generator and discriminator (PyTorch-default init,
/// each net from its own stream under `seed`) and their variables.
pub fn new_gan(
    config: &GanConfig,
    seed: u64,
    device: &Device,
) -> crate::Result<(Generator, VarMap, Discriminator, VarMap)> {
    config.validate()?;
    let g_vars = VarMap::new();
    let g = Generator::new(VarBuilder::from_varmap(&g_vars, DType::F32, device), config)?;
    super::init::pytorch_default(&g_vars, rng::stream(seed, "init/generator").next_u64())?;
    let d_vars = VarMap::new();
    let d = Discriminator::new(VarBuilder::from_varmap(&d_vars, DType::F32, device), config)?;
    super::init::pytorch_default(&d_vars, rng::stream(seed, "init/discriminator").next_u64())?;
    Ok((g, g_vars, d, d_vars))
}

/// Reads a checkpoint of `kind` and its GAN config.
fn read_gan(path: &std::path::Path, kind: &str) -> crate::Result<(Checkpoint, GanConfig)> {
    let ck = checkpoint::read(path, Some(kind))?;
    if ck.meta.arch == super::unet::ARCH {
        return Err(Error::format(
            path,
            "is a diffusion generator (arch unet, from dpm-train); this needs a GAN (gan-train)",
        ));
    }
    let config: GanConfig = serde_json::from_str(&ck.meta.config)
        .map_err(|e| Error::format(path, format!("config is not a GAN config: {e}")))?;
    config.validate().map_err(|e| Error::format(path, e.to_string()))?;
    Ok((ck, config))
}

fn build_err(path: &std::path::Path, e: candle_core::Error) -> Error {
    Error::format(path, format!("cannot build model: {}", crate::error::strip_backtrace(e)))
}

/// Rebuilds a generator from its checkpoint file alone (validated: kind,
/// config, shapes, no NaN).
pub fn load_generator(path: &std::path::Path, device: &Device) -> crate::Result<(Generator, VarMap, Checkpoint)> {
    let (ck, config) = read_gan(path, "generator")?;
    let varmap = VarMap::new();
    let g = Generator::new(VarBuilder::from_varmap(&varmap, DType::F32, device), &config)
        .map_err(|e| build_err(path, e))?;
    ck.load_into(path, &varmap)?;
    Ok((g, varmap, ck))
}

/// Rebuilds a discriminator from its checkpoint file alone.
pub fn load_discriminator(
    path: &std::path::Path,
    device: &Device,
) -> crate::Result<(Discriminator, VarMap, Checkpoint)> {
    let (ck, config) = read_gan(path, "discriminator")?;
    let varmap = VarMap::new();
    let d = Discriminator::new(VarBuilder::from_varmap(&varmap, DType::F32, device), &config)
        .map_err(|e| build_err(path, e))?;
    ck.load_into(path, &varmap)?;
    Ok((d, varmap, ck))
}

/// `n` noise vectors `[n, latent]` of N(0, 1) draws from `rng`.
pub fn noise(rng: &mut Rng, n: usize, latent: usize, device: &Device) -> Result<Tensor> {
    Tensor::from_vec(normal_draws(rng, n * latent), (n, latent), device)
}

/// `count` N(0, 1) draws from `rng`, in order.
pub(crate) fn normal_draws(rng: &mut Rng, count: usize) -> Vec<f32> {
    (0..count).map(|_| StandardNormal.sample(rng)).collect()
}

/// Labels as the U32 tensor the networks take.
pub fn label_tensor(labels: &[u8], device: &Device) -> Result<Tensor> {
    Tensor::from_vec(labels.iter().map(|&l| l as u32).collect::<Vec<u32>>(), labels.len(), device)
}

/// Images in [-1, 1] as 0–255 pixels: `round((x + 1) · 127.5)`, clamped
/// (NaN → 0). Read straight from a CPU tensor's storage, converted in
/// parallel: a sampling batch's pixels are 3 MB, and converting them on one
/// thread, after two copies, left the other core idle.
pub fn to_pixels(x: &Tensor) -> Result<Vec<u8>> {
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    if !x.device().is_cpu() {
        return Ok(pixels_of(&x.flatten_all()?.to_vec1::<f32>()?));
    }
    let (storage, layout) = x.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(s) => Ok(pixels_of(ops::cpu_slice(s, layout, "to_pixels: images")?)),
        _ => candle_core::bail!("to_pixels: a CPU tensor has non-CPU storage"),
    }
}

fn pixels_of(v: &[f32]) -> Vec<u8> {
    use rayon::prelude::*;
    v.par_iter().with_min_len(1 << 14).map(|&x| pixel(x)).collect()
}

/// One pixel, exactly `((x + 1) · 127.5).round().clamp(0, 255) as u8`
/// (round half away from zero; NaN → 0), without libm's scalar `roundf`:
/// branch-free enough to vectorise.
#[inline]
fn pixel(x: f32) -> u8 {
    let v = (x + 1.0) * 127.5;
    if v.is_nan() || v < 0.5 {
        // Below 0.5 (or NaN) rounds to 0 or below: clamped to 0.
        return 0;
    }
    let v = v.min(255.0);
    // Truncation (v in [0.5, 255]); v - t is exact (t <= v < 2^24), so the
    // half-way test is exact, and v <= 255 keeps the sum <= 255.
    let t = v as u32;
    (t + u32::from(v - t as f32 >= 0.5)) as u8
}

/// Generates images for `labels` in batches of `batch`, drawing each image's
/// noise from `rng` in label order (so the result does not depend on `batch`
/// beyond floating-point blocking). Returns 0–255 pixels, `[N, C, H, W]`.
pub fn generate(g: &Generator, labels: &[u8], rng: &mut Rng, batch: usize, device: &Device) -> crate::Result<Vec<u8>> {
    generate_scaled(g, labels, rng, batch, 1.0, device)
}

/// [`generate`] with the noise scaled: z ~ N(0, σ²I). σ < 1 truncates towards
/// the mode (fidelity), σ > 1 expands (diversity); σ = 1 is [`generate`].
///
/// The next batch's noise is drawn on a helper thread while the generator
/// runs on this one (the draws are serial, one stream, and were a fifth of
/// the time with both cores otherwise idle): the same draws in the same
/// order, so the same images.
pub fn generate_scaled(
    g: &Generator,
    labels: &[u8],
    rng: &mut Rng,
    batch: usize,
    sigma: f64,
    device: &Device,
) -> crate::Result<Vec<u8>> {
    let (batch, latent) = (batch.max(1), g.config.latent);
    let mut out = Vec::with_capacity(labels.len() * g.config.image.pixels());
    std::thread::scope(|s| -> crate::Result<()> {
        // One batch ahead; when this loop stops early (an error), the
        // receiver is dropped and the helper's next send ends it.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<f32>>(1);
        s.spawn(move || {
            for chunk in labels.chunks(batch) {
                if tx.send(normal_draws(rng, chunk.len() * latent)).is_err() {
                    break;
                }
            }
        });
        for (chunk, z) in labels.chunks(batch).zip(rx) {
            let mut z = Tensor::from_vec(z, (chunk.len(), latent), device)?;
            if sigma != 1.0 {
                z = z.affine(sigma, 0.0)?;
            }
            out.extend(to_pixels(&g.forward(&z, &label_tensor(chunk, device)?)?)?);
        }
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageShape;

    fn mnist_cfg(arch: GanArch) -> GanConfig {
        GanConfig::new(arch, ImageShape { c: 1, h: 28, w: 28 }, 10)
    }

    #[test]
    fn shapes_names_and_range() {
        let dev = Device::Cpu;
        for arch in [GanArch::Mlp, GanArch::Dcgan] {
            let cfg = mnist_cfg(arch);
            let (g, gv, d, dv) = new_gan(&cfg, 3, &dev).unwrap();
            let z = noise(&mut rng::stream(0, "t"), 4, cfg.latent, &dev).unwrap();
            let y = label_tensor(&[0, 1, 2, 9], &dev).unwrap();
            let x = g.forward(&z, &y).unwrap();
            assert_eq!(x.dims(), &[4, 1, 28, 28]);
            let v = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(v.iter().all(|p| (-1.0..=1.0).contains(p)));
            let logits = d.forward(&x, &y, Some(&mut rng::stream(0, "drop"))).unwrap();
            assert_eq!(logits.dims(), &[4]);
            assert!(gv.data().lock().unwrap().contains_key("label_emb.embeddings"));
            assert!(dv.data().lock().unwrap().contains_key("label_emb.embeddings"));
        }
        let (_, gv, _, dv) = new_gan(&mnist_cfg(GanArch::Mlp), 3, &dev).unwrap();
        let g_shapes: Vec<(String, Vec<usize>)> =
            gv.data().lock().unwrap().iter().map(|(k, v)| (k.clone(), v.dims().to_vec())).collect();
        let count = |vars: &VarMap| vars.all_vars().iter().map(|v| v.elem_count()).sum::<usize>();
        // As the PyTorch reference (scripts/bench_pytorch.py): G 1,489,012 and D 1,470,565 parameters.
        assert_eq!(count(&gv), 1_489_012, "{g_shapes:?}");
        assert_eq!(count(&dv), 1_470_565);
    }

    #[test]
    fn same_seed_same_weights_and_nets_differ() {
        let dev = Device::Cpu;
        let cfg = mnist_cfg(GanArch::Mlp);
        let (_, a, _, ad) = new_gan(&cfg, 5, &dev).unwrap();
        let (_, b, _, _) = new_gan(&cfg, 5, &dev).unwrap();
        let wa = checkpoint::weights_of(&a).unwrap();
        assert_eq!(wa, checkpoint::weights_of(&b).unwrap());
        // G's and D's fc1 come from different streams.
        let wd = checkpoint::weights_of(&ad).unwrap();
        assert_ne!(wa["fc1.bias"].1[..8], wd["fc1.bias"].1[..8]);
    }

    #[test]
    fn frozen_discriminator_agrees_and_tracks_no_weights() {
        let dev = Device::Cpu;
        for arch in [GanArch::Mlp, GanArch::Dcgan] {
            let cfg = mnist_cfg(arch);
            let (g, gv, d, dv) = new_gan(&cfg, 1, &dev).unwrap();
            let z = noise(&mut rng::stream(0, "t"), 3, cfg.latent, &dev).unwrap();
            let y = label_tensor(&[4, 5, 6], &dev).unwrap();
            let x = g.forward(&z, &y).unwrap();
            let live = d.forward(&x, &y, Some(&mut rng::stream(1, "d"))).unwrap();
            let frozen =
                Discriminator::frozen(&dv, &cfg).unwrap().forward(&x, &y, Some(&mut rng::stream(1, "d"))).unwrap();
            assert_eq!(live.to_vec1::<f32>().unwrap(), frozen.to_vec1::<f32>().unwrap());
            let grads = frozen.sum_all().unwrap().backward().unwrap();
            assert!(dv.all_vars().iter().all(|v| grads.get(v).is_none()));
            assert!(gv.all_vars().iter().all(|v| grads.get(v).is_some()), "G still gets its gradients");
        }
    }

    #[test]
    fn pixels_round_and_clamp() {
        let t = Tensor::new(&[-1.5f32, -1.0, 0.0, 0.999, 1.0, 2.0, f32::NAN], &Device::Cpu).unwrap();
        assert_eq!(to_pixels(&t).unwrap(), vec![0, 0, 128, 255, 255, 255, 0]);
    }

    /// The branch-free pixel equals the plain formula on every float near
    /// each rounding boundary (a few ulps either side of every half grey
    /// level) and on a million seeded values across and beyond [-1, 1].
    #[test]
    fn pixel_matches_round_and_clamp_exactly() {
        let plain = |x: f32| ((x + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
        let mut xs: Vec<f32> = vec![f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0, -1.0, 1.0, f32::MAX, f32::MIN];
        for level in 0..=256 {
            let boundary = (level as f32 - 0.5) / 127.5 - 1.0;
            let mut lo = boundary;
            let mut hi = boundary;
            for _ in 0..64 {
                lo = lo.next_down();
                hi = hi.next_up();
                xs.extend([lo, hi]);
            }
        }
        let mut r = rng::stream(7, "pixels");
        xs.extend((0..1_000_000).map(|_| (r.next_u32() as f32 / u32::MAX as f32) * 3.0 - 1.5));
        for x in xs {
            assert_eq!(pixel(x), plain(x), "x = {x:e}");
        }
    }
}
