//! Memory under a burst of registrations: 64 at once against the real
//! binary, its peak resident set (`VmHWM` of /proc/PID/status) under a
//! stated bound. Each Argon2id hash holds 19 MiB while it runs; the app
//! runs at most `hashing_slots()` (one per CPU) at once, so the peak grows
//! with the CPUs, not with the requests. Before that bound, 64 registrations
//! took the server from 6 MiB to 1,053 MiB.

#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

const APP: &str = env!("CARGO_BIN_EXE_registration");

/// Registrations sent at once.
const CONCURRENT: usize = 64;

/// The bound: 48 MiB for the server itself (about 15 MiB when idle, in a
/// debug build) and 24 MiB per hashing slot (a hash's 19 MiB buffer, kept
/// for the next one, and some room). With 2 CPUs: 96 MiB; measured there,
/// 54 MiB.
fn bound_kib(slots: usize) -> u64 {
    (48 + 24 * slots as u64) * 1024
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in {status}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The server as a child process on a free port; killed on drop.
struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &std::path::Path) -> Server {
    let url = format!("sqlite:///{}", dir.join("registration.db").display());
    let mut child = Command::new(APP)
        .args(["0", &url])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let base = loop {
        let line = lines.next().expect("the server's address").unwrap();
        if let Some(rest) = line.split("open ").nth(1) {
            break rest.split("/register").next().unwrap().to_owned();
        }
    };
    // Keep reading its log, so the pipe never fills.
    std::thread::spawn(move || for _ in lines {});
    Server(child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_registrations_stay_under_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let pid = server.0.id();
    let base = Arc::new(server.1.clone());
    let client = || {
        reqwest::Client::builder()
            .no_proxy()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    };
    // Each registration its own browser: cookie and token first.
    let mut ready = Vec::new();
    for i in 0..CONCURRENT {
        let client = client();
        let form = client.get(format!("{base}/register")).send().await.unwrap();
        let token = web_kit::csrf::token_in(&form.text().await.unwrap()).unwrap();
        ready.push((i, client, token));
    }
    let before = status_kib(pid, "VmRSS:");
    let started = std::time::Instant::now();
    let mut requests = tokio::task::JoinSet::new();
    for (i, client, token) in ready {
        let base = Arc::clone(&base);
        requests.spawn(async move {
            let (user, email) = (format!("user{i}"), format!("user{i}@example.com"));
            let fields = [
                ("username", user.as_str()),
                ("email", email.as_str()),
                ("password", "correct horse battery staple"),
                ("csrf_token", token.as_str()),
            ];
            let resp = client
                .post(format!("{base}/register"))
                .form(&fields)
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        });
    }
    let statuses = requests.join_all().await;
    let took = started.elapsed();
    assert!(statuses.iter().all(|&s| s == 303), "{statuses:?}");
    let peak = status_kib(pid, "VmHWM:");
    let threads = status_kib(pid, "Threads:");
    let slots = registration::hashing_slots();
    let bound = bound_kib(slots);
    let _ = writeln!(
        std::io::stderr().lock(),
        "memory: {CONCURRENT} concurrent registrations in {took:.1?}: peak RSS {:.1} MiB \
         (bound {:.0} MiB, {slots} hashing slots; {:.1} MiB before the burst; {threads} threads after)",
        peak as f64 / 1024.0,
        bound as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    assert!(
        peak < bound,
        "peak RSS {peak} KiB is over the bound {bound} KiB ({slots} hashing slots)"
    );
}
