//! Headless Chromium driven through chromedriver (WebDriver), for the
//! example apps' browser tests.
//!
//! [`Browser::start`] starts `chromedriver` on a free port of 127.0.0.1 and
//! opens a session of headless `chromium`: Debian's `chromium` and
//! `chromium-driver` packages (`.ci/run` installs them). When either
//! program is missing the test is skipped, with a line on standard error
//! saying why, except under `CI=true`, where a skipped browser test fails.
//! `CHROMIUM` and `CHROMEDRIVER` name other binaries.

use std::ffi::OsString;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

/// How long the helpers wait for a page or an element.
pub const WAIT: Duration = Duration::from_secs(15);

/// A WebDriver session of headless Chromium, and the chromedriver process
/// behind it (killed on drop). Derefs to [`fantoccini::Client`].
#[derive(Debug)]
pub struct Browser {
    client: Client,
    driver: Child,
}

/// One of `names` as a file: `$var` if set (and a file), else the first
/// match on `PATH`.
fn program(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Skip `test` (a line on stderr) because `what` is missing; under
/// `CI=true`, fail instead.
fn skip(test: &str, what: &str) -> Option<Browser> {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: a browser test was skipped in CI: {what} not found \
         (.ci/run installs Debian's chromium and chromium-driver)"
    );
    // Straight to stderr, past libtest's capture: the skip shows in the
    // output of a plain `cargo test`. One write, so that libtest's output of
    // tests running in parallel cannot land inside the line (.ci/run counts
    // these lines).
    let line = format!(
        "skipped {test}: needs {what} (Debian: apt-get install chromium chromium-driver)\n"
    );
    let _ = std::io::stderr().write_all(line.as_bytes());
    None
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

impl Browser {
    /// Start chromedriver and a headless Chromium session (1,000 x 760
    /// pixels, light colour scheme), or `None` when either program is
    /// missing (see the module's documentation).
    ///
    /// # Panics
    ///
    /// When a program is missing under `CI=true`, or when three tries of
    /// chromedriver in turn do not answer within 20 s or cannot start a
    /// session.
    pub async fn start(test: &str) -> Option<Browser> {
        let Some(chromium) = program("CHROMIUM", &["chromium", "chromium-browser"]) else {
            return skip(test, "chromium");
        };
        let Some(chromedriver) = program("CHROMEDRIVER", &["chromedriver"]) else {
            return skip(test, "chromedriver");
        };
        // A chromedriver that dies before its session starts (seen once on a
        // loaded machine: it listened, then refused the session) or a port
        // taken meanwhile by another test's chromedriver gets a fresh try.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(test, &chromium, &chromedriver).await {
                Ok(browser) => return Some(browser),
                Err(e) => last_error = e,
            }
        }
        panic!("{test}: chromedriver could not start Chromium (3 tries): {last_error}");
    }

    /// One try of [`Browser::start`]: chromedriver on a free port, then a
    /// session; the driver is killed when the session cannot start.
    async fn try_start(
        test: &str,
        chromium: &Path,
        chromedriver: &Path,
    ) -> Result<Browser, String> {
        let port = free_port();
        let mut driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: starting {}: {e}", chromedriver.display()));
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = driver.try_wait() {
                return Err(format!(
                    "chromedriver exited ({status}) before listening on port {port}"
                ));
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = driver.kill();
                let _ = driver.wait();
                return Err(format!(
                    "chromedriver did not listen on port {port} within 20 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // As root (CI), Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-extensions",
                    "--no-first-run",
                    "--window-size=1000,760",
                    "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    "--force-color-profile=srgb",
                    "--blink-settings=preferredColorScheme=1",
                ],
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match client {
            Ok(client) => Ok(Browser { client, driver }),
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                Err(e.to_string())
            }
        }
    }

    /// Save a PNG of the window to `path` (its folder is created).
    ///
    /// # Panics
    ///
    /// When the browser cannot take it or the file cannot be written.
    pub async fn screenshot_to(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot's folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }

    /// The text of the page's first element matching the CSS `selector`,
    /// once there is one (at most [`WAIT`]).
    ///
    /// # Panics
    ///
    /// When none appears in time.
    pub async fn text(&self, selector: &str) -> String {
        let element = self
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        element
            .text()
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
    }

    /// Click the first element matching `selector` (a link, a submit
    /// button) and wait until the page it leads to has replaced this one,
    /// so what follows reads the new page.
    ///
    /// # Panics
    ///
    /// When there is no such element, or no new page within [`WAIT`].
    pub async fn click_through(&self, selector: &str) {
        let page = self.find(Locator::Css("html")).await.expect("a page");
        let target = self
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        target
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
        self.wait_for_new_page(page).await;
    }

    /// Wait until `page` (the `html` element of a page) has been replaced
    /// by another page.
    ///
    /// # Panics
    ///
    /// When it is still there after [`WAIT`].
    pub async fn wait_for_new_page(&self, page: fantoccini::elements::Element) {
        let started = Instant::now();
        // The old page's elements go stale once the next page is loaded.
        while page.tag_name().await.is_ok() {
            assert!(started.elapsed() < WAIT, "no new page after {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait()
            .at_most(WAIT)
            .for_element(Locator::Css("body"))
            .await
            .expect("the new page");
    }

    /// Wait until the browser is at `url`.
    ///
    /// # Panics
    ///
    /// When it is elsewhere after [`WAIT`].
    pub async fn wait_for_url(&self, url: &str) {
        let started = Instant::now();
        loop {
            let now = self.current_url().await.expect("the current URL");
            if now.as_str() == url {
                return;
            }
            assert!(started.elapsed() < WAIT, "still at {now}, not {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// End the session (Chromium quits) and stop chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.stop();
    }

    /// Stop chromedriver and the browsers it started: chromedriver talks to
    /// Chromium over a debugging port, so Chromium would outlive it.
    fn stop(&mut self) {
        let browsers = children_of(self.driver.id());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        for pid in browsers {
            // Chromium's main process takes its helpers with it on SIGTERM.
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After close() there is nothing left to stop; after a panic this
        // stops chromedriver and its Chromium.
        self.stop();
    }
}

/// The processes whose parent is `parent` (Linux's /proc; none elsewhere).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // "PID (COMMAND) STATE PPID ...": the command may hold spaces.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}
