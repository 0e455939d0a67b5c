//! `data::fetch`: verification against the real shared files, and downloads
//! from a tiny in-test HTTP server (offline, fast).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synthmix_core::data::fetch::{self, FetchOptions, FetchStatus, VerifyStatus};
use synthmix_core::data::Dataset;
use synthmix_core::Error;

const LABELS: &str = "t10k-labels-idx1-ubyte.gz";

use crate::common_data;
use common_data::shared_data;

fn real(name: &str) -> Vec<u8> {
    fs::read(shared_data().join("mnist").join(name)).unwrap()
}

/// A data dir holding the real MNIST files except t10k-labels, so a fetch of
/// MNIST skips those three and downloads only the labels.
fn data_dir_without_labels() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    fs::create_dir_all(&dir).unwrap();
    for f in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"] {
        fs::copy(shared_data().join("mnist").join(f), dir.join(f)).unwrap();
    }
    tmp
}

fn opts(base: &str) -> FetchOptions {
    FetchOptions { timeout: Duration::from_secs(10), base_url_override: Some(base.to_string()) }
}

/// One request the server saw: path and Range header.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    path: String,
    range: Option<String>,
}

/// An HTTP/1.1 server on 127.0.0.1 serving `body` at `/NAME` (404 elsewhere),
/// answering `Range: bytes=N-` with 206 unless `honor_range` is false.
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn serve(name: &str, body: Vec<u8>, honor_range: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (seen2, want) = (seen.clone(), format!("/{name}"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &want, &body, honor_range, &seen2);
        }
    });
    Server { base, seen }
}

fn answer(
    mut stream: TcpStream,
    want: &str,
    body: &[u8],
    honor_range: bool,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    seen.lock().unwrap().push(Seen { path: path.clone(), range: range.clone() });
    let start = range
        .as_deref()
        .filter(|_| honor_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, extra, payload): (&str, String, &[u8]) = if path != want {
        ("404 Not Found", String::new(), b"not here")
    } else {
        match start {
            None => ("200 OK", String::new(), body),
            Some(s) if s < body.len() => (
                "206 Partial Content",
                format!("Content-Range: bytes {s}-{}/{}\r\n", body.len() - 1, body.len()),
                &body[s..],
            ),
            Some(_) => ("416 Range Not Satisfiable", format!("Content-Range: bytes */{}\r\n", body.len()), b""),
        }
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n{extra}Connection: close\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(payload)?;
    stream.flush()
}

fn files_in(dir: &Path) -> Vec<String> {
    match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

// (a) The real shared files verify; one changed byte does not.
#[test]
fn verify_accepts_shared_data_and_rejects_a_changed_byte() {
    let data = shared_data();
    let all = fetch::verify(&data, &[Dataset::Mnist, Dataset::FashionMnist]).unwrap();
    assert_eq!(all.len(), 8);
    for o in &all {
        assert!(o.is_ok(), "{o}");
    }

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    fs::create_dir_all(&dir).unwrap();
    let mut bytes = real(LABELS);
    // Inside the deflate stream: either a corrupt stream or other content, never the official one.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    fs::write(dir.join(LABELS), &bytes).unwrap();
    let v = fetch::verify(tmp.path(), &[Dataset::Mnist]).unwrap();
    let labels = v.iter().find(|o| o.path.ends_with(LABELS)).unwrap();
    match &labels.status {
        VerifyStatus::Mismatch { expected, actual, .. } => {
            assert_eq!(expected, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2");
            assert_ne!(actual, expected);
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    let line = labels.to_string();
    assert!(line.contains(LABELS) && line.contains("mismatch") && !line.contains('\n'), "{line}");
    // The other three are absent.
    assert_eq!(v.iter().filter(|o| o.status == VerifyStatus::Missing).count(), 3);
}

// Hashing decompressed content: the plain IDX file verifies like its .gz.
#[test]
fn verify_accepts_a_decompressed_file() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mnist");
    fs::create_dir_all(&dir).unwrap();
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&real(LABELS)[..]).read_to_end(&mut plain).unwrap();
    fs::write(dir.join("t10k-labels-idx1-ubyte"), &plain).unwrap();
    let v = fetch::verify(tmp.path(), &[Dataset::Mnist]).unwrap();
    let labels = v.iter().find(|o| o.path.ends_with("t10k-labels-idx1-ubyte")).unwrap();
    assert!(labels.is_ok(), "{labels}");
}

// (b) No network: a one-line Network error naming the URL, nothing left behind.
#[test]
fn unreachable_mirror_is_a_one_line_network_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let err = fetch::fetch(&data, &[Dataset::Mnist], &opts("http://127.0.0.1:1/")).unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err:?}");
    // No empty folder is left to be taken for a data dir.
    assert!(!data.exists(), "a failed fetch left {}", data.display());
    let err = fetch::fetch(tmp.path(), &[Dataset::Mnist], &opts("http://127.0.0.1:1/")).unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains("http://127.0.0.1:1/train-images-idx3-ubyte.gz"), "{msg}");
    assert!(msg.contains("after trying 1 mirror:"), "{msg}");
    let left = files_in(&tmp.path().join("mnist"));
    assert!(left.is_empty(), "left behind: {left:?}");
}

// (c) A mirror serving other content: Error::Checksum naming the file, no file or .part left.
#[test]
fn wrong_content_is_a_checksum_error_and_leaves_nothing() {
    let tmp = data_dir_without_labels();
    let server = serve(LABELS, b"these are not the MNIST test labels".to_vec(), true);
    let err = fetch::fetch(tmp.path(), &[Dataset::Mnist], &opts(&server.base)).unwrap_err();
    match &err {
        Error::Checksum { path, expected, actual, .. } => {
            assert!(path.ends_with(LABELS), "{}", path.display());
            assert_eq!(expected, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2");
            assert_ne!(actual, expected);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(LABELS) && msg.contains("ff7bcfd4") && !msg.contains('\n'), "{msg}");
    let dir = tmp.path().join("mnist");
    assert!(!dir.join(LABELS).exists());
    assert!(!dir.join(format!("{LABELS}.part")).exists());
    // Only the missing file was requested: the three present ones verified.
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen, [Seen { path: format!("/{LABELS}"), range: None }]);
}

// (d) A half-downloaded .part is resumed with a Range request and completes.
#[test]
fn partial_download_resumes_with_range() {
    let tmp = data_dir_without_labels();
    let body = real(LABELS);
    let half = body.len() / 2;
    let dir = tmp.path().join("mnist");
    fs::write(dir.join(format!("{LABELS}.part")), &body[..half]).unwrap();
    let server = serve(LABELS, body.clone(), true);

    let out = fetch::fetch(tmp.path(), &[Dataset::Mnist], &opts(&server.base)).unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out.iter().filter(|o| o.status == FetchStatus::AlreadyPresent).count(), 3);
    let labels = out.iter().find(|o| o.path.ends_with(LABELS)).unwrap();
    assert_eq!(
        labels.status,
        FetchStatus::Downloaded {
            url: format!("{}{LABELS}", server.base),
            bytes: body.len() as u64,
            resumed_from: half as u64
        }
    );
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen, [Seen { path: format!("/{LABELS}"), range: Some(format!("bytes={half}-")) }]);
    assert_eq!(fs::read(dir.join(LABELS)).unwrap(), body);
    assert!(!dir.join(format!("{LABELS}.part")).exists());
    assert!(fetch::verify(tmp.path(), &[Dataset::Mnist]).unwrap().iter().all(|o| o.is_ok()));

    // A second fetch finds everything in place and asks the server nothing.
    let again = fetch::fetch(tmp.path(), &[Dataset::Mnist], &opts(&server.base)).unwrap();
    assert!(again.iter().all(|o| o.status == FetchStatus::AlreadyPresent));
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

// A server that ignores Range sends the whole file: the client starts over.
#[test]
fn server_ignoring_range_restarts_from_zero() {
    let tmp = data_dir_without_labels();
    let body = real(LABELS);
    let dir = tmp.path().join("mnist");
    fs::write(dir.join(format!("{LABELS}.part")), &body[..100]).unwrap();
    let server = serve(LABELS, body.clone(), false);
    let out = fetch::fetch(tmp.path(), &[Dataset::Mnist], &opts(&server.base)).unwrap();
    let labels = out.iter().find(|o| o.path.ends_with(LABELS)).unwrap();
    assert!(matches!(labels.status, FetchStatus::Downloaded { resumed_from: 0, .. }), "{labels}");
    assert_eq!(fs::read(dir.join(LABELS)).unwrap(), body);
    assert_eq!(server.seen.lock().unwrap().len(), 1);
}

// A stale .part with other bytes: the resumed file fails verification, so
// the client deletes it and downloads from zero.
#[test]
fn corrupt_partial_download_restarts_from_zero() {
    let tmp = data_dir_without_labels();
    let body = real(LABELS);
    let half = body.len() / 2;
    let dir = tmp.path().join("mnist");
    let mut stale = body[..half].to_vec();
    stale[half / 2] ^= 0xff;
    fs::write(dir.join(format!("{LABELS}.part")), &stale).unwrap();
    let server = serve(LABELS, body.clone(), true);
    let out = fetch::fetch(tmp.path(), &[Dataset::Mnist], &opts(&server.base)).unwrap();
    let labels = out.iter().find(|o| o.path.ends_with(LABELS)).unwrap();
    assert!(matches!(labels.status, FetchStatus::Downloaded { resumed_from: 0, .. }), "{labels}");
    assert_eq!(fs::read(dir.join(LABELS)).unwrap(), body);
    let ranges: Vec<_> = server.seen.lock().unwrap().iter().map(|s| s.range.clone()).collect();
    assert_eq!(ranges, [Some(format!("bytes={half}-")), None]);
}

// A file that is present but wrong is replaced by a verified download.
#[test]
fn mismatched_file_is_replaced() {
    let tmp = data_dir_without_labels();
    let dir = tmp.path().join("mnist");
    fs::write(dir.join(LABELS), b"old junk").unwrap();
    let body = real(LABELS);
    let server = serve(LABELS, body.clone(), true);
    let v = fetch::ensure(tmp.path(), &[Dataset::Mnist], &opts(&server.base)).unwrap();
    assert!(v.iter().all(|o| o.is_ok()));
    assert_eq!(fs::read(dir.join(LABELS)).unwrap(), body);
    // ensure on a complete dir needs no network at all.
    let v = fetch::ensure(tmp.path(), &[Dataset::Mnist], &opts("http://127.0.0.1:1/")).unwrap();
    assert!(v.iter().all(|o| o.is_ok()));
}

// MNIST-C: nothing to fetch or verify, said in one line.
#[test]
fn mnist_c_cannot_be_fetched() {
    let tmp = tempfile::tempdir().unwrap();
    let d = [Dataset::MnistC("shot_noise".into())];
    for err in [
        fetch::fetch(tmp.path(), &d, &opts("http://127.0.0.1:1/")).unwrap_err(),
        fetch::verify(tmp.path(), &d).unwrap_err(),
    ] {
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("mnist-c/shot_noise") && msg.contains("computed") && !msg.contains('\n'), "{msg}");
    }
}
