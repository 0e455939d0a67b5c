//! The report folder: every file a report writes goes through [`Writer`],
//! which keeps it inside the folder and remembers it.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// Writes files into the report's folder and remembers them.
pub struct Writer {
    pub dir: PathBuf,
    pub written: Vec<PathBuf>,
}

/// `s` (a dataset or generator name, which users choose) as part of a report
/// file's name: characters other than ASCII letters, digits, `-`, `_` and
/// `.` become `_`, so the name stays one plain file in the report folder and
/// one Markdown link.
pub fn file_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

impl Writer {
    /// The writer for the folder of `out` (report.md's path), created.
    pub fn create(out: &Path) -> Result<Writer> {
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).at(&dir)?;
        Ok(Writer { dir, written: Vec::new() })
    }

    /// Writes `name` in the report folder; a name that is not one plain
    /// file name (a separator, `..`) is refused: nothing leaves the folder.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut parts = Path::new(name).components();
        if !matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)) || name.contains('\\') {
            return Err(Error::Invalid(format!(
                "{}: report file name '{}' is not a plain file name",
                self.dir.display(),
                crate::terminal::escape(name)
            )));
        }
        let p = self.dir.join(name);
        crate::artifact::write_atomic(&p, bytes)?;
        self.written.push(p);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_leave_the_folder_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let mut w = Writer::create(&t.path().join("r/report.md")).unwrap();
        for bad in ["../x.png", "a/b.png", "/etc/x", "..", ".", "", "a\\b"] {
            let e = w.write(bad, b"x").unwrap_err().to_string();
            assert!(e.contains("not a plain file name"), "{bad}: {e}");
        }
        w.write("my report.md", b"x").unwrap();
        assert_eq!(w.written, [t.path().join("r/my report.md")]);
        assert_eq!(file_part("ds<img src=x>|\"[t.x]/../y"), "ds_img_src_x____t.x__.._y");
    }
}
