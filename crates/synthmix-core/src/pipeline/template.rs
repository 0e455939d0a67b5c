//! `{placeholder}` templates of pipeline specs.
//!
//! A placeholder is `{name}`, `{name.field}` or either with filters,
//! `{name|slug}`; `{{` and `}}` are literal braces. Values are scalars,
//! records (a matrix value given as an inline table: `{dataset}` is its
//! `name`, `{dataset.arch}` a field) or groups of lists (the `in` and `out`
//! of a target: `{in}` is every input path, `{in.train}` those of one role).
//!
//! Filters: `slug` (`:`, `/` and spaces become `-`: `1:1` → `1-1`), `dir`
//! (a path's folder), `file` (its file name), `stem` (file name without the
//! extension).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::terminal::clip;

/// A value a placeholder can name.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Scalar(String),
    /// An inline-table matrix value; `{x}` renders its `name` field.
    Record(BTreeMap<String, String>),
    /// Lists by role (`in`, `out`); `{x}` renders them all, in role order.
    Group(Vec<(String, Vec<String>)>),
}

impl Val {
    /// The value as shown in target names and explanations.
    pub fn display(&self) -> String {
        match self {
            Val::Scalar(s) => s.clone(),
            Val::Record(m) => m.get("name").cloned().unwrap_or_else(|| format!("{m:?}")),
            Val::Group(g) => g.iter().flat_map(|(_, v)| v.iter().cloned()).collect::<Vec<_>>().join(" "),
        }
    }
}

/// Layers of named values, searched first to last; records which names were
/// used (so a target's cache key holds only the parameters it reads).
pub struct Ctx<'a> {
    layers: Vec<&'a BTreeMap<String, Val>>,
    pub used: RefCell<BTreeSet<String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(layers: Vec<&'a BTreeMap<String, Val>>) -> Self {
        Ctx { layers, used: RefCell::new(BTreeSet::new()) }
    }

    fn lookup(&self, name: &str) -> Option<&'a Val> {
        for l in &self.layers {
            if let Some(v) = l.get(name) {
                self.used.borrow_mut().insert(name.to_string());
                return Some(v);
            }
        }
        None
    }

    fn names(&self) -> Vec<String> {
        let mut all: BTreeSet<String> = BTreeSet::new();
        for l in &self.layers {
            all.extend(l.keys().cloned());
        }
        all.into_iter().collect()
    }
}

enum Piece {
    Lit(String),
    Hole(String),
}

fn parse(t: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                lit.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                lit.push('}');
            }
            '{' => {
                let mut expr = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') | None => return Err(format!("unclosed '{{' in \"{}\"", clip(t))),
                        Some(ch) => expr.push(ch),
                    }
                }
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::Hole(expr.trim().to_string()));
            }
            '}' => return Err(format!("stray '}}' in \"{}\" (write '}}}}' for a literal brace)", clip(t))),
            other => lit.push(other),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    Ok(out)
}

fn apply_filter(v: String, f: &str) -> Result<String, String> {
    let p = std::path::Path::new(&v);
    Ok(match f {
        "slug" => v.chars().map(|c| if matches!(c, ':' | '/' | ' ' | '\\') { '-' } else { c }).collect(),
        "dir" => p.parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
        "file" => p.file_name().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
        "stem" => p.file_stem().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
        other => return Err(format!("unknown filter '|{}' (known: slug, dir, file, stem)", clip(other))),
    })
}

fn eval(expr: &str, ctx: &Ctx) -> Result<Vec<String>, String> {
    let mut parts = expr.split('|');
    let path = parts.next().unwrap_or("").trim();
    let filters: Vec<&str> = parts.map(str::trim).collect();
    let (name, field) = match path.split_once('.') {
        Some((n, f)) => (n, Some(f)),
        None => (path, None),
    };
    if name.is_empty() {
        return Err("empty placeholder '{}'".into());
    }
    let val = ctx.lookup(name).ok_or_else(|| {
        format!("unknown placeholder '{{{}}}' (known here: {})", clip(name), clip(&ctx.names().join(", ")))
    })?;
    let values: Vec<String> = match (val, field) {
        (Val::Scalar(s), None) => vec![s.clone()],
        (Val::Scalar(_), Some(f)) => {
            return Err(format!("'{{{0}.{1}}}': {0} is a plain value, it has no fields", clip(name), clip(f)))
        }
        (Val::Record(m), f) => {
            let key = f.unwrap_or("name");
            match m.get(key) {
                Some(v) => vec![v.clone()],
                None if f.is_none() => {
                    return Err(format!(
                        "'{{{0}}}' is a table without a 'name' field: write '{{{0}.FIELD}}'",
                        clip(name)
                    ))
                }
                None => {
                    return Err(format!(
                        "'{{{0}.{1}}}': no field '{1}' (fields: {2})",
                        clip(name),
                        clip(key),
                        clip(&m.keys().cloned().collect::<Vec<_>>().join(", "))
                    ))
                }
            }
        }
        (Val::Group(g), None) => g.iter().flat_map(|(_, v)| v.iter().cloned()).collect(),
        (Val::Group(g), Some(f)) => match g.iter().find(|(r, _)| r == f) {
            Some((_, v)) => v.clone(),
            None => {
                return Err(format!(
                    "'{{{0}.{1}}}': no {0} named '{1}' (this target has: {2})",
                    clip(name),
                    clip(f),
                    clip(&g.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>().join(", "))
                ))
            }
        },
    };
    values.into_iter().map(|v| filters.iter().try_fold(v, |acc, f| apply_filter(acc, f))).collect()
}

/// Renders a template to one string; a placeholder naming several values is an error.
pub fn render(t: &str, ctx: &Ctx) -> Result<String, String> {
    let mut s = String::new();
    for p in parse(t)? {
        match p {
            Piece::Lit(l) => s.push_str(&l),
            Piece::Hole(e) => {
                let v = eval(&e, ctx)?;
                if v.len() != 1 {
                    return Err(format!("'{{{}}}' names {} values here, where one is needed", clip(&e), v.len()));
                }
                s.push_str(&v[0]);
            }
        }
    }
    Ok(s)
}

/// Renders a command: split into words at whitespace (outside `"…"`), each
/// word rendered; a word that is exactly one placeholder may expand to
/// several arguments (`--classifier {in.classifiers}`) or to none (an empty
/// value is dropped, so optional arguments can live in a parameter).
pub fn render_words(t: &str, ctx: &Ctx) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (word, quoted) in split_words(t)? {
        let pieces = parse(&word)?;
        if let ([Piece::Hole(e)], false) = (pieces.as_slice(), quoted) {
            out.extend(eval(e, ctx)?.into_iter().filter(|w| !w.is_empty()));
        } else {
            let w = render(&word, ctx)?;
            if quoted || !w.is_empty() {
                out.push(w);
            }
        }
    }
    Ok(out)
}

/// Splits at whitespace outside double quotes; `"a b"` is one word (quotes
/// removed). Returns each word and whether it was quoted.
fn split_words(t: &str) -> Result<Vec<(String, bool)>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut in_q, mut quoted, mut any) = (false, false, false);
    for c in t.chars() {
        match c {
            '"' => {
                in_q = !in_q;
                quoted = true;
                any = true;
            }
            c if c.is_whitespace() && !in_q => {
                if any {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                quoted = false;
                any = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if in_q {
        return Err(format!("unclosed '\"' in \"{}\"", clip(t)));
    }
    if any {
        out.push((cur, quoted));
    }
    Ok(out)
}

/// The placeholder names a template uses (without rendering it).
pub fn names_in(t: &str) -> Vec<String> {
    parse(t)
        .map(|ps| {
            ps.into_iter()
                .filter_map(|p| match p {
                    Piece::Hole(e) => Some(e.split(['|', '.']).next().unwrap_or("").trim().to_string()),
                    Piece::Lit(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_map() -> BTreeMap<String, Val> {
        let mut m = BTreeMap::new();
        m.insert("dataset".into(), Val::Scalar("mnist".into()));
        m.insert(
            "mix".into(),
            Val::Record([("name".to_string(), "O".to_string()), ("ratio".to_string(), "1:0".to_string())].into()),
        );
        m.insert("r".into(), Val::Scalar("1:1".into()));
        m.insert(
            "in".into(),
            Val::Group(vec![
                ("clf".into(), vec!["a.st".into(), "b.st".into()]),
                ("test".into(), vec!["mnist:test".into()]),
            ]),
        );
        m
    }

    #[test]
    fn renders_scalars_records_filters_and_lists() {
        let m = ctx_map();
        let ctx = Ctx::new(vec![&m]);
        assert_eq!(render("clf-{dataset}-{mix}-{r|slug}", &ctx).unwrap(), "clf-mnist-O-1-1");
        assert_eq!(render("--ratio {mix.ratio} {{x}}", &ctx).unwrap(), "--ratio 1:0 {x}");
        assert_eq!(
            render_words("evaluate --classifier {in.clf} --test {in.test} --out x/{dataset}.json", &ctx).unwrap(),
            ["evaluate", "--classifier", "a.st", "b.st", "--test", "mnist:test", "--out", "x/mnist.json"]
        );
        assert!(render("{in.clf}", &ctx).unwrap_err().contains("2 values"));
        assert!(render("{nope}", &ctx).unwrap_err().contains("unknown placeholder '{nope}'"));
        assert!(render("{mix.size}", &ctx).unwrap_err().contains("no field 'size'"));
        assert!(render("{dataset|upper}", &ctx).unwrap_err().contains("unknown filter"));
        assert!(render("{dataset", &ctx).unwrap_err().contains("unclosed"));
        assert_eq!(names_in("a{x}b{y.z|slug}"), ["x", "y"]);
        let mut e = ctx_map();
        e.insert("none".into(), Val::Scalar(String::new()));
        let ctx2 = Ctx::new(vec![&e]);
        assert_eq!(
            render_words("report --title \"{dataset} study\" {none} --x \"\"", &ctx2).unwrap(),
            ["report", "--title", "mnist study", "--x", ""]
        );
        assert!(ctx.used.borrow().contains("dataset"));
    }
}
