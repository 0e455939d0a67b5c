//! `just bench`'s output: the peak reference, then one table of every
//! workload with its GFLOP/s and % of the measured FMA ceiling beside the
//! PyTorch ratio and PyTorch's own % of that ceiling (Markdown on stdout).

use std::collections::BTreeMap;

use super::base_name;
use crate::common::peak::FmaCeiling;

/// The bar for a gemm-bound workload: 85 % of the ceiling, or
/// PyTorch's own % less 5 points where that is lower (issue 35).
const TARGET_PCT: f64 = 85.0;
const TORCH_MARGIN_PCT: f64 = 5.0;

/// Our side of the peak reference.
pub struct OurPeak {
    pub fma: FmaCeiling,
    /// The same loop after both sides ran: a lower figure at either end is
    /// other processes' load, not the machine.
    pub fma_end: Option<FmaCeiling>,
    /// (n, GFLOP/s) of n³ products through `ops::linear::matmul`.
    pub sgemm: Vec<(usize, f64)>,
}

impl OurPeak {
    /// The reference: the higher of the two ceilings.
    pub fn ceiling(&self) -> f64 {
        self.fma_end.map_or(self.fma.gflops, |e| e.gflops.max(self.fma.gflops))
    }
}

/// What the PyTorch script reported (empty where it did not run).
#[derive(Default)]
pub struct Torch {
    pub version: String,
    pub rss_kib: u64,
    /// workload → (images/s, FLOPs per image as it counts them).
    pub rates: BTreeMap<String, (f64, u64)>,
    /// n → GFLOP/s of `torch.mm` on n × n operands.
    pub sgemm: BTreeMap<usize, f64>,
}

impl Torch {
    pub fn from_json(v: &serde_json::Value) -> Self {
        let mut t = Torch {
            version: v["torch_version"].as_str().unwrap_or("-").to_string(),
            rss_kib: v["peak_rss_kib"].as_u64().unwrap_or(0),
            ..Torch::default()
        };
        for (k, r) in v["results"].as_object().into_iter().flatten() {
            if let (Some(x), Some(f)) = (r["images_per_s"].as_f64(), r["flops_per_image"].as_u64()) {
                t.rates.insert(k.clone(), (x, f));
            }
        }
        for (n, r) in v["sgemm"].as_object().into_iter().flatten() {
            if let (Ok(n), Some(g)) = (n.parse(), r["gflops"].as_f64()) {
                t.sgemm.insert(n, g);
            }
        }
        t
    }
}

fn pct(gflops: f64, peak: f64) -> String {
    format!("{:.0} %", 100.0 * gflops / peak)
}

/// The peak reference as its own small table, before the workloads.
pub fn print_peak(p: &OurPeak, torch: &Torch) {
    let (fma, ceiling) = (&p.fma, p.ceiling());
    println!("\n**Peak reference** ({} threads; % of the higher FMA-loop ceiling):\n", fma.threads);
    println!("| measure | GFLOP/s | % of ceiling |");
    println!("|---|---:|---:|");
    let chains = format!("{}, 12 chains, 2 FLOPs/lane/FMA", fma.isa);
    println!("| FMA-loop ceiling, start ({chains}) | {:.1} | {} |", fma.gflops, pct(fma.gflops, ceiling));
    if let Some(e) = p.fma_end {
        println!("| FMA-loop ceiling, end | {:.1} | {} |", e.gflops, pct(e.gflops, ceiling));
    }
    for &(n, g) in &p.sgemm {
        println!("| synthmix sgemm {n}³ (`ops::linear::matmul`) | {g:.1} | {} |", pct(g, ceiling));
        if let Some(&t) = torch.sgemm.get(&n) {
            println!("| PyTorch {} sgemm {n}³ (`torch.mm`) | {t:.1} | {} |", torch.version, pct(t, ceiling));
        }
    }
}

/// The bar a workload must reach (% of the ceiling) and whether it does.
fn target(ours_pct: f64, torch_pct: Option<f64>) -> String {
    let bar = torch_pct.map_or(TARGET_PCT, |t| TARGET_PCT.min(t - TORCH_MARGIN_PCT));
    let verdict = if ours_pct >= bar { "met" } else { "short" };
    format!("≥ {bar:.0} %: {verdict}")
}

/// One row per workload: `ours` maps it to (images/s, FLOPs per image).
pub fn print_workloads(ours: &BTreeMap<String, (f64, u64)>, torch: &Torch, ceiling: Option<f64>) {
    let v = if torch.version.is_empty() { "-" } else { &torch.version };
    println!("\n| workload | synthmix images/s | PyTorch {v} images/s | synthmix / PyTorch | MFLOP/image | synthmix GFLOP/s | synthmix % of peak | PyTorch GFLOP/s | PyTorch % of peak | peak target |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut mismatched = Vec::new();
    for (w, &(rate, flops)) in ours {
        let pt = torch.rates.get(base_name(w));
        if let Some(&(_, f)) = pt.filter(|&&(_, f)| f != flops) {
            mismatched.push(format!("{w} (synthmix {flops}, PyTorch {f})"));
        }
        let gf = rate * flops as f64 / 1e9;
        // PyTorch's rate times our count: the same FLOPs on both sides.
        let pt_gf = pt.map(|&(x, _)| x * flops as f64 / 1e9);
        let show = |x: Option<String>| x.unwrap_or_else(|| "-".into());
        let of_peak = |g: f64| ceiling.map(|c| 100.0 * g / c);
        println!(
            "| {w} | {rate:.0} | {} | {} | {:.1} | {gf:.1} | {} | {} | {} | {} |",
            show(pt.map(|&(x, _)| format!("{x:.0}"))),
            show(pt.map(|&(x, _)| format!("{:.2}x", rate / x))),
            flops as f64 / 1e6,
            show(of_peak(gf).map(|p| format!("{p:.0} %"))),
            show(pt_gf.map(|g| format!("{g:.1}"))),
            show(pt_gf.and_then(of_peak).map(|p| format!("{p:.0} %"))),
            show(of_peak(gf).map(|p| target(p, pt_gf.and_then(of_peak)))),
        );
    }
    if !mismatched.is_empty() {
        println!("\nWARNING FLOPs per image differ between the two sides: {}", mismatched.join(", "));
    }
}
