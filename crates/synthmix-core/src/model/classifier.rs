//! The paper's classifiers.
//!
//! - Simple CNN (MNIST / Fashion-MNIST, 1×28×28): conv 3×3 32 → ReLU → pool →
//!   conv 3×3 64 → ReLU → pool → dense 128 → ReLU → dropout → dense 10.
//! - Deep CNN (CIFAR-10, 3×32×32): 3 blocks of [conv 3×3 pad 1 → ReLU → conv
//!   3×3 pad 1 → ReLU → pool → dropout] with 32, 64, 128 channels, then dense
//!   128 → ReLU → dropout → dense 10. `convs_per_block` sets the convs per
//!   block (2 by default; 1 is the other reading of the paper's "three conv
//!   blocks").

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::flops;
use super::layers::{max_pool2, Conv2d, Dropout, Linear};
use crate::data::ImageShape;
use crate::ops::{Act, ConvAlgorithm};
use crate::rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierArch {
    /// The paper's Simple CNN (MNIST, Fashion-MNIST).
    SimpleCnn,
    /// The paper's Deep CNN (CIFAR-10).
    DeepCnn,
}

impl ClassifierArch {
    pub fn name(&self) -> &'static str {
        match self {
            ClassifierArch::SimpleCnn => "simple-cnn",
            ClassifierArch::DeepCnn => "deep-cnn",
        }
    }

    /// The input each architecture is built for.
    pub fn default_input(&self) -> ImageShape {
        match self {
            ClassifierArch::SimpleCnn => ImageShape { c: 1, h: 28, w: 28 },
            ClassifierArch::DeepCnn => ImageShape { c: 3, h: 32, w: 32 },
        }
    }

    /// The paper's learning rate and epochs.
    pub fn paper_lr_epochs(&self) -> (f64, usize) {
        match self {
            ClassifierArch::SimpleCnn => (1e-4, 10),
            ClassifierArch::DeepCnn => (1e-3, 50),
        }
    }
}

/// Everything needed to rebuild a classifier; stored as JSON in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub arch: ClassifierArch,
    /// The model's input; sets of another shape are adapted (see `data::fit_to_shape`).
    pub input: ImageShape,
    pub num_classes: usize,
    /// Conv channels: per conv layer (simple) or per block (deep).
    pub channels: Vec<usize>,
    pub hidden: usize,
    /// Dropout after each conv block (deep CNN only).
    pub dropout_conv: f32,
    /// 3×3 convs in each block of the deep CNN (not written when 2, the
    /// default, so earlier checkpoints keep their bytes).
    #[serde(default = "default_convs_per_block", skip_serializing_if = "is_default_convs_per_block")]
    pub convs_per_block: usize,
    /// Dropout before the last dense layer.
    pub dropout_head: f32,
    /// The conv layers' CPU kernels (not written when im2col, the default,
    /// so earlier checkpoints keep their bytes).
    #[serde(default, skip_serializing_if = "ConvAlgorithm::is_default")]
    pub conv: ConvAlgorithm,
}

/// The deep CNN's convs per block unless a config says otherwise.
pub const DEFAULT_CONVS_PER_BLOCK: usize = 2;
/// The most convs per block a config may ask for (`clf-train --convs-per-block`).
pub const MAX_CONVS_PER_BLOCK: usize = 4;

fn default_convs_per_block() -> usize {
    DEFAULT_CONVS_PER_BLOCK
}

fn is_default_convs_per_block(n: &usize) -> bool {
    *n == DEFAULT_CONVS_PER_BLOCK
}

impl ClassifierConfig {
    pub fn paper(arch: ClassifierArch) -> Self {
        match arch {
            ClassifierArch::SimpleCnn => ClassifierConfig {
                arch,
                input: arch.default_input(),
                num_classes: 10,
                channels: vec![32, 64],
                hidden: 128,
                dropout_conv: 0.0,
                dropout_head: 0.5,
                convs_per_block: DEFAULT_CONVS_PER_BLOCK,
                conv: ConvAlgorithm::Im2col,
            },
            ClassifierArch::DeepCnn => ClassifierConfig {
                arch,
                input: arch.default_input(),
                num_classes: 10,
                channels: vec![32, 64, 128],
                hidden: 128,
                dropout_conv: 0.2,
                dropout_head: 0.5,
                convs_per_block: DEFAULT_CONVS_PER_BLOCK,
                conv: ConvAlgorithm::Im2col,
            },
        }
    }

    /// Multiply-adds ×2 of one forward pass (convs and dense layers,
    /// counted as in [`super::flops`]).
    pub fn forward_flops(&self) -> u64 {
        let mut f = 0u64;
        let (mut c, mut h, mut w) = (self.input.c, self.input.h, self.input.w);
        for &o in &self.channels {
            match self.arch {
                ClassifierArch::SimpleCnn => {
                    let (oh, ow) = (h.saturating_sub(2), w.saturating_sub(2));
                    f += flops::conv(c, o, 3, (oh, ow));
                    (h, w) = (oh / 2, ow / 2);
                }
                ClassifierArch::DeepCnn => {
                    let repeats = self.convs_per_block.saturating_sub(1) as u64;
                    f += flops::conv(c, o, 3, (h, w)) + repeats * flops::conv(o, o, 3, (h, w));
                    (h, w) = (h / 2, w / 2);
                }
            }
            c = o;
        }
        f + flops::dense(c * h * w, self.hidden) + flops::dense(self.hidden, self.num_classes)
    }
}

/// A classifier of either architecture.
#[derive(Debug)]
pub struct Classifier {
    pub config: ClassifierConfig,
    convs: Vec<Conv2d>,
    fc1: Linear,
    fc2: Linear,
    drop_conv: Vec<Dropout>,
    drop_head: Dropout,
}

impl Classifier {
    /// Builds the model's variables under `vb`; `seed` drives its dropout masks.
    pub fn new(vb: VarBuilder, config: &ClassifierConfig, seed: u64) -> Result<Self> {
        let cfg = config.clone();
        let mut convs = Vec::new();
        let mut drop_conv = Vec::new();
        let (mut c, mut h, mut w) = (cfg.input.c, cfg.input.h, cfg.input.w);
        match cfg.arch {
            ClassifierArch::SimpleCnn => {
                for (i, &o) in cfg.channels.iter().enumerate() {
                    convs.push(Conv2d::new(vb.pp(format!("conv{}", i + 1)), c, o, 3, 0)?.with_algorithm(cfg.conv));
                    c = o;
                    // A side below 3 leaves nothing after the 3x3 conv: 0, refused below.
                    h = h.saturating_sub(2) / 2;
                    w = w.saturating_sub(2) / 2;
                }
            }
            ClassifierArch::DeepCnn => {
                // A checkpoint's config is input: bounded as --convs-per-block is.
                if !(1..=MAX_CONVS_PER_BLOCK).contains(&cfg.convs_per_block) {
                    candle_core::bail!("convs_per_block {} is outside 1..={MAX_CONVS_PER_BLOCK}", cfg.convs_per_block);
                }
                for (i, &o) in cfg.channels.iter().enumerate() {
                    let b = vb.pp(format!("block{}", i + 1));
                    for j in 0..cfg.convs_per_block {
                        let from = if j == 0 { c } else { o };
                        convs
                            .push(Conv2d::new(b.pp(format!("conv{}", j + 1)), from, o, 3, 1)?.with_algorithm(cfg.conv));
                    }
                    drop_conv
                        .push(Dropout::new(cfg.dropout_conv, rng::stream(seed, &format!("dropout/block{}", i + 1))));
                    c = o;
                    h /= 2;
                    w /= 2;
                }
            }
        }
        if h == 0 || w == 0 {
            candle_core::bail!("input {} is too small for {}", cfg.input, cfg.arch.name());
        }
        let fc1 = Linear::new(vb.pp("fc1"), c * h * w, cfg.hidden)?;
        let fc2 = Linear::new(vb.pp("fc2"), cfg.hidden, cfg.num_classes)?;
        let drop_head = Dropout::new(cfg.dropout_head, rng::stream(seed, "dropout/head"));
        Ok(Classifier { config: cfg, convs, fc1, fc2, drop_conv, drop_head })
    }

    /// The penultimate layer (dense `hidden` after ReLU): the features FID uses.
    pub fn features(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let mut x = xs.clone();
        match self.config.arch {
            ClassifierArch::SimpleCnn => {
                for conv in &self.convs {
                    x = max_pool2(&conv.forward_act(&x, Act::Relu)?)?;
                }
            }
            ClassifierArch::DeepCnn => {
                for (block, drop) in self.convs.chunks(self.config.convs_per_block).zip(&self.drop_conv) {
                    for conv in block {
                        x = conv.forward_act(&x, Act::Relu)?;
                    }
                    x = drop.forward(&max_pool2(&x)?, train)?;
                }
            }
        }
        self.fc1.forward_act(&x.flatten_from(1)?, Act::Relu)
    }

    /// Where each dropout stream stands, in layer order (for `--resume`).
    pub fn dropout_positions(&self) -> Vec<u128> {
        self.drop_conv.iter().chain([&self.drop_head]).map(Dropout::position).collect()
    }

    /// Restores [`Classifier::dropout_positions`].
    pub fn set_dropout_positions(&self, pos: &[u128]) -> std::result::Result<(), String> {
        let layers: Vec<&Dropout> = self.drop_conv.iter().chain([&self.drop_head]).collect();
        if pos.len() != layers.len() {
            return Err(format!("{} dropout positions for {} dropout layers", pos.len(), layers.len()));
        }
        layers.iter().zip(pos).for_each(|(d, &p)| d.set_position(p));
        Ok(())
    }

    /// Logits `[N, num_classes]` for images scaled to [0, 1].
    pub fn forward(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let f = self.features(xs, train)?;
        self.fc2.forward(&self.drop_head.forward(&f, train)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};

    /// Both paper classifiers, layer by layer by hand (2 × MACs).
    #[test]
    fn forward_flops_are_the_hand_counts() {
        // conv1 1→32 at 26×26: 389 376; conv2 32→64 at 11×11: 4 460 544;
        // fc1 1600→128: 409 600; fc2 128→10: 2 560.
        assert_eq!(ClassifierConfig::paper(ClassifierArch::SimpleCnn).forward_flops(), 5_262_080);
        // 3→32 at 32²: 1 769 472; 32→32 at 32², 64→64 at 16², 128→128 at
        // 8²: 18 874 368 each; 32→64 at 16², 64→128 at 8²: 9 437 184 each;
        // fc1 2048→128: 524 288; fc2: 2 560.
        assert_eq!(ClassifierConfig::paper(ClassifierArch::DeepCnn).forward_flops(), 77_793_792);
        // One conv per block: the three 3→32, 32→64, 64→128 above and the fcs.
        let one = ClassifierConfig { convs_per_block: 1, ..ClassifierConfig::paper(ClassifierArch::DeepCnn) };
        assert_eq!(one.forward_flops(), 1_769_472 + 2 * 9_437_184 + 524_288 + 2_560);
    }

    /// One conv per block builds `block{i}.conv1` only, and its forward is
    /// conv → ReLU → pool per block, checked against candle's own ops.
    #[test]
    fn one_conv_per_block_is_conv_relu_pool() {
        let config = ClassifierConfig { convs_per_block: 1, ..ClassifierConfig::paper(ClassifierArch::DeepCnn) };
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = Classifier::new(vb, &config, 0).unwrap();
        let mut names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
        names.sort();
        assert_eq!(names.iter().filter(|n| n.contains(".conv")).count(), 6, "{names:?}");
        assert!(!names.iter().any(|n| n.contains("conv2")), "{names:?}");
        let vars = varmap.data().lock().unwrap().clone();
        let get = |n: &str| vars[n].as_tensor().clone();
        let x = Tensor::rand(0f32, 1f32, (2, 3, 32, 32), &Device::Cpu).unwrap();
        let mut y = x.clone();
        for b in 1..=3 {
            let (w, bias) = (get(&format!("block{b}.conv1.weight")), get(&format!("block{b}.conv1.bias")));
            y = y.conv2d(&w, 1, 1, 1, 1).unwrap().broadcast_add(&bias.reshape((1, (), 1, 1)).unwrap()).unwrap();
            y = y.relu().unwrap().max_pool2d(2).unwrap();
        }
        let y = y.flatten_from(1).unwrap().matmul(&get("fc1.weight").t().unwrap()).unwrap();
        let y = y.broadcast_add(&get("fc1.bias")).unwrap().relu().unwrap();
        let ours = model.features(&x, false).unwrap();
        let diff = (ours - y).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "max difference {diff}");
    }

    /// A side too small for the convs is refused in one line, never a
    /// subtraction that wraps (1 − 2 made a dense layer of 2⁶³ inputs).
    #[test]
    fn inputs_too_small_for_the_convs_are_refused() {
        for (arch, (h, w)) in [
            (ClassifierArch::SimpleCnn, (1, 28)),
            (ClassifierArch::SimpleCnn, (28, 2)),
            (ClassifierArch::SimpleCnn, (5, 5)),
            (ClassifierArch::DeepCnn, (1, 1)),
        ] {
            let mut config = ClassifierConfig::paper(arch);
            config.input = ImageShape { c: 1, h, w };
            let _ = config.forward_flops();
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let e = Classifier::new(vb, &config, 0).unwrap_err().to_string();
            assert!(e.contains("is too small for"), "{h}x{w}: {e}");
        }
    }
}
