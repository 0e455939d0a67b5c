//! Checksum-verified download of the official dataset files.
//!
//! One table, [`FILES`], lists every file synthmix can fetch: the dataset it
//! belongs to, its name inside the dataset dir, the mirrors to try in order,
//! and the checksum that proves it holds the official content.
//!
//! - [`verify`] checks a data dir against the table (`synthmix data verify`).
//! - [`fetch`] downloads whatever is missing or wrong: into `NAME.part` beside
//!   the final file, resuming an existing `.part` with an HTTP `Range` request,
//!   verifying, and only then renaming into place, so a crash or a bad mirror
//!   never leaves an unverified file under the real name.
//! - [`ensure`] verifies and fetches only what the readers would miss.
//!
//! MNIST-C cannot be fetched or verified (no published checksum); synthmix
//! computes its shot noise from MNIST test instead (see `corrupt`).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::{find_file, Dataset};
use crate::error::{Error, IoContext, Result};

/// How a file's content is proved to be the official one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// SHA-256 (hex) of the content after gunzip. Hashing the decompressed
    /// bytes accepts any faithful gzip of the official content (and the plain
    /// file too), because the official `.gz` bytes themselves are not always
    /// what a mirror or a distribution package holds.
    DecompressedSha256(&'static str),
    /// MD5 (hex) and exact size of the file's own bytes.
    Md5 { hex: &'static str, size: u64 },
    /// SHA-256 (hex) and exact size of the file's own bytes.
    Sha256 { hex: &'static str, size: u64 },
}

impl Check {
    fn algo(&self) -> &'static str {
        match self {
            Check::DecompressedSha256(_) => "sha256 (decompressed)",
            Check::Md5 { .. } => "md5",
            Check::Sha256 { .. } => "sha256",
        }
    }

    fn expected(&self) -> &'static str {
        match self {
            Check::DecompressedSha256(h) | Check::Md5 { hex: h, .. } | Check::Sha256 { hex: h, .. } => h,
        }
    }
}

/// Members to unpack from a verified archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpack {
    /// The folder the members sit in, inside the archive and inside the
    /// dataset dir.
    pub subdir: &'static str,
    /// File names of the members, inside `subdir`.
    pub members: &'static [&'static str],
}

/// One downloadable file of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec {
    /// The dataset's name, as [`Dataset::name`] gives it.
    pub dataset: &'static str,
    /// The file's name inside the dataset dir; also its name on every mirror.
    pub name: &'static str,
    /// Base URLs, tried in order; the file's name is appended.
    pub mirrors: &'static [&'static str],
    pub check: Check,
    /// For an archive: what to unpack from it once it verifies.
    pub unpack: Option<Unpack>,
}

const MNIST_MIRRORS: &[&str] = &["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"];
const FASHION_MIRRORS: &[&str] = &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];
const CIFAR_MIRRORS: &[&str] = &["https://www.cs.toronto.edu/~kriz/"];

/// The checksum table.
///
/// MNIST and Fashion-MNIST: SHA-256 of the decompressed IDX content, computed
/// with `gunzip -c FILE | sha256sum` from the shared data dir. Before trusting
/// them we checked, for all 8 files, that the MD5 of the same decompressed
/// bytes equals the published MD5 of the uncompressed official file (values in
/// the shared data README: MNIST 6bbc9ace…, a25bea73…, 2646ac64…, 27ae3e4e…;
/// Fashion-MNIST f4a8712d…, 9018921c…, 8181f547…, 15d48437…), and that each
/// decompressed length is 16 + N·784 or 8 + N bytes. MNIST's train-images
/// `.gz` there is a recompression, which is why we hash decompressed bytes.
///
/// CIFAR-10: the only published reference is the MD5 of the binary tarball;
/// its batches are checked against the members of the verified tarball.
///
/// CIFAR-10 (JPEG copy): the SHA-256 of the archive the shared data folder
/// holds (its README: provenance and the check against official pixels). It
/// has no mirror: `fetch` says where to copy it from.
pub const FILES: &[FileSpec] = &[
    FileSpec {
        dataset: "mnist",
        name: "train-images-idx3-ubyte.gz",
        mirrors: MNIST_MIRRORS,
        check: Check::DecompressedSha256("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        unpack: None,
    },
    FileSpec {
        dataset: "mnist",
        name: "train-labels-idx1-ubyte.gz",
        mirrors: MNIST_MIRRORS,
        check: Check::DecompressedSha256("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        unpack: None,
    },
    FileSpec {
        dataset: "mnist",
        name: "t10k-images-idx3-ubyte.gz",
        mirrors: MNIST_MIRRORS,
        check: Check::DecompressedSha256("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        unpack: None,
    },
    FileSpec {
        dataset: "mnist",
        name: "t10k-labels-idx1-ubyte.gz",
        mirrors: MNIST_MIRRORS,
        check: Check::DecompressedSha256("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        unpack: None,
    },
    FileSpec {
        dataset: "fashion-mnist",
        name: "train-images-idx3-ubyte.gz",
        mirrors: FASHION_MIRRORS,
        check: Check::DecompressedSha256("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
        unpack: None,
    },
    FileSpec {
        dataset: "fashion-mnist",
        name: "train-labels-idx1-ubyte.gz",
        mirrors: FASHION_MIRRORS,
        check: Check::DecompressedSha256("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
        unpack: None,
    },
    FileSpec {
        dataset: "fashion-mnist",
        name: "t10k-images-idx3-ubyte.gz",
        mirrors: FASHION_MIRRORS,
        check: Check::DecompressedSha256("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
        unpack: None,
    },
    FileSpec {
        dataset: "fashion-mnist",
        name: "t10k-labels-idx1-ubyte.gz",
        mirrors: FASHION_MIRRORS,
        check: Check::DecompressedSha256("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
        unpack: None,
    },
    FileSpec {
        dataset: "cifar-10",
        name: "cifar-10-binary.tar.gz",
        mirrors: CIFAR_MIRRORS,
        check: Check::Md5 { hex: "c32a1d4ab5d03f1284b67883e8d87530", size: 170_052_171 },
        unpack: Some(Unpack {
            subdir: "cifar-10-batches-bin",
            members: &[
                "data_batch_1.bin",
                "data_batch_2.bin",
                "data_batch_3.bin",
                "data_batch_4.bin",
                "data_batch_5.bin",
                "test_batch.bin",
            ],
        }),
    },
    FileSpec {
        dataset: "cifar-10-jpeg",
        name: super::cifar_jpeg::ARCHIVE,
        mirrors: &[],
        check: Check::Sha256 {
            hex: "097287809041e0a666355dfce11470ba1b3f2631fe910d8793c716253f10b297",
            size: 19_433_766,
        },
        unpack: None,
    },
];

/// The table's entries for `dataset`; MNIST-C has none and is an error.
pub fn files_for(dataset: &Dataset) -> Result<Vec<&'static FileSpec>> {
    if let Dataset::MnistC(c) = dataset {
        return Err(Error::Invalid(format!(
            "{}: MNIST-C has no published checksum, so synthmix can neither fetch nor verify it; \
             its corruptions are computed from MNIST instead (official .npy files placed in mnist-c/{c}/ are read as they are)",
            dataset.name()
        )));
    }
    let name = dataset.name();
    Ok(FILES.iter().filter(|f| f.dataset == name).collect())
}

/// How [`fetch`] reaches the network.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Limit on connecting and on each read or write. Not a limit on a whole
    /// download: CIFAR-10's 170 MB can take minutes on a slow line.
    pub timeout: Duration,
    /// Replaces every file's mirror list by this one base URL, the file's
    /// name appended (tests, local mirrors).
    pub base_url_override: Option<String>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { timeout: Duration::from_secs(60), base_url_override: None }
    }
}

impl FetchOptions {
    fn urls(&self, spec: &FileSpec) -> Vec<String> {
        let join = |base: &str| format!("{}/{}", base.trim_end_matches('/'), spec.name);
        match &self.base_url_override {
            Some(base) => vec![join(base)],
            None => spec.mirrors.iter().map(|b| join(b)).collect(),
        }
    }
}

/// The state of one file in the data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyStatus {
    /// Present and its checksum is the official one.
    Ok,
    /// Not in the data dir.
    Missing,
    /// Present with other content.
    Mismatch { algo: &'static str, expected: String, actual: String },
    /// Present, but no reference covers it (CIFAR-10 batches without a
    /// verified tarball to compare them with); readers still use it.
    Unverified(String),
}

/// One file's verification result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOutcome {
    pub dataset: String,
    /// Where the file is (the file the readers would read), or should be.
    pub path: PathBuf,
    pub status: VerifyStatus,
}

impl VerifyOutcome {
    pub fn is_ok(&self) -> bool {
        self.status == VerifyStatus::Ok
    }
}

impl fmt::Display for VerifyOutcome {
    /// One line: `PATH: OK`, `PATH: missing`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.status {
            VerifyStatus::Ok => write!(f, "{p}: OK"),
            VerifyStatus::Missing => write!(f, "{p}: missing"),
            VerifyStatus::Mismatch { algo, expected, actual } => {
                write!(f, "{p}: {algo} checksum mismatch (expected {expected}, got {actual})")
            }
            VerifyStatus::Unverified(why) => write!(f, "{p}: present but unverified ({why})"),
        }
    }
}

/// What [`fetch`] did for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchStatus {
    /// It was there and verified: nothing downloaded.
    AlreadyPresent,
    /// Downloaded from `url` and verified; `resumed_from` is the size of the
    /// `.part` a Range request continued (0 for a download from scratch).
    Downloaded { url: String, bytes: u64, resumed_from: u64 },
    /// Unpacked from this verified archive.
    Extracted { archive: PathBuf },
}

/// One file's fetch result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOutcome {
    pub dataset: String,
    pub path: PathBuf,
    pub status: FetchStatus,
}

impl fmt::Display for FetchOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.status {
            FetchStatus::AlreadyPresent => write!(f, "{p}: already present, verified"),
            FetchStatus::Downloaded { url, bytes, resumed_from: 0 } => {
                write!(f, "{p}: downloaded {bytes} bytes from {url}, verified")
            }
            FetchStatus::Downloaded { url, bytes, resumed_from } => {
                write!(f, "{p}: downloaded {bytes} bytes from {url} (resumed at byte {resumed_from}), verified")
            }
            FetchStatus::Extracted { archive } => write!(f, "{p}: extracted from {}, verified", archive.display()),
        }
    }
}

/// Checks every table file of `datasets` in `data_dir`, one outcome per file
/// (for CIFAR-10: the tarball, then each batch). A missing or wrong file is an
/// outcome, not an error; errors are unreadable files and MNIST-C.
pub fn verify(data_dir: &Path, datasets: &[Dataset]) -> Result<Vec<VerifyOutcome>> {
    let mut out = Vec::new();
    for d in datasets {
        for spec in files_for(d)? {
            out.extend(verify_spec(&d.dir(data_dir), spec)?);
        }
    }
    Ok(out)
}

/// Makes every table file of `datasets` present and verified in `data_dir`:
/// skips files that verify, downloads the rest (see the module docs), and
/// unpacks archives. Returns one outcome per file, or the first error: a
/// [`Error::Checksum`] when a mirror served other content, a
/// [`Error::Network`] when no mirror could be reached.
pub fn fetch(data_dir: &Path, datasets: &[Dataset], opts: &FetchOptions) -> Result<Vec<FetchOutcome>> {
    let agent = agent(opts);
    let mut out = Vec::new();
    for d in datasets {
        for spec in files_for(d)? {
            out.extend(fetch_spec(&d.dir(data_dir), spec, opts, &agent)?);
        }
    }
    Ok(out)
}

/// [`verify`], then [`fetch`] only what the readers need: a file that is
/// missing or wrong. CIFAR-10 batches that are present but unverifiable (no
/// tarball) are left as they are rather than downloading 170 MB to check
/// them. Returns the state after fetching, one outcome per file.
pub fn ensure(data_dir: &Path, datasets: &[Dataset], opts: &FetchOptions) -> Result<Vec<VerifyOutcome>> {
    let agent = agent(opts);
    let bad = |o: &VerifyOutcome| matches!(o.status, VerifyStatus::Missing | VerifyStatus::Mismatch { .. });
    let mut out = Vec::new();
    for d in datasets {
        let dir = d.dir(data_dir);
        for spec in files_for(d)? {
            let outcomes = verify_spec(&dir, spec)?;
            // For an archive only its members matter to the readers.
            let needed = match spec.unpack {
                Some(_) => outcomes[1..].iter().any(bad),
                None => outcomes.iter().any(bad),
            };
            if !needed {
                out.extend(outcomes);
                continue;
            }
            // fetch_spec verifies everything it reports.
            out.extend(fetch_spec(&dir, spec, opts, &agent)?.into_iter().map(|o| VerifyOutcome {
                dataset: o.dataset,
                path: o.path,
                status: VerifyStatus::Ok,
            }));
        }
    }
    Ok(out)
}

fn agent(opts: &FetchOptions) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(opts.timeout)
        .timeout_read(opts.timeout)
        .timeout_write(opts.timeout)
        .user_agent(&format!("synthmix/{}", crate::VERSION))
        .build()
}

// ---------------------------------------------------------------- verifying

/// Hex digest of everything `r` yields.
fn hash_reader<D: Digest>(mut r: impl Read) -> io::Result<String> {
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(hex::encode(h.finalize())),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// SHA-256 of a file's content, gunzipped when it starts with the gzip magic
/// (the rule the readers follow). `Ok(Err(msg))`: the gzip stream is corrupt.
fn sha256_maybe_gz(path: &Path) -> Result<std::result::Result<String, String>> {
    let mut magic = [0u8; 2];
    let is_gz = {
        let mut f = File::open(path).at(path)?;
        let mut n = 0;
        while n < 2 {
            match f.read(&mut magic[n..]).at(path)? {
                0 => break,
                k => n += k,
            }
        }
        n == 2 && magic == [0x1f, 0x8b]
    };
    let f = BufReader::new(File::open(path).at(path)?);
    if is_gz {
        // A read error inside the decoder is a corrupt stream, not an I/O
        // problem worth aborting for: report it as the file's content.
        Ok(hash_reader::<Sha256>(flate2::read::MultiGzDecoder::new(f)).map_err(|e| format!("unreadable gzip ({e})")))
    } else {
        Ok(Ok(hash_reader::<Sha256>(f).at(path)?))
    }
}

/// Checks one file's content; `None` when it matches.
fn check_file(path: &Path, check: &Check) -> Result<Option<(String, String)>> {
    let actual = match check {
        Check::DecompressedSha256(_) => sha256_maybe_gz(path)?.unwrap_or_else(|msg| msg),
        Check::Md5 { size, .. } => sized(path, *size, hash_reader::<Md5>)?,
        Check::Sha256 { size, .. } => sized(path, *size, hash_reader::<Sha256>)?,
    };
    Ok((actual != check.expected()).then(|| (check.expected().to_string(), actual)))
}

/// The file's digest, with its size beside it where that is not `size`.
fn sized(path: &Path, size: u64, hash: fn(BufReader<File>) -> std::io::Result<String>) -> Result<String> {
    let len = fs::metadata(path).at(path)?.len();
    let digest = hash(BufReader::new(File::open(path).at(path)?)).at(path)?;
    Ok(if len == size { digest } else { format!("{digest} ({len} bytes, expected {size})") })
}

/// Where the readers would find `spec`'s file in `dir`, if anywhere.
fn locate(dir: &Path, spec: &FileSpec) -> Option<PathBuf> {
    match spec.check {
        // The IDX readers take the `.gz` or the plain file (gz first).
        Check::DecompressedSha256(_) => find_file(dir, &[spec.name.trim_end_matches(".gz").to_string()]),
        Check::Md5 { .. } | Check::Sha256 { .. } => Some(dir.join(spec.name)).filter(|p| p.is_file()),
    }
}

/// The state of `spec`'s own file, at the path the readers would use.
fn verify_file(dir: &Path, spec: &FileSpec) -> Result<VerifyOutcome> {
    let (path, status) = match locate(dir, spec) {
        None => (dir.join(spec.name), VerifyStatus::Missing),
        Some(p) => {
            let status = match check_file(&p, &spec.check)? {
                None => VerifyStatus::Ok,
                Some((expected, actual)) => VerifyStatus::Mismatch { algo: spec.check.algo(), expected, actual },
            };
            (p, status)
        }
    };
    Ok(VerifyOutcome { dataset: spec.dataset.to_string(), path, status })
}

/// `spec`'s file, then (for an archive) each member.
fn verify_spec(dir: &Path, spec: &FileSpec) -> Result<Vec<VerifyOutcome>> {
    let main = verify_file(dir, spec)?;
    let Some(unpack) = spec.unpack else { return Ok(vec![main]) };
    let archive_ok = main.is_ok();
    let why = match main.status {
        VerifyStatus::Missing => format!("no {} to check it against", spec.name),
        _ => format!("{} fails its checksum", spec.name),
    };
    let members = if archive_ok {
        sync_members(&main.path, dir, &unpack, false)?
    } else {
        // Without a trusted archive a member can only be present or absent.
        let at = members_dir(dir, &unpack);
        unpack
            .members
            .iter()
            .map(|m| match find_file(&at, &[m.to_string()]) {
                Some(p) => (p, Member::Unverified),
                None => (at.join(m), Member::Missing),
            })
            .collect()
    };
    let mut out = vec![main];
    out.extend(members.into_iter().map(|(path, m)| VerifyOutcome {
        dataset: spec.dataset.to_string(),
        path,
        status: match m {
            Member::Same | Member::Written => VerifyStatus::Ok,
            Member::Missing => VerifyStatus::Missing,
            Member::Differs { expected, actual } => VerifyStatus::Mismatch { algo: "sha256", expected, actual },
            Member::Unverified => VerifyStatus::Unverified(why.clone()),
        },
    }));
    Ok(out)
}

// ---------------------------------------------------------------- archives

enum Member {
    Same,
    Missing,
    Differs { expected: String, actual: String },
    Unverified,
    Written,
}

/// Where the readers look for members: `dir/subdir` when it exists, else
/// `dir` itself (as `cifar::batches_dir` does).
fn members_dir(dir: &Path, unpack: &Unpack) -> PathBuf {
    let nested = dir.join(unpack.subdir);
    if nested.is_dir() {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Compares each wanted member of a verified `.tar.gz` with the file in the
/// data dir; with `write`, replaces every missing or differing file in
/// `dir/subdir` with the member. Only the listed members under `subdir` are
/// ever written, so the archive's paths cannot escape the data dir.
fn sync_members(archive: &Path, dir: &Path, unpack: &Unpack, write: bool) -> Result<Vec<(PathBuf, Member)>> {
    let at = if write { dir.join(unpack.subdir) } else { members_dir(dir, unpack) };
    let corrupt = |e: io::Error| Error::format(archive, format!("cannot read the archive: {e}"));
    let file = File::open(archive).at(archive)?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let mut found: Vec<Option<(PathBuf, Member)>> = unpack.members.iter().map(|_| None).collect();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let path = entry.path().map_err(corrupt)?.into_owned();
        // `./x` and `x` are the same member; anything with `..`, a root or a
        // non-UTF-8 name is not one of ours.
        let parts: Option<Vec<&str>> = path
            .components()
            .filter(|c| *c != Component::CurDir)
            .map(|c| match c {
                Component::Normal(s) => s.to_str(),
                _ => None,
            })
            .collect();
        let Some([sub, name]) = parts.as_deref() else { continue };
        let (sub, name) = (*sub, *name);
        let Some(i) = unpack.members.iter().position(|m| sub == unpack.subdir && *m == name) else { continue };
        // One batch is 30 MB: holding it lets us compare, then write.
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(corrupt)?;
        let expected = hex::encode(Sha256::digest(&bytes));
        let existing = if write {
            let p = at.join(name);
            p.is_file().then_some(p)
        } else {
            find_file(&at, &[name.to_string()])
        };
        let actual = match &existing {
            Some(p) => Some(sha256_maybe_gz(p)?.unwrap_or_else(|msg| msg)),
            None => None,
        };
        let state = match actual {
            Some(a) if a == expected => Member::Same,
            _ if write => {
                let target = at.join(name);
                crate::artifact::write_atomic(&target, &bytes)?;
                // The readers prefer `NAME.gz` over `NAME`: a stale one would hide what we wrote.
                let gz = at.join(format!("{name}.gz"));
                if gz.is_file() {
                    tracing::warn!("{}: removing, it differs from {}", gz.display(), archive.display());
                    fs::remove_file(&gz).at(&gz)?;
                }
                Member::Written
            }
            Some(actual) => Member::Differs { expected, actual },
            None => Member::Missing,
        };
        found[i] = Some((existing.filter(|_| !write).unwrap_or_else(|| at.join(name)), state));
    }
    unpack
        .members
        .iter()
        .zip(found)
        .map(|(m, f)| match f {
            Some(f) => Ok(f),
            None if write => Err(Error::format(archive, format!("archive has no member {}/{m}", unpack.subdir))),
            None => Ok((at.join(m), Member::Missing)),
        })
        .collect()
}

// ---------------------------------------------------------------- fetching

/// `create_dir_all(dir)`, returning the folders it made (outermost first).
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing: Vec<PathBuf> =
        dir.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).map(Path::to_path_buf).collect();
    missing.reverse();
    fs::create_dir_all(dir).at(dir)?;
    Ok(missing)
}

fn fetch_spec(dir: &Path, spec: &FileSpec, opts: &FetchOptions, agent: &ureq::Agent) -> Result<Vec<FetchOutcome>> {
    let outcome = |path: PathBuf, status| FetchOutcome { dataset: spec.dataset.to_string(), path, status };
    let current = verify_file(dir, spec)?;
    let (archive, status) = match &current.status {
        VerifyStatus::Ok => (current.path, FetchStatus::AlreadyPresent),
        other => {
            if let VerifyStatus::Mismatch { .. } = other {
                tracing::warn!("{current}; downloading the official file");
            }
            if spec.mirrors.is_empty() && opts.base_url_override.is_none() {
                return Err(Error::NotFound(format!(
                    "{}: {current}; {} has no download source: copy it from the shared data folder (its README \
                     gives provenance and SHA-256)",
                    spec.dataset, spec.name
                )));
            }
            let created = create_dirs(dir)?;
            let path = dir.join(spec.name);
            let status = match download(&path, spec, opts, agent) {
                Ok(s) => s,
                Err(e) => {
                    // A failed fetch leaves no empty folder behind to be mistaken for data.
                    for d in created.iter().rev() {
                        let _ = fs::remove_dir(d);
                    }
                    return Err(e);
                }
            };
            (path, status)
        }
    };
    let mut out = vec![outcome(archive.clone(), status)];
    if let Some(unpack) = &spec.unpack {
        for (path, m) in sync_members(&archive, dir, unpack, true)? {
            let status = match m {
                Member::Written => FetchStatus::Extracted { archive: archive.clone() },
                _ => FetchStatus::AlreadyPresent,
            };
            out.push(outcome(path, status));
        }
    }
    Ok(out)
}

/// How one mirror failed.
enum MirrorError {
    /// Unreachable, HTTP error, dropped connection: try the next mirror (a
    /// `.part` is kept, to resume).
    Network(String),
    /// It served content with the wrong checksum (`.part` deleted).
    Checksum(Error),
}

/// Downloads `spec` to `path` through `path.part`, trying each mirror.
fn download(path: &Path, spec: &FileSpec, opts: &FetchOptions, agent: &ureq::Agent) -> Result<FetchStatus> {
    let urls = opts.urls(spec);
    let mut failures = Vec::new();
    let mut checksum_error = None;
    for url in &urls {
        tracing::info!("downloading {url}");
        match download_from(url, path, spec, agent)? {
            Ok(status) => return Ok(status),
            Err(MirrorError::Network(msg)) => {
                // The final error lists every mirror's failure; here only for -v.
                tracing::info!("{url}: {msg}");
                failures.push(msg);
            }
            Err(MirrorError::Checksum(e)) => {
                tracing::warn!("{e} (from {url})");
                failures.push(format!("wrong checksum from {url}"));
                checksum_error.get_or_insert(e);
            }
        }
    }
    // Content that fails its checksum says more than an unreachable mirror.
    if let Some(e) = checksum_error {
        return Err(e);
    }
    let n = urls.len();
    let listed: Vec<String> = failures.iter().enumerate().map(|(i, m)| format!("({}) {m}", i + 1)).collect();
    Err(Error::Network {
        url: urls.join(", "),
        msg: format!(
            "download of {} failed after trying {n} mirror{}: {}",
            spec.name,
            if n == 1 { "" } else { "s" },
            listed.join("; ")
        ),
    })
}

fn part_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".part");
    PathBuf::from(p)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, resp) => format!("HTTP {code} {}", resp.status_text()),
        ureq::Error::Transport(t) => {
            let mut s = t.kind().to_string();
            if let Some(m) = t.message() {
                s = format!("{s}: {m}");
            }
            if let Some(src) = std::error::Error::source(t) {
                s = format!("{s}: {src}");
            }
            one_line(&s)
        }
    }
}

fn remove_if_exists(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}

/// One mirror. The outer `Result` carries local failures (disk, permissions)
/// that no other mirror can fix.
fn download_from(
    url: &str,
    path: &Path,
    spec: &FileSpec,
    agent: &ureq::Agent,
) -> Result<std::result::Result<FetchStatus, MirrorError>> {
    let part = part_path(path);
    // After a resumed download fails verification we start once more from
    // zero: the old `.part` may have come from another file or mirror.
    let mut restarted = false;
    loop {
        let mut offset = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if let Check::Md5 { size, .. } = spec.check {
            if offset > size {
                remove_if_exists(&part)?;
                offset = 0;
            }
        }
        let complete_part = matches!(spec.check, Check::Md5 { size, .. } if offset == size);
        let mut fetched = 0;
        if !complete_part {
            let mut req = agent.get(url).set("Accept-Encoding", "identity");
            if offset > 0 {
                req = req.set("Range", &format!("bytes={offset}-"));
            }
            match req.call() {
                // The server has nothing past `offset`: the `.part` may be whole.
                Err(ureq::Error::Status(416, _)) if offset > 0 => {}
                Err(e) => return Ok(Err(MirrorError::Network(describe(&e)))),
                Ok(resp) => {
                    let resumed = resp.status() == 206;
                    if resumed {
                        let start = resp
                            .header("Content-Range")
                            .and_then(|v| v.strip_prefix("bytes "))
                            .and_then(|v| v.split('-').next())
                            .and_then(|v| v.trim().parse::<u64>().ok());
                        if start != Some(offset) {
                            if restarted {
                                return Ok(Err(MirrorError::Network("server answers Range requests wrongly".into())));
                            }
                            tracing::warn!("{url}: unexpected Content-Range {start:?}; restarting from zero");
                            remove_if_exists(&part)?;
                            restarted = true;
                            continue;
                        }
                    } else if offset > 0 {
                        tracing::info!("{url}: server ignored the Range request; restarting from zero");
                        offset = 0;
                    }
                    match stream_body(resp, &part, offset, spec.name)? {
                        Ok(n) => fetched = n,
                        Err(msg) => return Ok(Err(MirrorError::Network(msg))),
                    }
                }
            }
        }
        match check_file(&part, &spec.check)? {
            None => {
                fs::rename(&part, path).at(path)?;
                return Ok(Ok(FetchStatus::Downloaded {
                    url: url.to_string(),
                    bytes: offset + fetched,
                    resumed_from: offset,
                }));
            }
            Some(_) if offset > 0 && !restarted => {
                tracing::warn!("{}: resumed download fails verification; restarting from zero", part.display());
                remove_if_exists(&part)?;
                restarted = true;
            }
            Some((expected, actual)) => {
                remove_if_exists(&part)?;
                return Ok(Err(MirrorError::Checksum(Error::Checksum {
                    path: path.to_path_buf(),
                    algo: spec.check.algo(),
                    expected,
                    actual,
                })));
            }
        }
    }
}

/// Writes the response body to `part`, appending at `offset` (or truncating
/// when 0), with a progress bar. `Ok(Err(msg))`: the connection failed
/// mid-way (the bytes so far stay in `part`, for a resume).
fn stream_body(resp: ureq::Response, part: &Path, offset: u64, name: &str) -> Result<std::result::Result<u64, String>> {
    let len = resp.header("Content-Length").and_then(|v| v.trim().parse::<u64>().ok());
    let mut file =
        if offset > 0 { OpenOptions::new().append(true).open(part).at(part)? } else { File::create(part).at(part)? };
    let pb = crate::progress::bar(len.map_or(0, |l| offset + l), "B");
    pb.set_prefix(name.to_string());
    pb.set_position(offset);
    let mut body = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    let result = loop {
        match body.read(&mut buf) {
            Ok(0) => break Ok(n),
            Ok(k) => {
                file.write_all(&buf[..k]).at(part)?;
                n += k as u64;
                pb.inc(k as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(one_line(&format!("connection failed after {} bytes: {e}", offset + n))),
        }
    };
    pb.finish_and_clear();
    file.sync_all().at(part)?;
    if let (Ok(got), Some(want)) = (&result, len) {
        if *got != want {
            return Ok(Err(format!("body ended after {} of {} bytes", offset + got, offset + want)));
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_well_formed() {
        for f in FILES {
            let (h, len) = match f.check {
                Check::DecompressedSha256(h) | Check::Sha256 { hex: h, .. } => (h, 64),
                Check::Md5 { hex, .. } => (hex, 32),
            };
            assert_eq!(h.len(), len, "{}", f.name);
            assert!(h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{}", f.name);
            // Only the JPEG copy has no download source (fetch says where to copy it from).
            assert_eq!(f.mirrors.is_empty(), f.dataset == "cifar-10-jpeg", "{}", f.name);
            assert!(Dataset::parse(f.dataset).is_some());
        }
        assert_eq!(files_for(&Dataset::Cifar10Jpeg).unwrap().len(), 1);
        assert_eq!(files_for(&Dataset::Mnist).unwrap().len(), 4);
        assert_eq!(files_for(&Dataset::FashionMnist).unwrap().len(), 4);
        assert_eq!(files_for(&Dataset::Cifar10).unwrap().len(), 1);
        let e = files_for(&Dataset::MnistC("shot_noise".into())).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)));
        let msg = e.to_string();
        assert!(msg.contains("mnist-c/shot_noise") && msg.contains("checksum") && !msg.contains('\n'), "{msg}");
    }

    #[test]
    fn urls_join_base_and_name() {
        let spec = &FILES[3];
        let o = FetchOptions { base_url_override: Some("http://h:1".into()), ..Default::default() };
        assert_eq!(o.urls(spec), ["http://h:1/t10k-labels-idx1-ubyte.gz"]);
        assert_eq!(
            FetchOptions::default().urls(spec),
            [
                "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
                "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz"
            ]
        );
    }

    const MEMBERS: &[&str] = &["a.bin", "b.bin"];

    /// A small archive in the CIFAR-10 layout, and a table entry for it.
    fn archive(dir: &Path) -> (PathBuf, FileSpec) {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        for (name, body) in [
            ("batches/a.bin", &b"first member"[..]),
            ("batches/readme.html", b"not wanted"),
            ("batches/b.bin", b"second member"),
            ("../b.bin", b"escape attempt"),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            // `set_path` refuses `..`; write the raw name like a hostile archive would.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, body).unwrap();
        }
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let path = dir.join("x.tar.gz");
        fs::write(&path, &bytes).unwrap();
        let md5: &'static str = Box::leak(hex::encode(Md5::digest(&bytes)).into_boxed_str());
        let spec = FileSpec {
            dataset: "cifar-10",
            name: "x.tar.gz",
            mirrors: &["http://127.0.0.1:1/"],
            check: Check::Md5 { hex: md5, size: bytes.len() as u64 },
            unpack: Some(Unpack { subdir: "batches", members: MEMBERS }),
        };
        (path, spec)
    }

    fn statuses(v: &[VerifyOutcome]) -> Vec<&VerifyStatus> {
        v.iter().map(|o| &o.status).collect()
    }

    #[test]
    fn archive_members_are_verified_and_extracted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (archive, spec) = archive(dir);
        let opts = FetchOptions::default();
        let agent = agent(&opts);

        let v = verify_spec(dir, &spec).unwrap();
        assert_eq!(statuses(&v), [&VerifyStatus::Ok, &VerifyStatus::Missing, &VerifyStatus::Missing]);

        // The archive verifies, so no network is needed (the mirror is unreachable).
        let f = fetch_spec(dir, &spec, &opts, &agent).unwrap();
        assert_eq!(f[0].status, FetchStatus::AlreadyPresent);
        assert_eq!(f[1].status, FetchStatus::Extracted { archive: archive.clone() });
        assert_eq!(fs::read(dir.join("batches/a.bin")).unwrap(), b"first member");
        assert_eq!(fs::read(dir.join("batches/b.bin")).unwrap(), b"second member");
        assert!(!dir.join("batches/readme.html").exists() && !dir.join("b.bin").exists());
        assert!(verify_spec(dir, &spec).unwrap().iter().all(VerifyOutcome::is_ok));

        // One changed member: a mismatch, repaired alone.
        fs::write(dir.join("batches/b.bin"), b"tampered").unwrap();
        let v = verify_spec(dir, &spec).unwrap();
        assert!(matches!(v[2].status, VerifyStatus::Mismatch { .. }), "{}", v[2]);
        let f = fetch_spec(dir, &spec, &opts, &agent).unwrap();
        assert_eq!(f[1].status, FetchStatus::AlreadyPresent);
        assert_eq!(f[2].status, FetchStatus::Extracted { archive: archive.clone() });
        assert_eq!(fs::read(dir.join("batches/b.bin")).unwrap(), b"second member");

        // Without the archive, present members cannot be checked.
        fs::remove_file(&archive).unwrap();
        let v = verify_spec(dir, &spec).unwrap();
        assert_eq!(v[0].status, VerifyStatus::Missing);
        assert!(matches!(&v[1].status, VerifyStatus::Unverified(w) if w.contains("x.tar.gz")), "{}", v[1]);

        // A wrong archive: a one-line md5 mismatch naming both sizes.
        fs::write(&archive, b"junk").unwrap();
        let v = verify_spec(dir, &spec).unwrap();
        let line = v[0].to_string();
        assert!(line.contains("md5 checksum mismatch") && line.contains("4 bytes") && !line.contains('\n'), "{line}");
    }
}
