use super::*;
use candle_core::{Device, Var};
use rand::Rng;

/// Forward and the gradients of x, γ and β against the composite candle
/// ops, with and without SiLU, on shapes with one channel per group,
/// one group, odd positions, channels and positions not a multiple of the
/// 8 lanes, one position per channel, and a large offset (the variance of
/// values far from zero, where a one-pass formula would cancel).
/// Tolerances, relative to the largest reference value (or 1): forward
/// 1e-5, gradients 2e-4 (candle sums in f32 over whole groups; ours in
/// f64, and its exp is within 2.5e-7 of the true one).
#[test]
fn matches_candle_ops() {
    let dev = Device::Cpu;
    let mut r = crate::rng::stream(4, "group-norm-test");
    let cases = [
        (vec![2usize, 4, 3, 3], 2, 0.0),
        (vec![3, 8, 5, 7], 8, 0.0),
        (vec![2, 6, 4, 4], 1, 0.0),
        (vec![2, 32, 7, 7], 8, 50.0),
        (vec![1, 4, 10], 2, 0.0),
        (vec![3, 12, 1, 1], 3, 0.0),
        (vec![2, 5, 3, 3], 5, 0.0),
        (vec![2, 10, 9, 9], 2, 0.0),
        (vec![1, 3, 1], 1, 0.0),
        (vec![2, 64, 14, 14], 8, 0.0),
    ];
    for (dims, groups, offset) in cases {
        for silu in [false, true] {
            let n: usize = dims.iter().product();
            let c = dims[1];
            let mut vals = |k: usize, lo: f32, hi: f32| (0..k).map(|_| r.gen_range(lo..hi)).collect::<Vec<f32>>();
            let x = Var::from_vec(vals(n, -2.0, 2.0).iter().map(|v| v + offset).collect(), &dims[..], &dev).unwrap();
            let w = Var::from_vec(vals(c, 0.5, 1.5), c, &dev).unwrap();
            let b = Var::from_vec(vals(c, -0.5, 0.5), c, &dev).unwrap();
            let up = Tensor::from_vec(vals(n, -1.0, 1.0), &dims[..], &dev).unwrap();
            let ours = group_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), groups, silu).unwrap();
            let theirs = composite(x.as_tensor(), w.as_tensor(), b.as_tensor(), groups, silu).unwrap();
            let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let close = |a: &[f32], b: &[f32], tol: f32, what: &str| {
                let s = b.iter().fold(1f32, |m, v| m.max(v.abs()));
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!((p - q).abs() <= tol * s, "{dims:?} groups {groups} silu {silu} {what}[{i}]: {p} vs {q}");
                }
            };
            close(&v(&ours), &v(&theirs), 1e-5, "forward");
            let g1 = (&ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (&theirs * &up).unwrap().sum_all().unwrap().backward().unwrap();
            for (var, what) in [(&x, "dx"), (&w, "dweight"), (&b, "dbias")] {
                close(&v(g1.get(var).unwrap()), &v(g2.get(var).unwrap()), 2e-4, what);
            }
        }
    }
}

#[test]
fn bad_shapes_are_refused() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((2, 6, 3, 3), DType::F32, &dev).unwrap();
    let w = Tensor::ones(6, DType::F32, &dev).unwrap();
    for (groups, want) in [(4, "do not divide"), (0, "do not divide")] {
        let e = group_norm(&x, &w, &w, groups, true).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
    let e = group_norm(&x, &w.narrow(0, 0, 3).unwrap(), &w, 3, true).unwrap_err().to_string();
    assert!(e.contains("must both be [6]"), "{e}");
    let flat = Tensor::zeros((2, 6), DType::F32, &dev).unwrap();
    assert!(group_norm(&flat, &w, &w, 3, true).is_err());
}

/// The bytes of the forward and every gradient are the same on 1, 2 and 3
/// threads (odd shape: 5 images, 12 channels in 4 groups, 7×5 positions).
#[test]
fn the_same_bytes_on_any_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let dev = Device::Cpu;
            let mut r = crate::rng::stream(9, "group-norm-threads");
            let n = 5 * 12 * 7 * 5;
            let x = Var::from_vec((0..n).map(|_| r.gen_range(-2.0f32..2.0)).collect(), (5, 12, 7, 5), &dev).unwrap();
            let w = Var::from_vec((0..12).map(|_| r.gen_range(0.5f32..1.5)).collect(), 12, &dev).unwrap();
            let b = Var::from_vec((0..12).map(|_| r.gen_range(-0.5f32..0.5)).collect(), 12, &dev).unwrap();
            let y = group_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 4, true).unwrap();
            let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            [v(&y), v(g.get(&x).unwrap()), v(g.get(&w).unwrap()), v(g.get(&b).unwrap())]
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

#[cfg(target_arch = "x86_64")]
/// The AVX2 copies of the block kernels give the same bits as the baseline
/// build of the same code (no FMA contraction, lanes fixed in the source).
#[test]
fn avx2_and_baseline_kernels_agree_bit_for_bit() {
    if !vmath::has_avx2() {
        eprintln!("no AVX2 on this CPU: only the baseline kernels run here");
        return;
    }
    let mut r = crate::rng::stream(11, "group-norm-avx2");
    for (cg, p) in [(1, 1), (3, 7), (4, 196), (5, 81), (2, 784)] {
        let n = cg * p;
        let mut vals = |k: usize, lo: f32, hi: f32| (0..k).map(|_| r.gen_range(lo..hi)).collect::<Vec<f32>>();
        let (x, g, w, b) = (vals(n, -3.0, 3.0), vals(n, -1.0, 1.0), vals(cg, 0.5, 1.5), vals(cg, -0.5, 0.5));
        let bits = |v: &[MaybeUninit<f32>]| v.iter().map(|e| unsafe { e.assume_init() }.to_bits()).collect::<Vec<_>>();
        for silu in [false, true] {
            let (mut y0, mut y1) = (vec![MaybeUninit::new(0f32); n], vec![MaybeUninit::new(0f32); n]);
            forward_block(&x, &w, &b, silu, &mut y0);
            // SAFETY: the CPU has AVX2 (checked above).
            unsafe { forward_block_avx2(&x, &w, &b, silu, &mut y1) };
            assert_eq!(bits(&y0), bits(&y1), "forward {cg}×{p} silu {silu}");
            let (mut d0, mut d1) = (vec![MaybeUninit::new(0f32); n], vec![MaybeUninit::new(0f32); n]);
            let (mut wb0, mut wb1) = (vec![0f64; 2 * cg], vec![0f64; 2 * cg]);
            let (dw0, db0) = wb0.split_at_mut(cg);
            backward_block_silu((&x, &g, &w, &b), silu, &mut d0, dw0, db0);
            let (dw1, db1) = wb1.split_at_mut(cg);
            // SAFETY: as above.
            unsafe { backward_block_avx2((&x, &g, &w, &b), silu, &mut d1, dw1, db1) };
            assert_eq!(bits(&d0), bits(&d1), "dx {cg}×{p} silu {silu}");
            assert_eq!(wb0, wb1, "dγ, dβ {cg}×{p} silu {silu}");
        }
    }
}
