//! Reading a spec file: the phases in order, `[executor.slurm]`, and every
//! command checked (`commands`).

use std::path::Path;

use super::commands::check_commands;
use super::expand::{apply_skip, expand_targets, read_axes, read_global_params, read_head, RawExecutor, RawSpec};
use super::lines::Lines;
use super::model::{LoadOptions, Pipeline, Target};
use super::resolve::{index_names, index_outputs, render_commands, resolve_inputs, topo_sort};
use super::resources::Resources;
use crate::error::{Error, Result};

/// Reads, expands and validates a spec.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Pipeline> {
    let src = crate::artifact::input::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let p = parse(path, &src, opts)?;
    check_commands(&p, opts)?;
    Ok(p)
}

/// Parses a spec in phases: the TOML, the `[pipeline]` table, axes and
/// global parameters, every target's matrix cells, `--skip`, the name and
/// output indexes, inputs, then every command (which needs every path).
fn parse(path: &Path, src: &str, opts: &LoadOptions) -> Result<Pipeline> {
    let lines = Lines { path, src };
    let raw: RawSpec = toml::from_str(src).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        lines.err(at, e.message().split_whitespace().collect::<Vec<_>>().join(" "))
    })?;
    let head = read_head(&lines, raw.pipeline.as_ref().map(|p| p.get_ref()), opts)?;
    let axes = read_axes(&lines, &raw, opts)?;
    let global_params = read_global_params(&lines, &raw)?;
    let spec_dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let mut pending = expand_targets(&lines, &raw, &axes, &global_params, &spec_dir, opts.max_targets())?;
    let skipped = apply_skip(&mut pending, opts, path)?;
    let by_name = index_names(&lines, &pending)?;
    let output_owner = index_outputs(&lines, &pending, &head.out)?;
    let resolved = resolve_inputs(&lines, &pending, &by_name, &output_owner, &skipped, opts)?;
    let targets = render_commands(&lines, &pending, resolved, &output_owner, &head)?;
    let topo = topo_sort(&targets).map_err(|cycle| {
        let names: Vec<&str> = cycle.iter().map(|&i| targets[i].name.as_str()).collect();
        lines.err_line(targets[cycle[0]].line, format!("cycle: {}", names.join(" → ")))
    })?;
    let slurm = read_executor(&lines, raw.executor.as_ref(), &targets)?;
    Ok(Pipeline {
        name: head.name,
        description: head.description,
        spec_path: path.to_path_buf(),
        artifacts: head.artifacts,
        out: head.out,
        stage_version: head.stage_version,
        targets,
        by_name,
        topo,
        slurm,
    })
}

/// `[executor.slurm]`, whose per-stage tables must name a stage of the spec.
fn read_executor(lines: &Lines, raw: Option<&RawExecutor>, targets: &[Target]) -> Result<Resources> {
    let Some(spec) = raw.and_then(|r| r.slurm.clone()) else {
        return Ok(Default::default());
    };
    let at = lines.src.find("[executor").unwrap_or(0);
    for stage in spec.stage.keys() {
        if !targets.iter().any(|t| &t.stage == stage) {
            return Err(lines.err(at, format!("[executor.slurm.stage.{stage}]: no target runs stage '{stage}'")));
        }
    }
    spec.check().map_err(|e| lines.err(at, e))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::spec::model::InputKind;

    fn parse_str(src: &str) -> Result<Pipeline> {
        parse(Path::new("t.toml"), src, &LoadOptions::default())
    }

    #[test]
    fn expands_matrices_axes_and_records() {
        let p = parse_str(
            r#"
[axes]
ds = [{ name = "mnist", arch = "simple-cnn" }, { name = "cifar-10", arch = "deep-cnn" }]
[target."mix-{ds}-{r|slug}"]
matrix = [{ ds = "ds", r = ["1:1", "2:1"] }, { ds = "ds[mnist]", r = ["9:1"] }]
command = "mix-build --real {ds}:train --ratio {r} --arch {ds.arch} --out {out}"
outputs = ["mix/{ds}-{r|slug}.st"]
"#,
        )
        .unwrap();
        let names: Vec<&str> = p.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["mix-mnist-1-1", "mix-mnist-2-1", "mix-cifar-10-1-1", "mix-cifar-10-2-1", "mix-mnist-9-1"]);
        let t = p.target("mix-cifar-10-2-1").unwrap();
        assert_eq!(
            t.key_args,
            ["--real", "cifar-10:train", "--ratio", "2:1", "--arch", "deep-cnn", "--out", "$OUT/mix/cifar-10-2-1.st"]
        );
        assert_eq!(t.args.last().unwrap(), "artifacts/.staging/mix-cifar-10-2-1/mix/cifar-10-2-1.st");
        assert!(matches!(&t.inputs[0].kind, InputKind::Dataset(d) if d.to_string() == "cifar-10:train"));
    }

    #[test]
    fn params_in_the_key_are_the_ones_a_target_uses() {
        let p = parse_str(
            r#"
[params]
gan_epochs = 5
clf_epochs = 2
[target.a]
command = "x --epochs {gan_epochs} --out {out}"
outputs = ["a"]
[target.b]
command = "y --in {in} --epochs {e} --out {out}"
inputs = ["a"]
outputs = ["b"]
params = { e = "{clf_epochs}" }
"#,
        )
        .unwrap();
        assert_eq!(p.targets[0].params, [("gan_epochs".to_string(), "5".to_string())].into());
        assert_eq!(p.targets[1].params, [("e".to_string(), "2".to_string())].into());
        assert_eq!(p.targets[1].deps, [0]);
        assert_eq!(p.targets[1].args[1], "artifacts/a");
    }

    /// A spec naming a CIFAR-10 axis value by `first-present`, read against a data dir.
    fn cifar_spec(data: &Path) -> Result<Pipeline> {
        let src = r#"
[axes]
dataset = [{ name = "mnist", clf = "simple-cnn" }, { name = { first-present = ["cifar-10", "cifar-10-jpeg"] }, clf = "deep-cnn" }]
[target."clf-{dataset}"]
matrix = { dataset = "dataset[cifar-10*]" }
command = "clf-train --train {dataset}:train --arch {dataset.clf} --out {out}"
outputs = ["clf/{dataset}.st"]
"#;
        let opts = LoadOptions { data_dir: Some(data.to_path_buf()), ..Default::default() };
        parse(Path::new("t.toml"), src, &opts)
    }

    #[test]
    fn first_present_takes_the_dataset_whose_files_are_there() {
        let dir = tempfile::tempdir().unwrap();
        // Neither present: the last, so that reading it names what is missing.
        assert_eq!(cifar_spec(dir.path()).unwrap().targets[0].name, "clf-cifar-10-jpeg");
        std::fs::create_dir_all(dir.path().join("cifar-10-jpeg")).unwrap();
        std::fs::write(dir.path().join("cifar-10-jpeg/cifar-10-jpeg.tar.gz"), b"").unwrap();
        let p = cifar_spec(dir.path()).unwrap();
        assert_eq!(p.targets[0].name, "clf-cifar-10-jpeg");
        assert_eq!(p.targets[0].key_args[..4], ["--train", "cifar-10-jpeg:train", "--arch", "deep-cnn"]);
        // The official batches present: they win.
        let b = dir.path().join("cifar-10/cifar-10-batches-bin");
        std::fs::create_dir_all(&b).unwrap();
        for n in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"] {
            std::fs::write(b.join(format!("{n}.bin")), b"").unwrap();
        }
        assert_eq!(cifar_spec(dir.path()).unwrap().targets[0].name, "clf-cifar-10");
    }

    #[test]
    fn first_present_refuses_what_is_not_a_dataset_list() {
        for bad in [r#"{ first-present = [] }"#, r#"{ first-present = ["nope"] }"#, r#"{ first = ["mnist"] }"#] {
            let src = format!(
                "[axes]\nd = [{{ name = {bad} }}]\n[target.a]\ncommand = \"x --out {{out}}\"\noutputs = [\"a\"]\n"
            );
            let e = parse(Path::new("t.toml"), &src, &LoadOptions::default()).unwrap_err().to_string();
            assert!(e.contains("t.toml:2") && e.contains("axis 'd'"), "{bad}: {e}");
        }
    }
}
