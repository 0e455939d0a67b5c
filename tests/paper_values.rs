//! `pipelines/paper-values.toml` against the transcription of the paper's
//! Tables 2 and 3 in `../shared/paper/tables.md`: every cell present, equal,
//! and nothing extra, so the report's paper column cannot drift.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::markdown_rows;
use synthmix_core::report::study::PaperValues;

type Cells = BTreeMap<(String, String, String), f64>;

fn dataset_key(title: &str) -> String {
    match title {
        "MNIST" => "mnist".into(),
        "Fashion-MNIST" => "fashion-mnist".into(),
        "CIFAR-10" => "cifar-10".into(),
        other => panic!("tables.md: unknown dataset '{other}'"),
    }
}

fn test_key(t: &str) -> String {
    match t {
        "O" => "original".into(),
        "S" => "synthetic".into(),
        other => panic!("tables.md: unknown test set '{other}'"),
    }
}

fn transcribed(md: &str) -> Cells {
    let mut cells = Cells::new();
    for r in markdown_rows(md, "## Table 2") {
        let [ds, train, test, acc] = r[..] else { panic!("Table 2 row {r:?}") };
        let prev = cells.insert((dataset_key(ds), train.to_string(), test_key(test)), acc.parse().unwrap());
        assert!(prev.is_none(), "Table 2 lists {r:?} twice");
    }
    for r in markdown_rows(md, "## Table 3") {
        let [train, acc] = r[..] else { panic!("Table 3 row {r:?}") };
        cells.insert(("mnist".into(), train.to_string(), "shot_noise".into()), acc.parse().unwrap());
    }
    cells
}

#[test]
fn paper_values_hold_every_cell_of_tables_2_and_3() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tables = root.join("../shared/paper/tables.md");
    let md = std::fs::read_to_string(&tables).unwrap_or_else(|e| panic!("{}: {e}", tables.display()));
    let want = transcribed(&md);
    assert_eq!(want.len(), 27 + 11, "tables.md: 27 cells in Table 2 and 11 in Table 3");
    let ours = PaperValues::read(&root.join("pipelines/paper-values.toml")).unwrap();
    let got: Cells = ours.cells().map(|(k, v)| (k.clone(), *v)).collect();
    for (k, v) in &want {
        match got.get(k) {
            None => panic!("paper-values.toml lacks {k:?} = {v}"),
            Some(g) => assert_eq!(g, v, "paper-values.toml {k:?}"),
        }
    }
    for k in got.keys() {
        assert!(want.contains_key(k), "paper-values.toml has {k:?}, which the paper's tables do not");
    }
}
