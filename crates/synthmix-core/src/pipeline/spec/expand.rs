//! The first phases of reading a spec: the TOML, the `[pipeline]` table,
//! axes and global parameters, and every target's matrix cells (each a
//! [`Pending`] target whose command waits for every path to be known).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::lines::Lines;
use super::matrix::{expand_matrix, matrix_size, role_templates, scalar_string, to_val};
use super::model::{glob_match, LoadOptions, Output, StageVersion, Target, Threads};
use super::resources::Resources;
use crate::data::DatasetName;
use crate::error::{Error, Result};
use crate::pipeline::template::{self, Ctx, Val};
use crate::terminal::clip;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSpec {
    pub(super) pipeline: Option<Spanned<RawPipeline>>,
    pub(super) axes: Option<BTreeMap<Spanned<String>, Spanned<Vec<toml::Value>>>>,
    pub(super) params: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    pub(super) target: Option<BTreeMap<Spanned<String>, Spanned<RawTarget>>>,
    // Not `Spanned`: toml gives no span to a table only dotted headers define.
    pub(super) executor: Option<RawExecutor>,
}

/// `[executor]`: how targets run other than as local processes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExecutor {
    pub(super) slurm: Option<Resources>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPipeline {
    name: Option<Spanned<String>>,
    description: Option<String>,
    artifacts: Option<Spanned<String>>,
    out: Option<Spanned<String>>,
    stage_version: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    description: Option<String>,
    command: Spanned<String>,
    matrix: Option<Spanned<toml::Value>>,
    inputs: Option<Spanned<toml::Value>>,
    outputs: Spanned<toml::Value>,
    params: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    threads: Option<Spanned<toml::Value>>,
}

/// The artifacts folder and the outputs' folder. `--artifacts DIR` moves
/// both: a relative `out` is rebased into DIR (`artifacts/quick` becomes
/// `DIR/quick`), so two runs with different `--artifacts` never share a file.
fn artifacts_and_out(
    flag: Option<&Path>,
    spec_artifacts: Option<PathBuf>,
    spec_out: Option<PathBuf>,
) -> (PathBuf, PathBuf) {
    let spec_artifacts = spec_artifacts.unwrap_or_else(|| PathBuf::from("artifacts"));
    match (flag, spec_out) {
        (None, out) => (spec_artifacts.clone(), out.unwrap_or(spec_artifacts)),
        (Some(dir), None) => (dir.to_path_buf(), dir.to_path_buf()),
        (Some(dir), Some(out)) if out.is_absolute() => (dir.to_path_buf(), out),
        (Some(dir), Some(out)) => {
            let rest = out.strip_prefix(&spec_artifacts).map(Path::to_path_buf).unwrap_or(out);
            (dir.to_path_buf(), dir.join(rest))
        }
    }
}

/// A target of one matrix cell, before its inputs are resolved and its
/// command rendered.
pub(super) struct Pending {
    pub(super) t: Target,
    pub(super) input_refs: Vec<(String, String, usize)>,
    pub(super) command: String,
    pub(super) ctx_vars: BTreeMap<String, Val>,
    pub(super) params_val: BTreeMap<String, Val>,
    pub(super) outputs_line: usize,
}

/// The `[pipeline]` table, resolved.
pub(super) struct Head {
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) artifacts: PathBuf,
    pub(super) out: PathBuf,
    pub(super) stage_version: StageVersion,
}

/// Target names matrix cells and parameters may not take.
pub(super) const BUILTIN_NAMES: [&str; 4] = ["in", "out", "target", "spec_dir"];

/// A global `[params]` entry: name, template, line.
pub(super) type GlobalParam = (String, String, usize);

pub(super) fn read_head(lines: &Lines, p: Option<&RawPipeline>, opts: &LoadOptions) -> Result<Head> {
    let name = p.and_then(|p| p.name.as_ref().map(|n| n.get_ref().clone())).unwrap_or_else(|| {
        lines.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into())
    });
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.contains(['/', '\\']) || name.starts_with('.') {
        let at = p.and_then(|p| p.name.as_ref().map(|n| n.span().start)).unwrap_or(0);
        return Err(
            lines.err(at, format!("pipeline name '{}' must be non-empty, at most {MAX_NAME_BYTES} bytes, without '/' and not start with '.'", clip(&name)))
        );
    }
    let spec_artifacts = p.and_then(|p| p.artifacts.as_ref()).map(|a| PathBuf::from(a.get_ref()));
    let spec_out = p.and_then(|p| p.out.as_ref()).map(|o| PathBuf::from(o.get_ref()));
    let (artifacts, out) = artifacts_and_out(opts.artifacts.as_deref(), spec_artifacts, spec_out);
    let stage_version = match p.and_then(|p| p.stage_version.as_ref()) {
        None => StageVersion::Semantic,
        Some(s) => match s.get_ref().as_str() {
            "semantic" => StageVersion::Semantic,
            "binary" => StageVersion::Binary,
            "cli" => StageVersion::Cli,
            other => {
                return Err(lines.err(
                    s.span().start,
                    format!("stage_version '{}' is not one of: semantic, binary, cli", clip(other)),
                ))
            }
        },
    };
    Ok(Head { name, description: p.and_then(|p| p.description.clone()), artifacts, out, stage_version })
}

pub(super) fn read_axes(lines: &Lines, raw: &RawSpec, opts: &LoadOptions) -> Result<BTreeMap<String, Vec<Val>>> {
    let mut axes = BTreeMap::new();
    for (k, v) in raw.axes.iter().flatten() {
        let at = v.span().start;
        let vals = v
            .get_ref()
            .iter()
            .map(|x| {
                let x =
                    choose_present(x, opts).map_err(|e| lines.err(at, format!("axis '{}': {e}", clip(k.get_ref()))))?;
                to_val(&x).map_err(|e| lines.err(at, format!("axis '{}': {e}", clip(k.get_ref()))))
            })
            .collect::<Result<Vec<_>>>()?;
        axes.insert(k.get_ref().clone(), vals);
    }
    Ok(axes)
}

/// An axis record whose `name` is `{ first-present = [DATASET, …] }` takes
/// the first dataset whose train and test files are in the data dir (the
/// last when none is, so that its reading names what is missing): a study
/// can use official files where a user has them and a copy otherwise, and
/// its target names, paths and reports say which it used.
fn choose_present(v: &toml::Value, opts: &LoadOptions) -> std::result::Result<toml::Value, String> {
    let Some(name) = v.as_table().and_then(|t| t.get("name")).and_then(toml::Value::as_table) else {
        return Ok(v.clone());
    };
    let bad = || "name = { first-present = [DATASET, …] } takes a non-empty list of dataset names".to_string();
    if name.len() != 1 {
        return Err(bad());
    }
    let list = name.get("first-present").and_then(toml::Value::as_array).filter(|a| !a.is_empty()).ok_or_else(bad)?;
    let names: Vec<&str> = list.iter().map(toml::Value::as_str).collect::<Option<_>>().ok_or_else(bad)?;
    let data = crate::data::DataOptions::new(crate::data::resolve_data_dir(opts.data_dir.as_deref()));
    let present = |d: &str| {
        ["train", "test"]
            .iter()
            .all(|s| DatasetName::parse(&format!("{d}:{s}")).is_ok_and(|n| n.resolve(&data).is_ok()))
    };
    for d in &names {
        DatasetName::parse(&format!("{d}:train")).map_err(|e| format!("first-present: {e}"))?;
    }
    let chosen = names.iter().find(|d| present(d)).unwrap_or(names.last().expect("non-empty"));
    let mut t = v.as_table().expect("a table").clone();
    t.insert("name".into(), toml::Value::String(chosen.to_string()));
    Ok(toml::Value::Table(t))
}

pub(super) fn read_global_params(lines: &Lines, raw: &RawSpec) -> Result<Vec<GlobalParam>> {
    let mut global_params = Vec::new();
    for (k, v) in raw.params.iter().flatten() {
        let s = scalar_string(v.get_ref()).ok_or_else(|| {
            lines.err(v.span().start, format!("parameter '{}' must be a string, number or boolean", clip(k.get_ref())))
        })?;
        global_params.push((k.get_ref().clone(), s, lines.line(k.span().start)));
    }
    Ok(global_params)
}

/// Every `[target.NAME]` table's matrix cells, in spec order.
pub(super) fn expand_targets(
    lines: &Lines,
    raw: &RawSpec,
    axes: &BTreeMap<String, Vec<Val>>,
    global_params: &[GlobalParam],
    spec_dir: &Path,
    max_targets: usize,
) -> Result<Vec<Pending>> {
    let mut raw_targets: Vec<(&Spanned<String>, &Spanned<RawTarget>)> = raw.target.iter().flatten().collect();
    raw_targets.sort_by_key(|(k, _)| k.span().start);
    if raw_targets.is_empty() {
        return Err(lines.err(0, "the spec defines no targets ([target.NAME] tables)"));
    }
    check_size(lines, &raw_targets, axes, max_targets)?;
    let mut pending = Vec::new();
    for (key, rt) in raw_targets {
        for cell in expand_matrix(lines, rt.get_ref().matrix.as_ref(), axes)? {
            pending.push(expand_cell(lines, key, rt.get_ref(), cell, global_params, spec_dir)?);
        }
    }
    Ok(pending)
}

/// Refuses a spec whose matrices make more than `cap` targets, counted
/// before any is made (a million would take gigabytes), at the line of the
/// largest matrix.
fn check_size(
    lines: &Lines,
    raw_targets: &[(&Spanned<String>, &Spanned<RawTarget>)],
    axes: &BTreeMap<String, Vec<Val>>,
    cap: usize,
) -> Result<()> {
    let (mut total, mut largest): (Option<u64>, (Option<u64>, usize)) = (Some(0), (Some(0), 0));
    for (key, rt) in raw_targets {
        let n = matrix_size(lines, rt.get_ref().matrix.as_ref(), axes)?;
        if n.is_none_or(|n| largest.0.is_some_and(|l| n > l)) {
            largest = (n, key.span().start);
        }
        total = total.zip(n).and_then(|(a, b)| a.checked_add(b));
    }
    if total.is_some_and(|t| t <= cap as u64) {
        return Ok(());
    }
    let count = total.map_or_else(|| format!("more than {}", u64::MAX), |t| t.to_string());
    Err(lines.err(
        largest.1,
        format!("the matrices make {count} targets, over the cap of {cap} (--max-targets N allows more)"),
    ))
}

/// The parameters of one matrix cell: the global ones, then the target's
/// (which may use matrix values and globals).
fn cell_params(
    lines: &Lines,
    r: &RawTarget,
    cell: &BTreeMap<String, Val>,
    global_params: &[GlobalParam],
) -> Result<BTreeMap<String, Val>> {
    let mut params_val: BTreeMap<String, Val> = BTreeMap::new();
    let ctx = Ctx::new(vec![cell]);
    for (k, v, line) in global_params {
        if cell.contains_key(k) {
            return Err(lines.err_line(*line, format!("parameter '{}' has the name of a matrix variable", clip(k))));
        }
        let s =
            template::render(v, &ctx).map_err(|e| lines.err_line(*line, format!("parameter '{}': {e}", clip(k))))?;
        params_val.insert(k.clone(), Val::Scalar(s));
    }
    let globals = params_val.clone();
    for (k, v) in r.params.iter().flatten() {
        let at = v.span().start;
        let s = scalar_string(v.get_ref()).ok_or_else(|| {
            lines.err(at, format!("parameter '{}' must be a string, number or boolean", clip(k.get_ref())))
        })?;
        if cell.contains_key(k.get_ref()) || BUILTIN_NAMES.contains(&k.get_ref().as_str()) {
            return Err(lines.err(
                k.span().start,
                format!("parameter '{}' has the name of a matrix variable or a built-in", clip(k.get_ref())),
            ));
        }
        let ctx = Ctx::new(vec![cell, &globals]);
        let s =
            template::render(&s, &ctx).map_err(|e| lines.err(at, format!("parameter '{}': {e}", clip(k.get_ref()))))?;
        params_val.insert(k.get_ref().clone(), Val::Scalar(s));
    }
    Ok(params_val)
}

/// The longest target name: it names files (logs, state), whose names
/// the file system keeps under 256 bytes.
const MAX_NAME_BYTES: usize = 200;

fn check_target_name(lines: &Lines, key: &Spanned<String>, tname: &str) -> Result<()> {
    if tname.len() > MAX_NAME_BYTES {
        return Err(
            lines.err(key.span().start, format!("target name '{}' is longer than {MAX_NAME_BYTES} bytes", clip(tname)))
        );
    }
    if tname.chars().any(crate::terminal::is_unsafe) {
        return Err(lines.err(
            key.span().start,
            format!(
                "target name '{}' holds a control, bidirectional or invisible character: a name is printed \
                 on every status line",
                crate::terminal::escape(&clip(tname))
            ),
        ));
    }
    if tname.is_empty()
        || tname.contains(['/', '\\', '*', '?', ' '])
        || tname.starts_with('.')
        || DatasetName::parse(tname).is_ok()
    {
        return Err(lines.err(
            key.span().start,
            format!("target name '{}' must be non-empty, without '/', '*', '?' or spaces, not start with '.', and not look like DATASET:SPLIT", clip(tname)),
        ));
    }
    Ok(())
}

/// A target's declared outputs, rendered and checked to stay inside the out folder.
fn render_outputs(lines: &Lines, r: &RawTarget, ctx: &Ctx, tname: &str) -> Result<Vec<Output>> {
    let at = r.outputs.span().start;
    let line = lines.line(at);
    let mut outputs = Vec::new();
    for (role, list) in role_templates(lines, &r.outputs, "outputs")? {
        for (j, t) in list.iter().enumerate() {
            let rel = template::render(t, ctx).map_err(|e| lines.err(at, format!("outputs: {e}")))?;
            let relp = PathBuf::from(&rel);
            if rel.is_empty()
                || relp.is_absolute()
                || relp.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(lines.err(
                    at,
                    format!(
                        "output '{}' must be a relative path inside the out folder (no '..', no leading '/')",
                        clip(&rel)
                    ),
                ));
            }
            let role = if list.len() > 1 { format!("{role}.{j}") } else { role.clone() };
            outputs.push(Output { role, rel: relp, line });
        }
    }
    if outputs.is_empty() {
        return Err(lines.err(at, format!("target '{}' declares no outputs", clip(tname))));
    }
    Ok(outputs)
}

/// A target's declared inputs as (role, reference, line), rendered.
fn render_input_refs(lines: &Lines, r: &RawTarget, ctx: &Ctx) -> Result<Vec<(String, String, usize)>> {
    let mut input_refs = Vec::new();
    if let Some(inp) = &r.inputs {
        let line = lines.line(inp.span().start);
        for (role, list) in role_templates(lines, inp, "inputs")? {
            for t in list {
                let s = template::render(&t, ctx).map_err(|e| lines.err(inp.span().start, format!("inputs: {e}")))?;
                input_refs.push((role.clone(), s, line));
            }
        }
    }
    Ok(input_refs)
}

fn read_threads(lines: &Lines, r: &RawTarget) -> Result<Option<Threads>> {
    let Some(v) = &r.threads else { return Ok(None) };
    Ok(Some(match v.get_ref() {
        toml::Value::String(a) if a == "all" => Threads::All,
        toml::Value::Integer(n) if *n >= 1 => Threads::Exactly(*n as usize),
        _ => return Err(lines.err(v.span().start, "threads must be a whole number ≥ 1 or \"all\"")),
    }))
}

/// One matrix cell of a target: its name, parameters, outputs and input
/// references (its command is rendered once every path is known).
fn expand_cell(
    lines: &Lines,
    key: &Spanned<String>,
    r: &RawTarget,
    cell: BTreeMap<String, Val>,
    global_params: &[GlobalParam],
    spec_dir: &Path,
) -> Result<Pending> {
    let params_val = cell_params(lines, r, &cell, global_params)?;
    let mut builtins: BTreeMap<String, Val> = BTreeMap::new();
    builtins.insert("spec_dir".into(), Val::Scalar(spec_dir.display().to_string()));
    let ctx = Ctx::new(vec![&builtins, &cell, &params_val]);
    let tname =
        template::render(key.get_ref(), &ctx).map_err(|e| lines.err(key.span().start, format!("target name: {e}")))?;
    check_target_name(lines, key, &tname)?;
    builtins.insert("target".into(), Val::Scalar(tname.clone()));
    let ctx = Ctx::new(vec![&builtins, &cell, &params_val]);
    let outputs = render_outputs(lines, r, &ctx, &tname)?;
    let input_refs = render_input_refs(lines, r, &ctx)?;
    let used_by_io: BTreeSet<String> = ctx.used.borrow().clone();
    let vars: BTreeMap<String, String> = cell.iter().map(|(k, v)| (k.clone(), v.display())).collect();
    let mut ctx_vars = builtins.clone();
    ctx_vars.extend(cell);
    let t = Target {
        name: tname,
        description: r.description.clone(),
        line: lines.line(key.span().start),
        command_line: lines.line(r.command.span().start),
        stage: String::new(),
        args: vec![],
        key_args: vec![],
        params: params_val
            .iter()
            .filter(|(k, _)| used_by_io.contains(*k))
            .map(|(k, v)| (k.clone(), v.display()))
            .collect(),
        vars,
        inputs: vec![],
        outputs,
        deps: vec![],
        threads: read_threads(lines, r)?,
    };
    let outputs_line = lines.line(r.outputs.span().start);
    Ok(Pending { t, input_refs, command: r.command.get_ref().clone(), ctx_vars, params_val, outputs_line })
}

/// Skipped targets leave the graph; returns their names.
pub(super) fn apply_skip(pending: &mut Vec<Pending>, opts: &LoadOptions, path: &Path) -> Result<BTreeSet<String>> {
    let mut skipped: BTreeSet<String> = BTreeSet::new();
    if opts.skip.is_empty() {
        return Ok(skipped);
    }
    pending.retain(|p| {
        let skip = opts.skip.iter().any(|g| glob_match(g, &p.t.name));
        if skip {
            skipped.insert(p.t.name.clone());
        }
        !skip
    });
    for g in &opts.skip {
        if !skipped.iter().any(|n| glob_match(g, n)) {
            return Err(Error::Invalid(format!("{}: --skip '{}' matches no target", path.display(), clip(g))));
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_flag_moves_the_outputs_too() {
        let p = |s: &str| PathBuf::from(s);
        let f = |flag: Option<&str>, a: Option<&str>, o: Option<&str>| {
            artifacts_and_out(flag.map(Path::new), a.map(p), o.map(p))
        };
        assert_eq!(f(None, None, None), (p("artifacts"), p("artifacts")));
        assert_eq!(f(None, None, Some("artifacts/quick")), (p("artifacts"), p("artifacts/quick")));
        assert_eq!(f(Some("/x/a"), None, Some("artifacts/quick")), (p("/x/a"), p("/x/a/quick")));
        assert_eq!(f(Some("b"), Some("store"), Some("store")), (p("b"), p("b")));
        assert_eq!(f(Some("b"), None, Some("results")), (p("b"), p("b/results")));
        assert_eq!(f(Some("b"), None, None), (p("b"), p("b")));
        assert_eq!(f(Some("b"), None, Some("/abs/out")), (p("b"), p("/abs/out")));
    }
}
