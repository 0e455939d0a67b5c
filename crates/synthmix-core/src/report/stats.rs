//! Every statistic the reports print: summaries over seeds, t-intervals
//! (one-sample, paired by seed, Welch), the Student t distribution, p-values,
//! TOST equivalence against a margin, the Holm adjustment, and the verdict
//! words. Nothing else in the report computes an interval or a verdict.
//!
//! The t distribution comes from `statrs` (incomplete beta functions, tested
//! here against SciPy values) rather than our own series: a well-kept crate
//! whose accuracy is checked, instead of the 0.975-only lookup table the
//! reports used before.

use statrs::distribution::{Continuous, ContinuousCDF, StudentsT};

/// The confidence level of every interval the reports print.
pub const LEVEL: f64 = 0.95;

/// The plain mean (None for no values).
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Mean, sample standard deviation (n − 1; 0 for one value) and count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub std: f64,
    pub n: usize,
}

impl Summary {
    pub fn of(v: &[f64]) -> Option<Summary> {
        let (n, mean) = (v.len(), mean(v)?);
        let std = if n > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        Some(Summary { mean, std, n })
    }
}

/// P(T ≤ t) for Student's t with `df` degrees of freedom (df > 0; may be fractional).
pub fn t_cdf(t: f64, df: f64) -> f64 {
    assert!(df > 0.0, "t distribution with df = {df}");
    if t.is_nan() {
        return f64::NAN;
    }
    student(df).cdf(t)
}

/// The `p` quantile of Student's t with `df` degrees of freedom (0 < p < 1, df > 0).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0 && df > 0.0, "t quantile at p = {p}, df = {df}");
    let d = student(df);
    let mut x = d.inverse_cdf(p);
    // statrs's inverse loses digits at large df (1e-8 at df 5000) where its
    // CDF keeps them: two Newton steps on the CDF (the upper tail above the
    // median, against cancellation) make the quantile as exact as the CDF.
    for _ in 0..2 {
        let f = d.pdf(x);
        if !(x.is_finite() && f > 0.0) {
            break;
        }
        x += if p > 0.5 { (d.sf(x) - (1.0 - p)) / f } else { (p - d.cdf(x)) / f };
    }
    x
}

/// P(T > t), without the cancellation of 1 − cdf in the far tail.
fn t_sf(t: f64, df: f64) -> f64 {
    student(df).sf(t)
}

fn student(df: f64) -> StudentsT {
    StudentsT::new(0.0, 1.0, df).expect("df was checked positive")
}

/// A mean with its interval (at `LEVEL` unless asked otherwise) and how many
/// values it came from; infinite where there is no spread to estimate (n < 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

impl Interval {
    /// Mean and 95 % one-sample t-interval of `v` (None for no values).
    pub fn of(v: &[f64]) -> Option<Interval> {
        Estimate::one_sample(v).map(|e| e.interval(LEVEL))
    }

    /// `+0.0123 [-0.0040, +0.0286] (n=3)`; signed for differences, plain for levels.
    pub fn text(&self, signed: bool) -> String {
        let f = |x: f64| if signed { format!("{x:+.4}") } else { format!("{x:.4}") };
        if self.lo.is_finite() {
            format!("{} [{}, {}] (n={})", f(self.mean), f(self.lo), f(self.hi), self.n)
        } else {
            format!("{} [no interval] (n={})", f(self.mean), self.n)
        }
    }

    /// Where the interval lies against `threshold`.
    pub fn against(&self, threshold: f64) -> Position {
        if self.lo > threshold {
            Position::Above
        } else if self.hi < threshold {
            Position::Below
        } else {
            Position::Straddles
        }
    }

    /// Wholly inside (−margin, +margin).
    pub fn inside(&self, margin: f64) -> bool {
        self.lo > -margin && self.hi < margin
    }

    /// Wholly outside [−margin, +margin].
    pub fn outside(&self, margin: f64) -> bool {
        self.lo > margin || self.hi < -margin
    }
}

/// An interval's place against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Above,
    Below,
    Straddles,
}

/// `a − b` for every seed both have (a's order).
pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Vec<f64> {
    a.iter().filter_map(|(s, x)| b.iter().find(|(s2, _)| s2 == s).map(|(_, y)| x - y)).collect()
}

/// An estimated mean (or difference of means) with its standard error and
/// degrees of freedom: what every interval, p-value and TOST is computed from.
/// `df` is 0 where no spread can be estimated (one value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub se: f64,
    pub df: f64,
    pub n: usize,
}

impl Estimate {
    /// The mean of `v`, with the one-sample t's standard error and n − 1 df.
    pub fn one_sample(v: &[f64]) -> Option<Estimate> {
        let s = Summary::of(v)?;
        Some(Estimate { mean: s.mean, se: s.std / (s.n as f64).sqrt(), df: (s.n - 1) as f64, n: s.n })
    }

    /// `a − b` paired by seed (the seeds both have).
    pub fn paired(a: &[(u64, f64)], b: &[(u64, f64)]) -> Option<Estimate> {
        Estimate::one_sample(&paired(a, b))
    }

    /// `mean(b) − mean(a)` by Welch's unequal-variance t (Welch–Satterthwaite
    /// df, fractional as in SciPy). No spread (df 0) when a side has n < 2.
    pub fn welch(a: &Summary, b: &Summary) -> Estimate {
        let mean = b.mean - a.mean;
        let n = a.n + b.n;
        if a.n < 2 || b.n < 2 {
            return Estimate { mean, se: f64::NAN, df: 0.0, n };
        }
        let (va, vb) = (a.std.powi(2) / a.n as f64, b.std.powi(2) / b.n as f64);
        let se = (va + vb).sqrt();
        let df = if se == 0.0 {
            // No spread on either side: the interval is the point; any df gives it.
            (n - 2) as f64
        } else {
            (va + vb).powi(2) / (va.powi(2) / (a.n - 1) as f64 + vb.powi(2) / (b.n - 1) as f64)
        };
        Estimate { mean, se, df, n }
    }

    /// Whether a spread was estimated (df > 0).
    pub fn has_spread(&self) -> bool {
        self.df > 0.0
    }

    /// The two-sided interval at `level` (infinite without spread; the point
    /// itself where every value agreed).
    pub fn interval(&self, level: f64) -> Interval {
        let half = if !self.has_spread() {
            f64::INFINITY
        } else if self.se == 0.0 {
            0.0
        } else {
            t_quantile(0.5 + level / 2.0, self.df) * self.se
        };
        Interval { mean: self.mean, lo: self.mean - half, hi: self.mean + half, n: self.n }
    }

    /// Two-sided p-value of "the mean is 0" (1 without spread).
    pub fn p_value(&self) -> f64 {
        if !self.has_spread() {
            return 1.0;
        }
        if self.se == 0.0 {
            return if self.mean == 0.0 { 1.0 } else { 0.0 };
        }
        let t = (self.mean / self.se).abs();
        (2.0 * t_sf(t, self.df)).min(1.0)
    }

    /// TOST p-value of "the mean lies within ±margin": the larger of the two
    /// one-sided p-values (equivalence at α when it is below α, the same as the
    /// 1 − 2α interval lying inside the margin). 1 without spread.
    pub fn tost_p(&self, margin: f64) -> f64 {
        if !self.has_spread() {
            return 1.0;
        }
        if self.se == 0.0 {
            return if self.mean.abs() < margin { 0.0 } else { 1.0 };
        }
        let lower = t_sf((self.mean + margin) / self.se, self.df);
        let upper = t_cdf((self.mean - margin) / self.se, self.df);
        lower.max(upper)
    }
}

/// Holm's step-down adjustment: p-values that control the family-wise error
/// rate over all of `p` (same order as given).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    adjusted
}

/// What a comparison of A against a reference shows (from [`judge_family`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    /// Within the equivalence margin (TOST).
    Equivalent,
    /// Every paired value was exactly the reference's.
    Identical,
    Inconclusive,
}

impl Verdict {
    pub const ALL: [Verdict; 5] =
        [Verdict::Better, Verdict::Worse, Verdict::Equivalent, Verdict::Identical, Verdict::Inconclusive];

    pub fn word(self) -> &'static str {
        match self {
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::Equivalent => "equivalent",
            Verdict::Identical => "identical",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// A comparison's tests within its family: raw and Holm-adjusted p-values of
/// the difference and of equivalence, and the verdict at α they give.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judged {
    pub p: f64,
    pub p_holm: f64,
    pub tost_p: f64,
    pub tost_p_holm: f64,
    pub verdict: Verdict,
}

/// Judges a family of differences together: Holm over the difference tests
/// and, separately, over the equivalence tests (margin `margin`). Better or
/// worse where the adjusted difference test rejects at `alpha`, equivalent
/// where the adjusted TOST does, else inconclusive (a difference and
/// equivalence cannot both reject at α < 0.5).
pub fn judge_family(family: &[Estimate], margin: f64, alpha: f64) -> Vec<Judged> {
    let p: Vec<f64> = family.iter().map(Estimate::p_value).collect();
    let tost: Vec<f64> = family.iter().map(|e| e.tost_p(margin)).collect();
    let (p_holm, tost_holm) = (holm(&p), holm(&tost));
    family
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let verdict = if p_holm[i] < alpha {
                if e.mean > 0.0 {
                    Verdict::Better
                } else {
                    Verdict::Worse
                }
            } else if tost_holm[i] < alpha {
                Verdict::Equivalent
            } else {
                Verdict::Inconclusive
            };
            Judged { p: p[i], p_holm: p_holm[i], tost_p: tost[i], tost_p_holm: tost_holm[i], verdict }
        })
        .collect()
}

/// The equivalence margin of every accuracy-like difference the reports
/// judge (half a percentage point), unless a table states another.
pub const MARGIN: f64 = 0.005;

/// The family-wise error rate every report's verdicts control (Holm).
pub const ALPHA: f64 = 0.05;

/// One comparison judged within its family: the estimate, its 95 % interval,
/// the margin of its equivalence test and the tests' raw and Holm p-values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compared {
    pub estimate: Estimate,
    pub interval: Interval,
    pub margin: f64,
    pub judged: Judged,
}

impl Compared {
    /// The verdict; "identical" where every paired value was exactly the
    /// reference's (no test is needed to say so).
    pub fn verdict(&self) -> Verdict {
        let e = &self.estimate;
        if e.has_spread() && e.se == 0.0 && e.mean == 0.0 {
            Verdict::Identical
        } else {
            self.judged.verdict
        }
    }

    /// The same comparison the other way round (`b − a`): the same tests,
    /// the interval and the direction flipped.
    pub fn negated(&self) -> Compared {
        let (e, i) = (&self.estimate, &self.interval);
        let verdict = match self.judged.verdict {
            Verdict::Better => Verdict::Worse,
            Verdict::Worse => Verdict::Better,
            v => v,
        };
        Compared {
            estimate: Estimate { mean: -e.mean, ..*e },
            interval: Interval { mean: -i.mean, lo: -i.hi, hi: -i.lo, n: i.n },
            margin: self.margin,
            judged: Judged { verdict, ..self.judged },
        }
    }

    /// `+0.0123 [-0.0040, +0.0286] (n=3)`.
    pub fn interval_text(&self) -> String {
        self.interval.text(true)
    }

    /// `p 0.0310, Holm 0.4650; TOST 0.2100, Holm 1.0000`.
    pub fn p_text(&self) -> String {
        let j = &self.judged;
        format!(
            "p {}, Holm {}; TOST {}, Holm {}",
            p_text(j.p),
            p_text(j.p_holm),
            p_text(j.tost_p),
            p_text(j.tost_p_holm)
        )
    }

    /// `p 0.0310, Holm 0.4650` (the difference test only).
    pub fn judged_p(&self) -> String {
        format!("p {}, Holm {}", p_text(self.judged.p), p_text(self.judged.p_holm))
    }

    /// Interval, verdict and p-values in one table cell.
    pub fn cell(&self) -> String {
        format!("{} **{}** ({})", self.interval_text(), self.verdict().word(), self.p_text())
    }
}

/// An optional judged comparison as a table cell (`–` where not measured).
pub fn compared_cell(c: Option<Compared>) -> String {
    c.map(|c| c.cell()).unwrap_or_else(|| "–".into())
}

/// A p-value for a table: four decimals, `<0.0001` below.
pub fn p_text(p: f64) -> String {
    if p < 1e-4 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

/// A report's family of comparisons, judged together: every comparison is
/// collected (keyed by `K`) before any is judged, so Holm sees them all.
#[derive(Debug, Clone)]
pub struct Family<K> {
    pub margin: f64,
    pub members: Vec<(K, Compared)>,
}

impl<K: PartialEq> Family<K> {
    /// Judges `items` (comparisons without a spread estimate take part with p = 1).
    pub fn judge(items: Vec<(K, Estimate)>, margin: f64) -> Family<K> {
        let estimates: Vec<Estimate> = items.iter().map(|x| x.1).collect();
        let judged = judge_family(&estimates, margin, ALPHA);
        let members = items
            .into_iter()
            .zip(judged)
            .map(|((k, e), judged)| (k, Compared { estimate: e, interval: e.interval(LEVEL), margin, judged }))
            .collect();
        Family { margin, members }
    }

    pub fn get(&self, k: &K) -> Option<&Compared> {
        self.members.iter().find(|(x, _)| x == k).map(|x| &x.1)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// How many comparisons got each verdict, in [`Verdict::ALL`]'s order.
    pub fn counts(&self) -> Vec<(Verdict, usize)> {
        Verdict::ALL.iter().map(|v| (*v, self.members.iter().filter(|m| m.1.verdict() == *v).count())).collect()
    }

    /// The paragraph every report prints above its comparisons: what the
    /// family is, its size, the margin and how verdicts are reached.
    pub fn describe(&self, what: &str) -> String {
        let counts: Vec<String> =
            self.counts().into_iter().filter(|c| c.1 > 0).map(|(v, n)| format!("{n} {}", v.word())).collect();
        format!(
            "Verdicts: the family is {what}: **{} comparisons**, judged together. Each is a difference with its \
             95 % Student-t interval; its p-value (two-sided t-test of no difference) and its equivalence p-value \
             (TOST against a margin of **±{}**) are Holm-adjusted over the whole family. **better**/**worse**: the \
             adjusted difference p < {ALPHA}; **equivalent**: the adjusted TOST p < {ALPHA}; **inconclusive**: \
             neither (**identical**: every seed scored exactly as the reference). Tables show the raw and the \
             Holm-adjusted p of both tests. This family: {}.\n",
            self.len(),
            self.margin,
            if counts.is_empty() { "empty".to_string() } else { counts.join(", ") }
        )
    }
}

#[cfg(test)]
mod tests {
    //! Reference values computed with SciPy 1.17.1 and statsmodels 0.14
    //! (`scipy.stats.t`, `ttest_1samp`, `ttest_ind(equal_var=False)`,
    //! `statsmodels…ttost_paired/ttost_ind`, `multipletests(method="holm")`);
    //! tests/stats_scipy.rs recomputes them live where SciPy is installed.
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs().max(1.0)
    }

    #[test]
    fn t_quantiles_match_scipy() {
        let cases = [
            (0.975, 1.0, 12.706204736174694),
            (0.975, 2.0, 4.302652729749462),
            (0.975, 3.0, 3.1824463052837078),
            (0.975, 4.5, 2.6589123472044034),
            (0.975, 10.0, 2.228138851986274),
            (0.975, 30.0, 2.0422724563012378),
            (0.975, 31.0, 2.039513446396408),
            (0.975, 1000.0, 1.9623390808264083),
            (0.95, 2.0, 2.9199855803537242),
            (0.95, 5.0, 2.0150483733330233),
            (0.995, 3.0, 5.840909309733355),
            (0.9, 7.25, 1.409884895325902),
            (0.025, 4.0, -2.7764451051977943),
            (0.5, 3.0, 0.0),
            (0.999, 2.0, 22.327124770119866),
        ];
        for (p, df, want) in cases {
            let got = t_quantile(p, df);
            assert!(close(got, want, 1e-10), "t_quantile({p}, {df}) = {got}, SciPy {want}");
        }
    }

    #[test]
    fn t_cdfs_match_scipy() {
        let cases = [
            (0.0, 3.0, 0.5),
            (2.5, 1.0, 0.8788810584091566),
            (2.5, 2.0, 0.9351941398892446),
            (-1.3, 4.5, 0.128098043972017),
            (3.7, 10.0, 0.9979457515899799),
            (-8.0, 2.0, 0.00763403608266907),
            (0.4, 30.0, 0.654004741742904),
            (12.0, 5.0, 0.9999645525374142),
            (1.96, 1e6, 0.9750019662073651),
        ];
        for (t, df, want) in cases {
            let got = t_cdf(t, df);
            assert!(close(got, want, 1e-10), "t_cdf({t}, {df}) = {got}, SciPy {want}");
        }
    }

    const D: [f64; 5] = [0.004, 0.011, -0.002, 0.007, 0.006];

    #[test]
    fn one_sample_interval_p_value_and_tost_match_scipy() {
        let e = Estimate::one_sample(&D).unwrap();
        let i95 = e.interval(0.95);
        assert!(close(i95.lo, -0.0007158481468579466, 1e-10) && close(i95.hi, 0.011115848146857947, 1e-10), "{i95:?}");
        let i90 = e.interval(0.90);
        assert!(close(i90.lo, 0.0006576152661310654, 1e-10) && close(i90.hi, 0.009742384733868934, 1e-10), "{i90:?}");
        assert!(close(e.p_value(), 0.07117150500501779, 1e-9), "{}", e.p_value());
        assert!(close(e.tost_p(0.01), 0.04368926423370307, 1e-9), "{}", e.tost_p(0.01));
        assert!(close(e.tost_p(0.015), 0.005017836157683842, 1e-9), "{}", e.tost_p(0.015));
        // TOST at α is the 1 − 2α interval inside the margin.
        assert_eq!(e.tost_p(0.01) < 0.05, i90.inside(0.01));
    }

    #[test]
    fn welch_matches_scipy() {
        let a = Summary::of(&[0.91, 0.92, 0.905]).unwrap();
        let b = Summary::of(&[0.93, 0.925, 0.94, 0.935]).unwrap();
        let w = Estimate::welch(&a, &b);
        assert!(close(w.df, 3.9593147751605793, 1e-12), "{w:?}");
        assert!(close(w.mean / w.se, 3.8124642583151087, 1e-12), "{w:?}");
        assert!(close(w.p_value(), 0.01925921541495945, 1e-9), "{}", w.p_value());
        let i = w.interval(0.95);
        assert!(close(i.lo, 0.005599676039471037, 1e-10) && close(i.hi, 0.03606699062719548, 1e-10), "{i:?}");
        assert!(close(w.tost_p(0.01), 0.9404046466906109, 1e-9), "{}", w.tost_p(0.01));
        assert!(close(w.tost_p(0.04), 0.012572156470615471, 1e-9), "{}", w.tost_p(0.04));
    }

    #[test]
    fn holm_matches_statsmodels() {
        let p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04];
        let want = [0.05, 0.12, 0.12, 0.03, 0.2, 0.12];
        for (got, want) in holm(&p).iter().zip(want) {
            assert!(close(*got, want, 1e-12), "{:?}", holm(&p));
        }
        assert!(holm(&[]).is_empty());
        assert_eq!(holm(&[0.7, 0.9]), vec![1.0, 1.0], "capped at 1");
    }

    #[test]
    fn judging_a_family_corrects_for_multiplicity() {
        // Alone, D's equivalence at ±0.01 holds (TOST p 0.044); in a family of
        // three with two weaker comparisons Holm makes it 0.131: inconclusive.
        let d = Estimate::one_sample(&D).unwrap();
        assert_eq!(judge_family(&[d], 0.01, 0.05)[0].verdict, Verdict::Equivalent);
        let far = Estimate::one_sample(&[0.05, 0.06, 0.055]).unwrap();
        let vague = Estimate::one_sample(&[-0.02, 0.03, 0.01]).unwrap();
        let j = judge_family(&[d, far, vague], 0.01, 0.05);
        assert!(close(j[0].tost_p_holm, 3.0 * 0.04368926423370307, 1e-9), "{j:?}");
        assert_eq!(
            j.iter().map(|x| x.verdict).collect::<Vec<_>>(),
            [Verdict::Inconclusive, Verdict::Better, Verdict::Inconclusive]
        );
        let worse = Estimate::one_sample(&[-0.05, -0.06, -0.055]).unwrap();
        assert_eq!(judge_family(&[worse], 0.01, 0.05)[0].verdict, Verdict::Worse);
    }

    #[test]
    fn degenerate_inputs() {
        let one = Estimate::one_sample(&[0.3]).unwrap();
        assert!(one.interval(LEVEL).lo.is_infinite() && one.p_value() == 1.0 && one.tost_p(0.1) == 1.0);
        let flat = Estimate::one_sample(&[0.0, 0.0, 0.0]).unwrap();
        let i = flat.interval(LEVEL);
        assert_eq!((i.lo, i.hi), (0.0, 0.0));
        let judged = Family::judge(vec![((), flat)], MARGIN);
        assert_eq!(judged.get(&()).unwrap().verdict(), Verdict::Identical);
        assert_eq!((flat.p_value(), flat.tost_p(0.01)), (1.0, 0.0));
        assert!(Interval::of(&[]).is_none());
        let short = Summary::of(&[0.5]).unwrap();
        assert!(!Estimate::welch(&short, &Summary::of(&[0.4, 0.6]).unwrap()).has_spread());
    }
}
