//! Opening a file someone named: only a regular file (after links) is
//! opened. Opening a FIFO blocks until a writer comes, and a device such as
//! `/dev/zero` never ends, so either would hang a stage or the runner where
//! one clear line is due; the kind is checked before `open` is called.

use std::fs::File;
use std::io::{Error, ErrorKind, Read, Result};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// What a file that is not a regular one is, for the error line.
fn kind_name(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Opens `path` for reading if it is a regular file; anything else is an
/// `InvalidInput` error saying what it is (a missing file stays `NotFound`).
pub fn open(path: &Path) -> Result<File> {
    let t = std::fs::metadata(path)?.file_type();
    if !t.is_file() {
        let what = kind_name(t);
        return Err(Error::new(ErrorKind::InvalidInput, format!("{what}, not a regular file: not read")));
    }
    File::open(path)
}

/// The bytes of the regular file `path` ([`open`]).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let mut f = open(path)?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The text of the regular file `path` ([`open`]).
pub fn read_to_string(path: &Path) -> Result<String> {
    let mut f = open(path)?;
    let mut text = String::new();
    f.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        // Would block for ever without the check (no writer ever comes).
        for (p, what) in [(fifo.as_path(), "a FIFO"), (Path::new("/dev/zero"), "a device"), (t.path(), "a folder")] {
            let e = read(p).unwrap_err();
            assert!(e.kind() == ErrorKind::InvalidInput && e.to_string().starts_with(what), "{p:?}: {e}");
        }
        assert_eq!(read(&t.path().join("none")).unwrap_err().kind(), ErrorKind::NotFound);
        std::fs::write(t.path().join("f"), "x").unwrap();
        std::os::unix::fs::symlink(t.path().join("f"), t.path().join("link")).unwrap();
        assert_eq!(read_to_string(&t.path().join("link")).unwrap(), "x");
    }
}
