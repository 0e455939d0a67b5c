//! CIFAR-10's real images as a lossy JPEG copy (`cifar-10-jpeg`): one
//! archive, `cifar-10-jpeg/cifar-10-jpeg.tar.gz`, holding
//! `SPLIT/CLASS/NNNN.jpg` (32×32 RGB, JPEG quality 75; provenance and what
//! the loss means in the shared data README). Read straight from the archive
//! (no unpacking step) and decoded by zune-jpeg, the `image` crate's JPEG
//! decoder.
//!
//! Order: NNNN is an image's rank within its class in the official order, but
//! the order across classes is not recorded in the copy. The set interleaves
//! the classes — image k is class k mod 10, that class's image k div 10 — so
//! the order is fixed and every prefix (`--limit`) is stratified.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{ImageSet, ImageShape, SetMeta, Source, Split};
use crate::error::{Error, IoContext, Result};

/// The archive's name inside `DATA/cifar-10-jpeg/`.
pub const ARCHIVE: &str = "cifar-10-jpeg.tar.gz";
/// The class folders, in CIFAR-10's label order.
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
const SIDE: usize = 32;
const PIXELS: usize = 3 * 32 * 32;
/// A member larger than this is not a 32×32 JPEG (they are ≈ 1 KB): refused unread.
const MAX_MEMBER: u64 = 64 * 1024;

/// Images per class in each split.
pub fn per_class(split: Split) -> usize {
    match split {
        Split::Train => 5000,
        Split::Test => 1000,
    }
}

/// The archive in the dataset's folder, or a not-found error saying where to put it.
pub fn archive(dataset_dir: &Path) -> Result<PathBuf> {
    let path = dataset_dir.join(ARCHIVE);
    if path.is_file() {
        return Ok(path);
    }
    Err(Error::NotFound(format!(
        "{}: the CIFAR-10 JPEG copy is not there (it cannot be downloaded: copy {ARCHIVE} from the shared data \
         folder, whose README gives its SHA-256)",
        path.display()
    )))
}

/// One split of the archive as an image set (3×32×32, CHW, labels in CIFAR-10's order).
pub fn read(path: &Path, split: Split) -> Result<ImageSet> {
    let jpegs = members(path, split)?;
    let n = jpegs.len();
    let decoded: Vec<Vec<u8>> = jpegs
        .par_iter()
        .enumerate()
        .map(|(k, bytes)| decode(bytes).map_err(|e| Error::format(path, format!("{}: {e}", member_name(split, k)))))
        .collect::<Result<_>>()?;
    let mut images = Vec::with_capacity(n.checked_mul(PIXELS).ok_or_else(|| Error::format(path, "too many images"))?);
    decoded.iter().for_each(|img| images.extend_from_slice(img));
    let labels: Vec<u8> = (0..n).map(|k| (k % CLASSES.len()) as u8).collect();
    let mut meta = SetMeta::new("cifar-10-jpeg", split.as_str(), Source::Real);
    meta.class_names = Some(CLASSES.iter().map(|c| c.to_string()).collect());
    ImageSet::new(path, images, labels, ImageShape { c: 3, h: 32, w: 32 }, CLASSES.len(), meta)
}

/// The archive member of interleaved image `k`.
fn member_name(split: Split, k: usize) -> String {
    format!("{}/{}/{:04}.jpg", split.as_str(), CLASSES[k % CLASSES.len()], k / CLASSES.len())
}

/// The split's JPEG bytes in the set's (interleaved) order; every class must
/// hold exactly NNNN = 0..per_class, nothing else may sit in the split.
fn members(path: &Path, split: Split) -> Result<Vec<Vec<u8>>> {
    let per = per_class(split);
    let mut slots: Vec<Option<Vec<u8>>> = vec![None; per * CLASSES.len()];
    let file = File::open(path).at(path)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let bad = |what: String| Error::format(path, what);
    for entry in tar.entries().map_err(|e| bad(format!("not a tar.gz archive: {e}")))? {
        let mut entry = entry.map_err(|e| bad(format!("unreadable archive entry: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(|e| bad(format!("entry name: {e}")))?.to_string_lossy().into_owned();
        let Some(slot) = slot_of(&name, split, per).map_err(|e| bad(format!("{name}: {e}")))? else { continue };
        if entry.size() > MAX_MEMBER {
            return Err(bad(format!("{name}: {} bytes is not a 32x32 JPEG", entry.size())));
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(|e| bad(format!("{name}: {e} (truncated archive?)")))?;
        if slots[slot].replace(bytes).is_some() {
            return Err(bad(format!("{name} appears twice")));
        }
    }
    let missing = slots.iter().position(Option::is_none);
    if let Some(k) = missing {
        let count = slots.iter().filter(|s| s.is_none()).count();
        let (total, first) = (slots.len(), member_name(split, k));
        return Err(bad(format!("{count} of the {total} {} images missing (the first: {first})", split.as_str())));
    }
    Ok(slots.into_iter().flatten().collect())
}

/// The interleaved index of `SPLIT/CLASS/NNNN.jpg`; None for the other split
/// and for folders; an error for anything else inside this split.
fn slot_of(name: &str, split: Split, per: usize) -> std::result::Result<Option<usize>, String> {
    let Some(rest) = name.strip_prefix(split.as_str()).and_then(|r| r.strip_prefix('/')) else { return Ok(None) };
    let (class, file) = rest.split_once('/').ok_or("not SPLIT/CLASS/NNNN.jpg")?;
    let c = CLASSES.iter().position(|x| *x == class).ok_or_else(|| format!("'{class}' is not a CIFAR-10 class"))?;
    let index: usize = file
        .strip_suffix(".jpg")
        .filter(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or("not NNNN.jpg")?;
    if index >= per {
        return Err(format!("image {index} of a class, the {} split has {per} per class", split.as_str()));
    }
    Ok(Some(index * CLASSES.len() + c))
}

/// One JPEG as 3×32×32 CHW bytes, through the strict decoder
/// ([`super::jpeg::strict_jpeg`]), so a damaged member is an error and never
/// an image partly grey; its size is read from the header first.
fn decode(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let jpeg = super::jpeg::strict_jpeg(bytes)?;
    if (jpeg.width, jpeg.height) != (SIDE, SIDE) {
        return Err(format!("{}x{} pixels, CIFAR-10 images are 32x32", jpeg.width, jpeg.height));
    }
    let hwc = jpeg.decode(zune_jpeg::zune_core::colorspace::ColorSpace::RGB)?;
    if hwc.len() != PIXELS {
        return Err(format!("{} bytes decoded, 32x32 RGB is {PIXELS}", hwc.len()));
    }
    let plane = SIDE * SIDE;
    let mut chw = vec![0u8; PIXELS];
    for (i, px) in hwc.chunks_exact(3).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            chw[ch * plane + i] = v;
        }
    }
    Ok(chw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_map_to_interleaved_slots() {
        assert_eq!(slot_of("train/airplane/0000.jpg", Split::Train, 5000), Ok(Some(0)));
        assert_eq!(slot_of("train/truck/0000.jpg", Split::Train, 5000), Ok(Some(9)));
        assert_eq!(slot_of("test/cat/0007.jpg", Split::Test, 1000), Ok(Some(73)));
        assert_eq!(member_name(Split::Test, 73), "test/cat/0007.jpg");
        assert_eq!(slot_of("test/cat/0007.jpg", Split::Train, 5000), Ok(None), "the other split");
        assert_eq!(slot_of("train/", Split::Train, 5000).unwrap_err(), "not SPLIT/CLASS/NNNN.jpg");
        assert!(slot_of("train/dragon/0001.jpg", Split::Train, 5000).unwrap_err().contains("'dragon'"));
        assert!(slot_of("test/cat/1000.jpg", Split::Test, 1000).unwrap_err().contains("1000 per class"));
        assert!(slot_of("test/cat/7.jpg", Split::Test, 1000).is_err());
    }
}
