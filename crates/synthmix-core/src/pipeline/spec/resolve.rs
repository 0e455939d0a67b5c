//! The last phases of reading a spec: names and outputs indexed, inputs
//! resolved, commands rendered with every path known, and a topological order.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::expand::{Head, Pending};
use super::lines::Lines;
use super::model::{glob_match, normalize, Input, InputKind, LoadOptions, Output, Target};
use crate::data::DatasetName;
use crate::error::Result;
use crate::pipeline::template::{self, Ctx, Val};
use crate::terminal::clip;

/// Where each output file (normalised path) comes from: target index and role.
pub(super) type OutputOwners = HashMap<PathBuf, (usize, String)>;

/// Target index by name; a name made twice is an error.
pub(super) fn index_names(lines: &Lines, pending: &[Pending]) -> Result<HashMap<String, usize>> {
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
pub(super) fn index_outputs(lines: &Lines, pending: &[Pending], out: &Path) -> Result<OutputOwners> {
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
pub(super) fn resolve_inputs(
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
        format!(
            "input '{}': target '{}' has no output '{}' (it has: {})",
            clip(reference),
            t.name,
            clip(r),
            clip(&roles.join(", "))
        ),
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
        return Err(lines.err_line(line, format!("input '{}' matches no target", clip(reference))));
    }
    if skipped.contains(reference) || reference.rsplit_once(':').is_some_and(|(n, _)| skipped.contains(n)) {
        return Err(lines.err_line(
            line,
            format!("target '{}' reads '{}', which is skipped: skip it too", p.t.name, clip(reference)),
        ));
    }
    if reference.contains(':') && !Path::new(reference).exists() {
        return Err(lines.err_line(
            line,
            format!(
                "input '{}' is neither a target (NAME or NAME:OUTPUT), a dataset (DATASET:SPLIT) nor a file",
                clip(reference)
            ),
        ));
    }
    let f = PathBuf::from(reference);
    if opts.check_files && !f.is_file() {
        return Err(lines.err_line(
            line,
            format!("missing input '{}': no such file, and no target makes it (paths are relative to the working directory)", clip(reference)),
        ));
    }
    Ok(InputKind::File(f))
}

/// Every target's command, rendered now that every input's path is known,
/// with the inputs its command names and its dependencies.
pub(super) fn render_commands(
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
pub(super) fn topo_sort(targets: &[Target]) -> std::result::Result<Vec<usize>, Vec<usize>> {
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
