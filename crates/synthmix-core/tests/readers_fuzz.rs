//! Property tests for every reader and numeric parser: valid inputs mutated
//! (bytes overwritten, numbers in headers replaced, files cut short) must
//! give a valid value or one error line — never a panic, never a run past
//! a time bound, never an allocation past a bound (the library's allocator is
//! capped at 1 GiB per request here, which aborts the test). Failing
//! inputs are kept by proptest under `tests/proptest-regressions/` and
//! replayed first on every run. Longer campaigns: `fuzz/README.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use synthmix_core::artifact::{checkpoint, image_set, provenance};
use synthmix_core::data::{self, cifar, idx, mix::Ratio, npy, ImageSet, ImageShape, SetMeta, Source};
use synthmix_core::{limits, pipeline};

/// Any single allocation over this fails and aborts the test: a reader
/// that trusts a size field does.
const MAX_ALLOC: usize = 1 << 30;

fn cap() {
    synthmix_core::alloc::set_cap(MAX_ALLOC);
}

const TIME_BOUND: Duration = Duration::from_secs(5);

/// A reader's answer: a value, or one non-empty line; in time either way.
fn judge<T, E: std::fmt::Display>(r: Result<T, E>, t0: Instant) -> Result<(), TestCaseError> {
    prop_assert!(t0.elapsed() < TIME_BOUND, "took {:?}", t0.elapsed());
    if let Err(e) = r {
        let msg = e.to_string();
        prop_assert!(!msg.trim().is_empty(), "empty error");
        prop_assert!(!msg.contains('\n'), "error of several lines: {msg}");
    }
    Ok(())
}

/// Edits to a valid file: bytes overwritten (mostly in its first `head`
/// bytes, where the sizes live) and an optional cut.
#[derive(Debug, Clone)]
struct Edits {
    bytes: Vec<(usize, u8)>,
    cut: Option<usize>,
}

fn edits(head: usize) -> impl Strategy<Value = Edits> {
    let pos = prop_oneof![3 => 0..head, 1 => 0..usize::MAX];
    (proptest::collection::vec((pos, any::<u8>()), 0..6), proptest::option::of(any::<usize>()))
        .prop_map(|(bytes, cut)| Edits { bytes, cut })
}

fn apply(valid: &[u8], e: &Edits) -> Vec<u8> {
    let mut v = valid.to_vec();
    for &(i, b) in &e.bytes {
        let n = v.len().max(1);
        if let Some(x) = v.get_mut(i % n) {
            *x = b;
        }
    }
    if let Some(c) = e.cut {
        v.truncate(c % (valid.len() + 1));
    }
    v
}

/// A number worth putting where a size is: small, at a boundary, or huge.
fn size_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100).prop_map(|n| n.to_string()),
        Just(u32::MAX.to_string()),
        Just(u64::MAX.to_string()),
        Just("18446744073709551616".to_string()),
        Just("-1".to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

/// Replaces the `k`-th run of digits in `text` with `with`.
fn replace_number(text: &str, k: usize, with: &str) -> String {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let s = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    match runs.get(k % runs.len().max(1)) {
        Some(&(s, e)) => format!("{}{with}{}", &text[..s], &text[e..]),
        None => text.to_string(),
    }
}

/// A safetensors file with one number of its JSON header replaced (the
/// length prefix kept consistent, so the header parses and the number bites).
fn st_with_number(valid: &[u8], k: usize, with: &str) -> Vec<u8> {
    let n = u64::from_le_bytes(valid[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&valid[8..8 + n]).unwrap();
    let new = replace_number(header, k, with);
    let mut out = (new.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&valid[8 + n..]);
    out
}

fn small_set() -> ImageSet {
    let shape = ImageShape { c: 1, h: 4, w: 4 };
    let images: Vec<u8> = (0..6 * 16).map(|i| (i * 7 % 256) as u8).collect();
    let meta = SetMeta::new("mnist", "test", Source::Real);
    ImageSet::new(Path::new("t"), images, vec![0, 1, 2, 0, 1, 2], shape, 3, meta).unwrap()
}

fn small_checkpoint() -> Vec<u8> {
    let mut w = checkpoint::Weights::new();
    w.insert("fc.weight".into(), (vec![2, 3], vec![0.5; 6]));
    w.insert("fc.bias".into(), (vec![2], vec![0.1, -0.1]));
    let meta = checkpoint::CheckpointMeta {
        kind: "classifier".into(),
        arch: "simple-cnn".into(),
        config: "{\"input\":[1,28,28]}".into(),
        dataset: "mnist".into(),
        epoch: 3,
        trained: checkpoint::Trained::Classifier(checkpoint::ClassifierRecord {
            train: "mnist:train".into(),
            train_loss: 0.5,
            seed: 1,
            val_accuracy: None,
            rebalance: None,
            init: None,
            synthetic_weight: None,
            recycle: None,
        }),
        other: BTreeMap::new(),
    };
    checkpoint::encode(&w, &meta).unwrap()
}

fn small_provenance() -> Vec<u8> {
    let mut p = provenance::Provenance::start("mix-build", &serde_json::json!({"ratio": "5:1"}), Some(3)).unwrap();
    p.indices.push(("real".into(), vec![1, 2, 3, 40000]));
    p.metrics.push(("images".into(), 4.0));
    provenance::encode(&p).unwrap()
}

const SPEC: &str = r#"[pipeline]
name = "fz"
[axes]
seed = [0, 1]
[params]
epochs = 2
[target."clf-s{seed}"]
matrix = { seed = "seed" }
command = "clf-train --train mnist:train --epochs {epochs} --seed {seed} --out {out}"
outputs = ["clf/s{seed}.safetensors"]
"#;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 192,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/readers_fuzz.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn idx_files(e in edits(16), n in size_text(), which in 0usize..3) {
        cap();
        let p = Path::new("x-idx3-ubyte");
        let images = idx::encode_images(3, 4, 4, &[9u8; 48]);
        let t0 = Instant::now();
        judge(idx::parse_images(p, &apply(&images, &e)), t0)?;
        judge(idx::parse_labels(p, &apply(&idx::encode_labels(&[1, 2, 3]), &e)), t0)?;
        // A header size field set to a chosen number.
        let mut h = images.clone();
        let v = n.parse::<u64>().unwrap_or(0) as u32;
        h[4 + 4 * which..8 + 4 * which].copy_from_slice(&v.to_be_bytes());
        judge(idx::parse_images(p, &h), t0)?;
    }

    #[test]
    fn cifar_batches(e in edits(8)) {
        cap();
        let valid = cifar::encode_batch(&[7u8; 2 * 3072], &[3, 9]);
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        let t0 = Instant::now();
        judge(cifar::parse_batch(Path::new("data_batch_1.bin"), &apply(&valid, &e), &mut images, &mut labels), t0)?;
    }

    #[test]
    fn npy_arrays(e in edits(64), k in 0usize..8, n in size_text()) {
        cap();
        let valid = npy::encode_u8(&[2, 4, 4, 1], &[5u8; 32]);
        let t0 = Instant::now();
        judge(npy::parse(Path::new("x.npy"), &apply(&valid, &e)), t0)?;
        // A number in the header dict (the shape) replaced, the length field kept right.
        let hlen = u16::from_le_bytes([valid[8], valid[9]]) as usize;
        let header = std::str::from_utf8(&valid[10..10 + hlen]).unwrap();
        let new = replace_number(header, k, &n);
        let mut b = valid[..8].to_vec();
        b.extend_from_slice(&(new.len() as u16).to_le_bytes());
        b.extend_from_slice(new.as_bytes());
        b.extend_from_slice(&valid[10 + hlen..]);
        judge(npy::parse(Path::new("x.npy"), &b), t0)?;
    }

    #[test]
    fn image_sets(e in edits(256), k in 0usize..24, n in size_text()) {
        cap();
        let valid = image_set::encode(&small_set()).unwrap();
        let p = Path::new("set.safetensors");
        let t0 = Instant::now();
        judge(image_set::decode(p, &apply(&valid, &e)), t0)?;
        judge(image_set::decode(p, &st_with_number(&valid, k, &n)), t0)?;
    }

    #[test]
    fn checkpoints(e in edits(256), k in 0usize..24, n in size_text()) {
        cap();
        let valid = small_checkpoint();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.safetensors");
        for bytes in [apply(&valid, &e), st_with_number(&valid, k, &n)] {
            std::fs::write(&p, &bytes).unwrap();
            let t0 = Instant::now();
            judge(checkpoint::read(&p, None), t0)?;
        }
    }

    #[test]
    fn provenance_records(e in edits(64)) {
        cap();
        let valid = small_provenance();
        let t0 = Instant::now();
        judge(provenance::decode(Path::new("x.prov.bin"), &apply(&valid, &e)), t0)?;
    }

    #[test]
    fn pipeline_specs(k in 0usize..16, n in size_text(), cut in any::<usize>(), c in any::<char>(), at in any::<usize>()) {
        cap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("spec.toml");
        let mut text = replace_number(SPEC, k, &n);
        let i = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).nth(at % 64).unwrap_or(0);
        text.insert(i, c);
        let cut = (0..=text.len()).rev().filter(|i| text.is_char_boundary(*i)).nth(cut % 8).unwrap_or(0);
        text.truncate(cut);
        std::fs::write(&p, &text).unwrap();
        let t0 = Instant::now();
        judge(pipeline::load(&p, &pipeline::LoadOptions::default()), t0)?;
    }

    #[test]
    fn numeric_flags(s in "\\PC{0,24}", n in size_text()) {
        cap();
        let t0 = Instant::now();
        for text in [s.as_str(), n.as_str()] {
            judge(limits::images(text), t0)?;
            judge(limits::per_class(text), t0)?;
            judge(limits::epochs(text), t0)?;
            judge(limits::batch_size(text), t0)?;
            judge(limits::learning_rate(text), t0)?;
            judge(limits::beta(text), t0)?;
            judge(limits::epsilon(text), t0)?;
            judge(text.parse::<Ratio>(), t0)?;
            judge(format!("{text}:{n}").parse::<Ratio>(), t0)?;
            judge(synthmix_core::train::sample::class_counts(None, Some(text), 10), t0)?;
            judge(synthmix_core::train::sample::class_counts(Some(1), Some(&format!("3:{n}")), 10), t0)?;
            judge(data::DatasetName::parse(text), t0)?;
        }
        // Accepted values keep their bounds.
        if let Ok(v) = limits::images(&n) {
            prop_assert!((1..=limits::MAX_IMAGES).contains(&v));
        }
        if let Ok(r) = format!("{n}:1").parse::<Ratio>() {
            prop_assert!(r.original <= limits::MAX_RATIO_PART);
        }
    }
}

/// The cap these properties rely on is live in this binary.
#[test]
fn the_allocation_cap_holds() {
    cap();
    let mut v: Vec<u8> = Vec::new();
    assert!(v.try_reserve(MAX_ALLOC + 1).is_err(), "an allocation over the cap must fail");
    assert!(v.try_reserve(1 << 20).is_ok());
}
