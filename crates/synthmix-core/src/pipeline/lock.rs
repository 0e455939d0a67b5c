//! One runner per artifacts folder: an exclusive `flock` on `artifacts/.lock`.
//! The kernel drops the lock when the runner exits in any way (SIGKILL
//! included), so a killed run never leaves a stale lock behind. A stage
//! refuses to write into a held artifacts folder outside the staging folder
//! its runner gave it ([`refuse_if_held`]).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Held while a runner works on an artifacts folder; released on drop.
#[derive(Debug)]
pub struct Lock {
    _file: File,
    pub path: PathBuf,
}

/// `flock(LOCK_EX | LOCK_NB)` (`LOCK_SH` when `shared`): `Ok(false)` when
/// another process holds it. (std's `File::try_lock` needs Rust 1.89; the
/// workspace supports 1.85.)
#[cfg(unix)]
fn try_flock(file: &File, shared: bool) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    extern "C" {
        fn flock(fd: i32, operation: i32) -> i32;
    }
    const LOCK_SH: i32 = 1;
    const LOCK_EX: i32 = 2;
    const LOCK_NB: i32 = 4;
    let kind = if shared { LOCK_SH } else { LOCK_EX };
    // SAFETY: a plain system call on a descriptor this `File` owns.
    if unsafe { flock(file.as_raw_fd(), kind | LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

/// Set by the runner for each stage it starts: the staging folder the
/// stage writes into, inside the artifacts folder the runner holds.
pub const STAGING_ENV: &str = "SYNTHMIX_STAGING";

/// Refuses an output (`flag out`) inside an artifacts folder (one holding
/// `.lock`) that a runner holds, unless it is in the staging folder that
/// runner gave this process: a stage run by hand would change files the
/// runner has keyed by their old bytes. The probe is a shared lock, taken
/// and dropped at once.
pub fn refuse_if_held(flag: &str, out: &Path) -> Result<()> {
    let abs = |p: &Path| super::spec::normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let target = abs(out);
    if std::env::var_os(STAGING_ENV).is_some_and(|s| target.starts_with(abs(Path::new(&s)))) {
        return Ok(());
    }
    for dir in target.ancestors().skip(1) {
        let path = dir.join(".lock");
        let Ok(mut file) = File::open(&path) else { continue };
        if try_flock(&file, true).map_err(|e| Error::io(&path, e))? {
            continue;
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        return Err(Error::Invalid(format!(
            "{flag} {}: inside {}, an artifacts folder a synthmix runner is using ({}); write elsewhere or wait for it",
            out.display(),
            dir.display(),
            holder.split_whitespace().collect::<Vec<_>>().join(" ")
        )));
    }
    Ok(())
}

/// Takes the lock of `artifacts`, or says who holds it.
pub fn acquire(artifacts: &Path, what: &str) -> Result<Lock> {
    match try_acquire(artifacts, what)? {
        Ok(lock) => Ok(lock),
        Err((path, holder)) => Err(Error::Invalid(format!(
            "{}: another synthmix runner is using this artifacts folder ({}); wait for it to finish or stop it",
            path.display(),
            if holder.is_empty() { "holder unknown".to_string() } else { holder }
        ))),
    }
}

/// Takes the lock of `artifacts`, waiting while another process holds it
/// (a Slurm job takes it only to check its inputs and to commit, briefly).
pub fn acquire_wait(artifacts: &Path, what: &str) -> Result<Lock> {
    let mut said = false;
    loop {
        match try_acquire(artifacts, what)? {
            Ok(lock) => return Ok(lock),
            Err((path, holder)) if !said => {
                tracing::info!("{}: waiting for the lock ({holder})", path.display());
                said = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The lock, or where it is and who holds it.
type Attempt = std::result::Result<Lock, (PathBuf, String)>;

fn try_acquire(artifacts: &Path, what: &str) -> Result<Attempt> {
    std::fs::create_dir_all(artifacts).at(artifacts)?;
    let path = artifacts.join(".lock");
    let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).at(&path)?;
    match try_flock(&file, false) {
        Ok(true) => {}
        Ok(false) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.split_whitespace().collect::<Vec<_>>().join(" ");
            return Ok(Err((path, holder)));
        }
        Err(e) => return Err(Error::io(&path, e)),
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    file.set_len(0).at(&path)?;
    file.rewind().at(&path)?;
    writeln!(file, "pid {} since unix time {now}: {what}", std::process::id()).at(&path)?;
    Ok(Ok(Lock { _file: file, path }))
}
