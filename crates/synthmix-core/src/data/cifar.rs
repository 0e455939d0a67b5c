//! CIFAR-10 binary batches: records of 1 label byte + 3072 pixel bytes
//! (1024 R, 1024 G, 1024 B, each 32x32 row-major) — already CHW order.

use std::path::{Path, PathBuf};

use super::{find_file, read_maybe_gz, ImageSet, ImageShape, SetMeta, Source, Split};
use crate::error::{Error, Result};

pub const RECORD: usize = 1 + 3 * 32 * 32;
pub const TRAIN_BATCHES: [&str; 5] = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"];
pub const TEST_BATCH: &str = "test_batch";

/// The folder holding the `.bin` batches: `cifar-10/cifar-10-batches-bin/`
/// (as the official tarball unpacks) or `cifar-10/` itself.
pub fn batches_dir(dataset_dir: &Path) -> PathBuf {
    let nested = dataset_dir.join("cifar-10-batches-bin");
    if nested.is_dir() {
        nested
    } else {
        dataset_dir.to_path_buf()
    }
}

/// Parses one batch file's bytes, appending to `images` and `labels`.
pub fn parse_batch(path: &Path, bytes: &[u8], images: &mut Vec<u8>, labels: &mut Vec<u8>) -> Result<()> {
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(Error::format(
            path,
            format!("{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated?)", bytes.len()),
        ));
    }
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(Error::format(path, format!("record {i} has label {} (CIFAR-10 labels are 0..9)", rec[0])));
        }
        labels.push(rec[0]);
        images.extend_from_slice(&rec[1..]);
    }
    Ok(())
}

/// The batch files of the train (5 batches, in order) or test split.
pub fn split_files(dataset_dir: &Path, split: Split) -> Result<Vec<PathBuf>> {
    let dir = batches_dir(dataset_dir);
    let names: Vec<&str> = match split {
        Split::Train => TRAIN_BATCHES.to_vec(),
        Split::Test => vec![TEST_BATCH],
    };
    names
        .into_iter()
        .map(|name| {
            find_file(&dir, &[format!("{name}.bin")]).ok_or_else(|| {
                Error::NotFound(format!(
                    "{}: CIFAR-10 batch {name}.bin not found (run `synthmix data fetch cifar-10`)",
                    dir.display()
                ))
            })
        })
        .collect()
}

/// Reads batch files, in order, as one set.
pub fn read_files(files: &[PathBuf]) -> Result<ImageSet> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for path in files {
        parse_batch(path, &read_maybe_gz(path)?, &mut images, &mut labels)?;
    }
    let meta = SetMeta::new("cifar-10", "", Source::Real);
    let at = files.first().and_then(|f| f.parent()).unwrap_or(Path::new("."));
    ImageSet::new(at, images, labels, ImageShape { c: 3, h: 32, w: 32 }, 10, meta)
}

/// Encodes a set of 3x32x32 images as one batch file (tests, exports).
pub fn encode_batch(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(labels.len() * RECORD);
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend_from_slice(&images[i * 3072..(i + 1) * 3072]);
    }
    out
}
