use super::*;
use crate::model::diffusion;
use crate::model::dpm_sample::{self, SampleOptions};
use crate::model::gan::label_tensor;
use candle_core::Var;
use rand::Rng as _;

fn tiny(image: ImageShape) -> UnetConfig {
    UnetConfig { base: 8, mults: vec![1, 2], groups: 4, ..UnetConfig::new(image, 3) }
}

const GREY: ImageShape = ImageShape { c: 1, h: 8, w: 8 };

fn input(n: usize, shape: ImageShape, seed: u64) -> Tensor {
    let mut r = rng::stream(seed, "unet-test");
    let v: Vec<f32> = (0..n * shape.pixels()).map(|_| r.gen_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, (n, shape.c, shape.h, shape.w), &Device::Cpu).unwrap()
}

#[test]
fn forward_keeps_the_image_shape_and_names_its_variables() {
    let dev = Device::Cpu;
    for (shape, cfg) in [
        (ImageShape { c: 1, h: 28, w: 28 }, UnetConfig::new(ImageShape { c: 1, h: 28, w: 28 }, 10)),
        (ImageShape { c: 3, h: 32, w: 32 }, tiny(ImageShape { c: 3, h: 32, w: 32 })),
    ] {
        let (net, vars) = new_unet(&cfg, 1, &dev).unwrap();
        let x = input(2, shape, 0);
        let y = label_tensor(&[0, cfg.num_classes as u8], &dev).unwrap();
        let e = net.forward(&x, &[0, 999], &y).unwrap();
        assert_eq!(e.dims(), x.dims());
        let names = vars.data().lock().unwrap();
        for n in ["class_emb.embeddings", "down.0.res.0.norm1.weight", "mid.attn.qkv.weight", "up.0.res.0.skip.weight"]
        {
            assert!(names.contains_key(n), "{n}");
        }
        assert_eq!(names["down.0.res.0.norm1.weight"].to_vec1::<f32>().unwrap()[0], 1.0);
    }
}

#[test]
fn bad_configs_are_refused_naming_the_flag() {
    let mut c = tiny(GREY);
    c.groups = 3;
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("--groups 3") && e.contains("width 8"), "{e}");
    let mut c = tiny(ImageShape { c: 1, h: 28, w: 28 });
    c.mults = vec![1, 2, 2, 2];
    assert!(c.validate().unwrap_err().to_string().contains("divisible by 8"));
    let mut c = tiny(GREY);
    c.base = 0;
    assert!(c.validate().unwrap_err().to_string().contains("--channels"));
}

/// The analytic gradient of a random projection of ε̂ against central
/// differences, for entries of every kind of layer (conv, GroupNorm,
/// attention, embeddings, time MLP).
#[test]
fn gradients_match_finite_differences() {
    let dev = Device::Cpu;
    let cfg = tiny(GREY);
    let (net, vars) = new_unet(&cfg, 2, &dev).unwrap();
    let x = input(2, GREY, 1);
    let y = label_tensor(&[1, 3], &dev).unwrap();
    let ts = [10, 700];
    let proj = input(2, GREY, 2);
    let loss = |n: &Unet| n.forward(&x, &ts, &y).unwrap().mul(&proj).unwrap().sum_all().unwrap();
    let grads = loss(&net).backward().unwrap();
    let data = vars.data().lock().unwrap();
    let mut r = rng::stream(0, "pick");
    for name in [
        "conv_in.weight",
        "down.0.res.0.norm1.weight",
        "down.0.res.0.norm2.bias",
        "down.1.res.0.skip.weight",
        "mid.attn.qkv.weight",
        "mid.attn.proj.bias",
        "class_emb.embeddings",
        "time.fc1.weight",
        "up.0.res.0.conv2.weight",
        "conv_out.bias",
    ] {
        let var: &Var = &data[name];
        let g = grads.get(var).unwrap_or_else(|| panic!("no gradient for {name}"));
        let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w0 = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for _ in 0..3 {
            let i = r.gen_range(0..w0.len());
            let h = 1e-2f32;
            let at = |d: f32| {
                let mut w = w0.clone();
                w[i] += d;
                var.set(&Tensor::from_vec(w, var.shape(), &dev).unwrap()).unwrap();
                loss(&net).to_scalar::<f32>().unwrap() as f64
            };
            let fd = (at(h) - at(-h)) / (2.0 * h as f64);
            var.set(&Tensor::from_vec(w0.clone(), var.shape(), &dev).unwrap()).unwrap();
            let a = g[i] as f64;
            assert!((a - fd).abs() <= 2e-2 * a.abs().max(fd.abs()) + 2e-3, "{name}[{i}]: analytic {a} vs numeric {fd}");
        }
    }
}

/// Bit-identical ε̂ with 1 and 3 rayon threads.
#[test]
fn forward_is_the_same_for_any_thread_count() {
    let dev = Device::Cpu;
    let cfg = tiny(GREY);
    let (net, _) = new_unet(&cfg, 3, &dev).unwrap();
    let x = input(5, GREY, 4);
    let y = label_tensor(&[0, 1, 2, 3, 1], &dev).unwrap();
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| net.forward(&x, &[1, 2, 3, 500, 999], &y).unwrap().flatten_all().unwrap().to_vec1::<f32>())
            .unwrap()
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn guidance_zero_is_the_conditional_model_and_w_mixes_the_null_class() {
    let dev = Device::Cpu;
    let cfg = tiny(GREY);
    let (net, _) = new_unet(&cfg, 4, &dev).unwrap();
    let x = input(3, GREY, 5);
    let (ts, labels) = ([5, 50, 500], [0u8, 1, 2]);
    let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let cond = flat(net.forward(&x, &ts, &label_tensor(&labels, &dev).unwrap()).unwrap());
    let uncond = flat(net.forward(&x, &ts, &label_tensor(&[3, 3, 3], &dev).unwrap()).unwrap());
    assert_eq!(dpm_sample::guided_eps(&net, &x, &ts, &labels, 0.0).unwrap(), cond);
    let g = dpm_sample::guided_eps(&net, &x, &ts, &labels, 2.0).unwrap();
    for ((g, c), u) in g.iter().zip(&cond).zip(&uncond) {
        assert!((g - (3.0 * c - 2.0 * u)).abs() < 1e-4, "{g} vs {}", 3.0 * c - 2.0 * u);
    }
}

#[test]
fn sampling_is_deterministic_by_seed_and_independent_of_batch() {
    let dev = Device::Cpu;
    let cfg = tiny(GREY);
    let (net, _) = new_unet(&cfg, 5, &dev).unwrap();
    let labels = [0u8, 1, 2, 0, 1];
    for sampler in [diffusion::Sampler::Ddim, diffusion::Sampler::Ddpm] {
        let o = SampleOptions { sampler, steps: 4, guidance: 1.0, sigma: 1.0 };
        let run =
            |seed, batch| dpm_sample::generate(&net, &labels, &mut rng::stream(seed, "s"), batch, &o, &dev).unwrap();
        let a = run(0, 5);
        assert_eq!(a.len(), 5 * 64);
        assert_eq!(a, run(0, 5));
        assert_ne!(a, run(1, 5));
        // Another batch size changes only floating-point blocking, if anything.
        let b = run(0, 2);
        assert!(a.iter().zip(&b).all(|(p, q)| p.abs_diff(*q) <= 1), "{sampler:?}");
    }
    let bad = SampleOptions { sampler: diffusion::Sampler::Ddim, steps: 0, guidance: 0.0, sigma: 1.0 };
    assert!(dpm_sample::generate(&net, &labels, &mut rng::stream(0, "s"), 2, &bad, &dev).is_err());
}

/// The bench's FLOP count equals the PyTorch reference's hook count
/// (scripts/bench_pytorch.py's `Unet`, values printed by it), for the grey
/// default and for CIFAR-10's RGB default.
#[test]
fn forward_flops_match_the_pytorch_count() {
    let grey = UnetConfig::new(ImageShape { c: 1, h: 28, w: 28 }, 10);
    assert_eq!(grey.forward_flops(), 276_023_296);
    let rgb = UnetConfig::new(ImageShape { c: 3, h: 32, w: 32 }, 10);
    assert_eq!(rgb.forward_flops(), 1_444_249_600);
}
