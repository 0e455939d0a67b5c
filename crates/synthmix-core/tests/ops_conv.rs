//! `ops::conv::conv2d_bias_act` against candle's own conv2d: forward values,
//! gradients for x, w and b, determinism, and (ignored) a speed comparison:
//! `cargo test --release -p synthmix-core --test suite ops_conv:: -- --ignored --nocapture`.

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use synthmix_core::ops::conv::{conv2d_bias_act, ConvAlgorithm};
use synthmix_core::ops::Act;

const TOL: f32 = 1e-5;

fn randn(rng: &mut ChaCha8Rng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    // Uniform in [-1, 1): enough for comparisons, no rand_distr needed.
    let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// candle's conv2d + bias, before any activation.
fn reference_pre(x: &Tensor, w: &Tensor, b: &Tensor, pad: usize) -> Result<Tensor> {
    let o = w.dim(0)?;
    x.conv2d(w, pad, 1, 1, 1)?.broadcast_add(&b.reshape((1, o, 1, 1))?)
}

/// Checks `got` against `want` elementwise with a rounding-aware relative
/// tolerance: |got - want| <= TOL * mag, where `mag` is the same computation
/// done on absolute values (Σ|a·b| over the terms of each sum), i.e. the scale
/// that floating-point error is relative to. Returns the max of
/// |got - want| / max|want| for reporting.
fn check(what: &str, got: &[f32], want: &[f32], mag: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let mut worst = 0f32;
    for (i, ((g, w), m)) in got.iter().zip(want).zip(mag).enumerate() {
        let err = (g - w).abs();
        assert!(err <= TOL * m, "{what}[{i}]: got {g}, want {w} (|err| {err}, magnitude {m})");
        worst = worst.max(err / scale);
    }
    worst
}

struct Case {
    n: usize,
    c: usize,
    o: usize,
    h: usize,
    w: usize,
    k: (usize, usize),
    pad: usize,
    relu: bool,
}

/// Forward and all three gradients of one case against candle; returns the
/// worst relative error seen (for the log).
fn compare(case: &Case, rng: &mut ChaCha8Rng, x_is_var: bool) -> f32 {
    compare_with(case, rng, x_is_var, ConvAlgorithm::Im2col)
}

/// [`compare`] with the given kernels.
fn compare_with(case: &Case, rng: &mut ChaCha8Rng, x_is_var: bool, algo: ConvAlgorithm) -> f32 {
    let &Case { n, c, o, h, w: wd, k: (kh, kw), pad, relu } = case;
    let x = randn(rng, &[n, c, h, wd]);
    let w = randn(rng, &[o, c, kh, kw]);
    let b = randn(rng, &[o]);
    let (oh, ow) = (h + 2 * pad + 1 - kh, wd + 2 * pad + 1 - kw);
    let r = randn(rng, &[n, o, oh, ow]);

    // Ours, through Vars and backward().
    let (xv, wv, bv) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&w).unwrap(), Var::from_tensor(&b).unwrap());
    let x_in = if x_is_var { xv.as_tensor().clone() } else { x.clone() };
    let act = if relu { Act::Relu } else { Act::Identity };
    let y = conv2d_bias_act(&x_in, wv.as_tensor(), bv.as_tensor(), pad, act, algo).unwrap();
    assert_eq!(y.dims(), &[n, o, oh, ow]);
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();

    // The ReLU mask: ours (out > 0), applied identically to candle's
    // reference, so a pre-activation that rounds to the other side of zero in
    // one implementation cannot make the gradients disagree by a whole term.
    let mask = if relu { y.gt(0f32).unwrap().to_dtype(DType::F32).unwrap() } else { y.ones_like().unwrap() };

    // candle's reference, and the same graph on |inputs| for the magnitudes.
    let reference = |x: &Tensor, w: &Tensor, b: &Tensor, r: &Tensor| {
        let (xv, wv, bv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(w).unwrap(), Var::from_tensor(b).unwrap());
        let pre = reference_pre(xv.as_tensor(), wv.as_tensor(), bv.as_tensor(), pad).unwrap();
        let g = (&pre * (&mask * r).unwrap()).unwrap().sum_all().unwrap().backward().unwrap();
        let dx = vec(g.get(xv.as_tensor()).unwrap());
        let dw = vec(g.get(wv.as_tensor()).unwrap());
        let db = vec(g.get(bv.as_tensor()).unwrap());
        (pre, dx, dw, db)
    };
    let (pre, dx_ref, dw_ref, db_ref) = reference(&x, &w, &b, &r);
    let (pre_mag, dx_mag, dw_mag, db_mag) =
        reference(&x.abs().unwrap(), &w.abs().unwrap(), &b.abs().unwrap(), &r.abs().unwrap());
    let (pre, pre_mag) = (vec(&pre), vec(&pre_mag));

    let out_ref: Vec<f32> = pre.iter().map(|&v| if relu { v.max(0.0) } else { v }).collect();
    let mut worst = check("forward", &vec(&y), &out_ref, &pre_mag);
    if relu {
        // Our mask may differ from candle's only where the pre-activation is zero within rounding.
        for ((m, p), mag) in vec(&mask).iter().zip(&pre).zip(&pre_mag) {
            assert!((*m > 0.0) == (*p > 0.0) || p.abs() <= TOL * mag, "relu mask disagrees at pre-activation {p}");
        }
    }
    match grads.get(xv.as_tensor()) {
        Some(dx) => {
            assert!(x_is_var);
            worst = worst.max(check("dx", &vec(dx), &dx_ref, &dx_mag));
        }
        None => assert!(!x_is_var, "no gradient for x"),
    }
    worst = worst.max(check("dw", &vec(grads.get(wv.as_tensor()).unwrap()), &dw_ref, &dw_mag));
    worst.max(check("db", &vec(grads.get(bv.as_tensor()).unwrap()), &db_ref, &db_mag))
}

#[test]
fn matches_candle_on_random_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(20240611);
    let mut worst = 0f32;
    let mut count = 0;
    // Every (C, padding, relu) combination, several random shapes each. C = 1
    // and 3 take the NCHW path, C = 8 (C·KH·KW = 72) the channels-last one.
    for c in [1, 3, 8] {
        for pad in [0, 1] {
            for relu in [false, true] {
                for _ in 0..6 {
                    let case = Case {
                        n: rng.gen_range(1..=5),
                        c,
                        o: rng.gen_range(1..=16),
                        h: rng.gen_range(5..=12),
                        w: rng.gen_range(5..=12),
                        k: (3, 3),
                        pad,
                        relu,
                    };
                    worst = worst.max(compare(&case, &mut rng, true));
                    count += 1;
                }
            }
        }
    }
    println!("{count} cases, worst |err| / max|ref| = {worst:e}");
}

#[test]
fn matches_candle_on_other_kernels_and_wider_layers() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cases = [
        // Non-square kernels, 1x1, padding larger than needed, many channels
        // (K = C·KH·KW well past one gemm block), batches spanning chunks.
        Case { n: 9, c: 3, o: 5, h: 7, w: 9, k: (2, 3), pad: 1, relu: true },
        Case { n: 3, c: 4, o: 6, h: 6, w: 5, k: (1, 1), pad: 0, relu: false },
        Case { n: 2, c: 2, o: 3, h: 5, w: 6, k: (5, 5), pad: 2, relu: true },
        Case { n: 2, c: 2, o: 3, h: 5, w: 5, k: (3, 3), pad: 2, relu: false },
        Case { n: 6, c: 32, o: 16, h: 8, w: 8, k: (3, 3), pad: 1, relu: true },
        Case { n: 2, c: 64, o: 24, h: 6, w: 7, k: (3, 3), pad: 0, relu: false },
        // Channels-last path: padding beyond KH - 1 (the input gradient then
        // crops the upstream gradient), non-square kernels, 1x1 kernels, a
        // batch of several tasks of several images per gemm, odd sizes.
        Case { n: 3, c: 8, o: 5, h: 6, w: 5, k: (3, 3), pad: 3, relu: true },
        Case { n: 2, c: 8, o: 7, h: 7, w: 9, k: (2, 5), pad: 1, relu: false },
        Case { n: 3, c: 64, o: 9, h: 5, w: 6, k: (1, 1), pad: 0, relu: true },
        Case { n: 19, c: 16, o: 16, h: 6, w: 6, k: (3, 3), pad: 1, relu: true },
        Case { n: 2, c: 24, o: 40, h: 13, w: 11, k: (3, 3), pad: 0, relu: true },
    ];
    for case in &cases {
        compare(case, &mut rng, true);
    }
}

/// Winograd on the layers it takes (C, O >= 32; odd maps with partial
/// tiles, both paddings, batches over several tasks) and on one it leaves to
/// im2col (16 channels in), forward and all three gradients against candle
/// at the same rounding-aware tolerance as im2col.
#[test]
fn winograd_matches_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(2112);
    let cases = [
        Case { n: 3, c: 32, o: 64, h: 9, w: 7, k: (3, 3), pad: 1, relu: true },
        Case { n: 2, c: 64, o: 32, h: 8, w: 8, k: (3, 3), pad: 0, relu: false },
        Case { n: 10, c: 64, o: 64, h: 16, w: 16, k: (3, 3), pad: 1, relu: true },
        Case { n: 2, c: 128, o: 48, h: 5, w: 6, k: (3, 3), pad: 1, relu: false },
        Case { n: 17, c: 64, o: 128, h: 4, w: 4, k: (3, 3), pad: 1, relu: true },
        Case { n: 2, c: 32, o: 32, h: 6, w: 6, k: (3, 3), pad: 1, relu: true },
        Case { n: 3, c: 16, o: 64, h: 7, w: 7, k: (3, 3), pad: 1, relu: true },
    ];
    let mut worst = 0f32;
    for case in &cases {
        worst = worst.max(compare_with(case, &mut rng, true, ConvAlgorithm::Winograd));
    }
    compare_with(&cases[0], &mut rng, false, ConvAlgorithm::Winograd);
    println!("winograd: worst |err| / max|ref| = {worst:e}");
}

/// LeakyReLU and tanh fused into the conv (the DCGAN's layers): forward and
/// all three gradients against candle's conv2d followed by the activation as
/// candle ops, on both the NCHW (few channels) and channels-last paths.
#[test]
fn fused_leaky_and_tanh_match_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let close = |what: &str, got: &[f32], want: &[f32]| {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 2e-5 * scale + 1e-6, "{what}[{i}]: got {g}, want {w} (scale {scale})");
        }
    };
    for (n, c, o, h, pad) in [(3, 1, 8, 9, 1), (4, 16, 32, 8, 1), (2, 64, 16, 6, 0), (5, 32, 3, 7, 1)] {
        for (act, name) in [(Act::Leaky(0.2), "leaky"), (Act::Tanh, "tanh")] {
            let what = format!("{name} n{n} c{c} o{o} h{h} pad{pad}");
            let x = randn(&mut rng, &[n, c, h, h]);
            let w = (randn(&mut rng, &[o, c, 3, 3]) * (1.0 / (9.0 * c as f64).sqrt())).unwrap();
            let b = randn(&mut rng, &[o]);
            let oh = h + 2 * pad - 2;
            let r = randn(&mut rng, &[n, o, oh, oh]);
            let run = |fused: bool| {
                let vars = [&x, &w, &b].map(|t| Var::from_tensor(t).unwrap());
                let [xv, wv, bv] = &vars;
                let y = if fused {
                    conv2d_bias_act(xv.as_tensor(), wv.as_tensor(), bv.as_tensor(), pad, act, ConvAlgorithm::Im2col)
                        .unwrap()
                } else {
                    let pre = reference_pre(xv.as_tensor(), wv.as_tensor(), bv.as_tensor(), pad).unwrap();
                    match act {
                        Act::Leaky(a) => pre.maximum(&pre.affine(a as f64, 0.0).unwrap()).unwrap(),
                        _ => pre.tanh().unwrap(),
                    }
                };
                let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let grads: Vec<Vec<f32>> = vars.iter().map(|v| vec(g.get(v.as_tensor()).unwrap())).collect();
                (vec(&y), grads)
            };
            let ((y1, g1), (y2, g2)) = (run(true), run(false));
            close(&format!("{what} forward"), &y1, &y2);
            for (k, name) in ["dx", "dw", "db"].iter().enumerate() {
                close(&format!("{what} {name}"), &g1[k], &g2[k]);
            }
        }
    }
}

#[test]
fn first_layer_input_gets_no_gradient() {
    // x is data (not a Var): the backward skips dx but still gets w and b right.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for relu in [false, true] {
        compare(&Case { n: 5, c: 1, o: 8, h: 10, w: 10, k: (3, 3), pad: 0, relu }, &mut rng, false);
        compare(&Case { n: 5, c: 8, o: 8, h: 10, w: 10, k: (3, 3), pad: 1, relu }, &mut rng, false);
    }
}

#[test]
fn strided_inputs_and_broadcast_gradients() {
    // A transposed (non-contiguous) input, and `sum_all().backward()`, whose
    // upstream gradient reaches the op as a stride-0 broadcast.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let xt = randn(&mut rng, &[2, 3, 9, 7]);
    let w = randn(&mut rng, &[4, 3, 3, 3]);
    let b = randn(&mut rng, &[4]);
    let xv = Var::from_tensor(&xt).unwrap();
    let x = xv.as_tensor().transpose(2, 3).unwrap();
    let wv = Var::from_tensor(&w).unwrap();
    let y = conv2d_bias_act(&x, wv.as_tensor(), &b, 1, Act::Identity, ConvAlgorithm::Im2col).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();

    let xr = Var::from_tensor(&xt).unwrap();
    let wr = Var::from_tensor(&w).unwrap();
    let yr = reference_pre(&xr.as_tensor().transpose(2, 3).unwrap(), wr.as_tensor(), &b, 1).unwrap();
    let gr = yr.sum_all().unwrap().backward().unwrap();
    let close = |a: &[f32], b: &[f32]| {
        let scale = b.iter().fold(1f32, |m, v| m.max(v.abs()));
        a.iter().zip(b).all(|(p, q)| (p - q).abs() <= 1e-5 * scale)
    };
    assert!(close(&vec(&y), &vec(&yr)));
    assert!(close(&vec(g.get(xv.as_tensor()).unwrap()), &vec(gr.get(xr.as_tensor()).unwrap())));
    assert!(close(&vec(g.get(wv.as_tensor()).unwrap()), &vec(gr.get(wr.as_tensor()).unwrap())));
    assert!(g.get(&b).is_none());
}

#[test]
fn other_dtypes_fall_back_to_candle() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = randn(&mut rng, &[2, 3, 6, 6]).to_dtype(DType::F64).unwrap();
    let w = randn(&mut rng, &[4, 3, 3, 3]).to_dtype(DType::F64).unwrap();
    let b = randn(&mut rng, &[4]).to_dtype(DType::F64).unwrap();
    let y = conv2d_bias_act(&x, &w, &b, 1, Act::Relu, ConvAlgorithm::Im2col).unwrap();
    let yr = reference_pre(&x, &w, &b, 1).unwrap().relu().unwrap();
    let d = (y - yr).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap();
    assert_eq!(d, 0.0);
}

/// Output and the three gradients, as raw bits.
fn run_bits(x: &Tensor, w: &Tensor, b: &Tensor, r: &Tensor, algo: ConvAlgorithm) -> Vec<Vec<u32>> {
    let (xv, wv, bv) = (Var::from_tensor(x).unwrap(), Var::from_tensor(w).unwrap(), Var::from_tensor(b).unwrap());
    let y = conv2d_bias_act(xv.as_tensor(), wv.as_tensor(), bv.as_tensor(), 1, Act::Relu, algo).unwrap();
    let g = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
    [&y, g.get(xv.as_tensor()).unwrap(), g.get(wv.as_tensor()).unwrap(), g.get(bv.as_tensor()).unwrap()]
        .iter()
        .map(|t| vec(t).iter().map(|v| v.to_bits()).collect())
        .collect()
}

#[test]
fn deterministic_across_runs_and_thread_counts() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    // 21 images: several tasks, the last one partial; both layouts, and Winograd.
    let im2col = ConvAlgorithm::Im2col;
    for (c, o, algo) in [(16, 16, im2col), (3, 8, im2col), (32, 64, ConvAlgorithm::Winograd)] {
        let x = randn(&mut rng, &[21, c, 12, 11]);
        let w = randn(&mut rng, &[o, c, 3, 3]);
        let b = randn(&mut rng, &[o]);
        let r = randn(&mut rng, &[21, o, 12, 11]);
        let first = run_bits(&x, &w, &b, &r, algo);
        assert_eq!(first, run_bits(&x, &w, &b, &r, algo), "two runs differ");
        for threads in [1, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let again = pool.install(|| run_bits(&x, &w, &b, &r, algo));
            assert_eq!(first, again, "result depends on the thread count ({threads})");
        }
    }
}

// ---------------------------------------------------------------------------
// Speed (ignored by default).
// ---------------------------------------------------------------------------

/// One conv layer of a benchmarked model: (name, C, O, H=W, padding, input is data).
type Layer = (&'static str, usize, usize, usize, usize, bool);

const SIMPLE: &[Layer] =
    &[("simple conv1 1->32 28x28 p0", 1, 32, 28, 0, true), ("simple conv2 32->64 13x13 p0", 32, 64, 13, 0, false)];
const DEEP: &[Layer] = &[
    ("deep conv1 3->32 32x32 p1", 3, 32, 32, 1, true),
    ("deep conv2 32->32 32x32 p1", 32, 32, 32, 1, false),
    ("deep conv3 32->64 16x16 p1", 32, 64, 16, 1, false),
    ("deep conv4 64->64 16x16 p1", 64, 64, 16, 1, false),
    ("deep conv5 64->128 8x8 p1", 64, 128, 8, 1, false),
    ("deep conv6 128->128 8x8 p1", 128, 128, 8, 1, false),
];

/// A conv implementation to time.
#[derive(Clone, Copy)]
enum Impl {
    Ours(ConvAlgorithm),
    Candle,
}

/// Seconds of one forward + backward (ReLU on, batch `n`) per round, for
/// the two implementations, alternating within each round so both see the
/// same machine load.
fn time_layer(layer: &Layer, n: usize, rounds: usize, impls: [Impl; 2]) -> [Vec<f64>; 2] {
    let &(_, c, o, hw, pad, x_is_data) = layer;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = randn(&mut rng, &[n, c, hw, hw]);
    let xv = Var::from_tensor(&x).unwrap();
    // The model's first conv sees data (no input gradient wanted); later ones a tracked activation.
    let x = if x_is_data { x } else { xv.as_tensor().clone() };
    let w = Var::from_tensor(&(randn(&mut rng, &[o, c, 3, 3]) * 0.1).unwrap()).unwrap();
    let b = Var::from_tensor(&randn(&mut rng, &[o])).unwrap();
    let step = |which: Impl| {
        let t = std::time::Instant::now();
        let y = match which {
            Impl::Ours(algo) => conv2d_bias_act(&x, w.as_tensor(), b.as_tensor(), pad, Act::Relu, algo).unwrap(),
            Impl::Candle => reference_pre(&x, w.as_tensor(), b.as_tensor(), pad).unwrap().relu().unwrap(),
        };
        // backward() on a non-scalar seeds it with ones: no extra mul/sum in the timing.
        let g = y.backward().unwrap();
        assert!(g.get(w.as_tensor()).is_some());
        t.elapsed().as_secs_f64()
    };
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..rounds + 1 {
        for (i, which) in impls.into_iter().enumerate() {
            let t = step(which);
            if round > 0 {
                times[i].push(t); // round 0 warms up
            }
        }
    }
    times
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_conv_layers_vs_candle() {
    bench_layers(["ours", "candle"], [Impl::Ours(ConvAlgorithm::Im2col), Impl::Candle]);
}

/// The measurement behind `ops::conv::winograd_pays`.
#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_conv_layers_winograd_vs_im2col() {
    bench_layers(["winograd", "im2col"], [Impl::Ours(ConvAlgorithm::Winograd), Impl::Ours(ConvAlgorithm::Im2col)]);
}

/// Per-layer and per-stack images/s of two implementations, and their ratio.
fn bench_layers(names: [&str; 2], impls: [Impl; 2]) {
    const N: usize = 64;
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(7);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        println!(
            "\nconv + bias + ReLU, forward + backward, batch {N}, {} rayon threads, {rounds} rounds: images/s (median round; best round)",
            rayon::current_num_threads()
        );
        println!("{:<30} {:>15} {:>15} {:>7}", "layer", names[0], names[1], "ratio");
        for (model, layers) in [("simple CNN conv stack", SIMPLE), ("deep CNN conv stack", DEEP)] {
            let (mut sum_med, mut sum_min) = ([0.0; 2], [0.0; 2]);
            for layer in layers {
                let times = time_layer(layer, N, rounds, impls);
                let med = times.clone().map(|t| median(&t));
                let min = times.map(|t| t.iter().cloned().fold(f64::INFINITY, f64::min));
                for i in 0..2 {
                    sum_med[i] += med[i];
                    sum_min[i] += min[i];
                }
                let ips = |t: f64| N as f64 / t;
                println!(
                    "{:<30} {:>7.0} ({:>5.0}) {:>7.0} ({:>5.0}) {:>6.2}x",
                    layer.0,
                    ips(med[0]),
                    ips(min[0]),
                    ips(med[1]),
                    ips(min[1]),
                    med[1] / med[0]
                );
            }
            let ips = |t: f64| N as f64 / t;
            println!(
                "{:<30} {:>7.0} ({:>5.0}) {:>7.0} ({:>5.0}) {:>6.2}x",
                model,
                ips(sum_med[0]),
                ips(sum_min[0]),
                ips(sum_med[1]),
                ips(sum_min[1]),
                sum_med[1] / sum_med[0]
            );
        }
        // Other processes skew wall-clock timings: say how busy the machine was.
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            println!("load average at the end: {}", load.trim());
        }
    });
}
