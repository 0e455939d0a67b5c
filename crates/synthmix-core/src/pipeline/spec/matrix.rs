//! Matrix cells and role lists: TOML values made template values.

use std::collections::{BTreeMap, BTreeSet};

use toml::Spanned;

use super::lines::Lines;
use super::model::glob_match;
use crate::error::Result;
use crate::pipeline::template::Val;
use crate::terminal::clip;

pub(super) fn scalar_string(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn to_val(v: &toml::Value) -> std::result::Result<Val, String> {
    if let Some(s) = scalar_string(v) {
        return Ok(Val::Scalar(s));
    }
    match v {
        toml::Value::Table(t) => {
            let mut m = BTreeMap::new();
            for (k, x) in t {
                let s = scalar_string(x).ok_or_else(|| format!("field '{}' must be a string or number", clip(k)))?;
                m.insert(k.clone(), s);
            }
            Ok(Val::Record(m))
        }
        other => Err(format!("a matrix value must be a string, number or inline table, not {}", other.type_str())),
    }
}

/// One matrix table's variables and their values.
type Table = Vec<(String, Vec<Val>)>;

/// Every table of a matrix (one, or a list naming the same variables) with
/// its variables' values, checked, before any cell is made.
fn matrix_tables(lines: &Lines, m: &Spanned<toml::Value>, axes: &BTreeMap<String, Vec<Val>>) -> Result<Vec<Table>> {
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
    let mut keys: Option<BTreeSet<String>> = None;
    let mut tables = Vec::new();
    for t in products {
        let these: BTreeSet<String> = t.keys().cloned().collect();
        if keys.as_ref().is_some_and(|k| *k != these) {
            return Err(lines.err(at, "matrix: every table of a list must name the same variables"));
        }
        keys = Some(these);
        let mut table = Table::new();
        for (var, vals) in t {
            table.push((var.clone(), var_values(lines, at, var, vals, axes)?));
        }
        tables.push(table);
    }
    Ok(tables)
}

/// The values of one matrix variable: a list, or an axis reference.
fn var_values(
    lines: &Lines,
    at: usize,
    var: &str,
    vals: &toml::Value,
    axes: &BTreeMap<String, Vec<Val>>,
) -> Result<Vec<Val>> {
    if matches!(var, "in" | "out" | "target" | "spec_dir") {
        return Err(lines.err(at, format!("matrix variable '{}' is reserved", clip(var))));
    }
    let values: Vec<Val> = match vals {
        toml::Value::String(spec) => axis_values(lines, at, var, spec, axes)?,
        toml::Value::Array(a) => a
            .iter()
            .map(|x| to_val(x).map_err(|e| lines.err(at, format!("matrix '{}': {e}", clip(var)))))
            .collect::<Result<_>>()?,
        _ => {
            return Err(lines.err(at, format!("matrix '{}' must be a list of values or the name of an axis", clip(var))))
        }
    };
    if values.is_empty() {
        return Err(lines.err(at, format!("matrix '{}' has no values", clip(var))));
    }
    Ok(values)
}

/// How many cells a matrix makes, counted without making them (`None`:
/// more than a `u64` holds).
pub(super) fn matrix_size(
    lines: &Lines,
    matrix: Option<&Spanned<toml::Value>>,
    axes: &BTreeMap<String, Vec<Val>>,
) -> Result<Option<u64>> {
    let Some(m) = matrix else { return Ok(Some(1)) };
    let mut total: Option<u64> = Some(0);
    for table in matrix_tables(lines, m, axes)? {
        let cells = table.iter().try_fold(1u64, |n, (_, v)| n.checked_mul(u64::try_from(v.len()).ok()?));
        total = total.zip(cells).and_then(|(a, b)| a.checked_add(b));
    }
    Ok(total)
}

/// One `(var → value)` assignment per matrix cell.
pub(super) fn expand_matrix(
    lines: &Lines,
    matrix: Option<&Spanned<toml::Value>>,
    axes: &BTreeMap<String, Vec<Val>>,
) -> Result<Vec<BTreeMap<String, Val>>> {
    let Some(m) = matrix else {
        return Ok(vec![BTreeMap::new()]);
    };
    let mut cells = Vec::new();
    for table in matrix_tables(lines, m, axes)? {
        let mut acc: Vec<BTreeMap<String, Val>> = vec![BTreeMap::new()];
        for (var, values) in &table {
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

/// The values a matrix variable takes from an axis: `"AXIS"` (all of
/// them) or `"AXIS[name, name]"` (those with these names).
fn axis_values(lines: &Lines, at: usize, var: &str, spec: &str, axes: &BTreeMap<String, Vec<Val>>) -> Result<Vec<Val>> {
    let (axis, only) = match spec.split_once('[') {
        Some((a, rest)) => {
            let sel = rest.strip_suffix(']').ok_or_else(|| {
                lines.err(at, format!("matrix '{}': '{}' lacks its closing ']'", clip(var), clip(spec)))
            })?;
            (a.trim(), Some(sel.split(',').map(|x| x.trim().to_string()).collect::<Vec<_>>()))
        }
        None => (spec.trim(), None),
    };
    let all = axes.get(axis).ok_or_else(|| {
        lines.err(at, format!("matrix: '{}' names axis '{}', which [axes] does not define", clip(var), clip(axis)))
    })?;
    let Some(names) = only else {
        return Ok(all.clone());
    };
    // A selector is a name or a glob (`cifar-10*` takes whichever CIFAR-10
    // a `first-present` name chose); each must match a value.
    for n in &names {
        if !all.iter().any(|v| glob_match(n, &v.display())) {
            return Err(lines
                .err(at, format!("matrix '{}': axis '{}' has no value named '{}'", clip(var), clip(axis), clip(n))));
        }
    }
    Ok(all.iter().filter(|v| names.iter().any(|n| glob_match(n, &v.display()))).cloned().collect())
}

/// `[a, b]` → roles `0`, `1`; `{ x = a, y = [b, c] }` → roles `x`, `y`.
pub(super) fn role_templates(
    lines: &Lines,
    v: &Spanned<toml::Value>,
    what: &str,
) -> Result<Vec<(String, Vec<String>)>> {
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
