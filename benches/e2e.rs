//! `just bench --e2e`: whole stages, each as a process, against the same job
//! done idiomatically in PyTorch (scripts/e2e_pytorch.py) in the same run:
//! process start, imports, data loading, the loop and the checkpoint write
//! all count. Runs alternate synthmix and PyTorch every round; medians.
//!
//! The fixed cost of each of our stages is measured by a second, tiny run
//! (`--limit`, fewer samples): wall = fixed + images × per-image time, solved
//! from both. PyTorch's script reports its own phases (imports, data, loop,
//! DataLoader wait, save).
//!
//! Flags (after `--`): `--rounds N` (default 3), `--jobs a,b` (default all;
//! prerequisites are added), `--threads N` (default: available parallelism),
//! `--cifar-images N` (the CIFAR-shaped set, default 5000), `--no-pytorch`,
//! `--strict` (refuse to run on a busy machine), `--e2e` (ignored).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::Rng;
use synthmix_core::artifact::image_set;
use synthmix_core::data::{ImageSet, ImageShape, SetMeta, Source};
use synthmix_core::rng;

mod common;

const ALL_JOBS: [&str; 6] = ["clf-simple", "clf-deep", "clf-deep-winograd", "gan", "sample", "evaluate"];

struct Opts {
    rounds: usize,
    jobs: Vec<String>,
    threads: usize,
    cifar_images: usize,
    pytorch: bool,
    strict: bool,
}

fn parse_opts() -> Opts {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut o = Opts {
        rounds: 3,
        jobs: ALL_JOBS.map(String::from).to_vec(),
        threads,
        cifar_images: 5000,
        pytorch: true,
        strict: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).unwrap_or_else(|| panic!("{} needs a value", args[i])).clone();
        match args[i].as_str() {
            "--rounds" => o.rounds = value().parse().expect("--rounds N"),
            "--jobs" => o.jobs = value().split(',').map(String::from).collect(),
            "--threads" => o.threads = value().parse().expect("--threads N"),
            "--cifar-images" => o.cifar_images = value().parse().expect("--cifar-images N"),
            "--no-pytorch" => o.pytorch = false,
            "--strict" => o.strict = true,
            "--e2e" | "--bench" => {} // the recipe's switch; passed by `cargo bench`
            other => panic!("unknown flag {other} (see the doc comment of benches/e2e.rs)"),
        }
        i += if matches!(args[i].as_str(), "--rounds" | "--jobs" | "--threads" | "--cifar-images") { 2 } else { 1 };
    }
    o.jobs = with_prerequisites(&o.jobs);
    o
}

/// The selected jobs plus the ones whose outputs they read, in run order
/// (evaluate's tiny run reads the tiny sample's set).
fn with_prerequisites(jobs: &[String]) -> Vec<String> {
    for j in jobs {
        assert!(ALL_JOBS.contains(&j.as_str()), "unknown job {j}; jobs: {}", ALL_JOBS.join(","));
    }
    let mut want: Vec<&str> = jobs.iter().map(String::as_str).collect();
    if want.contains(&"evaluate") {
        want.extend(["clf-simple", "sample"]);
    }
    if want.contains(&"sample") {
        want.push("gan");
    }
    ALL_JOBS.iter().filter(|j| want.contains(j)).map(|j| j.to_string()).collect()
}

/// One stage job: our command line (full and tiny) and PyTorch's.
struct Job {
    name: &'static str,
    images: usize,
    ours: Vec<String>,
    tiny: Vec<String>,
    tiny_images: usize,
    pytorch: Vec<String>,
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn p(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 work dir")
}

/// The six jobs, reading and writing under `w` (tiny runs in JOB-tiny/).
fn jobs(w: &Path, cifar: &Path, cifar_n: usize) -> Vec<Job> {
    let (o, t) = (w.join("ours"), w.join("pt"));
    let clf = |arch: &str, train: &str, lim: &str, job: &str, extra: &[&str]| {
        let base = args(&["clf-train", "--train", train, "--arch", arch, "--epochs", "1", "--seed", "0", "-q"]);
        let base = [base, args(extra)].concat();
        let full = [base.clone(), args(&["--out", p(&o.join(job).join("clf.safetensors"))])].concat();
        let tiny = [base, args(&["--limit", lim, "--out", p(&o.join(format!("{job}-tiny/clf.safetensors")))])].concat();
        (full, tiny)
    };
    let pt_clf = |arch: &str, train: &str, job: &str| {
        let out = t.join(job).join("clf.safetensors");
        args(&["clf-train", "--train", train, "--arch", arch, "--epochs", "1", "--out", p(&out)])
    };
    let (s_full, s_tiny) = clf("simple-cnn", "mnist:train", "640", "clf-simple", &[]);
    let (d_full, d_tiny) = clf("deep-cnn", p(cifar), "128", "clf-deep", &[]);
    let winograd = ["--conv-algorithm", "winograd"];
    let (dw_full, dw_tiny) = clf("deep-cnn", p(cifar), "128", "clf-deep-winograd", &winograd);
    let gan = args(&["gan-train", "--train", "mnist:train", "--arch", "mlp", "--epochs", "1", "--seed", "0", "-q"]);
    let sample = |gen: &Path, per: &str, out: &Path| {
        args(&["synth-sample", "--generator", p(gen), "--per-class", per, "--seed", "1", "-q", "--out", p(out)])
    };
    let eval = |clf: &Path, test: &str, out: &Path| {
        args(&["evaluate", "--classifier", p(clf), "--test", test, "-q", "--out", p(out)])
    };
    let (og, tg) = (o.join("gan/gen.safetensors"), t.join("gan/gen.safetensors"));
    let (o_clf, t_clf) = (o.join("clf-simple/clf.safetensors"), t.join("clf-simple/clf.safetensors"));
    let tiny_set = o.join("sample-tiny/synth.safetensors");
    vec![
        Job {
            name: "clf-simple",
            images: 60_000,
            ours: s_full,
            tiny: s_tiny,
            tiny_images: 640,
            pytorch: pt_clf("simple-cnn", "mnist:train", "clf-simple"),
        },
        Job {
            name: "clf-deep",
            images: cifar_n,
            ours: d_full,
            tiny: d_tiny,
            tiny_images: 128,
            pytorch: pt_clf("deep-cnn", p(cifar), "clf-deep"),
        },
        // The same job as clf-deep, ours with Winograd convolutions (as
        // pipelines/paper.toml trains CIFAR-10's classifiers).
        Job {
            name: "clf-deep-winograd",
            images: cifar_n,
            ours: dw_full,
            tiny: dw_tiny,
            tiny_images: 128,
            pytorch: pt_clf("deep-cnn", p(cifar), "clf-deep-winograd"),
        },
        Job {
            name: "gan",
            images: 60_000,
            ours: [gan.clone(), args(&["--out", p(&og)])].concat(),
            tiny: [gan, args(&["--limit", "1000", "--out", p(&o.join("gan-tiny/gen.safetensors"))])].concat(),
            tiny_images: 1000,
            pytorch: args(&["gan-train", "--train", "mnist:train", "--epochs", "1", "--out", p(&tg)]),
        },
        Job {
            name: "sample",
            images: 60_000,
            ours: sample(&og, "6000", &o.join("sample/synth.safetensors")),
            tiny: sample(&og, "10", &tiny_set),
            tiny_images: 100,
            pytorch: args(&[
                "synth-sample",
                "--generator",
                p(&tg),
                "--per-class",
                "6000",
                "--out",
                p(&t.join("sample/synth.safetensors")),
            ]),
        },
        Job {
            name: "evaluate",
            images: 10_000,
            ours: eval(&o_clf, "mnist:test", &o.join("evaluate/m.json")),
            tiny: eval(&o_clf, p(&tiny_set), &o.join("evaluate-tiny/m.json")),
            tiny_images: 100,
            pytorch: args(&[
                "evaluate",
                "--classifier",
                p(&t_clf),
                "--test",
                "mnist:test",
                "--out",
                p(&t.join("evaluate/m.json")),
            ]),
        },
    ]
}

/// A CIFAR-shaped set (3×32×32, 10 classes, seeded noise), written once:
/// CIFAR-10 itself is not needed to time the Deep CNN's stage.
fn cifar_shaped(w: &Path, n: usize) -> PathBuf {
    let path = w.join(format!("cifar-shaped-{n}.safetensors"));
    if path.exists() {
        return path;
    }
    let shape = ImageShape { c: 3, h: 32, w: 32 };
    let mut r = rng::stream(0, "bench/cifar-shaped");
    let images: Vec<u8> = (0..n * shape.pixels()).map(|_| r.gen()).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let meta = SetMeta::new("cifar-shaped", "train", Source::Real);
    let set = ImageSet::new(&path, images, labels, shape, 10, meta).expect("a valid set");
    image_set::write(&path, &set).expect("write the CIFAR-shaped set");
    path
}

/// Our binary for `stage`: the stage's own program beside `synthmix`, else
/// `synthmix STAGE` (the same code).
fn our_command(stage_args: &[String], threads: usize) -> Command {
    let multi = PathBuf::from(env!("CARGO_BIN_EXE_synthmix"));
    let own = multi.with_file_name(&stage_args[0]);
    let mut c = if own.exists() { Command::new(own) } else { Command::new(&multi) };
    c.args(if c.get_program() == multi.as_os_str() { stage_args } else { &stage_args[1..] });
    c.env("RAYON_NUM_THREADS", threads.to_string());
    c
}

fn pytorch_command(job_args: &[String], threads: usize, json: &Path) -> Command {
    let mut c = Command::new(common::pytorch::python());
    c.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/e2e_pytorch.py"));
    c.args(["--threads", &threads.to_string(), "--json", p(json)]).args(job_args);
    // The same data folder as our stages, by the binaries' own rule.
    c.env("SYNTHMIX_DATA", synthmix_core::data::resolve_data_dir(None));
    c
}

/// Wall seconds of `c` run to completion in a fresh `out_dir` (a stage
/// refuses some existing outputs); its output is shown on failure.
fn wall(mut c: Command, out_dir: &Path) -> f64 {
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::create_dir_all(out_dir).unwrap();
    let t = Instant::now();
    let out = c.output().unwrap_or_else(|e| panic!("{:?}: {e}", c.get_program()));
    let s = t.elapsed().as_secs_f64();
    if !out.status.success() {
        panic!("{c:?} failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    s
}

/// The folder a command line's `--out` names (created before the run).
fn out_dir(a: &[String]) -> PathBuf {
    let i = a.iter().position(|x| x == "--out").expect("--out");
    Path::new(&a[i + 1]).parent().unwrap().to_path_buf()
}

/// Measured walls of one job over all rounds, and PyTorch's phases.
#[derive(Default)]
struct Runs {
    ours: Vec<f64>,
    tiny: Vec<f64>,
    pytorch: Vec<f64>,
    phases: BTreeMap<String, Vec<f64>>,
}

fn run_pytorch(j: &Job, o: &Opts, r: &mut Runs) {
    let json = out_dir(&j.pytorch).join("phases.json");
    r.pytorch.push(wall(pytorch_command(&j.pytorch, o.threads, &json), &out_dir(&j.pytorch)));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut add = |k: &str, x: f64| r.phases.entry(k.to_string()).or_default().push(x);
    for (k, x) in v["phases"].as_object().into_iter().flatten() {
        add(k, x.as_f64().unwrap_or(0.0));
    }
    add("total", v["total"].as_f64().unwrap_or(0.0));
}

/// Every round runs each job as ours, then PyTorch's, then our tiny run.
fn run_rounds(o: &Opts, all: &[Job]) -> BTreeMap<&'static str, Runs> {
    let mut runs: BTreeMap<&'static str, Runs> = BTreeMap::new();
    for round in 1..=o.rounds {
        for j in all.iter().filter(|j| o.jobs.iter().any(|x| x == j.name)) {
            let r = runs.entry(j.name).or_default();
            r.ours.push(wall(our_command(&j.ours, o.threads), &out_dir(&j.ours)));
            if o.pytorch {
                run_pytorch(j, o, r);
            }
            r.tiny.push(wall(our_command(&j.tiny, o.threads), &out_dir(&j.tiny)));
            eprintln!("  round {round} {}: synthmix {:.2} s, PyTorch {:.2} s", j.name, last(&r.ours), last(&r.pytorch));
        }
    }
    runs
}

fn last(v: &[f64]) -> f64 {
    v.last().copied().unwrap_or(f64::NAN)
}

/// Both sides' parameter counts, printed; a mismatch is flagged.
fn check_params(o: &Opts, w: &Path) {
    let ours = common::pytorch::our_param_counts();
    let mut theirs = BTreeMap::new();
    if o.pytorch {
        let json = w.join("params/params.json");
        wall(pytorch_command(&args(&["params"]), o.threads, &json), &w.join("params"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        for (k, x) in v["params"].as_object().into_iter().flatten() {
            theirs.insert(k.clone(), x.as_u64().unwrap_or(0));
        }
    }
    for (k, n) in &ours {
        let t = theirs.get(k).copied();
        let verdict = match t {
            Some(t) if t == *n => "same",
            Some(_) => "DIFFERENT MODELS",
            None => "-",
        };
        eprintln!("  parameters {k}: synthmix {n}, PyTorch {} ({verdict})", t.map_or("-".into(), |t| t.to_string()));
    }
}

/// Our fixed cost and per-image time, from the full and the tiny run.
fn our_split(j: &Job, r: &Runs) -> (f64, f64) {
    let (full, tiny) = (common::median(&r.ours), common::median(&r.tiny));
    let per_image = ((full - tiny) / (j.images - j.tiny_images) as f64).max(0.0);
    (tiny - j.tiny_images as f64 * per_image, per_image)
}

fn phase(r: &Runs, k: &str) -> f64 {
    r.phases.get(k).map_or(0.0, |v| common::median(v))
}

fn print_table(all: &[Job], runs: &BTreeMap<&str, Runs>) {
    println!("\n| job | images | synthmix s | PyTorch s | PyTorch / synthmix | synthmix images/s | PyTorch images/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for j in all {
        let Some(r) = runs.get(j.name) else { continue };
        let (a, b) = (common::median(&r.ours), common::median(&r.pytorch));
        let n = j.images as f64;
        println!("| {} | {} | {a:.2} | {b:.2} | **{:.2}x** | {:.0} | {:.0} |", j.name, j.images, b / a, n / a, n / b);
    }
}

/// Fixed costs and in-stage loop rates of both sides, then one line per job
/// on why the whole-stage ratio differs from the loop's.
fn print_breakdown(all: &[Job], runs: &BTreeMap<&str, Runs>) {
    println!("\n| job | synthmix fixed s | PyTorch start+imports s | PyTorch data s | PyTorch model init s | PyTorch save s | synthmix loop images/s | PyTorch loop images/s (without DataLoader) | loop ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for j in all {
        let Some(r) = runs.get(j.name) else { continue };
        let (fixed, per) = our_split(j, r);
        let start = common::median(&r.pytorch) - phase(r, "total") + phase(r, "import");
        let (lp, ld) = (phase(r, "loop"), phase(r, "loader"));
        let n = j.images as f64;
        println!(
            "| {} | {fixed:.2} | {start:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} ({:.0}) | {:.2}x |",
            j.name,
            phase(r, "load"),
            phase(r, "init"),
            phase(r, "save"),
            1.0 / per,
            n / lp,
            n / (lp - ld),
            lp / (n * per)
        );
    }
    println!();
    for j in all {
        if let Some(r) = runs.get(j.name).filter(|r| !r.pytorch.is_empty()) {
            println!("{}", explain(j, r));
        }
    }
}

/// Why the whole-stage ratio differs from the in-stage loop's, from the
/// measured parts: the largest fixed-cost difference is named first.
fn explain(j: &Job, r: &Runs) -> String {
    let (fixed, per) = our_split(j, r);
    let (whole, lp) = (common::median(&r.pytorch) / common::median(&r.ours), phase(r, "loop"));
    let loop_ratio = lp / (j.images as f64 * per);
    let start = common::median(&r.pytorch) - phase(r, "total") + phase(r, "import");
    let mut parts = [
        ("process start + imports", start),
        ("data loading/decoding", phase(r, "load")),
        ("model/optimiser construction", phase(r, "init")),
        ("checkpoint/output write", phase(r, "save")),
    ];
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let named: Vec<String> = parts.iter().map(|(k, s)| format!("{k} {s:.2} s")).collect();
    let loader = phase(r, "loader");
    format!(
        "{}: whole stage {whole:.2}x vs loop {loop_ratio:.2}x ({}): PyTorch's fixed cost {:.2} s ({}) against \
         synthmix's {fixed:.2} s (start, decode and writes, from the tiny run); PyTorch's DataLoader {loader:.2} s of \
         its {lp:.2} s loop",
        j.name,
        if whole > loop_ratio { "fixed costs raise it" } else { "fixed costs lower it" },
        parts.iter().map(|(_, s)| s).sum::<f64>(),
        named.join(", ")
    )
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or("-".into(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn main() {
    synthmix_core::threads::configure();
    let o = parse_opts();
    let note = common::load_note(o.strict);
    let load_before = load_average();
    let watch = common::OthersWatch::start();
    let w = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/e2e-bench"));
    std::fs::create_dir_all(&w).unwrap();
    let cifar = cifar_shaped(&w, o.cifar_images);
    eprintln!(
        "synthmix e2e bench: {} threads each, {} rounds; {note}; load average {}",
        o.threads, o.rounds, load_before
    );
    check_params(&o, &w);
    let all = jobs(&w, &cifar, o.cifar_images);
    let runs = run_rounds(&o, &all);
    print_table(&all, &runs);
    print_breakdown(&all, &runs);
    println!("\n{note}; {}; load average (1, 5, 15 min) before {load_before}, after {}", watch.note(), load_average());
    for side in ["ours", "pt"] {
        let _ = std::fs::remove_dir_all(w.join(side));
    }
}
