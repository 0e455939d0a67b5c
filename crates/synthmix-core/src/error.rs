//! The library's error type. Every variant renders as one line that names the
//! file (or input) and the problem, because users see exactly this text.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An OS-level failure reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file whose contents are not what its format promises.
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A downloaded or on-disk file whose checksum is wrong.
    #[error("{}: {algo} checksum mismatch (expected {expected}, got {actual})", path.display())]
    Checksum { path: PathBuf, algo: &'static str, expected: String, actual: String },
    /// A data set name or file that is not where it should be.
    #[error("{0}")]
    NotFound(String),
    /// A user-supplied value (flag, dataset name, ratio, …) that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A network failure while fetching data.
    #[error("{url}: {msg}")]
    Network { url: String, msg: String },
    /// Training diverged (NaN/inf loss or collapsed model).
    #[error("{0}")]
    Diverged(String),
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Candle(String),
}

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), source }
    }

    /// A file that is not what it should be. Control characters in `msg`
    /// (often quoted from the file itself) are escaped: the error stays one line.
    pub fn format(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        let msg: String = msg.into();
        let msg = crate::terminal::escape(&msg).into_owned();
        Error::Format { path: path.as_ref().to_path_buf(), msg }
    }
}

impl Error {
    /// Prefixes a divergence or tensor error with where it happened.
    pub fn in_context(self, at: &str) -> Self {
        match self {
            Error::Diverged(m) => Error::Diverged(format!("{at}: {m}")),
            Error::Candle(m) => Error::Candle(format!("{at}: {m}")),
            other => other,
        }
    }
}

impl From<candle_core::Error> for Error {
    /// candle wraps errors in a captured backtrace whenever `RUST_BACKTRACE` is
    /// set; keep only the message so users get one readable line.
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(strip_backtrace(e).to_string())
    }
}

/// Remove candle's `WithBacktrace` wrappers (at any depth of the chain we own).
pub fn strip_backtrace(e: candle_core::Error) -> candle_core::Error {
    match e {
        candle_core::Error::WithBacktrace { inner, .. } => strip_backtrace(*inner),
        candle_core::Error::Context { inner, context } => {
            candle_core::Error::Context { inner: Box::new(strip_backtrace(*inner)), context }
        }
        candle_core::Error::WithPath { inner, path } => {
            candle_core::Error::WithPath { inner: Box::new(strip_backtrace(*inner)), path }
        }
        other => other,
    }
}

/// Attach a path to I/O results: `fs::read(p).at(p)?`.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
