//! `just bench`: images/s of every stage's hot loop, against the same models
//! in PyTorch on the same CPU in the same run (scripts/bench_pytorch.py), as a
//! ratio, since the machine is shared and noisy. Medians of timed windows
//! after a warm-up; synthetic inputs of the real shapes; peak RSS of each side.
//!
//! Flags (after `--`): `--seconds S` per window (default 4), `--windows N`
//! (default 3), `--workloads a,b` (default all; `NAME+winograd` is NAME with
//! `--conv-algorithm winograd`, against the same PyTorch model), `--no-pytorch`, `--strict`
//! (refuse to run on a busy machine instead of flagging it), `--no-peak`
//! (skip the peak reference).
//!
//! The peak reference (first, ≈ 15 s): the machine's fp32 FMA-loop ceiling
//! on the workloads' threads (again at the end; the higher one counts), and
//! n³ sgemm through our dense layers' gemm path and PyTorch's `torch.mm`
//! (n = 1024, 2048); each workload's GFLOP/s is then also a % of that
//! ceiling, ours and PyTorch's (`table`).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::Rng;
use synthmix_core::data::ImageShape;
use synthmix_core::model::diffusion::{self, Schedule};
use synthmix_core::model::dpm_sample;
use synthmix_core::model::gan::{self, GanArch, GanConfig};
use synthmix_core::model::unet::{self, UnetConfig};
use synthmix_core::model::{self, ClassifierArch, ClassifierConfig};
use synthmix_core::ops::ConvAlgorithm;
use synthmix_core::rng;
use synthmix_core::train::classifier::train_step;
use synthmix_core::train::dpm::{self, DpmNets};
use synthmix_core::train::gan::{self as gan_train, GanNets, GanPreset};
use synthmix_core::train::optim::{Adam, AdamConfig};

mod common;
// A directory of its own: a file in benches/ would be a bench target.
#[path = "stages/table.rs"]
mod table;

/// The sgemm sizes of the peak reference (n × n × n): large enough to be
/// compute bound on both sides.
const SGEMM_SIZES: [usize; 2] = [1024, 2048];

struct Opts {
    seconds: f64,
    windows: usize,
    workloads: Vec<String>,
    pytorch: bool,
    strict: bool,
    peak: bool,
}

const HELP: &str = "just bench [FLAGS]: images/s of every stage's hot loop against PyTorch, same run
  --seconds S       length of each timed window (default 4)
  --windows N       timed windows per workload; the median is reported (default 3)
  --workloads a,b   workloads to run (default all); NAME+winograd is NAME with
                    --conv-algorithm winograd against the same PyTorch model
  --no-pytorch      skip the PyTorch reference (scripts/bench_pytorch.py)
  --no-peak         skip the peak reference (FMA-loop ceiling, sgemm; about 15 s)
  --strict          refuse to run on a busy machine instead of flagging it";

/// One error line naming the problem, exit 2.
fn refuse(msg: &str) -> ! {
    eprintln!("just bench: {msg}");
    std::process::exit(2)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        seconds: 4.0,
        windows: 3,
        workloads: [
            "simple-cnn-train",
            "deep-cnn-train",
            "deep-cnn-train+winograd",
            "simple-cnn-infer",
            "deep-cnn-infer",
            "deep-cnn-infer+winograd",
            "cgan-train",
            "dcgan-train",
            "dcgan-train+winograd",
            "gan-sample",
            "unet-train",
            "ddim-sample",
        ]
        .map(String::from)
        .to_vec(),
        pytorch: true,
        strict: false,
        peak: true,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    // The value after flag `i`, parsed, or one error line and exit 2.
    let value = |i: usize, what: &str| -> String {
        args.get(i + 1).cloned().unwrap_or_else(|| refuse(&format!("{} needs a value ({what})", args[i])))
    };
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => {
                o.seconds = value(i, "seconds per window").parse().unwrap_or(0.0);
                if !(o.seconds > 0.0 && o.seconds.is_finite()) {
                    refuse("--seconds must be a positive number");
                }
                i += 1;
            }
            "--windows" => {
                o.windows = value(i, "windows per workload").parse().unwrap_or(0);
                if o.windows == 0 {
                    refuse("--windows must be a whole number >= 1");
                }
                i += 1;
            }
            "--workloads" => {
                o.workloads = value(i, "comma-separated names").split(',').map(String::from).collect();
                i += 1;
            }
            "--no-pytorch" => o.pytorch = false,
            "--strict" => o.strict = true,
            "--no-peak" => o.peak = false,
            "--help" | "-h" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            "--bench" => {} // passed by `cargo bench`
            other => refuse(&format!("unknown flag {other} (--help lists the flags)")),
        }
        i += 1;
    }
    o
}

/// Peak resident set of this process, KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Median images/s of `step` (which processes `batch` images) over windows.
fn measure(o: &Opts, batch: usize, mut step: impl FnMut()) -> f64 {
    let warm = Instant::now();
    let mut n = 0;
    while n < 2 || warm.elapsed().as_secs_f64() < 1.0 {
        step();
        n += 1;
    }
    let mut rates = Vec::new();
    for _ in 0..o.windows {
        let t = Instant::now();
        let mut steps = 0;
        while t.elapsed().as_secs_f64() < o.seconds {
            step();
            steps += 1;
        }
        rates.push((steps * batch) as f64 / t.elapsed().as_secs_f64());
    }
    common::median(&rates)
}

fn random_batch(cfg: &ClassifierConfig, n: usize, seed: u64) -> (Tensor, Tensor) {
    let mut r = rng::stream(seed, "bench");
    let p = cfg.input.pixels();
    let x: Vec<f32> = (0..n * p).map(|_| r.gen::<f32>()).collect();
    let y: Vec<u32> = (0..n).map(|_| r.gen_range(0..cfg.num_classes as u32)).collect();
    (
        Tensor::from_vec(x, (n, cfg.input.c, cfg.input.h, cfg.input.w), &Device::Cpu).unwrap(),
        Tensor::from_vec(y, n, &Device::Cpu).unwrap(),
    )
}

/// The MLP cGAN (MNIST shapes): one `gan-train` step at batch 100, or
/// sampling at batch 1000, as `gan-train` and `synth-sample` run them.
/// The MLP cGAN on MNIST's shape, or (`arch` Dcgan) the DCGAN on CIFAR-10's.
fn run_gan_workload(o: &Opts, arch: GanArch, conv: ConvAlgorithm, train: bool) -> (f64, u64) {
    let shape = match arch {
        GanArch::Mlp => ImageShape { c: 1, h: 28, w: 28 },
        GanArch::Dcgan => ImageShape { c: 3, h: 32, w: 32 },
    };
    let cfg = GanConfig { conv, ..GanConfig::new(arch, shape, 10) };
    let (g, g_vars, d, d_vars) = gan::new_gan(&cfg, 0, &Device::Cpu).unwrap();
    let (gf, df) = cfg.forward_flops();
    if train {
        let batch = 100;
        let mut r = rng::stream(1, "bench");
        let real: Vec<f32> = (0..batch * cfg.image.pixels()).map(|_| r.gen::<f32>() * 2.0 - 1.0).collect();
        let real = Tensor::from_vec(real, (batch, shape.c, shape.h, shape.w), &Device::Cpu).unwrap();
        let y: Vec<u8> = (0..batch).map(|_| r.gen_range(0..10u8)).collect();
        let (ad, ag) = GanPreset::Default.adam();
        let (mut opt_g, mut opt_d) = (Adam::from_varmap(&g_vars, ag), Adam::from_varmap(&d_vars, ad));
        let (mut noise, mut drop) = (rng::stream(2, "noise"), rng::stream(3, "dropout"));
        let rate = measure(o, batch, || {
            let mut nets = GanNets { g: &g, d: &d, d_vars: &d_vars, opt_g: &mut opt_g, opt_d: &mut opt_d };
            gan_train::train_step(&mut nets, &real, &y, &mut noise, &mut drop).unwrap();
        });
        // As the PyTorch reference counts it: training ≈ 3× forward, G once,
        // D three times (real, fake, fake for G's step) per real image.
        (rate, 3 * (gf + 3 * df))
    } else {
        let batch = 1000;
        let labels: Vec<u8> = (0..batch).map(|i| (i % 10) as u8).collect();
        let mut r = rng::stream(4, "sample");
        let rate = measure(o, batch, || {
            gan::generate(&g, &labels, &mut r, batch, &Device::Cpu).unwrap();
        });
        (rate, gf)
    }
}

/// The diffusion model (dpm-train's grey default U-Net): one training step
/// at batch 64 with its EMA update, as dpm-train runs it, or one guided DDIM
/// step for 250 images (the U-Net on their conditional and null-class
/// copies at once), as synth-sample and dpm-train's probes draw them.
fn run_dpm_workload(o: &Opts, train: bool) -> (f64, u64) {
    let cfg = UnetConfig::new(ImageShape { c: 1, h: 28, w: 28 }, 10);
    let flops = cfg.forward_flops();
    let (net, vars) = unet::new_unet(&cfg, 0, &Device::Cpu).unwrap();
    let mut r = rng::stream(5, "bench");
    let batch = if train { 64 } else { 250 };
    let p = cfg.image.pixels();
    let x: Vec<f32> = (0..batch * p).map(|_| r.gen::<f32>() * 2.0 - 1.0).collect();
    let labels: Vec<u8> = (0..batch).map(|i| (i % 10) as u8).collect();
    if train {
        let x0 = Tensor::from_vec(x, (batch, 1, 28, 28), &Device::Cpu).unwrap();
        let (ema, ema_vars) = unet::new_unet(&cfg, 0, &Device::Cpu).unwrap();
        let opt = Adam::from_varmap(&vars, AdamConfig::new(2e-4));
        let mut nets = DpmNets { net, vars, ema, ema_vars, opt };
        let sched = Schedule::new(cfg.schedule);
        let rate = measure(o, batch, || {
            dpm::train_step(&mut nets, &x0, &labels, &sched, 0.1, &mut r).unwrap();
            dpm::ema_update(&nets.ema_vars, &nets.vars, 0.999).unwrap();
        });
        (rate, 3 * flops)
    } else {
        let ts = vec![500; batch];
        let mut xs = x;
        let rate = measure(o, batch, || {
            let xt = Tensor::from_slice(&xs, (batch, 1, 28, 28), &Device::Cpu).unwrap();
            let eps = dpm_sample::guided_eps(&net, &xt, &ts, &labels, 1.0).unwrap();
            for (xi, ei) in xs.chunks_mut(p).zip(eps.chunks(p)) {
                diffusion::ddim_step(xi, ei, 0.5, 0.52);
            }
        });
        (rate, 2 * flops)
    }
}

/// A workload's PyTorch counterpart: `NAME+winograd` is NAME with our
/// Winograd kernels (`clf-train --conv-algorithm winograd`), the same model.
fn base_name(workload: &str) -> &str {
    workload.split('+').next().unwrap_or(workload)
}

/// images/s and FLOPs per image of one synthmix workload (nominal FLOPs:
/// a Winograd workload's GFLOP/s is the direct convolution's equivalent).
fn run_workload(o: &Opts, name: &str) -> Option<(f64, u64)> {
    let conv = if name.ends_with("+winograd") { ConvAlgorithm::Winograd } else { ConvAlgorithm::Im2col };
    let (arch, train) = match base_name(name) {
        "cgan-train" => return Some(run_gan_workload(o, GanArch::Mlp, conv, true)),
        "dcgan-train" => return Some(run_gan_workload(o, GanArch::Dcgan, conv, true)),
        "gan-sample" => return Some(run_gan_workload(o, GanArch::Mlp, conv, false)),
        "unet-train" => return Some(run_dpm_workload(o, true)),
        "ddim-sample" => return Some(run_dpm_workload(o, false)),
        "simple-cnn-train" => (ClassifierArch::SimpleCnn, true),
        "deep-cnn-train" => (ClassifierArch::DeepCnn, true),
        "simple-cnn-infer" => (ClassifierArch::SimpleCnn, false),
        "deep-cnn-infer" => (ClassifierArch::DeepCnn, false),
        _ => return None,
    };
    let cfg = ClassifierConfig { conv, ..ClassifierConfig::paper(arch) };
    let (model, varmap) = model::new_classifier(&cfg, 0, &Device::Cpu).unwrap();
    let flops = cfg.forward_flops();
    if train {
        let batch = 64;
        let (x, y) = random_batch(&cfg, batch, 1);
        let mut opt = Adam::from_varmap(&varmap, AdamConfig::new(arch.paper_lr_epochs().0));
        let rate = measure(o, batch, || {
            train_step(&model, &mut opt, &x, &y).unwrap();
        });
        // Training ≈ 3× the forward FLOPs (forward, input and weight gradients).
        Some((rate, 3 * flops))
    } else {
        let batch = 1000;
        let (x, _) = random_batch(&cfg, batch, 2);
        let rate = measure(o, batch, || {
            model.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
        });
        Some((rate, flops))
    }
}

/// The PyTorch script's workload list: each base name once.
fn pytorch_workloads(ours: &[String]) -> String {
    let mut names: Vec<&str> = ours.iter().map(|w| base_name(w)).collect();
    names.dedup();
    names.join(",")
}

/// The peak reference on our side: the FMA ceiling (3 windows of 1 s) and
/// our sgemm at each size (3 windows of 1 s).
fn measure_peak() -> table::OurPeak {
    let second = std::time::Duration::from_secs(1);
    let fma = common::peak::fma_ceiling(second, 3);
    eprintln!("  FMA-loop ceiling ({}, {} threads): {:.1} GFLOP/s", fma.isa, fma.threads, fma.gflops);
    let sgemm = SGEMM_SIZES
        .iter()
        .map(|&n| {
            let g = common::peak::our_sgemm(n, second, 3);
            eprintln!("  synthmix sgemm {n}³: {g:.1} GFLOP/s");
            (n, g)
        })
        .collect();
    table::OurPeak { fma, fma_end: None, sgemm }
}

/// Runs scripts/bench_pytorch.py on the same workloads, threads and windows
/// (and the sgemm sizes with `peak`); `None` where it did not run.
fn run_pytorch(o: &Opts, threads: usize) -> Option<table::Torch> {
    let json = std::env::temp_dir().join(format!("synthmix-bench-pt-{}.json", std::process::id()));
    let mut cmd = Command::new(common::pytorch::python());
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_pytorch.py"))
        .args(["--threads", &threads.to_string(), "--seconds", &o.seconds.to_string()])
        .args(["--windows", &o.windows.to_string(), "--workloads", &pytorch_workloads(&o.workloads), "--json"])
        .arg(&json);
    if o.peak {
        let sizes: Vec<String> = SGEMM_SIZES.iter().map(|n| n.to_string()).collect();
        cmd.args(["--sgemm", &sizes.join(",")]);
    }
    match cmd.status() {
        Ok(s) if s.success() => {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
            let _ = std::fs::remove_file(&json);
            Some(table::Torch::from_json(&v))
        }
        other => {
            eprintln!("PyTorch reference did not run ({other:?}); pip install -r scripts/requirements-bench.txt");
            None
        }
    }
}

fn main() {
    // The same thread set-up as every synthmix binary.
    synthmix_core::threads::configure();
    let o = parse_opts();
    let note = common::load_note(o.strict);
    let watch = common::OthersWatch::start();
    // The workloads' pool: what the peak runs on and PyTorch is given.
    let threads = rayon::current_num_threads();
    eprintln!("synthmix bench: {} threads, {} s x {} windows; {note}", threads, o.seconds, o.windows);
    let mut peak = o.peak.then(measure_peak);
    let mut ours = BTreeMap::new();
    for w in &o.workloads {
        match run_workload(&o, w) {
            Some(r) => {
                eprintln!("  synthmix {w}: {:.0} images/s", r.0);
                ours.insert(w.clone(), r);
            }
            None => eprintln!("  synthmix {w}: no such workload here, skipped"),
        }
    }
    let our_rss = peak_rss_kib();
    let torch = if o.pytorch { run_pytorch(&o, threads) } else { None };
    let empty = table::Torch::default();
    let torch = torch.as_ref().unwrap_or(&empty);
    if let Some(p) = &mut peak {
        // Again after both sides: on a shared machine the two differ.
        p.fma_end = Some(common::peak::fma_ceiling(std::time::Duration::from_secs(1), 3));
        table::print_peak(p, torch);
    }
    table::print_workloads(&ours, torch, peak.as_ref().map(table::OurPeak::ceiling));
    println!(
        "\npeak RSS: synthmix {:.0} MiB, PyTorch {:.0} MiB; {note}; {}",
        our_rss as f64 / 1024.0,
        torch.rss_kib as f64 / 1024.0,
        watch.note()
    );
}
