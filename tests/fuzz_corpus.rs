//! Replays the fuzz corpora in `cargo test` (SQLite's fuzzcheck idea): every
//! file of `fuzz/corpus/<target>/` and, when present, `fuzz/artifacts/<target>/`
//! goes through the same oracle as the libFuzzer target (`fuzz/oracles.rs`),
//! plus a deterministic batch of generated inputs per target, so the
//! oracles run on every CI build without nightly.
//!
//! Soak: `ORM_FUZZ_GENERATED=200000 cargo test --release --test fuzz_corpus`
//! (generated inputs per target; default 10,000). Real fuzzing:
//! `cargo +nightly fuzz run <target> -s none` in `fuzz/` (see RELIABILITY.md).

#[path = "common/figures.rs"]
mod figures;
use figures::report;

#[allow(dead_code)]
#[path = "../fuzz/oracles.rs"]
mod oracles;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// xorshift64*: reproducible generated inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Pieces that reach deeper into the parsers than random bytes do.
const DICTIONARY: &[&[u8]] = &[
    b"sqlite",
    b"SQLite",
    b"+rusqlite",
    b"+pysqlite",
    b"://",
    b":///",
    b"/",
    b":memory:",
    b"%",
    b"%20",
    b"%00",
    b"%ff",
    b"%2",
    b"?",
    b"#",
    b" ",
    b"\"",
    b"'",
    b"\0",
    b"sqlite_",
    b"\xff",
    b"\xc3\xa9",
    b"\xe5\x90\x8d",
    b"\\",
    b"_",
    b"DROP TABLE t;--",
    b"\x01",
    b"\x02",
    b"\x06",
    b"\x08",
    b"\x09",
];

fn generated(rng: &mut XorShift) -> Vec<u8> {
    let mut out = Vec::new();
    let parts = rng.next() % 8;
    for _ in 0..parts {
        if rng.next().is_multiple_of(2) {
            out.extend_from_slice(DICTIONARY[(rng.next() % DICTIONARY.len() as u64) as usize]);
        } else {
            let n = rng.next() % 16;
            out.extend((0..n).map(|_| rng.next() as u8));
        }
    }
    out
}

fn files_in(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn fuzz_corpora_and_generated_inputs_pass_every_oracle() {
    let per_target: u64 = std::env::var("ORM_FUZZ_GENERATED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let started = std::time::Instant::now();
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures: Vec<String> = Vec::new();
    let (mut replayed, mut artifacts, mut generated_total, mut panics) = (0u64, 0u64, 0u64, 0u64);
    let mut per_target_files = Vec::new();
    let mut run =
        |target: &str, oracle: oracles::Oracle, input: &[u8], what: &dyn Fn() -> String| {
            match catch_unwind(AssertUnwindSafe(|| oracle(input))) {
                Ok(Ok(())) => {}
                Ok(Err(why)) => failures.push(format!("{target} {}: {why}", what())),
                Err(_) => failures.push(format!("{target} {}: panicked", what())),
            }
        };
    for (k, (target, oracle)) in oracles::TARGETS.iter().enumerate() {
        let corpus = files_in(&fuzz.join("corpus").join(target));
        assert!(!corpus.is_empty(), "no seed corpus for {target}");
        let crashes = files_in(&fuzz.join("artifacts").join(target));
        per_target_files.push(format!("{} {target}", corpus.len() + crashes.len()));
        for path in corpus.iter().chain(&crashes) {
            let input = std::fs::read(path).expect("read corpus file");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            run(target, *oracle, &input, &|| format!("file {name}"));
        }
        replayed += corpus.len() as u64;
        artifacts += crashes.len() as u64;
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (k as u64 + 1));
        for n in 0..per_target {
            let input = generated(&mut rng);
            run(target, *oracle, &input, &|| {
                format!("generated input {n}: {input:?}")
            });
        }
        generated_total += per_target;
    }
    panics += failures.iter().filter(|f| f.ends_with("panicked")).count() as u64;
    report(&format!(
        "fuzz corpus replay: {replayed} corpus files and {artifacts} crash artifacts replayed ({}), {generated_total} generated inputs, \
         {panics} panics, {} oracle failures ({:.1} s)",
        per_target_files.join(", "),
        failures.len() as u64 - panics,
        started.elapsed().as_secs_f64()
    ));
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Negative controls: the SQL oracle notices what it is meant to notice, so
/// a passing replay means something.
#[test]
fn the_sql_oracle_rejects_spliced_values_and_miscounted_placeholders() {
    use orm::types::Value;
    let abc = || Value::Text("abc".into());
    let ok = r#"SELECT "t"."c" FROM "t" WHERE "t"."c" = ? LIMIT ?"#;
    assert_eq!(
        oracles::check_select(ok, &[abc(), Value::Integer(5)], &[abc()]),
        Ok(())
    );
    // The value may equal an identifier: the decoder uses the same bytes.
    let same = r#"SELECT "t"."abc" FROM "t" WHERE "t"."abc" = ?"#;
    assert_eq!(oracles::check_select(same, &[abc()], &[abc()]), Ok(()));
    let bad: [(&str, Vec<Value>, Vec<Value>); 6] = [
        // spliced as a literal
        (
            r#"SELECT "t"."c" FROM "t" WHERE "t"."c" = 'abc'"#,
            vec![],
            vec![abc()],
        ),
        // spliced bare
        (
            r#"SELECT "t"."c" FROM "t" WHERE "t"."c" = abc"#,
            vec![],
            vec![abc()],
        ),
        // spliced while also bound
        (
            r#"SELECT "t"."c" FROM "t" WHERE "t"."c" = ? OR abc"#,
            vec![abc()],
            vec![abc()],
        ),
        // one placeholder too many
        (
            r#"SELECT "t"."c" FROM "t" WHERE "t"."c" = ? AND ?"#,
            vec![abc()],
            vec![abc()],
        ),
        // a value dropped
        (r#"SELECT "t"."c" FROM "t""#, vec![], vec![abc()]),
        // an unterminated identifier
        (r#"SELECT "t"."c FROM "t""#, vec![], vec![]),
    ];
    for (sql, params, used) in bad {
        assert!(oracles::check_select(sql, &params, &used).is_err(), "{sql}");
    }
}
