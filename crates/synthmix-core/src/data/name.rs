//! Dataset names: `DATASET:SPLIT`, resolved in the data dir.

use std::path::{Path, PathBuf};

use super::{cifar, cifar_jpeg, corrupt, find_file, idx, npy, DataOptions, ImageSet};
use crate::error::{Error, Result};

/// A dataset synthmix knows how to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
    /// CIFAR-10's real images as the lossy JPEG copy (quality 75) in the data
    /// dir; `cifar-10` is the official binary files.
    Cifar10Jpeg,
    /// An MNIST-C corruption, e.g. `shot_noise`.
    MnistC(String),
}

/// A dataset's part; also `data import --split`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn as_str(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// The 15 corruptions of MNIST-C (Mu & Gilmer 2019), plus its `identity`.
pub const MNIST_C_CORRUPTIONS: [&str; 16] = [
    "identity",
    "shot_noise",
    "impulse_noise",
    "glass_blur",
    "motion_blur",
    "shear",
    "scale",
    "rotate",
    "brightness",
    "translate",
    "stripe",
    "fog",
    "spatter",
    "dotted_line",
    "zigzag",
    "canny_edges",
];

impl Dataset {
    /// Parses `mnist`, `fashion-mnist`, `cifar-10`, `cifar-10-jpeg`, `mnist-c/CORRUPTION`.
    pub fn parse(s: &str) -> Option<Dataset> {
        Some(match s {
            "mnist" => Dataset::Mnist,
            "fashion-mnist" => Dataset::FashionMnist,
            "cifar-10" => Dataset::Cifar10,
            "cifar-10-jpeg" => Dataset::Cifar10Jpeg,
            _ => {
                let c = s.strip_prefix("mnist-c/")?;
                if !MNIST_C_CORRUPTIONS.contains(&c) {
                    return None;
                }
                Dataset::MnistC(c.to_string())
            }
        })
    }

    /// Parses dataset names given on a command line; empty means the three
    /// downloadable datasets (`cifar-10-jpeg` is named, or found by `present`).
    pub fn parse_list(names: &[String]) -> Result<Vec<Dataset>> {
        if names.is_empty() {
            return Ok(vec![Dataset::Mnist, Dataset::FashionMnist, Dataset::Cifar10]);
        }
        names
            .iter()
            .map(|n| {
                Dataset::parse(n).ok_or_else(|| {
                    Error::Invalid(format!(
                        "'{n}' is not a dataset: expected mnist, fashion-mnist, cifar-10, cifar-10-jpeg or mnist-c/CORRUPTION"
                    ))
                })
            })
            .collect()
    }

    /// The datasets with a checksum table entry whose folder exists in `data_dir`.
    pub fn present(data_dir: &Path) -> Vec<Dataset> {
        [Dataset::Mnist, Dataset::FashionMnist, Dataset::Cifar10, Dataset::Cifar10Jpeg]
            .into_iter()
            .filter(|d| d.dir(data_dir).is_dir())
            .collect()
    }

    pub fn name(&self) -> String {
        match self {
            Dataset::Mnist => "mnist".into(),
            Dataset::FashionMnist => "fashion-mnist".into(),
            Dataset::Cifar10 => "cifar-10".into(),
            Dataset::Cifar10Jpeg => "cifar-10-jpeg".into(),
            Dataset::MnistC(c) => format!("mnist-c/{c}"),
        }
    }

    pub fn class_names(&self) -> &'static [&'static str] {
        match self {
            Dataset::Mnist | Dataset::MnistC(_) => &MNIST_CLASSES,
            Dataset::FashionMnist => &FASHION_CLASSES,
            Dataset::Cifar10 | Dataset::Cifar10Jpeg => &cifar_jpeg::CLASSES,
        }
    }

    pub fn num_classes(&self) -> usize {
        10
    }

    /// The dataset's folder inside the data dir.
    pub fn dir(&self, data_dir: &Path) -> PathBuf {
        match self {
            Dataset::Mnist => data_dir.join("mnist"),
            Dataset::FashionMnist => data_dir.join("fashion-mnist"),
            Dataset::Cifar10 => data_dir.join("cifar-10"),
            Dataset::Cifar10Jpeg => data_dir.join("cifar-10-jpeg"),
            Dataset::MnistC(c) => data_dir.join("mnist-c").join(c),
        }
    }
}

/// `DATASET:SPLIT`, e.g. `mnist:train` or `mnist-c/shot_noise:test`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DatasetName {
    pub dataset: Dataset,
    pub split: Split,
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.dataset.name(), self.split.as_str())
    }
}

impl DatasetName {
    pub fn parse(s: &str) -> Result<DatasetName> {
        let bad = || {
            Error::Invalid(format!(
                "'{s}' is not a dataset name: expected DATASET:SPLIT with DATASET one of mnist, fashion-mnist, \
                 cifar-10, cifar-10-jpeg, mnist-c/CORRUPTION (e.g. mnist-c/shot_noise) and SPLIT train or test"
            ))
        };
        let (d, sp) = s.rsplit_once(':').ok_or_else(bad)?;
        let dataset = Dataset::parse(d).ok_or_else(bad)?;
        let split = match sp {
            "train" => Split::Train,
            "test" => Split::Test,
            _ => return Err(bad()),
        };
        Ok(DatasetName { dataset, split })
    }

    /// The files this split is read from, found in the data dir: exactly
    /// what [`DatasetName::load`] reads (and what the pipeline cache hashes).
    pub fn resolve(&self, opts: &DataOptions) -> Result<Resolved> {
        let data_dir = &opts.data_dir;
        if !data_dir.is_dir() {
            return Err(Error::NotFound(format!(
                "{}: data dir does not exist (set --data-dir or SYNTHMIX_DATA, or run `synthmix data fetch`)",
                data_dir.display()
            )));
        }
        let dir = self.dataset.dir(data_dir);
        let missing = |what: &str| {
            Error::NotFound(format!(
                "{}: {what} for {self} not found (run `synthmix data fetch {}`)",
                dir.display(),
                self.dataset.name()
            ))
        };
        Ok(match &self.dataset {
            Dataset::Mnist | Dataset::FashionMnist => {
                let stem = match self.split {
                    Split::Train => "train",
                    Split::Test => "t10k",
                };
                let img = find_file(&dir, &[format!("{stem}-images-idx3-ubyte"), format!("{stem}-images.idx3-ubyte")])
                    .ok_or_else(|| missing("IDX images"))?;
                let lab = find_file(&dir, &[format!("{stem}-labels-idx1-ubyte"), format!("{stem}-labels.idx1-ubyte")])
                    .ok_or_else(|| missing("IDX labels"))?;
                Resolved::Idx { images: img, labels: lab }
            }
            Dataset::Cifar10 => Resolved::Cifar(cifar::split_files(&dir, self.split)?),
            Dataset::Cifar10Jpeg => Resolved::CifarJpeg { archive: cifar_jpeg::archive(&dir)?, split: self.split },
            Dataset::MnistC(c) => {
                let s = self.split.as_str();
                // The official zip unpacks to mnist_c/<corruption>/; accept both spellings.
                let alt = data_dir.join("mnist_c").join(c);
                let names = [format!("{s}_images.npy"), format!("{s}_labels.npy")];
                let found = [&dir, &alt]
                    .into_iter()
                    .find_map(|d| Some((find_file(d, &names[..1])?, find_file(d, &names[1..])?)));
                match found {
                    Some((images, labels)) => Resolved::Npy { images, labels },
                    None => {
                        let corruption = corrupt::Corruption::parse(c).ok_or_else(|| missing("MNIST-C .npy files"))?;
                        let base = DatasetName { dataset: Dataset::Mnist, split: self.split };
                        Resolved::Computed { corruption, base: Box::new(base.resolve(opts)?) }
                    }
                }
            }
        })
    }

    /// Reads the split from the data dir (computing an MNIST-C corruption
    /// from MNIST when its MNIST-C files are absent).
    pub fn load(&self, opts: &DataOptions) -> Result<ImageSet> {
        let mut set = self.resolve(opts)?.read(opts)?;
        set.meta.dataset = self.dataset.name();
        set.meta.split = self.split.as_str().into();
        Ok(set)
    }
}

/// Where a DATASET:SPLIT's images come from (see [`DatasetName::resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Idx {
        images: PathBuf,
        labels: PathBuf,
    },
    /// CIFAR-10 batch files, in order.
    Cifar(Vec<PathBuf>),
    /// One split of the CIFAR-10 JPEG archive.
    CifarJpeg {
        archive: PathBuf,
        split: Split,
    },
    /// Official MNIST-C files.
    Npy {
        images: PathBuf,
        labels: PathBuf,
    },
    /// An MNIST-C corruption computed from MNIST (its official files absent).
    Computed {
        corruption: corrupt::Corruption,
        base: Box<Resolved>,
    },
}

impl Resolved {
    /// Every file read, in reading order.
    pub fn files(&self) -> Vec<PathBuf> {
        match self {
            Resolved::Idx { images, labels } | Resolved::Npy { images, labels } => vec![images.clone(), labels.clone()],
            Resolved::Cifar(f) => f.clone(),
            Resolved::CifarJpeg { archive, .. } => vec![archive.clone()],
            Resolved::Computed { base, .. } => base.files(),
        }
    }

    /// A name for what is computed from the files (part of the cache key;
    /// shot noise keeps the tag it had before the other corruptions came).
    pub fn tag(&self) -> String {
        match self {
            Resolved::Idx { .. } => "idx".into(),
            Resolved::Cifar(_) => "cifar-10 batches".into(),
            // The decoder is part of what is computed: another may differ by a level.
            Resolved::CifarJpeg { split, .. } => format!("cifar-10 jpeg {} decoded by zune-jpeg 0.5", split.as_str()),
            Resolved::Npy { .. } => "mnist-c npy".into(),
            Resolved::Computed { corruption, .. } => {
                format!("{} computed from mnist", corruption.name().replace('_', " "))
            }
        }
    }

    fn read(&self, opts: &DataOptions) -> Result<ImageSet> {
        match self {
            Resolved::Idx { images, labels } => idx::read_pair(images, labels),
            Resolved::Cifar(files) => cifar::read_files(files),
            Resolved::CifarJpeg { archive, split } => cifar_jpeg::read(archive, *split),
            Resolved::Npy { images, labels } => npy::read_mnist_c(images, labels),
            Resolved::Computed { corruption, base } => {
                corrupt::corrupt_set(&base.read(opts)?, *corruption, opts.severity, opts.corruption_seed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        let n = DatasetName::parse("mnist-c/shot_noise:test").unwrap();
        assert_eq!(n.dataset, Dataset::MnistC("shot_noise".into()));
        assert_eq!(n.split, Split::Test);
        assert_eq!(n.to_string(), "mnist-c/shot_noise:test");
        assert_eq!(DatasetName::parse("fashion-mnist:train").unwrap().dataset, Dataset::FashionMnist);
        for bad in ["mnist", "mnist:val", "imagenet:train", "mnist-c/nope:test", ":test"] {
            let e = DatasetName::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("DATASET:SPLIT"), "{e}");
        }
    }
}
