//! The closing figures line of a reliability test binary.

use std::io::Write;

/// Write `line` once, straight to stderr: libtest captures
/// `println!`/`eprintln!` but not direct writes, so the line shows in
/// `cargo test` output and CI logs with or without `--nocapture`.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
