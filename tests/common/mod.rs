//! Helpers for the end-to-end tests, which run the real binaries.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod data;
pub mod pytorch;
pub mod slurm;
pub mod suite_files;
pub use data::shared_data;

/// A command for one of the workspace's binaries, with backtraces switched on
/// (so a test notices if one leaks into an error message). The stage
/// binaries live in their own packages, which `cargo test` does not build
/// for this one's tests: `just test` builds every binary first, in the same
/// profile (no nested cargo build here).
pub fn bin(name: &str) -> Command {
    let exe = match name {
        "synthmix" => PathBuf::from(env!("CARGO_BIN_EXE_synthmix")),
        other => PathBuf::from(env!("CARGO_BIN_EXE_synthmix")).with_file_name(other),
    };
    assert!(
        exe.is_file(),
        "{} is not built beside synthmix: run `just test` (or `cargo build --workspace --bins` in this profile first)",
        exe.display()
    );
    let mut c = Command::new(exe);
    c.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG").env("SYNTHMIX_DATA", shared_data());
    c
}

/// A small features classifier for a generator's FID and recognition: the
/// Simple CNN, one epoch at lr 1e-3 on `limit` MNIST training images,
/// written to `out`.
pub fn train_features_clf(out: &Path, limit: usize) -> PathBuf {
    let limit = limit.to_string();
    run_ok(
        bin("clf-train")
            .args(["--train", "mnist:train", "--epochs", "1", "--lr", "1e-3", "-q", "--limit", &limit, "--out"])
            .arg(out),
    );
    out.to_path_buf()
}

/// `synthmix` run in `dir` (which holds the spec), without colour.
pub fn synthmix_at(dir: &Path) -> Command {
    let mut c = bin("synthmix");
    c.current_dir(dir).env("NO_COLOR", "1");
    c
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The targets of a run's output lines with this verb (`done`, `run`, …).
pub fn with_verb(out: &str, verb: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with(verb) && l[verb.len()..].starts_with(' '))
        .filter_map(|l| l[verb.len()..].split_whitespace().next().map(str::to_string))
        .collect()
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("stage binary missing: run `cargo build --workspace --bins` first (just test does)");
    assert!(
        out.status.success(),
        "{:?} failed:\nstdout: {}\nstderr: {}",
        cmd,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command expected to fail and returns its one-line error message.
/// Checks: non-zero exit, exactly one line on stderr starting `error: `, no panic.
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("stage binary missing: run `cargo build --workspace --bins` first (just test does)");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{cmd:?} should fail; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(1), "{cmd:?}: exit code; stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{cmd:?}: expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{stderr}");
    lines[0].to_string()
}

/// The body rows of the first Markdown table after `heading` (header and
/// rule skipped), each as its trimmed cells.
pub fn markdown_rows<'a>(md: &'a str, heading: &str) -> Vec<Vec<&'a str>> {
    let start = md.find(heading).unwrap_or_else(|| panic!("no '{heading}' in the Markdown"));
    md[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| l.trim_matches('|').split('|').map(str::trim).collect())
        .collect()
}

/// Names of the entries of a folder, sorted.
pub fn ls(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Runs a command expected to be refused by its argument parser (clap):
/// exit 2, the first stderr line `error: …` naming the problem, no panic.
pub fn run_usage_err(cmd: &mut Command) -> String {
    let out = cmd.output().expect("binary missing: run `just test`");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{cmd:?}: exit code; stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("stack backtrace"), "{stderr}");
    stderr.lines().next().unwrap_or("").to_string()
}

/// Every file under `dir`, recursively, sorted (nothing if it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().unwrap().is_dir() {
                v.extend(walk(&e.path()));
            } else {
                v.push(e.path());
            }
        }
    }
    v.sort();
    v
}

/// BLAKE3 of a file, hex.
pub fn hash(p: &Path) -> String {
    blake3::hash(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).to_hex().to_string()
}

/// The BLAKE3 names of the store objects the cache records of an artifacts
/// folder refer to.
pub fn recorded_objects(artifacts: &Path) -> std::collections::BTreeSet<String> {
    walk(&artifacts.join("cache"))
        .iter()
        .flat_map(|r| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(r).unwrap()).unwrap();
            v["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["blake3"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Replaces the value after `key = ` (up to `,`, ` ` or `}`) on every line
/// of a spec (`what` names it when the key is gone).
pub fn set_field(spec: &str, key: &str, value: &str, what: &str) -> String {
    let pat = format!("{key} = ");
    let mut found = false;
    let out: Vec<String> = spec
        .lines()
        .map(|line| {
            let mut l = line.to_string();
            let mut from = 0;
            while let Some(i) = l[from..].find(&pat).map(|i| i + from) {
                if i > 0 && !matches!(l.as_bytes()[i - 1], b' ' | b'{') {
                    from = i + pat.len();
                    continue;
                }
                let start = i + pat.len();
                let end = l[start..].find([',', ' ', '}']).map_or(l.len(), |e| start + e);
                l.replace_range(start..end, value);
                from = start + value.len();
                found = true;
            }
            l
        })
        .collect();
    assert!(found, "{what} lost its {key}");
    out.join("\n") + "\n"
}

/// A report cell `mean ± std (n=N)` of an accuracy.
pub fn is_cell(s: &str) -> bool {
    let mut it = s.split_whitespace();
    it.next().and_then(|x| x.parse::<f64>().ok()).is_some_and(|m| (0.0..=1.0).contains(&m))
        && it.next() == Some("±")
        && it.next().and_then(|x| x.parse::<f64>().ok()).is_some()
        && it.next().is_some_and(|n| n.starts_with("(n="))
}

/// A report interval `+0.0123 [-0.0040, +0.0286] (n=2)` (or `[no interval]`).
pub fn is_interval(s: &str) -> bool {
    // `+0.0123 [-0.0040, +0.0286] (n=2)`
    let mut it = s.split_whitespace();
    it.next().and_then(|x| x.parse::<f64>().ok()).is_some() && it.next().is_some_and(|x| x.starts_with('['))
}

/// Rebuilds the `study` report in `rep` from that folder alone (`--prior`,
/// no `--metrics`; `args` as the original run had them), as results/ is
/// republished, and checks it against the original: report.md is equal but
/// for its opening sentence's source, the one line saying when the verdicts
/// were recomputed and the line saying each of the `quoted` sections is
/// quoted; every CSV and figure is byte-equal. The rebuilt folder rebuilds to
/// itself.
pub fn rebuilt_report_matches(d: &Path, study: &str, rep: &Path, args: &[&str], quoted: &[&str]) {
    let rebuild = |from: &Path, to: &Path| -> String {
        run_ok(
            bin("synthmix")
                .current_dir(d)
                .args(["report", "--study", study, "--prior"])
                .arg(from)
                .args(args)
                .arg("--out")
                .arg(to.join("report.md")),
        );
        std::fs::read_to_string(to.join("report.md")).unwrap()
    };
    let (one, two) = (d.join(format!("{study}-rebuilt-1")), d.join(format!("{study}-rebuilt-2")));
    let md0 = std::fs::read_to_string(rep.join("report.md")).unwrap();
    let md1 = rebuild(rep, &one);
    let md2 = rebuild(&one, &two);
    let line = md1.lines().find(|l| l.starts_with("- Verdicts recomputed")).expect("the rebuilt report says so");
    // The original with its sources named as the rebuilt one names them, and the line added under the provenance bullets.
    let (end, files) = [" METRICS.json files", " result files"]
        .into_iter()
        .find_map(|f| md0.find(f).map(|at| (at, f)))
        .expect("the opening names its files");
    let start = md0[..end].rfind("from ").unwrap() + "from ".len();
    let stop = end + files.len() + md0[end + files.len()..].find([',', '.']).unwrap();
    let mut expected = format!("{}the results.csv of {}{}", &md0[..start], rep.display(), &md0[stop..]);
    let prov = expected.find("## Settings, provenance and cost\n\n").unwrap();
    let after_bullets = prov + expected[prov..].find("\n\n- ").unwrap() + 2;
    let at = after_bullets + expected[after_bullets..].find("\n\n").unwrap() + 1;
    expected.insert_str(at, &format!("{line}\n"));
    for h in quoted {
        let head = format!("\n## {h}\n\n");
        let why = md1[md1.find(&head).expect(h) + head.len()..].lines().next().unwrap();
        assert!(why.starts_with("Quoted from the published report"), "{h}: {why}");
        let at = expected.find(&head).expect(h) + head.len();
        expected.insert_str(at, &format!("{why}\n\n"));
    }
    assert_eq!(md1, expected, "rebuilt from {} alone", rep.display());
    let renamed =
        md1.replace(&format!("results.csv of {}", rep.display()), &format!("results.csv of {}", one.display()));
    assert_eq!(md2, renamed, "a rebuilt folder rebuilds to itself");
    let mut compared = 0;
    for f in ls(rep).iter().filter(|f| f.ends_with(".csv") || f.ends_with(".png") || f.ends_with(".svg")) {
        assert_eq!(std::fs::read(rep.join(f)).unwrap(), std::fs::read(one.join(f)).unwrap(), "{f} rebuilt");
        assert_eq!(std::fs::read(one.join(f)).unwrap(), std::fs::read(two.join(f)).unwrap(), "{f} rebuilt twice");
        compared += 1;
    }
    assert!(compared >= 3, "results.csv, comparisons.csv and figures: {:?}", ls(rep));
}
