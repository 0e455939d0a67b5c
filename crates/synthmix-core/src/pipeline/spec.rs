//! Pipeline specs: parsing, matrix expansion and validation.
//!
//! ```toml
//! [pipeline]
//! name = "quick"
//! out = "artifacts/quick"          # where outputs are placed (default: the artifacts dir)
//!
//! [axes]                           # value lists that several targets' matrices share
//! seed = [0, 1, 2]
//! mix = [{ name = "O", ratio = "1:0" }, { name = "1-1", ratio = "1:1" }]
//!
//! [params]                         # defaults every target may use as {name}
//! clf_epochs = 2
//!
//! [target."clf-{dataset}-{mix}-s{seed}"]
//! matrix = { dataset = ["mnist"], mix = "mix", seed = "seed" }   # a string names an axis ("mix[O, 1-1]": some of it)
//! command = "clf-train --train {in.train} --epochs {epochs} --seed {seed} --out {out}"
//! inputs = { train = "mix-{dataset}-{mix}" }                     # a target, DATASET:SPLIT or file
//! outputs = ["clf/{dataset}-{mix}-s{seed}.safetensors"]
//! params = { epochs = "{clf_epochs}" }
//! ```
//!
//! Every error names the spec file and line. Relative paths (`artifacts`,
//! `out`, file inputs) are relative to the working directory; `{spec_dir}` is
//! the spec's folder.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::template::{self, Ctx, Val};
use crate::data::DatasetName;
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    pipeline: Option<Spanned<RawPipeline>>,
    axes: Option<BTreeMap<Spanned<String>, Spanned<Vec<toml::Value>>>>,
    params: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    target: Option<BTreeMap<Spanned<String>, Spanned<RawTarget>>>,
    // Not `Spanned`: toml gives no span to a table only dotted headers define.
    executor: Option<RawExecutor>,
}

/// `[executor]`: how targets run other than as local processes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    slurm: Option<super::slurm::SlurmSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: Option<Spanned<String>>,
    description: Option<String>,
    artifacts: Option<Spanned<String>>,
    out: Option<Spanned<String>>,
    stage_version: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    description: Option<String>,
    command: Spanned<String>,
    matrix: Option<Spanned<toml::Value>>,
    inputs: Option<Spanned<toml::Value>>,
    outputs: Spanned<toml::Value>,
    params: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    threads: Option<Spanned<toml::Value>>,
}

/// Threads a target's stage gets (`threads = 4` or `threads = "all"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Every core: the target waits until no other stage runs (a bottleneck
    /// that everything else depends on, e.g. the generator).
    All,
    /// This many (at most the number of cores); waits until they are free.
    Exactly(usize),
}

/// How a stage's version enters the cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageVersion {
    /// The default: a built-in stage's declared semantic version and the
    /// artifact format (`STAGE --stage-version`, e.g. `clf-train/1+format1`),
    /// bumped whenever what the stage computes changes and guarded by golden
    /// tests, so a rebuild or a new commit keeps every result whose stage did
    /// not change. Other stages (the runner itself: `synthmix report`, …)
    /// are keyed by their executable's BLAKE3, as with `Binary`.
    Semantic,
    /// BLAKE3 of the stage's executable: any rebuild that changes it reruns
    /// its targets.
    Binary,
    /// The stage's `--version` line (e.g. `clf-train 0.1.0`): reuse results
    /// across rebuilds until the version number changes.
    Cli,
}

/// What a target reads.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    /// Declared outputs of another target (all of them, or the one of `role`).
    Target { index: usize, role: Option<String> },
    /// A real dataset split, resolved in the data dir.
    Dataset(DatasetName),
    /// A file that no target makes.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Input {
    /// The role name (`{in.ROLE}`); list inputs use `0`, `1`, …; inputs found
    /// in the command but not declared use `auto`.
    pub role: String,
    /// As written (after placeholders).
    pub reference: String,
    pub kind: InputKind,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Output {
    pub role: String,
    /// Path relative to the pipeline's `out` folder.
    pub rel: PathBuf,
    pub line: usize,
}

/// One concrete target after matrix expansion.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub description: Option<String>,
    /// Line of the target's table header.
    pub line: usize,
    pub command_line: usize,
    /// The stage: the command's first word (a binary beside `synthmix`).
    pub stage: String,
    /// Arguments after the stage name, outputs in the staging folder.
    pub args: Vec<String>,
    /// Arguments as hashed into the cache key: outputs as `$OUT/REL`.
    pub key_args: Vec<String>,
    /// The parameters the target uses, rendered.
    pub params: BTreeMap<String, String>,
    /// The matrix values that made this target.
    pub vars: BTreeMap<String, String>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    /// Targets this one reads from (sorted, unique).
    pub deps: Vec<usize>,
    /// Threads asked for; `None`: a fair share of the free cores.
    pub threads: Option<Threads>,
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

/// A validated, expanded pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    pub spec_path: PathBuf,
    pub artifacts: PathBuf,
    pub out: PathBuf,
    pub stage_version: StageVersion,
    /// In spec order (a valid topological order is in [`Pipeline::topo_order`]).
    pub targets: Vec<Target>,
    pub by_name: HashMap<String, usize>,
    pub topo: Vec<usize>,
    /// `[executor.slurm]`: the resources of `run --executor slurm` jobs.
    pub slurm: super::slurm::SlurmSpec,
}

impl Pipeline {
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.by_name.get(name).map(|&i| &self.targets[i])
    }

    /// Where an output of a target is placed.
    pub fn final_path(&self, o: &Output) -> PathBuf {
        self.out.join(&o.rel)
    }

    /// The staging folder a target's command writes into.
    pub fn staging_dir(&self, t: &Target) -> PathBuf {
        self.artifacts.join(".staging").join(&t.name)
    }

    pub fn log_path(&self, t: &Target) -> PathBuf {
        self.artifacts.join("logs").join(&self.name).join(format!("{}.log", t.name))
    }

    /// A topological order (dependencies first), stable with respect to spec order.
    pub fn topo_order(&self) -> &[usize] {
        &self.topo
    }

    /// Every target named by `patterns` (names or globs with `*`/`?`) and all
    /// their dependencies, in topological order; every target when empty.
    pub fn select(&self, patterns: &[String]) -> Result<(Vec<usize>, BTreeSet<usize>)> {
        if patterns.is_empty() {
            let all: BTreeSet<usize> = (0..self.targets.len()).collect();
            return Ok((self.topo.clone(), all));
        }
        let mut named = BTreeSet::new();
        for p in patterns {
            let hits: Vec<usize> =
                self.targets.iter().enumerate().filter(|(_, t)| glob_match(p, &t.name)).map(|(i, _)| i).collect();
            if hits.is_empty() {
                let close: Vec<&str> = self
                    .targets
                    .iter()
                    .map(|t| t.name.as_str())
                    .filter(|n| n.contains(p.trim_matches(['*', '?'])))
                    .take(5)
                    .collect();
                return Err(Error::Invalid(format!(
                    "{}: no target named '{p}'{}",
                    self.spec_path.display(),
                    if close.is_empty() { String::new() } else { format!(" (similar: {})", close.join(", ")) }
                )));
            }
            named.extend(hits);
        }
        let mut want = BTreeSet::new();
        let mut stack: Vec<usize> = named.iter().copied().collect();
        while let Some(i) = stack.pop() {
            if want.insert(i) {
                stack.extend(self.targets[i].deps.iter().copied());
            }
        }
        Ok((self.topo.iter().copied().filter(|i| want.contains(i)).collect(), named))
    }

    /// Targets that (transitively) read `i`'s outputs.
    pub fn dependants(&self, i: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut stack = vec![i];
        while let Some(j) = stack.pop() {
            for (k, t) in self.targets.iter().enumerate() {
                if t.deps.contains(&j) && out.insert(k) {
                    stack.push(k);
                }
            }
        }
        out
    }
}

/// `*` and `?` glob matching of target names.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn m(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], n) || (!n.is_empty() && m(p, &n[1..])),
            (Some('?'), Some(_)) => m(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => m(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    m(&p, &n)
}

/// Line numbers from byte offsets.
struct Lines<'a> {
    path: &'a Path,
    src: &'a str,
}

impl Lines<'_> {
    fn line(&self, offset: usize) -> usize {
        self.src[..offset.min(self.src.len())].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn err(&self, offset: usize, msg: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}:{}: {msg}", self.path.display(), self.line(offset)))
    }

    fn err_line(&self, line: usize, msg: impl std::fmt::Display) -> Error {
        Error::Invalid(format!("{}:{line}: {msg}", self.path.display()))
    }
}

/// Options that are not in the spec.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Overrides `[pipeline] artifacts`.
    pub artifacts: Option<PathBuf>,
    /// Check that file inputs exist.
    pub check_files: bool,
    /// Targets (names or globs) left out of the graph, as if the spec did
    /// not define them; a glob input simply matches fewer targets.
    pub skip: Vec<String>,
}

/// Reads, expands and validates a spec.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Pipeline> {
    let src = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let p = parse(path, &src, opts)?;
    check_commands(&p)?;
    Ok(p)
}

/// Parses every built-in stage's expanded command with that stage's own
/// flags, so a misspelt flag or a bad value fails before anything runs
/// rather than when the target is reached, hours in.
pub fn check_commands(p: &Pipeline) -> Result<()> {
    for t in &p.targets {
        let Some(stage) = crate::stages::find(&t.stage) else { continue };
        let cmd = (stage.command)();
        let argv: Vec<std::ffi::OsString> =
            std::iter::once(t.stage.clone()).chain(t.args.iter().cloned()).map(Into::into).collect();
        let argv = crate::stages::config::expand(&cmd, argv).map_err(|e| {
            Error::Invalid(format!("{}:{}: target '{}': {e}", p.spec_path.display(), t.command_line, t.name))
        })?;
        if let Err(e) = cmd.args_override_self(true).try_get_matches_from(argv) {
            // clap's message, on one line: its first line and the indented ones after it
            // (e.g. the missing required flags), without the usage and tips.
            let text = e.to_string();
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or("").trim_start_matches("error: ").to_string();
            for l in lines.take_while(|l| l.starts_with("  ")) {
                first.push(' ');
                first.push_str(l.trim());
            }
            let why = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    "asks for --help or --version instead of running".to_string()
                }
                _ => first,
            };
            return Err(Error::Invalid(format!(
                "{}:{}: target '{}': {} {why}",
                p.spec_path.display(),
                t.command_line,
                t.name,
                t.stage
            )));
        }
    }
    Ok(())
}

fn scalar_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn to_val(v: &toml::Value) -> std::result::Result<Val, String> {
    if let Some(s) = scalar_string(v) {
        return Ok(Val::Scalar(s));
    }
    match v {
        toml::Value::Table(t) => {
            let mut m = BTreeMap::new();
            for (k, x) in t {
                let s = scalar_string(x).ok_or_else(|| format!("field '{k}' must be a string or number"))?;
                m.insert(k.clone(), s);
            }
            Ok(Val::Record(m))
        }
        other => Err(format!("a matrix value must be a string, number or inline table, not {}", other.type_str())),
    }
}

/// One `(var → value)` assignment per matrix cell.
fn expand_matrix(
    lines: &Lines,
    matrix: Option<&Spanned<toml::Value>>,
    axes: &BTreeMap<String, Vec<Val>>,
) -> Result<Vec<BTreeMap<String, Val>>> {
    let Some(m) = matrix else {
        return Ok(vec![BTreeMap::new()]);
    };
    let at = m.span().start;
    let products: Vec<&toml::map::Map<String, toml::Value>> = match m.get_ref() {
        toml::Value::Table(t) => vec![t],
        toml::Value::Array(a) => a
            .iter()
            .map(|x| x.as_table().ok_or_else(|| lines.err(at, "matrix: a list of matrices must hold tables")))
            .collect::<Result<_>>()?,
        _ => {
            return Err(
                lines.err(at, "matrix must be a table (var = [values] or var = \"AXIS\") or a list of such tables")
            )
        }
    };
    let mut cells = Vec::new();
    let mut keys: Option<BTreeSet<String>> = None;
    for t in products {
        let these: BTreeSet<String> = t.keys().cloned().collect();
        if let Some(k) = &keys {
            if *k != these {
                return Err(lines.err(at, "matrix: every table of a list must name the same variables"));
            }
        }
        keys = Some(these);
        let mut acc: Vec<BTreeMap<String, Val>> = vec![BTreeMap::new()];
        for (var, vals) in t {
            if matches!(var.as_str(), "in" | "out" | "target" | "spec_dir") {
                return Err(lines.err(at, format!("matrix variable '{var}' is reserved")));
            }
            let values: Vec<Val> = match vals {
                toml::Value::String(spec) => {
                    // "AXIS" or "AXIS[name, name]" (the values of the axis with those names).
                    let (axis, only) = match spec.split_once('[') {
                        Some((a, rest)) => {
                            let sel = rest.strip_suffix(']').ok_or_else(|| {
                                lines.err(at, format!("matrix '{var}': '{spec}' lacks its closing ']'"))
                            })?;
                            (a.trim(), Some(sel.split(',').map(|x| x.trim().to_string()).collect::<Vec<_>>()))
                        }
                        None => (spec.trim(), None),
                    };
                    let all = axes.get(axis).ok_or_else(|| {
                        lines.err(at, format!("matrix: '{var}' names axis '{axis}', which [axes] does not define"))
                    })?;
                    match only {
                        None => all.clone(),
                        Some(names) => {
                            for n in &names {
                                if !all.iter().any(|v| &v.display() == n) {
                                    return Err(lines
                                        .err(at, format!("matrix '{var}': axis '{axis}' has no value named '{n}'")));
                                }
                            }
                            all.iter().filter(|v| names.contains(&v.display())).cloned().collect()
                        }
                    }
                }
                toml::Value::Array(a) => a
                    .iter()
                    .map(|x| to_val(x).map_err(|e| lines.err(at, format!("matrix '{var}': {e}"))))
                    .collect::<Result<_>>()?,
                _ => {
                    return Err(lines.err(at, format!("matrix '{var}' must be a list of values or the name of an axis")))
                }
            };
            if values.is_empty() {
                return Err(lines.err(at, format!("matrix '{var}' has no values")));
            }
            acc = acc
                .into_iter()
                .flat_map(|cell| {
                    values.iter().map(move |v| {
                        let mut c = cell.clone();
                        c.insert(var.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        cells.extend(acc);
    }
    Ok(cells)
}

/// `[a, b]` → roles `0`, `1`; `{ x = a, y = [b, c] }` → roles `x`, `y`.
fn role_templates(lines: &Lines, v: &Spanned<toml::Value>, what: &str) -> Result<Vec<(String, Vec<String>)>> {
    let at = v.span().start;
    let s = |x: &toml::Value| {
        x.as_str().map(str::to_string).ok_or_else(|| lines.err(at, format!("{what}: entries must be strings")))
    };
    match v.get_ref() {
        toml::Value::String(one) => Ok(vec![("0".into(), vec![one.clone()])]),
        toml::Value::Array(a) => a.iter().enumerate().map(|(i, x)| Ok((i.to_string(), vec![s(x)?]))).collect(),
        toml::Value::Table(t) => t
            .iter()
            .map(|(role, x)| {
                let list = match x {
                    toml::Value::Array(a) => a.iter().map(s).collect::<Result<Vec<_>>>()?,
                    other => vec![s(other)?],
                };
                Ok((role.clone(), list))
            })
            .collect(),
        _ => Err(lines.err(at, format!("{what} must be a list of strings or a table of role = string or list"))),
    }
}

struct Pending {
    t: Target,
    input_refs: Vec<(String, String, usize)>,
    command: String,
    ctx_vars: BTreeMap<String, Val>,
    params_val: BTreeMap<String, Val>,
    outputs_line: usize,
}

/// The `[pipeline]` table, resolved.
struct Head {
    name: String,
    description: Option<String>,
    artifacts: PathBuf,
    out: PathBuf,
    stage_version: StageVersion,
}

/// Target names matrix cells and parameters may not take.
const BUILTIN_NAMES: [&str; 4] = ["in", "out", "target", "spec_dir"];

/// A global `[params]` entry: name, template, line.
type GlobalParam = (String, String, usize);

/// Where each output file (normalised path) comes from: target index and role.
type OutputOwners = HashMap<PathBuf, (usize, String)>;

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
    let axes = read_axes(&lines, &raw)?;
    let global_params = read_global_params(&lines, &raw)?;
    let spec_dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let mut pending = expand_targets(&lines, &raw, &axes, &global_params, &spec_dir)?;
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
fn read_executor(lines: &Lines, raw: Option<&RawExecutor>, targets: &[Target]) -> Result<super::slurm::SlurmSpec> {
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

fn read_head(lines: &Lines, p: Option<&RawPipeline>, opts: &LoadOptions) -> Result<Head> {
    let name = p.and_then(|p| p.name.as_ref().map(|n| n.get_ref().clone())).unwrap_or_else(|| {
        lines.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "pipeline".into())
    });
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        let at = p.and_then(|p| p.name.as_ref().map(|n| n.span().start)).unwrap_or(0);
        return Err(
            lines.err(at, format!("pipeline name '{name}' must be non-empty, without '/' and not start with '.'"))
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
                return Err(
                    lines.err(s.span().start, format!("stage_version '{other}' is not one of: semantic, binary, cli"))
                )
            }
        },
    };
    Ok(Head { name, description: p.and_then(|p| p.description.clone()), artifacts, out, stage_version })
}

fn read_axes(lines: &Lines, raw: &RawSpec) -> Result<BTreeMap<String, Vec<Val>>> {
    let mut axes = BTreeMap::new();
    for (k, v) in raw.axes.iter().flatten() {
        let vals = v
            .get_ref()
            .iter()
            .map(|x| to_val(x).map_err(|e| lines.err(v.span().start, format!("axis '{}': {e}", k.get_ref()))))
            .collect::<Result<Vec<_>>>()?;
        axes.insert(k.get_ref().clone(), vals);
    }
    Ok(axes)
}

fn read_global_params(lines: &Lines, raw: &RawSpec) -> Result<Vec<GlobalParam>> {
    let mut global_params = Vec::new();
    for (k, v) in raw.params.iter().flatten() {
        let s = scalar_string(v.get_ref()).ok_or_else(|| {
            lines.err(v.span().start, format!("parameter '{}' must be a string, number or boolean", k.get_ref()))
        })?;
        global_params.push((k.get_ref().clone(), s, lines.line(k.span().start)));
    }
    Ok(global_params)
}

/// Every `[target.NAME]` table's matrix cells, in spec order.
fn expand_targets(
    lines: &Lines,
    raw: &RawSpec,
    axes: &BTreeMap<String, Vec<Val>>,
    global_params: &[GlobalParam],
    spec_dir: &Path,
) -> Result<Vec<Pending>> {
    let mut raw_targets: Vec<(&Spanned<String>, &Spanned<RawTarget>)> = raw.target.iter().flatten().collect();
    raw_targets.sort_by_key(|(k, _)| k.span().start);
    if raw_targets.is_empty() {
        return Err(lines.err(0, "the spec defines no targets ([target.NAME] tables)"));
    }
    let mut pending = Vec::new();
    for (key, rt) in raw_targets {
        for cell in expand_matrix(lines, rt.get_ref().matrix.as_ref(), axes)? {
            pending.push(expand_cell(lines, key, rt.get_ref(), cell, global_params, spec_dir)?);
        }
    }
    Ok(pending)
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
            return Err(lines.err_line(*line, format!("parameter '{k}' has the name of a matrix variable")));
        }
        let s = template::render(v, &ctx).map_err(|e| lines.err_line(*line, format!("parameter '{k}': {e}")))?;
        params_val.insert(k.clone(), Val::Scalar(s));
    }
    let globals = params_val.clone();
    for (k, v) in r.params.iter().flatten() {
        let at = v.span().start;
        let s = scalar_string(v.get_ref())
            .ok_or_else(|| lines.err(at, format!("parameter '{}' must be a string, number or boolean", k.get_ref())))?;
        if cell.contains_key(k.get_ref()) || BUILTIN_NAMES.contains(&k.get_ref().as_str()) {
            return Err(lines.err(
                k.span().start,
                format!("parameter '{}' has the name of a matrix variable or a built-in", k.get_ref()),
            ));
        }
        let ctx = Ctx::new(vec![cell, &globals]);
        let s = template::render(&s, &ctx).map_err(|e| lines.err(at, format!("parameter '{}': {e}", k.get_ref())))?;
        params_val.insert(k.get_ref().clone(), Val::Scalar(s));
    }
    Ok(params_val)
}

fn check_target_name(lines: &Lines, key: &Spanned<String>, tname: &str) -> Result<()> {
    if tname.is_empty()
        || tname.contains(['/', '\\', '*', '?', ' '])
        || tname.starts_with('.')
        || DatasetName::parse(tname).is_ok()
    {
        return Err(lines.err(
            key.span().start,
            format!("target name '{tname}' must be non-empty, without '/', '*', '?' or spaces, not start with '.', and not look like DATASET:SPLIT"),
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
                    format!("output '{rel}' must be a relative path inside the out folder (no '..', no leading '/')"),
                ));
            }
            let role = if list.len() > 1 { format!("{role}.{j}") } else { role.clone() };
            outputs.push(Output { role, rel: relp, line });
        }
    }
    if outputs.is_empty() {
        return Err(lines.err(at, format!("target '{tname}' declares no outputs")));
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
fn apply_skip(pending: &mut Vec<Pending>, opts: &LoadOptions, path: &Path) -> Result<BTreeSet<String>> {
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
            return Err(Error::Invalid(format!("{}: --skip '{g}' matches no target", path.display())));
        }
    }
    Ok(skipped)
}

/// Target index by name; a name made twice is an error.
fn index_names(lines: &Lines, pending: &[Pending]) -> Result<HashMap<String, usize>> {
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        if let Some(&j) = by_name.get(&p.t.name) {
            return Err(lines.err_line(
                p.t.line,
                format!(
                    "target name '{}' is made twice (first at line {}): put every matrix variable in the name",
                    p.t.name, pending[j].t.line
                ),
            ));
        }
        by_name.insert(p.t.name.clone(), i);
    }
    Ok(by_name)
}

/// The owner of every output file; a file made by two targets is an error.
fn index_outputs(lines: &Lines, pending: &[Pending], out: &Path) -> Result<OutputOwners> {
    let mut output_owner: OutputOwners = HashMap::new();
    for (i, p) in pending.iter().enumerate() {
        for o in &p.t.outputs {
            let fp = normalize(&out.join(&o.rel));
            if let Some((j, _)) = output_owner.get(&fp) {
                return Err(lines.err_line(
                    p.outputs_line,
                    format!(
                        "output {} of target '{}' is also an output of target '{}' (line {})",
                        fp.display(),
                        p.t.name,
                        pending[*j].t.name,
                        pending[*j].t.line
                    ),
                ));
            }
            output_owner.insert(fp, (i, o.role.clone()));
        }
    }
    Ok(output_owner)
}

/// What an input reference names: a target (or one of its outputs), targets
/// matching a glob, a dataset, or another target's output file; `None` if none.
fn resolve_reference(
    reference: &str,
    by_name: &HashMap<String, usize>,
    pending: &[Pending],
    output_owner: &OutputOwners,
) -> Option<Vec<InputKind>> {
    if let Some(&i) = by_name.get(reference) {
        return Some(vec![InputKind::Target { index: i, role: None }]);
    }
    if let Some((n, role)) = reference.rsplit_once(':') {
        if let Some(&i) = by_name.get(n) {
            return Some(vec![InputKind::Target { index: i, role: Some(role.to_string()) }]);
        }
    }
    if reference.contains(['*', '?']) {
        let hits: Vec<InputKind> = pending
            .iter()
            .enumerate()
            .filter(|(_, p)| glob_match(reference, &p.t.name))
            .map(|(i, _)| InputKind::Target { index: i, role: None })
            .collect();
        return if hits.is_empty() { None } else { Some(hits) };
    }
    if let Ok(d) = DatasetName::parse(reference) {
        return Some(vec![InputKind::Dataset(d)]);
    }
    if let Some((i, role)) = output_owner.get(&normalize(Path::new(reference))) {
        return Some(vec![InputKind::Target { index: *i, role: Some(role.clone()) }]);
    }
    None
}

/// Every target's declared inputs, resolved (files checked with `check_files`).
fn resolve_inputs(
    lines: &Lines,
    pending: &[Pending],
    by_name: &HashMap<String, usize>,
    output_owner: &OutputOwners,
    skipped: &BTreeSet<String>,
    opts: &LoadOptions,
) -> Result<Vec<Vec<Input>>> {
    let mut resolved: Vec<Vec<Input>> = Vec::new();
    for p in pending {
        let mut inputs = Vec::new();
        for (role, reference, line) in &p.input_refs {
            let input = |kind| Input { role: role.clone(), reference: reference.clone(), kind, line: *line };
            match resolve_reference(reference, by_name, pending, output_owner) {
                Some(kinds) => {
                    for k in kinds {
                        check_output_role(lines, pending, reference, &k, *line)?;
                        inputs.push(input(k));
                    }
                }
                None => inputs.push(input(unresolved(lines, p, reference, *line, skipped, opts)?)),
            }
        }
        resolved.push(inputs);
    }
    Ok(resolved)
}

/// `NAME:ROLE` must name one of the target's outputs.
fn check_output_role(lines: &Lines, pending: &[Pending], reference: &str, k: &InputKind, line: usize) -> Result<()> {
    let InputKind::Target { index, role: Some(r) } = k else { return Ok(()) };
    let t = &pending[*index].t;
    if t.outputs.iter().any(|o| &o.role == r) {
        return Ok(());
    }
    let roles: Vec<&str> = t.outputs.iter().map(|o| o.role.as_str()).collect();
    Err(lines.err_line(
        line,
        format!("input '{reference}': target '{}' has no output '{r}' (it has: {})", t.name, roles.join(", ")),
    ))
}

/// A reference that names no target or dataset: a file, or an error saying why not.
fn unresolved(
    lines: &Lines,
    p: &Pending,
    reference: &str,
    line: usize,
    skipped: &BTreeSet<String>,
    opts: &LoadOptions,
) -> Result<InputKind> {
    if reference.contains(['*', '?']) {
        return Err(lines.err_line(line, format!("input '{reference}' matches no target")));
    }
    if skipped.contains(reference) || reference.rsplit_once(':').is_some_and(|(n, _)| skipped.contains(n)) {
        return Err(
            lines.err_line(line, format!("target '{}' reads '{reference}', which is skipped: skip it too", p.t.name))
        );
    }
    if reference.contains(':') && !Path::new(reference).exists() {
        return Err(lines.err_line(
            line,
            format!(
                "input '{reference}' is neither a target (NAME or NAME:OUTPUT), a dataset (DATASET:SPLIT) nor a file"
            ),
        ));
    }
    let f = PathBuf::from(reference);
    if opts.check_files && !f.is_file() {
        return Err(lines.err_line(
            line,
            format!("missing input '{reference}': no such file, and no target makes it (paths are relative to the working directory)"),
        ));
    }
    Ok(InputKind::File(f))
}

/// Every target's command, rendered now that every input's path is known,
/// with the inputs its command names and its dependencies.
fn render_commands(
    lines: &Lines,
    pending: &[Pending],
    resolved: Vec<Vec<Input>>,
    output_owner: &OutputOwners,
    head: &Head,
) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    for (i, (p, inputs)) in pending.iter().zip(resolved).enumerate() {
        let mut t = render_command(lines, pending, p, &inputs, head)?;
        let inputs = add_named_inputs(&t, i, inputs, output_owner);
        let mut deps: Vec<usize> = inputs
            .iter()
            .filter_map(|x| match x.kind {
                InputKind::Target { index, .. } => Some(index),
                _ => None,
            })
            .collect();
        deps.sort_unstable();
        deps.dedup();
        if deps.contains(&i) {
            return Err(lines.err_line(t.line, format!("cycle: target '{}' reads its own output", t.name)));
        }
        t.deps = deps;
        t.inputs = inputs;
        targets.push(t);
    }
    Ok(targets)
}

/// The input paths by role, in declaration order.
fn input_groups(pending: &[Pending], inputs: &[Input], out: &Path) -> Vec<(String, Vec<String>)> {
    let final_paths = |i: usize, role: &Option<String>| -> Vec<String> {
        pending[i]
            .t
            .outputs
            .iter()
            .filter(|o| role.as_ref().is_none_or(|r| &o.role == r))
            .map(|o| out.join(&o.rel).display().to_string())
            .collect()
    };
    let mut in_group: Vec<(String, Vec<String>)> = Vec::new();
    for inp in inputs {
        let paths = match &inp.kind {
            InputKind::Target { index, role } => final_paths(*index, role),
            InputKind::Dataset(d) => vec![d.to_string()],
            InputKind::File(f) => vec![f.display().to_string()],
        };
        match in_group.iter_mut().find(|(r, _)| r == &inp.role) {
            Some((_, v)) => v.extend(paths),
            None => in_group.push((inp.role.clone(), paths)),
        }
    }
    in_group
}

/// `{out}` and `{out.ROLE}`: each output's path made by `base`, by role.
fn output_group(t: &Target, base: &dyn Fn(&Output) -> String) -> Val {
    let mut g: Vec<(String, Vec<String>)> = Vec::new();
    for o in &t.outputs {
        let role = o.role.split('.').next().unwrap_or("").to_string();
        match g.iter_mut().find(|(r, _)| *r == role) {
            Some((_, v)) => v.push(base(o)),
            None => g.push((role, vec![base(o)])),
        }
    }
    Val::Group(g)
}

/// The target's command as it runs (writing into its staging folder) and as
/// its cache key sees it (outputs as `$OUT/…`).
fn render_command(lines: &Lines, pending: &[Pending], p: &Pending, inputs: &[Input], head: &Head) -> Result<Target> {
    let mut t = p.t.clone();
    let staging = head.artifacts.join(".staging").join(&t.name);
    let mut vars_run = p.ctx_vars.clone();
    vars_run.insert("in".into(), Val::Group(input_groups(pending, inputs, &head.out)));
    let mut vars_key = vars_run.clone();
    vars_run.insert("out".into(), output_group(&t, &|o: &Output| staging.join(&o.rel).display().to_string()));
    vars_key.insert("out".into(), output_group(&t, &|o: &Output| format!("$OUT/{}", o.rel.display())));
    let ctx_run = Ctx::new(vec![&vars_run, &p.params_val]);
    let words = template::render_words(&p.command, &ctx_run)
        .map_err(|e| lines.err_line(t.command_line, format!("command: {e}")))?;
    let ctx_key = Ctx::new(vec![&vars_key, &p.params_val]);
    let key_words = template::render_words(&p.command, &ctx_key)
        .map_err(|e| lines.err_line(t.command_line, format!("command: {e}")))?;
    if words.is_empty() {
        return Err(lines.err_line(t.command_line, "command is empty"));
    }
    if !ctx_run.used.borrow().contains("out") {
        return Err(lines.err_line(
            t.command_line,
            format!("command of '{}' never names its outputs: use {{out}} or {{out.ROLE}} so the stage writes where the runner collects", t.name),
        ));
    }
    for k in ctx_run.used.borrow().iter() {
        if let Some(v) = p.params_val.get(k) {
            t.params.insert(k.clone(), v.display());
        }
    }
    t.stage = words[0].clone();
    t.args = words[1..].to_vec();
    t.key_args = key_words[1..].to_vec();
    Ok(t)
}

/// Dataset names and other targets' outputs named in the command are inputs too.
fn add_named_inputs(t: &Target, i: usize, mut inputs: Vec<Input>, output_owner: &OutputOwners) -> Vec<Input> {
    for w in &t.args {
        if let Ok(d) = DatasetName::parse(w) {
            if !inputs.iter().any(|x| x.kind == InputKind::Dataset(d.clone())) {
                let kind = InputKind::Dataset(d);
                inputs.push(Input { role: "auto".into(), reference: w.clone(), kind, line: t.command_line });
            }
        } else if let Some((j, role)) = output_owner.get(&normalize(Path::new(w))) {
            let covered = inputs.iter().any(|x| match &x.kind {
                InputKind::Target { index, role: r } => index == j && (r.is_none() || r.as_ref() == Some(role)),
                _ => false,
            });
            if *j != i && !covered {
                let kind = InputKind::Target { index: *j, role: Some(role.clone()) };
                inputs.push(Input { role: "auto".into(), reference: w.clone(), kind, line: t.command_line });
            }
        }
    }
    inputs
}

/// Kahn's algorithm, taking ready targets in spec order; on a cycle, returns
/// one cycle (first node repeated at the end).
fn topo_sort(targets: &[Target]) -> std::result::Result<Vec<usize>, Vec<usize>> {
    let n = targets.len();
    let mut indeg: Vec<usize> = targets.iter().map(|t| t.deps.len()).collect();
    let mut users: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, t) in targets.iter().enumerate() {
        for &d in &t.deps {
            users[d].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.insert(u);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk dependencies among the remaining nodes until one repeats.
    let left: BTreeSet<usize> = (0..n).filter(|i| indeg[*i] > 0).collect();
    let start = *left.iter().next().expect("a node is left");
    let mut path = vec![start];
    let mut seen: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut cur = start;
    loop {
        let next =
            *targets[cur].deps.iter().find(|d| left.contains(d)).expect("a cycle node has a remaining dependency");
        if let Some(&at) = seen.get(&next) {
            let mut cycle: Vec<usize> = path[at..].to_vec();
            cycle.reverse();
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        seen.insert(next, path.len());
        path.push(next);
        cur = next;
    }
}

/// Lexical normalisation (`a/./b` → `a/b`, `a/x/../b` → `a/b`) for comparing paths.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
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

    use super::*;

    fn parse_str(src: &str) -> Result<Pipeline> {
        parse(Path::new("t.toml"), src, &LoadOptions::default())
    }

    #[test]
    fn globs_match_target_names() {
        assert!(glob_match("eval-*", "eval-mnist-O-s0"));
        assert!(glob_match("clf-*-s?", "clf-mnist-1-1-s2"));
        assert!(!glob_match("clf-*-s?", "clf-mnist-1-1-s12"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("eval-*", "clf-eval-x"));
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
}
