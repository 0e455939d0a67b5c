//! What the Python-side checks and the benches share: which interpreter runs
//! the PyTorch scripts, and our models' parameter counts under the names the
//! PyTorch reference (scripts/bench_pytorch.py, scripts/e2e_pytorch.py) uses.
//! Self-contained, so that benches/common can include it by path.

use std::collections::BTreeMap;

use candle_core::{Device, Var};
use synthmix_core::data::ImageShape;
use synthmix_core::model::gan::{self, GanArch, GanConfig};
use synthmix_core::model::unet::{self, UnetConfig};
use synthmix_core::model::{self, ClassifierArch, ClassifierConfig};

/// The interpreter for the Python side: env `SYNTHMIX_PYTHON`, else
/// `python3` from PATH. A `just` installed through a Python version manager
/// puts that manager's own Python first on PATH, so a virtual environment's
/// `python3` is not found by name there.
pub fn python() -> String {
    std::env::var("SYNTHMIX_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into())
}

/// Parameters of every model the PyTorch reference builds, by its name there.
pub fn our_param_counts() -> BTreeMap<String, u64> {
    let count = |vars: Vec<Var>| vars.iter().map(|v| v.elem_count() as u64).sum::<u64>();
    let mut m = BTreeMap::new();
    for (name, arch) in [("simple-cnn", ClassifierArch::SimpleCnn), ("deep-cnn", ClassifierArch::DeepCnn)] {
        let (_, vars) = model::new_classifier(&ClassifierConfig::paper(arch), 0, &Device::Cpu).unwrap();
        m.insert(name.to_string(), count(vars.all_vars()));
    }
    let cfg = GanConfig::new(GanArch::Mlp, ImageShape { c: 1, h: 28, w: 28 }, 10);
    let (_, g, _, d) = gan::new_gan(&cfg, 0, &Device::Cpu).unwrap();
    m.insert("generator".into(), count(g.all_vars()));
    m.insert("discriminator".into(), count(d.all_vars()));
    let cfg = UnetConfig::new(ImageShape { c: 1, h: 28, w: 28 }, 10);
    let (_, vars) = unet::new_unet(&cfg, 0, &Device::Cpu).unwrap();
    m.insert("unet".into(), count(vars.all_vars()));
    m
}
