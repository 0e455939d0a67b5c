//! Readers and writers on real data and on files in the real layouts.

use crate::common_data;

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{Init, VarMap};
use synthmix_core::artifact::{checkpoint, image_set, provenance, st};
use synthmix_core::data::{self, cifar, corrupt, idx, npy, DataOptions, DatasetName, Source};

fn opts() -> DataOptions {
    DataOptions::new(common_data::shared_data())
}

#[test]
fn mnist_real_counts_histograms_pixels() {
    let train = data::load_set("mnist:train", &opts()).unwrap();
    let test = data::load_set("mnist:test", &opts()).unwrap();
    assert_eq!(train.len(), 60000);
    assert_eq!(test.len(), 10000);
    assert_eq!(train.class_histogram(), vec![5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(test.class_histogram(), vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    assert_eq!(&train.labels[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(&test.labels[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!((train.shape.c, train.shape.h, train.shape.w), (1, 28, 28));
    let mean = train.images.iter().map(|&p| p as f64).sum::<f64>() / train.images.len() as f64 / 255.0;
    assert!((mean - 0.1306604763).abs() < 1e-9, "mean {mean}");
    // Known pixels of image 0 (a "5"): the top rows are blank, row 5 holds the top stroke.
    let img0 = train.image(0);
    assert!(img0[..28 * 4].iter().all(|&p| p == 0));
    assert_eq!(&img0[5 * 28 + 12..5 * 28 + 18], &[3, 18, 18, 18, 126, 136]);
    assert_eq!(train.meta.source, Source::Real);
    assert_eq!((train.meta.dataset.as_str(), train.meta.split.as_str()), ("mnist", "train"));
}

#[test]
fn fashion_mnist_real_counts_histograms() {
    let train = data::load_set("fashion-mnist:train", &opts()).unwrap();
    let test = data::load_set("fashion-mnist:test", &opts()).unwrap();
    assert_eq!(train.class_histogram(), vec![6000; 10]);
    assert_eq!(test.class_histogram(), vec![1000; 10]);
    assert_eq!(&train.labels[..10], &[9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    let mean = train.images.iter().map(|&p| p as f64).sum::<f64>() / train.images.len() as f64 / 255.0;
    assert!((mean - 0.2860405970).abs() < 1e-9, "mean {mean}");
    assert_eq!(train.class_names()[9], "Ankle boot");
}

#[test]
fn image_set_round_trip_is_bit_exact_and_deterministic() {
    let set = data::load_set("fashion-mnist:test", &opts()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/fm.safetensors");
    image_set::write(&p, &set).unwrap();
    let back = image_set::read(&p).unwrap();
    assert_eq!(back, set);
    let bytes1 = std::fs::read(&p).unwrap();
    image_set::write(&p, &back).unwrap();
    assert_eq!(bytes1, std::fs::read(&p).unwrap(), "same set must give the same bytes");
    // The file names only itself: no temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("fm.safetensors")]);
    // Metadata follows the contract.
    let meta = st::read_metadata(&p).unwrap();
    for (k, v) in [
        ("synthmix.kind", "image-set"),
        ("synthmix.format", "1"),
        ("dataset", "fashion-mnist"),
        ("split", "test"),
        ("source", "real"),
        ("num_classes", "10"),
    ] {
        assert_eq!(meta.get(k).map(String::as_str), Some(v), "{k}");
    }
}

#[test]
fn idx_errors_name_the_file_and_problem() {
    let p = Path::new("x-images");
    let good = idx::encode_images(2, 2, 2, &[1; 8]);
    assert_eq!(idx::parse_images(p, &good).unwrap().0, 2);
    let e = idx::parse_images(p, &good[..good.len() - 1]).unwrap_err().to_string();
    assert!(e.starts_with("x-images: truncated") && e.contains("header says 2 images"), "{e}");
    let mut wrong = good.clone();
    wrong[3] = 0x01;
    let e = idx::parse_images(p, &wrong).unwrap_err().to_string();
    assert!(e.contains("wrong magic 0x00000801"), "{e}");
    let e = idx::parse_labels(p, &[0, 0]).unwrap_err().to_string();
    assert!(e.contains("too short"), "{e}");
}

#[test]
fn cifar_reader_on_files_in_the_real_layout() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("cifar-10/cifar-10-batches-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let n = 7;
    let mut all_images = Vec::new();
    let mut all_labels = Vec::new();
    for (b, name) in cifar::TRAIN_BATCHES.iter().chain([&cifar::TEST_BATCH]).enumerate() {
        let images: Vec<u8> = (0..n * 3072).map(|i| ((i * 7 + b * 13) % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i + b) % 10) as u8).collect();
        let bytes = cifar::encode_batch(&images, &labels);
        if b == 2 {
            // One batch gzip-compressed: both forms are read.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &bytes).unwrap();
            std::fs::write(bin.join(format!("{name}.bin.gz")), gz.finish().unwrap()).unwrap();
        } else {
            std::fs::write(bin.join(format!("{name}.bin")), &bytes).unwrap();
        }
        if b < 5 {
            all_images.extend(images);
            all_labels.extend(labels);
        }
    }
    let o = DataOptions::new(dir.path());
    let train = data::load_set("cifar-10:train", &o).unwrap();
    assert_eq!(train.len(), 5 * n);
    assert_eq!((train.shape.c, train.shape.h, train.shape.w), (3, 32, 32));
    assert_eq!(train.images, all_images);
    assert_eq!(train.labels, all_labels);
    assert_eq!(train.class_names()[0], "airplane");
    assert_eq!(data::load_set("cifar-10:test", &o).unwrap().len(), n);
    // A truncated batch names the file.
    let p = bin.join("test_batch.bin");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
    let e = data::load_set("cifar-10:test", &o).unwrap_err().to_string();
    assert!(e.contains("test_batch.bin") && e.contains("not a whole number"), "{e}");
    // A label out of range names the record.
    let mut bad = bytes.clone();
    bad[cifar::RECORD] = 10;
    std::fs::write(&p, &bad).unwrap();
    let e = data::load_set("cifar-10:test", &o).unwrap_err().to_string();
    assert!(e.contains("record 1 has label 10"), "{e}");
}

#[test]
fn mnist_c_npy_reader_in_the_real_layout() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("mnist_c/shot_noise");
    std::fs::create_dir_all(&d).unwrap();
    // MNIST-C ships channels-last [N, 28, 28, 1] uint8 and integer labels.
    let n = 5;
    let images: Vec<u8> = (0..n * 784).map(|i| (i % 251) as u8).collect();
    std::fs::write(d.join("test_images.npy"), npy::encode_u8(&[n, 28, 28, 1], &images)).unwrap();
    std::fs::write(d.join("test_labels.npy"), npy::encode_u8(&[n], &[3, 1, 4, 1, 5])).unwrap();
    let set = data::load_set("mnist-c/shot_noise:test", &DataOptions::new(dir.path())).unwrap();
    assert_eq!(set.images, images, "with one channel, NHWC and NCHW bytes agree");
    assert_eq!(set.labels, vec![3, 1, 4, 1, 5]);
    assert_eq!(set.meta.source, Source::Corrupted);
    assert_eq!(set.meta.dataset, "mnist-c/shot_noise");
    // Labels that disagree in count name the labels file.
    std::fs::write(d.join("test_labels.npy"), npy::encode_u8(&[n - 1], &[3, 1, 4, 1])).unwrap();
    let e = data::load_set("mnist-c/shot_noise:test", &DataOptions::new(dir.path())).unwrap_err().to_string();
    assert!(e.contains("test_labels.npy") && e.contains("does not match 5 images"), "{e}");
}

#[test]
fn shot_noise_matches_the_mnist_c_distribution() {
    let mnist = data::load_set("mnist:test", &opts()).unwrap();
    let noisy = data::load_set("mnist-c/shot_noise:test", &opts()).unwrap();
    assert_eq!(noisy.labels, mnist.labels, "same labels, same order");
    assert_eq!(noisy.meta.source, Source::Corrupted);
    // Severity 5 (c = 3): only 0/85/170/255, background untouched.
    assert!(noisy.images.iter().all(|p| [0, 85, 170, 255].contains(p)));
    for (a, b) in mnist.images.iter().zip(&noisy.images) {
        if *a == 0 {
            assert_eq!(*b, 0);
        }
    }
    // Full-ink pixels (255 → λ = 3): P(0)=e^-3, P(1)=3e^-3, P(2)=4.5e^-3, P(≥3)=rest.
    let outs: Vec<u8> = mnist.images.iter().zip(&noisy.images).filter(|(a, _)| **a == 255).map(|(_, b)| *b).collect();
    let n = outs.len() as f64;
    assert!(n > 50_000.0, "{n} full-ink pixels");
    let e3 = (-3.0f64).exp();
    let expect = [e3, 3.0 * e3, 4.5 * e3, 1.0 - 8.5 * e3];
    for (k, v) in [0u8, 85, 170, 255].iter().enumerate() {
        let f = outs.iter().filter(|&&o| o == *v).count() as f64 / n;
        let sd = (expect[k] * (1.0 - expect[k]) / n).sqrt();
        assert!((f - expect[k]).abs() < 5.0 * sd, "value {v}: frequency {f}, expected {} (sd {sd})", expect[k]);
    }
    // Mid-grey pixels follow their own Poisson law too (λ = 3·128/255).
    let pmf = corrupt::shot_noise_pmf(128, 3);
    let outs: Vec<u8> = mnist.images.iter().zip(&noisy.images).filter(|(a, _)| **a == 128).map(|(_, b)| *b).collect();
    let f0 = outs.iter().filter(|&&o| o == 0).count() as f64 / outs.len() as f64;
    let sd = (pmf[0] * (1.0 - pmf[0]) / outs.len() as f64).sqrt();
    assert!((f0 - pmf[0]).abs() < 5.0 * sd, "P(0 | 128) {f0} vs {}", pmf[0]);
    // Seeded: the same seed gives the same bytes, another seed other bytes.
    let again = data::load_set("mnist-c/shot_noise:test", &opts()).unwrap();
    assert_eq!(again.images, noisy.images);
    let mut o2 = opts();
    o2.corruption_seed = 1;
    assert_ne!(data::load_set("mnist-c/shot_noise:test", &o2).unwrap().images, noisy.images);
    // Other severities: values k/c·255 rounded, e.g. c = 60 allows 4 = round(255/60).
    assert_eq!(corrupt::shot_noise_value(1, 60), 4);
    assert!(corrupt::shot_noise(&[1], 6, 0).unwrap_err().to_string().contains("severity 6"));
}

#[test]
fn missing_data_dir_is_one_clear_error() {
    let e =
        DatasetName::parse("mnist:train").unwrap().load(&DataOptions::new("/nonexistent/synthmix-data")).unwrap_err();
    let e = e.to_string();
    assert!(e.contains("/nonexistent/synthmix-data") && e.contains("data dir does not exist"), "{e}");
    assert!(!e.contains('\n'));
}

fn tiny_varmap() -> VarMap {
    let vm = VarMap::new();
    vm.get((2, 3), "layer.weight", Init::Const(0.5), DType::F32, &Device::Cpu).unwrap();
    vm.get(3, "layer.bias", Init::Const(-1.0), DType::F32, &Device::Cpu).unwrap();
    vm
}

fn tiny_meta() -> checkpoint::CheckpointMeta {
    checkpoint::CheckpointMeta {
        kind: "classifier".into(),
        arch: "tiny".into(),
        config: "{\"width\":3}".into(),
        dataset: "mnist".into(),
        epoch: 4,
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
        other: BTreeMap::from([("note".to_string(), "x".to_string())]),
    }
}

#[test]
fn checkpoint_round_trip_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("clf.safetensors");
    let vm = tiny_varmap();
    checkpoint::write(&p, &vm, &tiny_meta()).unwrap();
    let ck = checkpoint::read(&p, Some("classifier")).unwrap();
    assert_eq!(ck.meta, tiny_meta());
    let vm2 = VarMap::new();
    vm2.get((2, 3), "layer.weight", Init::Const(0.0), DType::F32, &Device::Cpu).unwrap();
    vm2.get(3, "layer.bias", Init::Const(0.0), DType::F32, &Device::Cpu).unwrap();
    ck.load_into(&p, &vm2).unwrap();
    assert_eq!(checkpoint::weights_of(&vm2).unwrap(), checkpoint::weights_of(&vm).unwrap());
    // Wrong kind, wrong shape, NaN: one line each, naming the file.
    let e = checkpoint::read(&p, Some("generator")).unwrap_err().to_string();
    assert!(e.contains("clf.safetensors") && e.contains("is a classifier, expected generator"), "{e}");
    let vm3 = VarMap::new();
    vm3.get((3, 3), "layer.weight", Init::Const(0.0), DType::F32, &Device::Cpu).unwrap();
    let e = ck.load_into(&p, &vm3).unwrap_err().to_string();
    assert!(e.contains("'layer.weight' has shape [2, 3], arch tiny needs [3, 3]"), "{e}");
    let mut w = checkpoint::weights_of(&vm).unwrap();
    w.get_mut("layer.bias").unwrap().1[1] = f32::NAN;
    assert!(checkpoint::encode(&w, &tiny_meta()).unwrap_err().to_string().contains("'layer.bias' holds NaN"));
    // A NaN smuggled in by another writer is refused on reading.
    let bytes = std::fs::read(&p).unwrap();
    let pos = bytes.windows(4).rposition(|b| b == (-1.0f32).to_le_bytes()).unwrap();
    let mut bad = bytes.clone();
    bad[pos..pos + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&p, &bad).unwrap();
    let e = checkpoint::read(&p, None).unwrap_err().to_string();
    assert!(e.contains("NaN or infinite"), "{e}");
}

#[test]
fn provenance_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let art = dir.path().join("a.safetensors");
    std::fs::write(&art, b"hello").unwrap();
    let mut p = provenance::Provenance::start("clf-train", &serde_json::json!({"lr": 1e-4}), Some(3)).unwrap();
    p.input_file("train", &art).unwrap();
    p.output_file("out", &art).unwrap();
    p.metrics.push(("accuracy".into(), 0.98));
    p.indices.push(("real".into(), vec![1, 5, 9]));
    let pp = provenance::path_for(&art);
    assert_eq!(pp.file_name().unwrap(), "a.prov.bin");
    provenance::write(&pp, &p).unwrap();
    let back = provenance::read(&pp).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.inputs[0].blake3, blake3::hash(b"hello").to_hex().to_string());
    assert!(back.format.contains("bincode-1.3.3"));
    let json = back.to_json();
    assert!(json.contains("\"lr\": 0.0001") && json.contains("\"accuracy\": 0.98"), "{json}");
    // Truncated records are refused.
    let bytes = std::fs::read(&pp).unwrap();
    std::fs::write(&pp, &bytes[..bytes.len() - 3]).unwrap();
    assert!(provenance::read(&pp).unwrap_err().to_string().contains("corrupt provenance record"));
}

/// A real mix file with one metadata key of its records removed, or made
/// malformed: every reader refuses it in one line naming the file and key.
#[test]
fn a_set_missing_a_metadata_field_is_refused_naming_file_and_field() {
    let real = DatasetName::parse("mnist:test").unwrap().load(&opts()).unwrap();
    let synth = DatasetName::parse("mnist-c/shot_noise:test").unwrap().load(&opts()).unwrap();
    let (mix, _) = data::mix::build(
        &real,
        &synth,
        data::mix::Ratio { original: 5, synthetic: 1 },
        Some(60),
        data::mix::Balance::Stratified,
        1,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("mix.safetensors");
    image_set::write(&good, &mix).unwrap();
    let flat = mix.meta.to_flat(mix.num_classes);
    for (key, value) in [("real_count", None), ("mix_seed", Some("x")), ("split", None), ("ratio", Some("5x1"))] {
        let mut f = flat.clone();
        match value {
            None => drop(f.remove(key)),
            Some(v) => drop(f.insert(key.to_string(), v.to_string())),
        }
        let (n, c, h, w) = (mix.len(), mix.shape.c, mix.shape.h, mix.shape.w);
        let tensors = vec![
            st::TensorBytes {
                name: "images".into(),
                dtype: safetensors::Dtype::U8,
                shape: vec![n, c, h, w],
                data: mix.images.clone().into(),
            },
            st::TensorBytes {
                name: "labels".into(),
                dtype: safetensors::Dtype::U8,
                shape: vec![n],
                data: mix.labels.clone().into(),
            },
        ];
        let bad = dir.path().join(format!("no-{key}.safetensors"));
        std::fs::write(&bad, st::encode(&tensors, &f).unwrap()).unwrap();
        for e in [
            image_set::read(&bad).unwrap_err().to_string(),
            synthmix_core::artifact::meta::read_set_header(&bad).unwrap_err().to_string(),
        ] {
            assert!(e.contains(&format!("no-{key}.safetensors")) && e.contains(&format!("'{key}'")), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
    assert_eq!(image_set::read(&good).unwrap(), mix, "the intact file reads back");
}
