//! What a target computes, for the model of its duration: the images it
//! reads, the epochs (or `--budget`) it trains, and the size of one image,
//! known from the command, its inputs and the datasets' real sizes without
//! running anything.

use std::path::Path;

use crate::data::subset::Subset;
use crate::data::{Dataset, DatasetName, Split};
use crate::pipeline::spec::{InputKind, Pipeline};

/// Pixels × channels of MNIST's 28×28×1: the unit of the image-size factor.
const UNIT_PIXELS: f64 = 784.0;

/// One target's work, as far as its command tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Images seen in all: images × epochs, or `--budget`; `None` where no
    /// count is known.
    pub image_epochs: Option<f64>,
    /// Pixels × channels of its images over 28×28×1 (1 where unknown).
    pub pixel_factor: f64,
}

impl Work {
    /// The model's unit: image-epochs at 28×28×1.
    pub fn units(&self) -> Option<f64> {
        self.image_epochs.map(|w| w * self.pixel_factor)
    }
}

/// The built-in datasets' official sizes and image shapes (c, h, w): known
/// without reading the data dir, which the estimate may not have.
fn builtin(d: &DatasetName) -> (f64, [usize; 3]) {
    let (train, test, shape) = match d.dataset {
        Dataset::Mnist | Dataset::FashionMnist | Dataset::MnistC(_) => (60000.0, 10000.0, [1, 28, 28]),
        Dataset::Cifar10 | Dataset::Cifar10Jpeg => (50000.0, 10000.0, [3, 32, 32]),
    };
    (if d.split == Split::Train { train } else { test }, shape)
}

/// An imported (or any) image-set file's image count and shape, from its
/// safetensors header's `images` tensor `[N, C, H, W]`.
fn file_set(f: &Path) -> Option<(f64, [usize; 3])> {
    let h = crate::artifact::st::header_json(f).ok()?;
    let s: Vec<usize> =
        h.get("images")?.get("shape")?.as_array()?.iter().filter_map(|v| v.as_u64()).map(|v| v as usize).collect();
    match s.as_slice() {
        &[n, c, hh, w] => Some((n as f64, [c, hh, w])),
        _ => None,
    }
}

pub fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.windows(2).find(|w| w[0] == name).map(|w| w[1].as_str())
}

fn num(args: &[String], name: &str) -> Option<f64> {
    flag(args, name).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite() && *v >= 0.0)
}

/// Images a command names itself: `--limit`, `--total`, `--per-class` × 10.
fn own_images(args: &[String]) -> Option<f64> {
    num(args, "--limit").or_else(|| num(args, "--total")).or_else(|| num(args, "--per-class").map(|n| n * 10.0))
}

/// Stages whose output is an image set (what a reader of it reads); the
/// others make models, metrics or reports.
fn makes_images(stage: &str) -> bool {
    matches!(stage, "mix-build" | "synth-sample")
}

/// Every target's [`Work`], in spec order.
pub fn all(p: &Pipeline) -> Vec<Work> {
    let n = p.targets.len();
    // Per target: the images read, the images of the set it makes, its shape.
    let (mut read, mut made, mut shape) = (vec![None; n], vec![None; n], vec![None; n]);
    for &i in p.topo_order() {
        let t = &p.targets[i];
        let (mut from_sets, mut train, mut test) = (Vec::new(), Vec::new(), Vec::new());
        // The shape of the images it reads, else of those a model it reads saw.
        let (mut set_shape, mut model_shape) = (None, None);
        for inp in &t.inputs {
            match &inp.kind {
                InputKind::Target { index, .. } if made[*index].is_some() => {
                    from_sets.extend(made[*index]);
                    set_shape = set_shape.or(shape[*index]);
                }
                InputKind::Target { index, .. } => model_shape = model_shape.or(shape[*index]),
                InputKind::Dataset(d) => {
                    let (c, s) = builtin(d);
                    if d.split == Split::Train {
                        train.push(c)
                    } else {
                        test.push(c)
                    }
                    set_shape = set_shape.or(Some(s));
                }
                InputKind::File(f) => {
                    if let Some((c, s)) = file_set(f) {
                        from_sets.push(c);
                        set_shape = set_shape.or(Some(s));
                    }
                }
            }
        }
        shape[i] = set_shape.or(model_shape);
        let whole = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>());
        read[i] = if makes_images(&t.stage) {
            // A mix reads every set it draws from, whole, whatever it keeps
            // (--total): loading them is its work.
            whole(&[from_sets, train, test].concat()).or_else(|| own_images(&t.args))
        } else {
            // A whole dataset counts where no set is read: its training
            // split where it reads one (a test split beside it is a forward pass).
            let datasets = if train.is_empty() { test } else { train };
            own_images(&t.args).or_else(|| whole(&from_sets)).or_else(|| whole(&datasets))
        };
        if makes_images(&t.stage) {
            made[i] = own_images(&t.args).or_else(|| subset_of(t.args.as_slice(), &t.inputs)).or(read[i]);
        }
    }
    (0..n)
        .map(|i| {
            let args = &p.targets[i].args;
            let image_epochs =
                num(args, "--budget").or_else(|| read[i].map(|r| r * num(args, "--epochs").unwrap_or(1.0)));
            let pixel_factor = shape[i].map_or(1.0, |[c, h, w]| (c * h * w) as f64 / UNIT_PIXELS);
            Work { image_epochs, pixel_factor }
        })
        .collect()
}

/// A `--subset RULE` of a real dataset: its size (classes taken as equal).
fn subset_of(args: &[String], inputs: &[crate::pipeline::spec::Input]) -> Option<f64> {
    let rule: Subset = flag(args, "--subset")?.parse().ok()?;
    let total = inputs.iter().find_map(|inp| match &inp.kind {
        InputKind::Dataset(d) => Some(builtin(d).0),
        _ => None,
    })?;
    let per_class = vec![(total / 10.0) as usize; 10];
    Some(rule.counts(&per_class, 0).ok()?.iter().sum::<usize>() as f64)
}

/// A target's architecture (`--arch`), which the model fits apart.
pub fn arch(args: &[String]) -> Option<&str> {
    flag(args, "--arch")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work_of(spec: &str) -> Vec<(String, Work)> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s.toml");
        std::fs::write(&f, spec).unwrap();
        let p = crate::pipeline::spec::load(&f, &Default::default()).unwrap();
        let w = all(&p);
        p.targets.iter().map(|t| t.name.clone()).zip(w).collect()
    }

    #[test]
    fn whole_datasets_count_their_real_size_and_cifar_its_pixels() {
        let w = work_of(
            r#"[pipeline]
name = "w"
[target.f]
command = "clf-train --train mnist:train --eval-test mnist:test --epochs 2 --out {out}"
outputs = ["f.bin"]
[target.g]
command = "gan-train --train cifar-10:train --arch dcgan --epochs 3 --features {in} --out {out}"
inputs = ["f"]
outputs = ["g.bin"]
[target.s]
command = "synth-sample --generator {in} --per-class 40 --out {out}"
inputs = ["g"]
outputs = ["s.bin"]
[target.m]
command = "mix-build --real mnist:train --synthetic {in} --ratio 1:1 --total 100 --seed 0 --out {out}"
inputs = ["s"]
outputs = ["m.bin"]
[target.k]
command = "clf-train --train {in} --epochs 3 --out {out}"
inputs = ["m"]
outputs = ["k.bin"]
[target.r]
command = "mix-build --real mnist:train --subset fraction:0.1 --seed 0 --out {out}"
outputs = ["r.bin"]
[target.c]
command = "clf-train --train {in} --epochs 2 --out {out}"
inputs = ["r"]
outputs = ["c.bin"]
[target.b]
command = "clf-train --train {in} --budget 5000 --out {out}"
inputs = ["r"]
outputs = ["b.bin"]
[target.e]
command = "evaluate --classifier {in.c} --test {in.s} --out {out}"
inputs = { c = "c", s = "s" }
outputs = ["e.bin"]
"#,
        );
        let get = |n: &str| w.iter().find(|x| x.0 == n).unwrap().1;
        assert_eq!(get("f").image_epochs, Some(120000.0));
        assert_eq!(get("f").pixel_factor, 1.0);
        assert_eq!(get("g").image_epochs, Some(150000.0));
        assert_eq!(get("g").pixel_factor, 3072.0 / 784.0);
        // Sampling: the images it makes.
        assert_eq!(get("s").image_epochs, Some(400.0));
        // A mix reads what it draws from; its reader reads what it keeps.
        assert_eq!(get("m").image_epochs, Some(60400.0));
        assert_eq!(get("k").image_epochs, Some(300.0));
        // A subset reads its whole dataset and makes a tenth of it.
        assert_eq!(get("r").image_epochs, Some(60000.0));
        assert_eq!(get("c").image_epochs, Some(12000.0));
        assert_eq!(get("b").image_epochs, Some(5000.0));
        // The classifier is a model, not images: only the test set counts.
        assert_eq!(get("e").image_epochs, Some(400.0));
        assert_eq!(get("e").pixel_factor, 3072.0 / 784.0);
    }
}
