//! A report page opened in a real browser: Debian's headless Chromium driven
//! through chromedriver's WebDriver HTTP interface. Without them a test says
//! SKIP and why (SYNTHMIX_REQUIRE_BROWSER=1, set by .ci/run once it has
//! installed them, turns that into a failure).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// A WebDriver session in headless Chromium; ends the session and the
/// driver when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n))).find(|p| p.is_file())
}

/// The browser, or None after printing why there is none.
pub fn open() -> Option<Browser> {
    let (Some(chrome), Some(driver)) =
        (find(&["chromium", "chromium-browser", "google-chrome"]), find(&["chromedriver"]))
    else {
        let why = "SKIP browser test: chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver)";
        assert!(std::env::var("SYNTHMIX_REQUIRE_BROWSER").as_deref() != Ok("1"), "{why}");
        println!("{why}");
        eprintln!("{why}");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
    let base = format!("http://127.0.0.1:{port}");
    let t0 = Instant::now();
    while ureq::get(&format!("{base}/status")).call().is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "chromedriver did not answer on {base}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": chrome, "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--window-size=1366,900", "--allow-file-access-from-files"]},
        "goog:loggingPrefs": {"browser": "ALL"}
    }}});
    let mut b = Browser { driver: child, base, session: String::new() };
    let v = b.post("/session", caps);
    b.session = v["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {v}")).to_string();
    Some(b)
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = ureq::request(method, &url).timeout(Duration::from_secs(60));
        let res = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        };
        let text = match res {
            Ok(r) => r.into_string().unwrap(),
            Err(ureq::Error::Status(code, r)) => {
                panic!("WebDriver {method} {path}: {code} {}", r.into_string().unwrap())
            }
            Err(e) => panic!("WebDriver {method} {path}: {e}"),
        };
        let v: Value = serde_json::from_str(&text).unwrap();
        v.get("value").cloned().unwrap_or(Value::Null)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        self.call("POST", path, Some(body))
    }

    /// Opens a local file and waits for its load event.
    pub fn goto(&self, file: &Path) {
        let url = format!("file://{}", std::fs::canonicalize(file).unwrap().display());
        self.post("/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body; `arguments` as WebDriver passes them) and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// Messages the page logged at SEVERE level (errors, failed loads).
    pub fn console_errors(&self) -> Vec<String> {
        let v = self.post("/se/log", json!({ "type": "browser" }));
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["level"] == "SEVERE")
            .map(|m| m["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// A PNG of the window at `width` × `height` CSS pixels.
    pub fn screenshot(&self, width: u32, height: u32, out: &Path) {
        self.post("/window/rect", json!({ "width": width, "height": height }));
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        std::fs::write(out, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        }
        let _ = self.driver.kill();
        let mut s = String::new();
        let _ = self.driver.stdout.as_mut().map(|o| o.read_to_string(&mut s));
        let _ = self.driver.wait();
    }
}
