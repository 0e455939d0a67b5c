//! The report's verdicts on a tiny study with known effects, built from
//! synthetic result rows and run through the paper report's MNIST-C code:
//! one true difference, one true equivalence, one null, one difference that
//! only survives without Holm, and the mean over them. Each comparison's
//! p-value, TOST p-value (margin ±0.005), Holm-adjusted p-values and
//! verdict are checked against values computed independently: live with
//! SciPy where python3 has it, and always against the SciPy values kept
//! here (SciPy 1.17.1: `ttest_1samp`, TOST as two one-sided `ttest_1samp`s,
//! Holm written out in Python).

use std::io::Write;
use std::process::{Command, Stdio};

use synthmix_core::report::corruptions;
use synthmix_core::report::model::{aggregate, Mix, Observation, TestKind};
use synthmix_core::report::stats::{Verdict, MARGIN};

const SEEDS: usize = 5;
const O_BASE: [f64; SEEDS] = [0.9012, 0.8987, 0.9035, 0.8969, 0.9021];

/// acc(5:1) − acc(O) per seed, by corruption, in MNIST-C's order.
const EFFECTS: [(&str, [f64; SEEDS]); 4] = [
    // A true difference: +3 points.
    ("shot_noise", [0.030, 0.034, 0.028, 0.032, 0.031]),
    // A true equivalence: well inside ±0.005.
    ("glass_blur", [0.0005, -0.0004, 0.0002, -0.0001, 0.0003]),
    // A difference whose raw p (0.037) passes and whose Holm p (0.11) does not.
    ("motion_blur", [0.004, 0.009, 0.001, 0.006, 0.002]),
    // A null: noise around 0, too wide for equivalence.
    ("fog", [0.02, -0.015, 0.01, -0.02, 0.012]),
];

/// SciPy's (p, p Holm, TOST p, TOST p Holm) per row: the corruptions, then
/// the mean over them (the family has these five comparisons).
const KEPT: [(&str, [f64; 4]); 5] = [
    ("shot_noise", [6.4520492237588904e-06, 3.226024611879445e-05, 0.9999934993471167, 1.0]),
    ("glass_blur", [0.5614380442505258, 1.0, 3.2300427789776687e-06, 1.6150213894888343e-05]),
    ("motion_blur", [0.03745236332329236, 0.11235708996987709, 0.34869241863841105, 1.0]),
    ("fog", [0.8685216996440568, 1.0, 0.3367845840229914, 1.0]),
    ("mean of 4", [0.00463039585897414, 0.01852158343589656, 0.9705541082654222, 1.0]),
];

fn obs(mix: Mix, corruption: &str, seed: usize, accuracy: f64) -> Observation {
    Observation {
        dataset: "mnist".into(),
        generator: None,
        mix,
        test: TestKind::Corrupted(corruption.into()),
        test_set: format!("mnist-c/{corruption}:test"),
        seed: seed as u64,
        accuracy,
        classifier: format!("clf-{}-s{seed}", mix.label()),
        train: String::new(),
        imported_from: None,
        per_class: Vec::new(),
    }
}

/// The study's result rows: O's accuracy differs by corruption and seed,
/// 5:1's is O's plus the effect.
fn rows() -> Vec<Observation> {
    let mut v = Vec::new();
    for (k, (c, d)) in EFFECTS.iter().enumerate() {
        for s in 0..SEEDS {
            let o = O_BASE[s] - 0.05 * k as f64;
            v.push(obs(Mix::new(1, 0), c, s, o));
            v.push(obs(Mix::new(5, 1), c, s, o + d[s]));
        }
    }
    v
}

/// The same numbers from SciPy, from the rows' accuracies (None without
/// python3 and SciPy).
fn scipy(rows: &[Observation]) -> Option<Vec<[f64; 4]>> {
    let data: Vec<(String, String, u64, f64)> =
        rows.iter().map(|o| (o.test.key(), o.mix.label(), o.seed, o.accuracy)).collect();
    let script = r#"
import json, sys
from scipy import stats
rows = json.load(sys.stdin)
M = float(sys.argv[1])
tests = []
for t, _, _, _ in rows:
    if t not in tests:
        tests.append(t)
acc = {(t, m, s): a for t, m, s, a in rows}
seeds = sorted({s for _, _, s, _ in rows})
def diffs(ts):
    return [sum(acc[(t, '5:1', s)] for t in ts) / len(ts) - sum(acc[(t, 'O', s)] for t in ts) / len(ts) for s in seeds]
fam = [diffs([t]) for t in tests] + [diffs(tests)]
p = [stats.ttest_1samp(d, 0).pvalue for d in fam]
tost = [max(stats.ttest_1samp(d, -M, alternative='greater').pvalue,
            stats.ttest_1samp(d, M, alternative='less').pvalue) for d in fam]
def holm(p):
    out, run = [0.0] * len(p), 0.0
    for rank, i in enumerate(sorted(range(len(p)), key=lambda i: p[i])):
        run = max(run, min(1.0, (len(p) - rank) * p[i]))
        out[i] = run
    return out
print(json.dumps([list(x) for x in zip(p, holm(p), tost, holm(tost))]))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, &MARGIN.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(serde_json::to_string(&data).unwrap().as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        eprintln!("SKIP live SciPy check: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-7 * b.abs().max(1e-300) || (a - b).abs() < 1e-12
}

#[test]
fn verdicts_tost_and_holm_match_independent_values() {
    assert_eq!(MARGIN, 0.005, "the kept values are at ±0.005");
    let rows = rows();
    let all = corruptions::tables(&aggregate(&rows));
    assert_eq!(all.tables.len(), 1);
    let t = &all.tables[0];
    let titles = t.row_titles();
    assert_eq!(titles, KEPT.map(|k| k.0.to_string()), "MNIST-C's order, then the mean");
    assert_eq!(all.family.len(), 5, "the family: 4 corruptions and their mean, 5:1 against O");
    let five = t.mixes.iter().position(|m| *m == Mix::new(5, 1)).unwrap();
    let got: Vec<_> = (0..titles.len()).map(|r| t.diffs[r][five].expect("every row has a difference")).collect();
    let live = scipy(&rows);
    for (r, (name, kept)) in KEPT.iter().enumerate() {
        let j = got[r].judged;
        let ours = [j.p, j.p_holm, j.tost_p, j.tost_p_holm];
        for (want, source) in [(Some(*kept), "kept SciPy"), (live.as_ref().map(|l| l[r]), "live SciPy")] {
            let Some(want) = want else { continue };
            for (i, what) in ["p", "p Holm", "TOST p", "TOST p Holm"].iter().enumerate() {
                assert!(close(ours[i], want[i]), "{name} {what}: ours {} vs {source} {}", ours[i], want[i]);
            }
        }
    }
    let verdicts: Vec<Verdict> = got.iter().map(|c| c.verdict()).collect();
    assert_eq!(
        verdicts,
        [Verdict::Better, Verdict::Equivalent, Verdict::Inconclusive, Verdict::Inconclusive, Verdict::Better],
        "true difference, true equivalence, Holm-rejected difference, null, mean"
    );
    // Without Holm motion blur would be called better: the adjustment is what decides it.
    let mb = got[2].judged;
    assert!(mb.p < 0.05 && mb.p_holm >= 0.05, "{mb:?}");
    // The Markdown and the CSV carry the margin, raw and adjusted p and the verdict.
    let md = t.markdown();
    assert!(md.contains("**equivalent** (p 0.5614, Holm 1.0000; TOST <0.0001, Holm <0.0001)"), "{md}");
    assert!(md.contains("**inconclusive** (p 0.0375, Holm 0.1124; TOST 0.3487, Holm 1.0000)"), "{md}");
    let mut csv = synthmix_core::report::results::CsvText::new(&corruptions::CSV_HEADER).unwrap();
    t.csv_rows(&mut csv).unwrap();
    let text = csv.text().unwrap();
    let line = text.lines().find(|l| l.contains(",motion_blur,5:1,")).unwrap();
    assert!(line.ends_with(",inconclusive,0.005,3.745236e-2,1.123571e-1,3.486924e-1,1.000000e0"), "{line}");
    assert!(all.describe().contains("**5 comparisons**"), "{}", all.describe());
}
