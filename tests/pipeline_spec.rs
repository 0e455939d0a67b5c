//! Pipeline specs: every bad spec is refused before anything runs, with one
//! line naming the spec file and the line of the problem; the shipped specs
//! parse and expand to the study's graph.

use crate::common;

use std::path::Path;

use common::{bin, run_err, run_ok};

/// Writes `spec` to a fresh folder and runs `synthmix ARGS spec.toml` there.
fn err_of(spec: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spec.toml"), spec).unwrap();
    let mut c = bin("synthmix");
    c.current_dir(dir.path()).args(args).arg("spec.toml");
    run_err(&mut c)
}

fn assert_line(msg: &str, line: usize, needle: &str) {
    assert!(msg.contains(&format!("spec.toml:{line}:")), "expected line {line} in: {msg}");
    assert!(msg.contains(needle), "expected '{needle}' in: {msg}");
}

const HEAD: &str = "[pipeline]\nname = \"t\"\n\n";

#[test]
fn unknown_key_names_its_line() {
    let spec = format!("{HEAD}[target.a]\ncommand = \"mix-build --out {{out}}\"\noutputs = [\"a\"]\ncomand = \"x\"\n");
    assert_line(&err_of(&spec, &["dag"]), 7, "unknown field `comand`");
    let spec =
        "[pipeline]\nname = \"t\"\nouts = \"x\"\n\n[target.a]\ncommand = \"x {out}\"\noutputs = [\"a\"]\n".to_string();
    assert_line(&err_of(&spec, &["dag"]), 3, "unknown field `outs`");
    let spec = format!("{HEAD}[targets.a]\ncommand = \"x {{out}}\"\n");
    assert_line(&err_of(&spec, &["dag"]), 4, "unknown field `targets`");
}

#[test]
fn toml_syntax_error_names_its_line() {
    let spec = format!("{HEAD}[target.a]\ncommand = \"x {{out}}\noutputs = [\"a\"]\n");
    assert_line(&err_of(&spec, &["dag"]), 5, "");
}

#[test]
fn cycle_names_the_targets_and_a_line() {
    let spec = format!(
        "{HEAD}[target.a]\ncommand = \"x --in {{in}} --out {{out}}\"\ninputs = [\"b\"]\noutputs = [\"a.bin\"]\n\n\
         [target.b]\ncommand = \"x --in {{in}} --out {{out}}\"\ninputs = [\"c\"]\noutputs = [\"b.bin\"]\n\n\
         [target.c]\ncommand = \"x --in {{in}} --out {{out}}\"\ninputs = [\"a\"]\noutputs = [\"c.bin\"]\n"
    );
    let msg = err_of(&spec, &["dag"]);
    assert!(msg.contains("cycle: "), "{msg}");
    for t in ["a", "b", "c"] {
        assert!(msg.contains(t), "{msg}");
    }
    assert!(msg.contains("spec.toml:4:") || msg.contains("spec.toml:9:") || msg.contains("spec.toml:14:"), "{msg}");
    // A target reading its own output.
    let spec = format!(
        "{HEAD}[target.a]\ncommand = \"x --in {{in}} --out {{out}}\"\ninputs = [\"a\"]\noutputs = [\"a.bin\"]\n"
    );
    assert_line(&err_of(&spec, &["dag"]), 4, "cycle");
}

#[test]
fn duplicate_outputs_name_both_targets() {
    let spec = format!(
        "{HEAD}[target.a]\ncommand = \"x --out {{out}}\"\noutputs = [\"same.bin\"]\n\n\
         [target.\"b-{{n}}\"]\nmatrix = {{ n = [1, 2] }}\ncommand = \"x --out {{out}}\"\noutputs = [\"same.bin\"]\n"
    );
    let msg = err_of(&spec, &["dag"]);
    assert_line(&msg, 11, "also an output of target 'a' (line 4)");
    // Two matrix cells writing one file.
    let spec = format!("{HEAD}[target.\"b-{{n}}\"]\nmatrix = {{ n = [1, 2] }}\ncommand = \"x --out {{out}}\"\noutputs = [\"same.bin\"]\n");
    assert_line(&err_of(&spec, &["dag"]), 7, "also an output of target 'b-1'");
}

#[test]
fn missing_input_names_its_line() {
    let spec = format!(
        "{HEAD}[target.a]\ncommand = \"x --in {{in}} --out {{out}}\"\noutputs = [\"a.bin\"]\ninputs = {{ cfg = \"no/such/file.toml\" }}\n"
    );
    assert_line(&err_of(&spec, &["dag"]), 7, "missing input 'no/such/file.toml'");
    assert_line(&err_of(&spec, &["run", "--dry-run"]), 7, "missing input");
    // A glob matching no target, and a NAME:OUTPUT naming no output.
    let spec = format!(
        "{HEAD}[target.a]\ncommand = \"x --in {{in}} --out {{out}}\"\noutputs = [\"a.bin\"]\ninputs = [\"eval-*\"]\n"
    );
    assert_line(&err_of(&spec, &["dag"]), 7, "matches no target");
    let spec = format!(
        "{HEAD}[target.a]\ncommand = \"x --out {{out}}\"\noutputs = {{ gen = \"a.bin\" }}\n\n\
         [target.b]\ncommand = \"x --in {{in}} --out {{out}}\"\noutputs = [\"b.bin\"]\ninputs = [\"a:disc\"]\n"
    );
    assert_line(&err_of(&spec, &["dag"]), 11, "has no output 'disc'");
}

#[test]
fn template_and_matrix_errors_name_their_line() {
    let spec = format!("{HEAD}[target.a]\ncommand = \"x --epochs {{epochs}} --out {{out}}\"\noutputs = [\"a.bin\"]\n");
    assert_line(&err_of(&spec, &["dag"]), 5, "unknown placeholder '{epochs}'");
    let spec = format!("{HEAD}[target.\"a-{{n}}\"]\nmatrix = {{ n = \"seeds\" }}\ncommand = \"x --out {{out}}\"\noutputs = [\"a{{n}}.bin\"]\n");
    assert_line(&err_of(&spec, &["dag"]), 5, "which [axes] does not define");
    let spec = format!(
        "{HEAD}[target.a]\nmatrix = {{ n = [1, 2] }}\ncommand = \"x --out {{out}}\"\noutputs = [\"a{{n}}.bin\"]\n"
    );
    assert_line(&err_of(&spec, &["dag"]), 4, "target name 'a' is made twice");
    let spec = format!("{HEAD}[target.a]\ncommand = \"x --out a.bin\"\noutputs = [\"a.bin\"]\n");
    assert_line(&err_of(&spec, &["dag"]), 5, "never names its outputs");
    let spec = format!("{HEAD}[target.a]\ncommand = \"x --out {{out}}\"\noutputs = [\"../a.bin\"]\n");
    assert_line(&err_of(&spec, &["dag"]), 6, "relative path inside the out folder");
}

#[test]
fn unknown_stage_and_missing_dataset_are_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("spec.toml"),
        format!("{HEAD}[target.a]\ncommand = \"no-such-stage --out {{out}}\"\noutputs = [\"a.bin\"]\n"),
    )
    .unwrap();
    let msg = run_err(bin("synthmix").current_dir(dir.path()).args(["run", "spec.toml"]));
    assert_line(&msg, 5, "stage 'no-such-stage' not found");
    std::fs::write(
        dir.path().join("spec.toml"),
        format!("{HEAD}[target.a]\ncommand = \"mix-build --real fashion-mnist:train --synthetic fashion-mnist:train --ratio 1:0 --out {{out}}\"\noutputs = [\"a.bin\"]\n"),
    )
    .unwrap();
    let empty = dir.path().join("empty-data");
    std::fs::create_dir_all(&empty).unwrap();
    let msg = run_err(bin("synthmix").current_dir(dir.path()).env("SYNTHMIX_DATA", &empty).args(["run", "spec.toml"]));
    assert_line(&msg, 5, "dataset fashion-mnist:train: ");
    assert!(msg.contains("IDX images for fashion-mnist:train not found"), "{msg}");
    assert!(msg.contains("synthmix data fetch fashion-mnist"), "{msg}");
    assert!(!dir.path().join("artifacts/.staging").exists(), "nothing ran");
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn shipped_specs_expand_to_the_study() {
    let dag = |spec: &str| {
        let out = run_ok(bin("synthmix").current_dir(repo()).args(["dag", spec]));
        String::from_utf8(out.stdout).unwrap()
    };
    let paper = dag("pipelines/paper.toml");
    let lines: Vec<&str> = paper.lines().skip(1).collect();
    let count = |prefix: &str| lines.iter().filter(|l| l.starts_with(prefix)).count();
    // Generators, MNIST and Fashion-MNIST: the MLP cGAN's default, paper,
    // default-g1 and default-g2, the DCGAN's dcgan, dcgan-g1 and dcgan-g2;
    // CIFAR-10: default (a DCGAN).
    assert_eq!(count("gan-"), 7 + 7 + 1, "{paper}");
    assert!(lines.iter().any(|l| l.starts_with("gan-fashion-mnist-dcgan-g2 ")), "{paper}");
    assert_eq!(count("features-"), 3, "a features classifier (FID, recognition) per dataset");
    assert!(lines.iter().any(|l| l.starts_with("gan-mnist-paper ") && l.contains("features-mnist")), "{paper}");
    // Training sets: every generator × seeds 0–2, the six headline generators
    // (all but paper) × seeds 3–4, CIFAR-10's × 0–2; a test set per generator.
    assert_eq!(count("synth-"), (7 * 3 + 6 * 2 + 7) * 2 + 3 + 1, "{paper}");
    // Mixes with synthetic images. Seeds 0–2: MNIST default, paper and dcgan
    // every mix (5), default and paper also 6:1 … 10:1, the other four S and
    // 5:1; Fashion-MNIST the same without the extra ratios; CIFAR-10 5.
    // Seeds 3–4: the six headline generators' S and 5:1 on both datasets.
    let mixes = (3 * 5 + 2 * 5 + 4 * 2) * 3 + (3 * 5 + 4 * 2) * 3 + 5 * 3 + 2 * (6 * 2 * 2);
    assert_eq!(count("mix-"), mixes, "{paper}");
    assert_eq!(count("clf-"), 3 * 3 + 2 * 2 + mixes, "O once per dataset and seed, shared by every generator");
    assert_eq!(count("eval-"), (7 * 3 + 6 * 2) * 2 + 3 + mixes, "O scored on each generator's synthetic test set");
    // Five study seeds in the headline rows: O, S and 5:1.
    for t in ["clf-mnist-O-s4 ", "clf-fashion-mnist-dcgan-g1-S-s4 ", "eval-mnist-default-g2-5-1-s3 "] {
        assert!(lines.iter().any(|l| l.starts_with(t)), "{t}");
    }
    assert!(lines.iter().any(|l| l.starts_with("eval-mnist-paper-O-s1 ") && l.contains("clf-mnist-O-s1")), "{paper}");
    // Every MNIST classifier is scored on all fifteen MNIST-C corruptions,
    // each computed once as a target, no other dataset's.
    assert_eq!(count("test-mnist-c-"), 15, "{paper}");
    for l in lines.iter().filter(|l| l.starts_with("eval-")) {
        let n = if l.starts_with("eval-mnist-") { 15 } else { 0 };
        assert_eq!(l.matches("test-mnist-c-").count(), n, "{l}");
    }
    let spec = std::fs::read_to_string(repo().join("pipelines/paper.toml")).unwrap();
    assert!(
        spec.contains(r#"preset = "paper", seed = 0, on_collapse = "warn""#),
        "the paper's generator is reported as it is"
    );
    // CIFAR-10 is the official files where the data has them, else the JPEG copy.
    let cifar = match common::shared_data().join("cifar-10/cifar-10-batches-bin").is_dir() {
        true => "cifar-10",
        false => "cifar-10-jpeg",
    };
    for ds in ["mnist", "fashion-mnist", cifar] {
        assert!(lines.iter().any(|l| l.starts_with(&format!("gan-{ds}-default "))), "{ds}");
    }
    assert!(lines.iter().any(|l| l.starts_with(&format!("features-{cifar} "))), "{paper}");
    // The regimes study on CIFAR-10: 4 regimes × 3 DCGAN seeds; real only on
    // 4 regimes, 4 references and the balanced set, 2 rebalancing arms,
    // fill, 1 %/10 % × (1×, 5×), 100 % × 1×, CAS on 4: 21 classifiers per seed.
    let rc = dag("pipelines/regimes-cifar.toml");
    let rc: Vec<&str> = rc.lines().skip(1).collect();
    let n = |prefix: &str| rc.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!((n("gan-"), n("synth-"), n("clf-"), n("eval-")), (12, 12, 21 * 3, 21 * 3), "{rc:?}");
    assert!(rc.iter().any(|l| l.starts_with(&format!("gan-{cifar}-f1-dcgan-g2 "))), "{rc:?}");
    // The strategies study on CIFAR-10: 1 % and 10 % × 3 generator seeds;
    // 16 classifiers per regime and seed (real, plain, 2 τ, 2 σ, w, recycling,
    // 2 two-stage lrs, CAS and CAS with 2 τ, 2 σ and recycling).
    let sc = dag("pipelines/strategies-cifar.toml");
    let sc: Vec<&str> = sc.lines().skip(1).collect();
    let n = |prefix: &str| sc.iter().filter(|l| l.starts_with(prefix)).count();
    assert_eq!((n("gan-"), n("pool-"), n("clf-"), n("eval-")), (6, 24, 16 * 6, 16 * 6), "{sc:?}");
    let quick = dag("pipelines/quick.toml");
    let q: Vec<&str> = quick.lines().skip(1).collect();
    assert!(q.iter().all(|l| !l.contains("fashion") && !l.contains("cifar")), "quick is MNIST only");
    // O, then the mixes of the MLP cGAN and of the small diffusion model.
    assert_eq!(q.iter().filter(|l| l.starts_with("clf-")).count(), 3 + 2 * 10 * 3, "O, then two generators' mixes");
    let q_evals: Vec<&&str> = q.iter().filter(|l| l.starts_with("eval-")).collect();
    assert_eq!(q_evals.len(), 2 * 11 * 3);
    assert!(q.iter().any(|l| l.starts_with("dpm-mnist ") && l.contains("dpm-train")), "{quick}");
    assert!(q_evals.iter().all(|l| l.matches("test-mnist-c-").count() == 15), "{quick}");
    // Without CIFAR-10 the study runs with its targets skipped (the report's glob input shrinks).
    let tmp = tempfile::tempdir().unwrap();
    let dry = run_ok(
        bin("synthmix")
            .current_dir(repo())
            .args(["run", "pipelines/paper.toml", "--dry-run", "--skip", "*cifar-10*", "--artifacts"])
            .arg(tmp.path()),
    );
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(dry.contains("dry run: 836 of 836 targets would run") && !dry.contains("cifar"), "{dry}");
    let msg = run_err(
        bin("synthmix")
            .current_dir(repo())
            .args([
                "run",
                "pipelines/paper.toml",
                "--dry-run",
                "--skip",
                &format!("gan-{cifar}-default"),
                "--artifacts",
            ])
            .arg(tmp.path()),
    );
    assert!(msg.contains("paper.toml:") && msg.contains("which is skipped: skip it too"), "{msg}");
    let dot = run_ok(bin("synthmix").current_dir(repo()).args(["dag", "--dot", "pipelines/quick.toml"]));
    let dot = String::from_utf8(dot.stdout).unwrap();
    assert!(dot.starts_with("digraph \"quick\" {") && dot.trim_end().ends_with('}'), "{dot}");
    assert!(dot.contains("\"gan-mnist-default\" -> \"synth-mnist-default-train-s0\""), "{dot}");
}

/// A misspelt flag or a bad value in any expanded command fails when the spec
/// loads, before anything runs, naming the spec line, the target and the flag.
#[test]
fn bad_flags_and_values_fail_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let spec = |ratio: &str, flag: &str| {
        format!(
            "[pipeline]\nname = \"bad\"\n[target.mix]\ncommand = \"mix-build --real mnist:test --synthetic mnist:test --ratio {ratio} --total 20 --out {{out}}\"\noutputs = [\"m.safetensors\"]\n\
             [target.clf]\ncommand = \"clf-train --train {{in}} {flag} 1 --out {{out}}\"\ninputs = [\"mix\"]\noutputs = [\"c.safetensors\"]\n"
        )
    };
    let cases = [
        (spec("5x1", "--epochs"), "s.toml:4: target 'mix': mix-build invalid value '5x1' for '--ratio"),
        (spec("5:1", "--epoch"), "s.toml:7: target 'clf': clf-train unexpected argument '--epoch'"),
    ];
    for (text, want) in cases {
        std::fs::write(dir.path().join("s.toml"), text).unwrap();
        for cmd in [&["run", "s.toml"][..], &["dag", "s.toml"]] {
            let msg = run_err(bin("synthmix").current_dir(dir.path()).args(cmd));
            assert!(msg.contains(want), "{cmd:?}: {msg}");
        }
        assert!(
            !dir.path().join("artifacts/.staging").exists() && !dir.path().join("m.safetensors").exists(),
            "nothing ran"
        );
    }
}
