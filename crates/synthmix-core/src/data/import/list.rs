//! `data import`'s listing: the files of either layout with their class
//! indices, each checked to be listed once and (without `--allow-outside`)
//! to lie inside the source, links followed.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::{BadFile, ImportParams, EXTENSIONS};
use crate::error::{Error, IoContext, Result};

/// Files and their class indices, and the class names, from either layout;
/// each file read once, and (without `--allow-outside`) inside the source.
pub(super) fn list(params: &ImportParams, bad: &mut Vec<BadFile>) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let source = &params.source;
    let (names, items, root) = if source.is_dir() {
        let (n, i) = list_folders(source, bad)?;
        (n, i, source.as_path())
    } else if source.is_file() {
        let (n, i) = list_csv(source, params.allow_outside)?;
        (n, i, source.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
    } else {
        return Err(Error::Invalid(format!("{}: no such folder or CSV file", source.display())));
    };
    check_files(params, root, &items)?;
    Ok((names, items))
}

/// Refuses a listed file that is the same file as one listed before it (a
/// CSV row repeated or spelt another way, a link to another class's image:
/// one image under two labels, or in both the train and the test split), and
/// without `--allow-outside` one whose real path, links followed, leaves
/// `root` (the folder, or the CSV's folder: a link in a downloaded folder
/// could pull in any readable image). A file that cannot be resolved is left
/// to the decoder, which counts it bad.
fn check_files(params: &ImportParams, root: &Path, items: &[(PathBuf, usize)]) -> Result<()> {
    let real_root = std::fs::canonicalize(root).at(root)?;
    let mut seen: std::collections::HashMap<PathBuf, &Path> = std::collections::HashMap::new();
    for (path, _) in items {
        let Ok(real) = std::fs::canonicalize(path) else { continue };
        if !params.allow_outside && !real.starts_with(&real_root) {
            return Err(Error::Invalid(format!(
                "{}: a link to {}, outside {}; pass --allow-outside to read images outside it",
                path.display(),
                real.display(),
                root.display()
            )));
        }
        if let Some(first) = seen.insert(real, path) {
            return Err(Error::Invalid(format!(
                "{} is listed twice (first as {}): an image is listed once, with one label",
                path.display(),
                first.display()
            )));
        }
    }
    Ok(())
}

fn is_hidden(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).at(dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !is_hidden(p)).collect();
    v.sort();
    Ok(v)
}

fn list_folders(dir: &Path, bad: &mut Vec<BadFile>) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let mut classes = Vec::new();
    let mut items = Vec::new();
    for sub in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        // Lossy, not "?" for every non-UTF-8 name: distinct folders stay distinct.
        let name = sub.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut files = Vec::new();
        for f in sorted_entries(&sub)?.into_iter().filter(|p| p.is_file()) {
            let ext = f.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
            if EXTENSIONS.contains(&ext.as_str()) {
                files.push(f);
            } else {
                bad.push(BadFile {
                    path: f,
                    why: format!("not an image (extensions read: {})", EXTENSIONS.join(", ")),
                });
            }
        }
        if files.is_empty() {
            bad.push(BadFile { path: sub, why: "empty class: no image files in this class folder".into() });
            continue;
        }
        let c = classes.len();
        classes.push(name);
        items.extend(files.into_iter().map(|f| (f, c)));
    }
    Ok((classes, items))
}

fn list_csv(csv: &Path, allow_outside: bool) -> Result<(Vec<String>, Vec<(PathBuf, usize)>)> {
    let base = csv.parent().unwrap_or(Path::new("."));
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv)
        .map_err(|e| Error::format(csv, format!("cannot read as CSV: {e}")))?;
    let mut rows = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| Error::format(csv, format!("line {}: {e}", i + 1)))?;
        // The record's first line (a quoted cell may span lines).
        let line = rec.position().map_or(i + 1, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
        let (path, label) = match (rec.get(0), rec.get(1), rec.len()) {
            (Some(p), Some(l), 2) => (p.trim(), l.trim()),
            _ => return Err(Error::format(csv, format!("line {line}: expected two columns, path,label"))),
        };
        if i == 0 && path.eq_ignore_ascii_case("path") && label.eq_ignore_ascii_case("label") {
            continue;
        }
        if path.is_empty() || label.is_empty() {
            return Err(Error::format(csv, format!("line {line}: empty path or label")));
        }
        if let (Some(why), false) = (outside(Path::new(path)), allow_outside) {
            return Err(Error::format(
                csv,
                format!("line {line}: image path '{path}' {why}; pass --allow-outside to read images outside it"),
            ));
        }
        rows.push((base.join(path), label.to_string()));
    }
    let mut classes: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    classes.sort();
    classes.dedup();
    let index: BTreeMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let items = rows.iter().map(|(p, l)| (p.clone(), index[l.as_str()])).collect();
    Ok((classes, items))
}

/// Why a CSV's image path is not inside the CSV's folder (absolute, or
/// climbing out of it by `..`), told from the path's text alone: the CSV's
/// cells are what anyone may write. Links are judged by their real paths
/// ([`check_files`]).
fn outside(rel: &Path) -> Option<&'static str> {
    let mut depth: usize = 0;
    for c in rel.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Some("is absolute, not under the CSV's folder"),
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return Some("leaves the CSV's folder"),
            },
            Component::Normal(_) => depth = depth.saturating_add(1),
            Component::CurDir => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_paths_outside_the_csv_folder_are_told_from_their_text() {
        for inside in ["a.png", "cls/a.png", "./a.png", "cls/../a.png", "a/b/../../c.png", "..a.png"] {
            assert_eq!(outside(Path::new(inside)), None, "{inside}");
        }
        for (out, why) in [
            ("../x.png", "leaves"),
            ("../../../x.png", "leaves"),
            ("cls/../../x.png", "leaves"),
            ("a/./../b/../../x.png", "leaves"),
            ("/etc/x.png", "absolute"),
        ] {
            assert!(outside(Path::new(out)).is_some_and(|w| w.contains(why)), "{out}");
        }
    }
}
