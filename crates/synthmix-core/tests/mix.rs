//! Mix counts on real data: exact per source and per class at every paper ratio.

use crate::common_data;

use std::collections::HashSet;

use synthmix_core::data::mix::{self, allocate, Balance, Ratio};
use synthmix_core::data::{self, DataOptions, Source};

#[test]
fn allocate_is_exact_and_proportional() {
    assert_eq!(allocate(10, &[1.0, 1.0, 1.0]), vec![4, 3, 3]);
    assert_eq!(allocate(7, &[0.0, 2.0, 5.0]), vec![0, 2, 5]);
    let w = [5923.0, 6742.0, 5958.0];
    let a = allocate(1000, &w);
    assert_eq!(a.iter().sum::<usize>(), 1000);
    for (x, wi) in a.iter().zip(w) {
        assert!((*x as f64 - 1000.0 * wi / w.iter().sum::<f64>()).abs() < 1.0);
    }
}

#[test]
fn every_paper_ratio_has_the_intended_counts() {
    let opts = DataOptions::new(common_data::shared_data());
    let real = data::load_set("mnist:train", &opts).unwrap();
    // Mechanics only: MNIST test stands in for a synthetic set here.
    let mut synth = data::load_set("mnist:test", &opts).unwrap();
    synth.meta.source = Source::Synthetic;
    let total = 9_000;
    let hist = real.class_histogram();
    let per_class = allocate(total, &hist.iter().map(|&n| n as f64).collect::<Vec<_>>());
    for r in ["1:0", "0:1", "1:1", "2:1", "1:2", "5:1", "6:1", "7:1", "8:1", "9:1", "10:1"] {
        let ratio: Ratio = r.parse().unwrap();
        let (m, man) = mix::build(&real, &synth, ratio, Some(total), Balance::Stratified, 3).unwrap();
        assert_eq!(m.len(), total, "{r}");
        let want_real =
            (total as f64 * ratio.original as f64 / (ratio.original + ratio.synthetic) as f64).round() as usize;
        let got_real = man.source.iter().filter(|&&s| s == 0).count();
        assert_eq!(got_real, want_real, "{r}: real count");
        assert_eq!(m.len() - got_real, total - want_real, "{r}: synthetic count");
        assert_eq!(m.class_histogram(), per_class, "{r}: class totals follow the real proportions");
        // Per class and per source: the manifest's counts, recomputed from the items.
        for (c, &total_c) in per_class.iter().enumerate() {
            let rc = (0..m.len()).filter(|&i| man.source[i] == 0 && m.labels[i] as usize == c).count();
            let sc = (0..m.len()).filter(|&i| man.source[i] == 1 && m.labels[i] as usize == c).count();
            assert_eq!((rc, sc), (man.real_per_class[c], man.synthetic_per_class[c]), "{r} class {c}");
            assert_eq!(rc + sc, total_c);
        }
        // Without replacement, and every item is the source image it claims to be.
        let mut seen = HashSet::new();
        for i in 0..m.len() {
            assert!(seen.insert((man.source[i], man.index[i])), "{r}: duplicate draw");
            let src = if man.source[i] == 0 { &real } else { &synth };
            assert_eq!(m.image(i), src.image(man.index[i] as usize));
            assert_eq!(m.labels[i], src.labels[man.index[i] as usize]);
        }
        assert_eq!(m.meta.records_flat()["ratio"], r);
        assert_eq!(m.meta.source, Source::Mix);
    }
    // 1:0 at the real set's size is the real set itself (reordered).
    let (m, man) = mix::build(&real, &synth, "1:0".parse().unwrap(), None, Balance::Stratified, 0).unwrap();
    let mut idx: Vec<u32> = man.index.clone();
    idx.sort_unstable();
    assert_eq!(idx, (0..60000u32).collect::<Vec<_>>());
    assert_eq!(m.class_histogram(), hist);
    // Same seed → same mix; another seed → another draw.
    let a = mix::build(&real, &synth, "5:1".parse().unwrap(), Some(total), Balance::Uniform, 1).unwrap().0;
    let b = mix::build(&real, &synth, "5:1".parse().unwrap(), Some(total), Balance::Uniform, 1).unwrap().0;
    let c = mix::build(&real, &synth, "5:1".parse().unwrap(), Some(total), Balance::Uniform, 2).unwrap().0;
    assert_eq!(a, b);
    assert_ne!(a.images, c.images);
    assert_eq!(a.class_histogram(), vec![900; 10]);
}

#[test]
fn too_small_a_source_names_the_class_and_counts() {
    let opts = DataOptions::new(common_data::shared_data());
    let real = data::load_set("mnist:train", &opts).unwrap();
    let synth = data::load_set("mnist:test", &opts).unwrap();
    let e = mix::build(&real, &synth, "0:1".parse().unwrap(), None, Balance::Stratified, 0).unwrap_err().to_string();
    // Class 0: 5923 of 60000 needed from a synthetic set holding 980.
    assert_eq!(
        e,
        "mix 0:1 of 60000 images needs 5923 synthetic images of class 0 (0) but the synthetic set has only 980"
    );
    let e =
        mix::build(&real, &synth, "1:0".parse().unwrap(), Some(60000), Balance::Uniform, 0).unwrap_err().to_string();
    assert!(e.contains("needs 6000 real images of class 0") && e.contains("has only 5923"), "{e}");
    for bad in ["0:0", "5", "a:1", "-1:2"] {
        assert!(bad.parse::<Ratio>().unwrap_err().to_string().contains("is not O:S"), "{bad}");
    }
}

/// An all-real draw (O:0) needs no --synthetic: the bytes equal those of the
/// old spelling that named the real set twice, loaded once instead of twice;
/// every mode that draws synthetic images still refuses to run without one.
#[test]
fn an_all_real_ratio_needs_no_synthetic_set_and_writes_the_same_bytes() {
    let opts = DataOptions::new(common_data::shared_data());
    let t = tempfile::tempdir().unwrap();
    let params = |synthetic: &str, ratio: &str, out: &str| mix::MixParams {
        real: "mnist:test".into(),
        synthetic: synthetic.into(),
        ratio: Some(ratio.parse().unwrap()),
        mode: None,
        total: Some(300),
        all_real: false,
        mark_synthetic: false,
        balance: Balance::Stratified,
        seed: 4,
        out: t.path().join(out),
    };
    mix::run(&params("", "1:0", "alone.safetensors"), &opts).unwrap();
    mix::run(&params("mnist:test", "1:0", "twice.safetensors"), &opts).unwrap();
    let read = |name: &str| std::fs::read(t.path().join(name)).unwrap();
    assert_eq!(read("alone.safetensors"), read("twice.safetensors"));
    let e = mix::run(&params("", "1:1", "no.safetensors"), &opts).unwrap_err().to_string();
    assert!(e.contains("--synthetic is required"), "{e}");
    assert!(!t.path().join("no.safetensors").exists());
}
