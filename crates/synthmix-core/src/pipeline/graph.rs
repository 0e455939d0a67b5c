//! `synthmix dag`: the graph as text or Graphviz DOT.

use std::fmt::Write as _;

use super::spec::{InputKind, Pipeline};

fn input_labels(p: &Pipeline, i: usize) -> Vec<String> {
    let t = &p.targets[i];
    let mut v: Vec<String> = Vec::new();
    for inp in &t.inputs {
        let s = match &inp.kind {
            InputKind::Target { index, role: None } => p.targets[*index].name.clone(),
            InputKind::Target { index, role: Some(r) } => format!("{}:{r}", p.targets[*index].name),
            InputKind::Dataset(d) => d.to_string(),
            InputKind::File(f) => f.display().to_string(),
        };
        if !v.contains(&s) {
            v.push(s);
        }
    }
    v
}

/// One line per target in topological order: name, stage, inputs, outputs.
pub fn text(p: &Pipeline) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "pipeline {} ({}): {} targets, outputs under {}",
        p.name,
        p.spec_path.display(),
        p.targets.len(),
        p.out.display()
    );
    let w = p.targets.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let ws = p.targets.iter().map(|t| t.stage.len()).max().unwrap_or(0);
    for &i in p.topo_order() {
        let t = &p.targets[i];
        let ins = input_labels(p, i);
        let outs: Vec<String> = t.outputs.iter().map(|o| o.rel.display().to_string()).collect();
        let _ = writeln!(
            s,
            "{:<w$}  {:<ws$}  <- {}  -> {}",
            t.name,
            t.stage,
            if ins.is_empty() { "(nothing)".to_string() } else { ins.join(", ") },
            outs.join(", ")
        );
    }
    s
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT: targets as boxes (label: name and stage), datasets and
/// files as ellipses, edges along the data flow.
pub fn dot(p: &Pipeline) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph {} {{", q(&p.name));
    let _ = writeln!(s, "  rankdir=LR;");
    let _ = writeln!(s, "  node [shape=box, fontname=\"monospace\", fontsize=10];");
    let mut sources: Vec<String> = Vec::new();
    for &i in p.topo_order() {
        let t = &p.targets[i];
        let label = format!("{}\\n{}", &q(&t.name)[1..q(&t.name).len() - 1], &q(&t.stage)[1..q(&t.stage).len() - 1]);
        let _ = writeln!(s, "  {} [label=\"{label}\"];", q(&t.name));
        for inp in &t.inputs {
            match &inp.kind {
                InputKind::Target { .. } => {}
                InputKind::Dataset(d) => sources.push(d.to_string()),
                InputKind::File(f) => sources.push(f.display().to_string()),
            }
        }
    }
    sources.sort();
    sources.dedup();
    for src in &sources {
        let _ = writeln!(s, "  {} [shape=ellipse, style=filled, fillcolor=\"#eeeeee\"];", q(src));
    }
    for &i in p.topo_order() {
        let t = &p.targets[i];
        let mut seen: Vec<String> = Vec::new();
        for inp in &t.inputs {
            let from = match &inp.kind {
                InputKind::Target { index, .. } => p.targets[*index].name.clone(),
                InputKind::Dataset(d) => d.to_string(),
                InputKind::File(f) => f.display().to_string(),
            };
            if !seen.contains(&from) {
                let _ = writeln!(s, "  {} -> {};", q(&from), q(&t.name));
                seen.push(from);
            }
        }
    }
    s.push_str("}\n");
    s
}
