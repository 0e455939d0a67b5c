//! `cifar-10-jpeg`: CIFAR-10's real images as the JPEG copy in the data dir,
//! read straight from its archive. On archives the test writes (the layout
//! of the shared copy): the interleaved order, labels, pixels, and one clear
//! line with nothing written for each kind of damage. On the shared copy
//! itself: verified, exported with 1000 per class, the same bytes twice, and
//! pixels against PIL's decoder (libjpeg-turbo) where PIL is installed.

use crate::common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, run_err, run_ok, shared_data};
use safetensors::SafeTensors;

const CLASSES: [&str; 10] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// A flat-coloured 32×32 JPEG for class `c`, image `i` (flat colours survive JPEG within a level or two).
fn jpeg(c: usize, i: usize, w: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, 32, image::Rgb([(c * 25) as u8, (i % 200) as u8 + 20, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 75).encode_image(&img).unwrap();
    out.into_inner()
}

/// The test split's members (name, bytes), class-major as in the shared copy.
fn test_members() -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for (c, class) in CLASSES.iter().enumerate() {
        for i in 0..1000 {
            v.push((format!("test/{class}/{i:04}.jpg"), jpeg(c, i, 32)));
        }
    }
    v
}

/// A data dir holding `cifar-10-jpeg/cifar-10-jpeg.tar.gz` with these members.
fn data_dir(members: &[(String, Vec<u8>)]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-jpeg");
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("cifar-10-jpeg.tar.gz");
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(&archive).unwrap(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap().flush().unwrap();
    (tmp, archive)
}

fn export(data: &Path, split: &str, out: &Path) -> Command {
    let mut c = bin("synthmix");
    c.args(["data", "export", &format!("cifar-10-jpeg:{split}"), "--out"]).arg(out).arg("--data-dir").arg(data);
    c
}

/// (images CHW, labels) of an image-set file.
fn read_set(path: &Path) -> (Vec<u8>, Vec<u8>, Vec<usize>) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let images = st.tensor("images").unwrap();
    (images.data().to_vec(), st.tensor("labels").unwrap().data().to_vec(), images.shape().to_vec())
}

#[test]
fn a_written_archive_reads_interleaved_and_damage_is_one_line() {
    let members = test_members();
    let (tmp, _) = data_dir(&members);
    let out = tmp.path().join("test.safetensors");
    run_ok(&mut export(tmp.path(), "test", &out));
    let (images, labels, shape) = read_set(&out);
    assert_eq!(shape, [10000, 3, 32, 32]);
    for k in [0, 1, 9, 10, 73, 9999] {
        let (c, i) = (k % 10, k / 10);
        assert_eq!(labels[k] as usize, c, "image {k} is class k mod 10");
        let px = &images[k * 3072..(k + 1) * 3072];
        let want = [(c * 25) as i32, (i % 200) as i32 + 20, 128];
        for (ch, w) in want.iter().enumerate() {
            let got = px[ch * 1024 + 517] as i32;
            assert!((got - w).abs() <= 3, "image {k} channel {ch}: {got} vs {w}");
        }
    }
    let meta = String::from_utf8_lossy(&std::fs::read(&out).unwrap()[..4096]).into_owned();
    assert!(meta.contains("cifar-10-jpeg") && meta.contains("automobile"), "dataset and class names recorded");
    let err = run_err(&mut export(tmp.path(), "train", &tmp.path().join("train.safetensors")));
    assert!(err.contains("50000 of the 50000 train images missing (the first: train/airplane/0000.jpg)"), "{err}");

    let damaged = |f: &dyn Fn(&mut Vec<(String, Vec<u8>)>), want: &str| {
        let mut m = members.clone();
        f(&mut m);
        let (tmp, archive) = data_dir(&m);
        let out = tmp.path().join("t.safetensors");
        let err = run_err(&mut export(tmp.path(), "test", &out));
        assert!(err.contains(&archive.display().to_string()) && err.contains(want), "{want}: {err}");
        assert!(!out.exists(), "nothing written on {want}");
    };
    damaged(&|m| drop(m.remove(4321)), "1 of the 10000 test images missing (the first: test/deer/0321.jpg)");
    damaged(&|m| m.push(m[5].clone()), "test/airplane/0005.jpg appears twice");
    damaged(&|m| m[2000].1.truncate(300), "test/bird/0000.jpg: undecodable JPEG");
    damaged(&|m| m[3001].1 = jpeg(3, 1, 33), "test/cat/0001.jpg: 33x32 pixels");
    damaged(&|m| m.push(("test/dragon/0000.jpg".into(), jpeg(0, 0, 32))), "'dragon' is not a CIFAR-10 class");
    damaged(&|m| m[0].1 = vec![0; 100_000], "100000 bytes is not a 32x32 JPEG");
}

#[test]
fn the_shared_copy_verifies_exports_deterministically_and_matches_pil() {
    let data = shared_data();
    if !data.join("cifar-10-jpeg/cifar-10-jpeg.tar.gz").is_file() {
        eprintln!("SKIP no cifar-10-jpeg archive in {}", data.display());
        return;
    }
    let v = run_ok(bin("synthmix").args(["data", "verify", "cifar-10-jpeg"]));
    assert!(String::from_utf8_lossy(&v.stdout).contains("cifar-10-jpeg.tar.gz: OK"), "{v:?}");
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.safetensors"), tmp.path().join("b.safetensors"));
    run_ok(&mut export(&data, "test", &a));
    run_ok(&mut export(&data, "test", &b));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "two exports, the same bytes");
    let (images, labels, shape) = read_set(&a);
    assert_eq!(shape, [10000, 3, 32, 32]);
    let mut per = [0usize; 10];
    labels.iter().for_each(|&l| per[l as usize] += 1);
    assert_eq!(per, [1000; 10]);
    against_pil(&data, &images);
}

/// Every test image decoded by PIL (libjpeg-turbo): the two decoders' IDCT
/// and chroma upsampling differ by a few levels (measured: mean 0.30, 0.06 %
/// of values off by more than 2, none by more than 5).
fn against_pil(data: &Path, ours: &[u8]) {
    let py = common::pytorch::python();
    if !Command::new(&py).args(["-c", "import PIL, numpy"]).status().is_ok_and(|s| s.success()) {
        eprintln!("SKIP PIL or numpy not installed for {py}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("pil.bin");
    let script = format!(
        "import io, tarfile, numpy as np\nfrom PIL import Image\n\
         C = {CLASSES:?}\nout = np.zeros((10000, 3, 32, 32), np.uint8)\n\
         with tarfile.open({archive:?}, 'r:gz') as t:\n\
         \x20   for m in t:\n\
         \x20       p = m.name.split('/')\n\
         \x20       if m.isfile() and len(p) == 3 and p[0] == 'test':\n\
         \x20           k = int(p[2][:4]) * 10 + C.index(p[1])\n\
         \x20           out[k] = np.asarray(Image.open(io.BytesIO(t.extractfile(m).read())).convert('RGB')).transpose(2, 0, 1)\n\
         out.tofile({raw:?})\n",
        archive = data.join("cifar-10-jpeg/cifar-10-jpeg.tar.gz").display().to_string(),
        raw = raw.display().to_string(),
    );
    run_ok(Command::new(&py).args(["-c", &script]));
    let pil = std::fs::read(&raw).unwrap();
    assert_eq!(pil.len(), ours.len());
    let d: Vec<u8> = pil.iter().zip(ours).map(|(a, b)| a.abs_diff(*b)).collect();
    let mean = d.iter().map(|&x| x as f64).sum::<f64>() / d.len() as f64;
    let off = d.iter().filter(|&&x| x > 2).count() as f64 / d.len() as f64;
    let max = *d.iter().max().unwrap();
    assert!(mean < 0.4 && off < 0.001 && max <= 6, "against PIL: mean {mean}, > 2 levels {off}, max {max}");
}
