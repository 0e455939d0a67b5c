//! The paper's claims, tested over seeds. Each claim is one or more
//! statistics: a paired difference of accuracies (same study seed, same
//! generator: `acc(A) − acc(B)` per seed) or a single accuracy, with a 95 %
//! Student-t confidence interval of its mean over seeds, and a verdict that
//! follows from where the interval lies against the claim's threshold.

use std::fmt::Write as _;

use super::document::{Block, Cell, Kind, Provenance, Table, Tone};
use super::md;
use super::model::{dataset_title, Cells, GenId, Mix, TestKind};
use super::stats::{paired, Interval, Position};
use super::study::PaperValues;

/// What a statistic must show for its claim to hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Expect {
    /// The mean is above this (the whole interval for "holds").
    Above(f64),
    Below(f64),
    /// Within ±margin of 0 (an equivalence test: the whole interval inside).
    Within(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    DoesNotHold,
    Inconclusive,
}

impl Verdict {
    /// Its colour on the page.
    pub fn tone(&self) -> Tone {
        match self {
            Verdict::Holds => Tone::Good,
            Verdict::DoesNotHold => Tone::Bad,
            Verdict::Inconclusive => Tone::Neutral,
        }
    }

    pub fn text(&self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive at this n",
        }
    }
}

impl Expect {
    pub fn verdict(&self, i: &Interval) -> Verdict {
        let (holds, fails) = match *self {
            Expect::Above(t) => (i.against(t) == Position::Above, i.against(t) == Position::Below),
            Expect::Below(t) => (i.against(t) == Position::Below, i.against(t) == Position::Above),
            Expect::Within(m) => (i.inside(m), i.outside(m)),
        };
        match (holds, fails) {
            (true, _) => Verdict::Holds,
            (_, true) => Verdict::DoesNotHold,
            _ => Verdict::Inconclusive,
        }
    }

    fn text(&self) -> String {
        match self {
            Expect::Above(t) => format!("> {t}"),
            Expect::Below(t) => format!("< {t}"),
            Expect::Within(m) => format!("within ±{m}"),
        }
    }
}

/// One tested statistic of a claim.
#[derive(Debug, Clone)]
pub struct Stat {
    pub what: String,
    pub expect: Expect,
    pub interval: Option<Interval>,
    /// The paper's value of the same statistic, where it has both numbers.
    pub paper: Option<f64>,
    /// A difference (signed) rather than a level.
    pub difference: bool,
    /// The cells (mix, test set) it is computed from, for the files behind it.
    pub inputs: Vec<(Mix, TestKind)>,
}

impl Stat {
    pub fn verdict(&self) -> Verdict {
        self.interval.map(|i| self.expect.verdict(&i)).unwrap_or(Verdict::Inconclusive)
    }
}

/// A claim of the paper and what tests it here.
#[derive(Debug, Clone)]
pub struct Claim {
    pub number: usize,
    pub text: &'static str,
    /// Per dataset and generator: the statistics; empty when not testable here.
    pub tests: Vec<(String, Option<GenId>, Vec<Stat>)>,
    /// Why it cannot be tested (or fully tested) here.
    pub untested: Vec<String>,
    /// Lines that say more than the verdict (e.g. per-corruption effects).
    pub notes: Vec<String>,
}

impl Claim {
    /// All statistics hold → holds; any does not → does not hold; else inconclusive.
    pub fn verdict_of(stats: &[Stat]) -> Verdict {
        let v: Vec<Verdict> = stats.iter().map(Stat::verdict).collect();
        if v.is_empty() {
            Verdict::Inconclusive
        } else if v.contains(&Verdict::DoesNotHold) {
            Verdict::DoesNotHold
        } else if v.iter().all(|x| *x == Verdict::Holds) {
            Verdict::Holds
        } else {
            Verdict::Inconclusive
        }
    }
}

/// Looks up per-seed accuracies and the paper's values.
pub struct Source<'a> {
    pub cells: &'a Cells,
    pub paper: &'a PaperValues,
}

impl Source<'_> {
    fn values(&self, d: &str, g: &Option<GenId>, m: Mix, t: &TestKind) -> Vec<(u64, f64)> {
        self.cells.get(&(d.to_string(), g.clone(), m, t.clone())).map(|c| c.values.clone()).unwrap_or_default()
    }

    /// `acc(a) − acc(b)` paired by seed, both on test `t`.
    fn diff(&self, d: &str, g: &Option<GenId>, a: Mix, b: Mix, t: &TestKind, expect: Expect) -> Stat {
        let va = self.values(d, g, a, t);
        let vb = self.values(d, g, b, t);
        let diffs = paired(&va, &vb);
        let paper = match (self.paper.get(d, &a, t), self.paper.get(d, &b, t)) {
            (Some(x), Some(y)) => Some(x - y),
            _ => None,
        };
        Stat {
            what: format!("acc({}) − acc({}) on {}", a.label(), b.label(), t.title()),
            expect,
            interval: Interval::of(&diffs),
            paper,
            difference: true,
            inputs: vec![(a, t.clone()), (b, t.clone())],
        }
    }

    /// `acc(m)` on test `t`.
    fn level(&self, d: &str, g: &Option<GenId>, m: Mix, t: &TestKind, expect: Expect) -> Stat {
        let v: Vec<f64> = self.values(d, g, m, t).iter().map(|x| x.1).collect();
        Stat {
            what: format!("acc({}) on {}", m.label(), t.title()),
            expect,
            interval: Interval::of(&v),
            paper: self.paper.get(d, &m, t),
            difference: false,
            inputs: vec![(m, t.clone())],
        }
    }
}

const O: Mix = Mix { original: 1, synthetic: 0 };
const S: Mix = Mix { original: 0, synthetic: 1 };
const fn r(o: u32, s: u32) -> Mix {
    Mix { original: o, synthetic: s }
}

/// The thresholds that turn the paper's words into tests, stated in the report.
pub const FAIL_BELOW: f64 = 0.5;
pub const DECENT_ABOVE: f64 = 0.5;
pub const CLOSE_WITHIN: f64 = 0.01;

/// Tests every claim on the (dataset, generator) pairs that have results.
pub fn test_all(src: &Source, expected_datasets: &[String]) -> Vec<Claim> {
    let mut pairs: Vec<(String, Option<GenId>)> = src.cells.keys().map(|k| (k.0.clone(), k.1.clone())).collect();
    pairs.sort_by_key(|(d, g)| (super::model::dataset_rank(d), d.clone(), g.clone()));
    pairs.dedup();
    let shot = TestKind::Corrupted("shot_noise".into());
    let has = |d: &str, g: &Option<GenId>, m: Mix, t: &TestKind| !src.values(d, g, m, t).is_empty();

    let mut c1 = Claim {
        number: 1,
        text:
            "A model trained on O only fails on a synthetic test set, while S-trained models do decently on real data.",
        tests: vec![],
        untested: vec![],
        notes: vec![],
    };
    let mut c2 = Claim { number: 2, text: "A small synthetic share (5:1) keeps real-test accuracy close to O/O and raises accuracy on out-of-distribution data (MNIST-C).", tests: vec![], untested: vec![], notes: vec![] };
    let mut c3 = Claim {
        number: 3,
        text: "On MNIST-C, 6:1 and 7:1 beat O; 9:1 and 10:1 fall below it.",
        tests: vec![],
        untested: vec![],
        notes: vec![],
    };
    for (d, g) in &pairs {
        let (orig, syn) = (TestKind::Original, TestKind::Synthetic);
        if has(d, g, O, &syn) && has(d, g, S, &orig) {
            c1.tests.push((
                d.clone(),
                g.clone(),
                vec![
                    src.level(d, g, O, &syn, Expect::Below(FAIL_BELOW)),
                    src.level(d, g, S, &orig, Expect::Above(DECENT_ABOVE)),
                ],
            ));
        }
        if has(d, g, r(5, 1), &orig) && has(d, g, O, &orig) {
            let mut v = vec![src.diff(d, g, r(5, 1), O, &orig, Expect::Within(CLOSE_WITHIN))];
            if has(d, g, r(5, 1), &shot) {
                v.push(src.diff(d, g, r(5, 1), O, &shot, Expect::Above(0.0)));
            }
            c2.tests.push((d.clone(), g.clone(), v));
        }
        let c3_stats: Vec<Stat> = [
            (r(6, 1), Expect::Above(0.0)),
            (r(7, 1), Expect::Above(0.0)),
            (r(9, 1), Expect::Below(0.0)),
            (r(10, 1), Expect::Below(0.0)),
        ]
        .into_iter()
        .filter(|(m, _)| has(d, g, *m, &shot) && has(d, g, O, &shot))
        .map(|(m, e)| src.diff(d, g, m, O, &shot, e))
        .collect();
        if !c3_stats.is_empty() {
            c3.tests.push((d.clone(), g.clone(), c3_stats));
        }
    }
    if !pairs.iter().any(|(d, _)| d == "fashion-mnist") && expected_datasets.iter().any(|d| d == "fashion-mnist") {
        c1.untested.push("Fashion-MNIST: not run".into());
    }
    let c4 = Claim {
        number: 4,
        text: "Synthetic data helps with class imbalance (abstract and introduction; no experiment in the paper shows it).",
        tests: vec![],
        untested: vec!["not tested here: the study trains on the balanced real sets only; an imbalance regime (step and long-tail subsets, the generator trained on the same reduced set) is needed to test it".into()],
        notes: vec![],
    };
    let cifar = pairs.iter().any(|(d, _)| super::model::paper_dataset(d) == "cifar-10");
    let mut c5 = Claim {
        number: 5,
        text: "The effects are weaker on CIFAR-10.",
        tests: vec![],
        untested: vec![],
        notes: vec![],
    };
    if cifar {
        c5.untested.push("compare the CIFAR-10 rows of claims 1 and 2 with MNIST's above; no single statistic is defined for \"weaker\"".into());
    } else {
        c5.untested.push(format!(
            "not run: CIFAR-10 is not in the data dir (put cifar-10/cifar-10-batches-bin/ there, or `synthmix data fetch cifar-10`, then `synthmix run pipelines/paper.toml`)"
        ));
    }
    vec![c1, c2, c3, c4, c5, carry_over(src, &pairs)]
}

/// Claim 6 (ours, not the paper's): the shot-noise effect of 5:1–7:1
/// carries over to the other corruptions, tested on the per-seed mean over
/// them; notes list each corruption's effect from the corruption table.
fn carry_over(src: &Source, pairs: &[(String, Option<GenId>)]) -> Claim {
    use super::corruptions::{self, mean_over, HEADLINE_MIXES};
    let mut c = Claim {
        number: 6,
        text: "Question (ours): does the synthetic-share effect on shot noise carry over to the other MNIST-C corruptions? Tested as 5:1–7:1 above O on the mean over the other corruptions.",
        tests: vec![],
        untested: vec![],
        notes: vec![],
    };
    for (d, g) in pairs {
        let others: Vec<TestKind> = corruptions::corruptions_of(src.cells, d)
            .into_iter()
            .filter(|x| x != "shot_noise")
            .map(TestKind::Corrupted)
            .collect();
        if others.is_empty() {
            continue;
        }
        let o = mean_over(src.cells, d, g, O, &others);
        let stats: Vec<Stat> = HEADLINE_MIXES
            .iter()
            .map(|m| (m, mean_over(src.cells, d, g, *m, &others)))
            .filter(|(_, v)| !v.is_empty() && !o.is_empty())
            .map(|(m, v)| Stat {
                what: format!("acc({}) − acc(O), mean over the {} other MNIST-C corruptions", m.label(), others.len()),
                expect: Expect::Above(0.0),
                interval: Interval::of(&paired(&v, &o)),
                paper: None,
                difference: true,
                inputs: others.iter().flat_map(|t| [(*m, t.clone()), (O, t.clone())]).collect(),
            })
            .collect();
        if !stats.is_empty() {
            c.tests.push((d.clone(), g.clone(), stats));
        }
    }
    for t in corruptions::tables(src.cells).tables {
        for (m, by) in t.headline() {
            c.notes.push(format!(
                "{} ({}), per corruption (verdicts of the MNIST-C family, Holm-adjusted): {}",
                dataset_title(&t.dataset),
                t.generator_label(),
                corruptions::headline_line(m, &by)
            ));
        }
    }
    if c.tests.is_empty() {
        c.untested.push("not run: no results on MNIST-C corruptions other than shot noise among the inputs".into());
    }
    c
}

/// The files behind a statistic of dataset and generator.
pub type StatProv<'a> = &'a dyn Fn(&str, &Option<GenId>, &Stat) -> Option<Provenance>;

/// The Claims section: how a claim is tested, then each claim's
/// statistics (`prov`: the files behind each), its verdict per dataset and
/// generator, and what it leaves untested.
pub fn blocks(claims: &[Claim], prov: StatProv) -> Vec<Block> {
    let mut out = Vec::new();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Each statistic is computed per study seed and its mean given with a 95 % Student-t confidence interval \
         over seeds (t with n − 1 degrees of freedom). Differences are paired: the same study seed and the same \
         generator on both sides (the O classifier of a seed is shared by every generator). Verdicts: **holds** when \
         the whole interval is on the claim's side of its threshold, **does not hold** when the whole interval is \
         on the other side, otherwise **inconclusive at this n**. Thresholds that turn the paper's words into tests: \
         \"fails\" = accuracy below {FAIL_BELOW}, \"decently\" = above {DECENT_ABOVE}, \"close\" = within \
         ±{CLOSE_WITHIN} (one percentage point), \"raises\"/\"beats\" = difference above 0.\n"
    );
    for c in claims {
        let _ = writeln!(s, "### Claim {}: {}\n", c.number, c.text);
        if !c.tests.is_empty() {
            out.push(Block::Prose(std::mem::take(&mut s)));
            out.push(Block::Table(table(c, prov)));
            for (d, g, stats) in &c.tests {
                let gl = g.as_ref().map(GenId::label).unwrap_or_else(|| "none".into());
                let (d, gl) = (md::text(&dataset_title(d)), md::text(&gl));
                let _ = writeln!(s, "- {d} ({gl}): **{}**", Claim::verdict_of(stats).text());
            }
            s.push('\n');
        }
        for u in c.untested.iter().chain(&c.notes) {
            let _ = writeln!(s, "- {u}");
        }
        if c.tests.is_empty() && c.untested.is_empty() {
            let _ = writeln!(s, "- no results that test it among the inputs");
        }
        s.push('\n');
    }
    out.push(Block::Prose(s));
    out
}

/// A claim's statistics, a row each.
fn table(c: &Claim, prov: StatProv) -> Table {
    let head = ["Dataset", "Generator", "Statistic", "Ours: mean [95 % CI] (n)", "Expected", "Paper", "Verdict"];
    let mut t = Table::new(head, "lllllrl");
    for (d, g, stats) in &c.tests {
        for st in stats {
            let ours = st.interval.map_or_else(
                || Cell::text("no paired seeds"),
                |i| Cell::number(i.text(st.difference), i.mean).with_prov(prov(d, g, st)),
            );
            let paper = st.paper.map_or_else(
                || Cell::text("n/a"),
                |p| Cell::number(if st.difference { format!("{p:+.4}") } else { format!("{p:.4}") }, p),
            );
            let gl = g.as_ref().map(GenId::label).unwrap_or_else(|| "none".into());
            let v = st.verdict();
            let verdict = Cell { kind: Kind::Claim(v.tone()), ..Cell::text(v.text()) };
            t.row([
                Cell::text(dataset_title(d)),
                Cell::text(gl),
                Cell::text(st.what.clone()),
                ours,
                Cell::text(st.expect.text()),
                paper,
                verdict,
            ]);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_interval_matches_a_hand_computation() {
        // mean 2, sample sd 1, n 3: half width t(0.975, 2) / sqrt(3), t from SciPy.
        let i = Interval::of(&[1.0, 2.0, 3.0]).unwrap();
        assert!((i.mean - 2.0).abs() < 1e-12);
        assert!((i.hi - i.mean - 4.302652729749462 / 3f64.sqrt()).abs() < 1e-9);
        assert!(Interval::of(&[]).is_none());
        assert!(!Interval::of(&[0.5]).unwrap().lo.is_finite());
    }

    #[test]
    fn verdicts_follow_the_interval() {
        let i = |lo, hi| Interval { mean: (lo + hi) / 2.0, lo, hi, n: 3 };
        assert_eq!(Expect::Above(0.0).verdict(&i(0.01, 0.03)), Verdict::Holds);
        assert_eq!(Expect::Above(0.0).verdict(&i(-0.03, -0.01)), Verdict::DoesNotHold);
        assert_eq!(Expect::Above(0.0).verdict(&i(-0.01, 0.03)), Verdict::Inconclusive);
        assert_eq!(Expect::Below(0.5).verdict(&i(0.9, 0.95)), Verdict::DoesNotHold);
        assert_eq!(Expect::Within(0.01).verdict(&i(-0.005, 0.004)), Verdict::Holds);
        assert_eq!(Expect::Within(0.01).verdict(&i(0.02, 0.03)), Verdict::DoesNotHold);
        assert_eq!(Expect::Within(0.01).verdict(&i(0.0, 0.02)), Verdict::Inconclusive);
        let one = Interval::of(&[0.9]).unwrap();
        assert_eq!(Expect::Above(0.0).verdict(&one), Verdict::Inconclusive, "n = 1 decides nothing");
    }
}
