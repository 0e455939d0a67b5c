//! The machine's fp32 peak, measured in the bench's own run: an FMA-loop
//! ceiling on every thread of the pool the workloads use, and a large sgemm
//! through our dense layers' gemm path (`ops::linear::matmul`). Hand-computed
//! peaks went wrong once already (an AVX-512 figure quoted on an AVX2 host).

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::Rng;

/// Independent accumulator chains: FMA latency (4–5 cycles) × FMA units
/// (2) needs ≥ 10 in flight; 12 vectors still fit AVX2's 16 registers
/// beside the two operands.
const CHAINS: usize = 12;

/// Rounds (of `CHAINS` FMAs) between two looks at the clock: ≈ 0.1 ms.
const INNER: u64 = 1 << 14;

/// One measured ceiling: GFLOP/s over all threads, and how it was reached.
#[derive(Clone, Copy, Debug)]
pub struct FmaCeiling {
    pub gflops: f64,
    /// The instruction set the kernel ran with ("avx512f", "avx2+fma", "portable").
    pub isa: &'static str,
    pub threads: usize,
}

/// `fn $name(acc)`: `INNER` rounds of `CHAINS` independent vector FMAs
/// `acc = acc·a + b`, with `std::arch` intrinsics (plain array code under
/// `target_feature` compiled the AVX-512 copy to gathers through the stack).
/// The chains stay in registers; rounded FMAs are never reassociated, so
/// no round can be folded away.
macro_rules! fma_kernel {
    ($name:ident, $feature:literal, $vec:ident, $set1:ident, $fmadd:ident, $loadu:ident, $storeu:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        #[allow(unused_unsafe)]
        // the intrinsics are safe here from Rust 1.87
        // AVX-512's intrinsics and target feature are stable from Rust 1.89,
        // which synthmix-core's Winograd transforms (`avx512f`) need already.
        #[allow(clippy::incompatible_msrv)]
        fn $name(acc: &mut [[f32; std::mem::size_of::<std::arch::x86_64::$vec>() / 4]; CHAINS], a: f32, b: f32) {
            use std::arch::x86_64::*;
            // SAFETY: the caller checked the CPU features; loads and stores
            // stay inside `acc`'s arrays of one vector each.
            unsafe {
                let (va, vb) = ($set1(a), $set1(b));
                let mut v = [va; CHAINS];
                for (x, src) in v.iter_mut().zip(acc.iter()) {
                    *x = $loadu(src.as_ptr());
                }
                for _ in 0..INNER {
                    for x in v.iter_mut() {
                        *x = $fmadd(*x, va, vb);
                    }
                }
                for (dst, x) in acc.iter_mut().zip(v) {
                    $storeu(dst.as_mut_ptr(), x);
                }
            }
        }
    };
}

fma_kernel!(rounds_avx512, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_storeu_ps);
fma_kernel!(rounds_avx2, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps);

/// The fallback: a separate multiply and add (without FMA hardware
/// `mul_add` is a libm call), 4 lanes, still 2 FLOPs per lane.
fn rounds_portable(acc: &mut [[f32; 4]; CHAINS], a: f32, b: f32) {
    let mut v = *acc;
    for _ in 0..INNER {
        for chain in v.iter_mut() {
            for x in chain.iter_mut() {
                *x = *x * a + b;
            }
        }
    }
    *acc = v;
}

/// The widest kernel this CPU runs: (name, lanes).
fn isa() -> (&'static str, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return ("avx512f", 16);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return ("avx2+fma", 8);
        }
    }
    ("portable", 4)
}

/// Runs the kernel until `deadline`; returns the FMAs done per lane.
fn spin_until(deadline: Instant) -> u64 {
    // acc → b / (1 − a) = 1: no overflow, no denormals, never constant.
    let (a, b) = (black_box(0.999_999f32), black_box(1e-6f32));
    let mut rounds = 0u64;
    macro_rules! spin {
        ($lanes:literal, $call:expr) => {{
            let mut acc = [[0.5f32; $lanes]; CHAINS];
            while Instant::now() < deadline {
                $call(&mut acc, a, b);
                rounds += INNER;
            }
            black_box(acc);
        }};
    }
    match isa().0 {
        // SAFETY: `isa` checked that the CPU has these features.
        #[cfg(target_arch = "x86_64")]
        "avx512f" => spin!(16, |acc: &mut _, a, b| unsafe { rounds_avx512(acc, a, b) }),
        #[cfg(target_arch = "x86_64")]
        "avx2+fma" => spin!(8, |acc: &mut _, a, b| unsafe { rounds_avx2(acc, a, b) }),
        _ => spin!(4, rounds_portable),
    }
    rounds * CHAINS as u64
}

/// The FMA ceiling: every thread of rayon's pool (the workloads' threads)
/// runs the kernel for `window` at once; the median of `windows` windows.
/// FLOPs = 2 per lane per FMA.
pub fn fma_ceiling(window: Duration, windows: usize) -> FmaCeiling {
    let (isa, lanes) = isa();
    let mut rates = Vec::new();
    for _ in 0..windows.max(1) {
        let start = Instant::now();
        let deadline = start + window;
        let per_thread = rayon::broadcast(|_| spin_until(deadline));
        let secs = start.elapsed().as_secs_f64();
        let fmas: u64 = per_thread.iter().sum();
        rates.push(2.0 * lanes as f64 * fmas as f64 / secs / 1e9);
    }
    FmaCeiling { gflops: super::median(&rates), isa, threads: rayon::current_num_threads() }
}

/// GFLOP/s of `n × n × n` products through our gemm path: the median of
/// `windows` windows of at least `window` each, after one warm-up product.
pub fn our_sgemm(n: usize, window: Duration, windows: usize) -> f64 {
    let mut r = rand::thread_rng();
    let a: Vec<f32> = (0..n * n).map(|_| r.gen::<f32>() - 0.5).collect();
    let b: Vec<f32> = (0..n * n).map(|_| r.gen::<f32>() - 0.5).collect();
    let product = || {
        black_box(synthmix_core::ops::linear::matmul(&a, &b, (n, n, n)).expect("square operands"));
    };
    product();
    let flops = 2.0 * (n as f64).powi(3);
    let mut rates = Vec::new();
    for _ in 0..windows.max(1) {
        let (t, mut count) = (Instant::now(), 0u32);
        while count == 0 || t.elapsed() < window {
            product();
            count += 1;
        }
        rates.push(flops * count as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    super::median(&rates)
}
