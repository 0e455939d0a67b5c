//! Every command in the README's shell blocks runs as written: each
//! `synthmix …` or stage command is parsed by the program itself
//! (`SYNTHMIX_PARSE_ONLY`: parse, then exit 0 without doing anything), each
//! `just RECIPE` names a recipe of the justfile, each script exists.

use crate::common;

use std::path::Path;

use common::bin;
use synthmix_core::stages::STAGES;

/// The lines of every ```sh block, comments stripped, continuations joined.
fn shell_lines(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    let mut pending = String::new();
    for line in md.lines() {
        if line.starts_with("```") {
            inside = line == "```sh";
            continue;
        }
        if !inside {
            continue;
        }
        let code = strip_comment(line).trim_end().to_string();
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            continue;
        }
        pending.push_str(&code);
        if !pending.trim().is_empty() {
            out.push(std::mem::take(&mut pending).trim().to_string());
        }
        pending.clear();
    }
    out
}

/// The line up to a `#` that starts a shell comment (outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// Shell words: whitespace-separated, with '…' and "…" quoting.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn every_readme_command_is_accepted_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let justfile = std::fs::read_to_string(root.join("justfile")).unwrap();
    let lines = shell_lines(&readme);
    assert!(lines.len() >= 15, "the README's commands: {lines:?}");
    let mut checked = 0;
    for line in &lines {
        let w = words(line);
        let (prog, args) = (w[0].as_str(), &w[1..]);
        if prog == "synthmix" || STAGES.iter().any(|s| s.name == prog) {
            let out = bin(prog).current_dir(root).env("SYNTHMIX_PARSE_ONLY", "1").args(args).output().unwrap();
            assert!(
                out.status.success(),
                "README: `{line}` is not accepted: {}",
                String::from_utf8_lossy(&out.stderr).lines().next().unwrap_or("")
            );
        } else if prog == "just" {
            let recipe = &w[1];
            assert!(
                justfile.lines().any(|l| l.starts_with(&format!("{recipe} ")) || l.starts_with(&format!("{recipe}:"))),
                "README: `{line}`: the justfile has no recipe '{recipe}'"
            );
        } else if prog == "pip" && w.get(1).map(String::as_str) == Some("install") {
            // `pip install ./python` or './python[torch]': the package is there, with that extra.
            let arg = &w[2];
            let (dir, extra) = arg.split_once('[').map_or((arg.as_str(), None), |(d, e)| (d, e.strip_suffix(']')));
            let pyproject = std::fs::read_to_string(root.join(dir).join("pyproject.toml"))
                .unwrap_or_else(|e| panic!("README: `{line}`: no {dir}/pyproject.toml ({e})"));
            if let Some(extra) = extra {
                assert!(
                    pyproject.lines().any(|l| l.starts_with(&format!("{extra} = "))),
                    "README: `{line}`: no extra '{extra}'"
                );
            }
        } else if let Some(env) =
            w[0].split_once('=').filter(|(k, _)| k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        {
            // `VAR=value just RECIPE …`: the recipe, as above.
            assert!(env.0 == "REPRODUCE_DATASETS" && w[1] == "just", "README: `{line}`: unknown form");
            assert!(justfile.lines().any(|l| l.starts_with(&format!("{} ", w[2]))), "README: `{line}`: no recipe");
        } else if prog == "bash" {
            assert!(root.join(&w[1]).is_file(), "README: `{line}`: no {}", w[1]);
        } else {
            panic!("README: `{line}`: a command this test does not know how to check");
        }
        checked += 1;
    }
    assert_eq!(checked, lines.len());
}

#[test]
fn the_checker_itself_rejects_bad_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for bad in [vec!["clf-train", "--train", "mnist:train", "--epoch", "3", "--out", "x"], vec!["synthmix", "run"]] {
        let out = bin(bad[0]).current_dir(root).env("SYNTHMIX_PARSE_ONLY", "1").args(&bad[1..]).output().unwrap();
        assert!(!out.status.success(), "{bad:?} must not parse");
    }
    assert_eq!(words(r#"a 'b c' "d e" f"#), ["a", "b c", "d e", "f"]);
    assert_eq!(strip_comment("x 'a#b' # note"), "x 'a#b' ");
}
