//! report::stats against SciPy, computed live: t quantiles and CDFs on a grid
//! of levels and fractional df, one-sample / Welch intervals, p-values and
//! TOST on seeded random samples. The unit tests in report/stats.rs hold
//! SciPy's values for fixed inputs; this one widens the grid wherever SciPy is
//! installed (CI installs it for the MNIST-C reference) and says SKIP if not.

use std::process::Command;

use synthmix_core::report::stats::{t_cdf, t_quantile, Estimate, Summary};

fn python() -> String {
    std::env::var("SYNTHMIX_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into())
}

/// Runs `script` under Python with SciPy; None (after saying SKIP) without it.
fn scipy(script: &str) -> Option<String> {
    let probe = Command::new(python()).args(["-c", "import scipy"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("SKIP scipy not installed for {}", python());
        return None;
    }
    let out = Command::new(python()).args(["-c", script]).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

fn nums(line: &str) -> Vec<f64> {
    line.split_whitespace().map(|x| x.parse().unwrap()).collect()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn t_distribution_matches_scipy_on_a_grid() {
    let Some(out) = scipy(
        "from scipy import stats\n\
         for df in [0.7, 1, 1.5, 2, 3, 4, 5.3, 7, 10, 19.5, 30, 31, 60, 250, 5000]:\n\
         \x20   for p in [0.0005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 0.975, 0.995]:\n\
         \x20       print('q', df, p, repr(float(stats.t.ppf(p, df))))\n\
         \x20   for t in [-40, -6.5, -2, -0.3, 0, 0.9, 1.7, 2.2, 3.1, 9]:\n\
         \x20       print('c', df, t, repr(float(stats.t.cdf(t, df))))\n",
    ) else {
        return;
    };
    let mut checked = 0;
    for line in out.lines() {
        let (kind, rest) = line.split_once(' ').unwrap();
        let v = nums(rest);
        let got = if kind == "q" { t_quantile(v[1], v[0]) } else { t_cdf(v[1], v[0]) };
        assert!(close(got, v[2], 1e-9), "{kind} df={} x={}: ours {got}, SciPy {}", v[0], v[1], v[2]);
        checked += 1;
    }
    assert_eq!(checked, 15 * 22);
}

#[test]
fn intervals_p_values_and_tost_match_scipy_on_random_samples() {
    let Some(out) = scipy(
        "import numpy as np\n\
         from scipy import stats\n\
         rng = np.random.default_rng(7)\n\
         for i in range(40):\n\
         \x20   na, nb = rng.integers(2, 9, size=2)\n\
         \x20   a = rng.normal(0.9, rng.uniform(0.001, 0.03), na); b = rng.normal(0.905, rng.uniform(0.001, 0.03), nb)\n\
         \x20   m = float(rng.uniform(0.002, 0.03))\n\
         \x20   o = stats.ttest_1samp(a, 0.0); ci = o.confidence_interval(0.95)\n\
         \x20   w = stats.ttest_ind(b, a, equal_var=False); wi = w.confidence_interval(0.95)\n\
         \x20   d = a - 0.9\n\
         \x20   tost = max(stats.ttest_1samp(d, -m, alternative='greater').pvalue, stats.ttest_1samp(d, m, alternative='less').pvalue)\n\
         \x20   print(' '.join(repr(float(x)) for x in a)); print(' '.join(repr(float(x)) for x in b))\n\
         \x20   print(m, ci.low, ci.high, w.pvalue, wi.low, wi.high, tost, stats.ttest_1samp(d, 0.0).pvalue)\n",
    ) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 120);
    for chunk in lines.chunks(3) {
        let (a, b, r) = (nums(chunk[0]), nums(chunk[1]), nums(chunk[2]));
        let one = Estimate::one_sample(&a).unwrap().interval(0.95);
        assert!(close(one.lo, r[1], 1e-9) && close(one.hi, r[2], 1e-9), "one-sample {a:?}: {one:?} vs {r:?}");
        let w = Estimate::welch(&Summary::of(&a).unwrap(), &Summary::of(&b).unwrap());
        assert!(close(w.p_value(), r[3], 1e-7), "Welch p {a:?} {b:?}: {} vs {}", w.p_value(), r[3]);
        let wi = w.interval(0.95);
        assert!(close(wi.lo, r[4], 1e-9) && close(wi.hi, r[5], 1e-9), "Welch {a:?} {b:?}: {wi:?} vs {r:?}");
        let d: Vec<f64> = a.iter().map(|x| x - 0.9).collect();
        let e = Estimate::one_sample(&d).unwrap();
        assert!(close(e.tost_p(r[0]), r[6], 1e-7), "TOST {d:?} ±{}: {} vs {}", r[0], e.tost_p(r[0]), r[6]);
        assert!(close(e.p_value(), r[7], 1e-7), "p {d:?}: {} vs {}", e.p_value(), r[7]);
    }
}
