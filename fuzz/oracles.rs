//! The checks behind the fuzz targets, shared by `fuzz/fuzz_targets/*.rs`
//! (through `#[path]`) and by the corpus replay in `tests/fuzz_corpus.rs`,
//! which runs every file of `fuzz/corpus/<target>/` and
//! `fuzz/artifacts/<target>/` through the same function in `cargo test`.
//!
//! Each oracle takes the raw fuzz input and returns `Err(why)` when the
//! property does not hold. A panic inside `orm` is a failure too: libFuzzer
//! reports it as a crash, the replay test catches and counts it.

use std::fmt::Write as _;

use orm::ColumnType;
use orm::rusqlite;
use orm::types::{Value, ValueRef};

/// Why an input broke a property.
pub type Verdict = Result<(), String>;

/// An oracle: the raw fuzz input in, the verdict out.
pub type Oracle = fn(&[u8]) -> Verdict;

/// Every target: its name (the directory under `fuzz/corpus/`) and oracle.
pub const TARGETS: [(&str, Oracle); 4] = [
    ("quote_ident", quote_ident),
    ("url", url),
    ("sql_writer", sql_writer),
    ("row_decoding", row_decoding),
];

fn short(s: &str) -> String {
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() {
        format!("{cut:?}... ({} bytes)", s.len())
    } else {
        format!("{s:?}")
    }
}

// ---------------------------------------------------------------------------
// quote_ident
// ---------------------------------------------------------------------------

/// Any string, quoted as an identifier: the quoted form is `"` + the name
/// with `"` doubled + `"`, and SQLite accepts it as a table and column name
/// that `pragma_table_info` reports back exactly and that holds a value.
/// The empty name and names with NUL are a typed `Error::Usage`.
pub fn quote_ident(data: &[u8]) -> Verdict {
    let name = String::from_utf8_lossy(data);
    let name: &str = &name;
    let quoted = orm::__fuzz::quote_ident(name);
    if name.is_empty() || name.contains('\0') {
        return match quoted {
            Err(orm::Error::Usage(_)) => Ok(()),
            other => Err(format!(
                "{}: expected Error::Usage for an empty or NUL name, got {other:?}",
                short(name)
            )),
        };
    }
    let q = quoted.map_err(|e| format!("{}: quote_ident failed: {e:?}", short(name)))?;
    // The quoted form, undone by hand.
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("{}: not in double quotes: {}", short(name), short(&q)))?;
    let mut unquoted = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' && chars.next() != Some('"') {
            return Err(format!("{}: lone quote inside {}", short(name), short(&q)));
        }
        unquoted.push(c);
    }
    if unquoted != name {
        return Err(format!("{}: unquotes to {}", short(name), short(&unquoted)));
    }
    // Through SQLite, on a fresh in-memory database.
    let conn = rusqlite::Connection::open_in_memory().map_err(|e| e.to_string())?;
    if let Err(e) = conn.execute_batch(&format!("CREATE TABLE {q} ({q} INTEGER)")) {
        // SQLite reserves names starting with sqlite_ (any case) for itself.
        let reserved = name.len() >= 7 && name.as_bytes()[..7].eq_ignore_ascii_case(b"sqlite_");
        return if reserved {
            Ok(())
        } else {
            Err(format!(
                "{}: CREATE TABLE with {} failed: {e}",
                short(name),
                short(&q)
            ))
        };
    }
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .and_then(|mut s| s.query_map([name], |r| r.get(0))?.collect())
        .map_err(|e| format!("{}: pragma_table_info: {e}", short(name)))?;
    if columns != [name] {
        return Err(format!(
            "{}: pragma_table_info lists {columns:?}",
            short(name)
        ));
    }
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if objects != 1 {
        return Err(format!(
            "{}: {objects} schema objects instead of 1",
            short(name)
        ));
    }
    conn.execute(&format!("INSERT INTO {q} ({q}) VALUES (?1)"), [42])
        .map_err(|e| format!("{}: INSERT: {e}", short(name)))?;
    let back: i64 = conn
        .query_row(&format!("SELECT {q} FROM {q}"), [], |r| r.get(0))
        .map_err(|e| format!("{}: SELECT: {e}", short(name)))?;
    if back != 42 {
        return Err(format!("{}: read back {back}", short(name)));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// url
// ---------------------------------------------------------------------------

/// Any string as a database URL: `Ok` (memory or a file path) or
/// `Error::InvalidUrl` carrying the URL (cut to 200 characters) and a
/// reason; never another error, never a panic. Nothing is opened.
pub fn url(data: &[u8]) -> Verdict {
    let s = String::from_utf8_lossy(data);
    let s: &str = &s;
    let scheme_ok = s
        .split_once("://")
        .map(|(scheme, _)| {
            let driver = scheme.split_once('+').map_or(scheme, |(d, _)| d);
            driver.eq_ignore_ascii_case("sqlite")
        })
        .unwrap_or(false);
    match orm::__fuzz::parse_url(s) {
        Ok(None) => {
            let memory = s.ends_with("://") || s.ends_with(":///") || s.ends_with(":///:memory:");
            if scheme_ok && memory {
                Ok(())
            } else {
                Err(format!("{}: accepted as an in-memory database", short(s)))
            }
        }
        Ok(Some(path)) => {
            if !scheme_ok {
                Err(format!("{}: accepted without the sqlite scheme", short(s)))
            } else if path.is_empty() || path.contains('\0') || path.ends_with('/') {
                Err(format!(
                    "{}: accepted with the path {}",
                    short(s),
                    short(&path)
                ))
            } else {
                Ok(())
            }
        }
        Err(orm::Error::InvalidUrl { url, reason }) => {
            let shown: String = s.chars().take(200).collect();
            if url != shown {
                Err(format!(
                    "{}: the error shows the URL as {}",
                    short(s),
                    short(&url)
                ))
            } else if reason.is_empty() {
                Err(format!("{}: no reason given", short(s)))
            } else {
                Ok(())
            }
        }
        Err(e) => Err(format!(
            "{}: expected Error::InvalidUrl, got {e:?}",
            short(s)
        )),
    }
}

// ---------------------------------------------------------------------------
// sql_writer
// ---------------------------------------------------------------------------

/// Words the SELECT writer may emit outside quoted identifiers.
const GRAMMAR_WORDS: &[&str] = &[
    "SELECT",
    "DISTINCT",
    "FROM",
    "AS",
    "JOIN",
    "LEFT",
    "OUTER",
    "ON",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "ASC",
    "DESC",
    "LIMIT",
    "OFFSET",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "IN",
    "BETWEEN",
    "LIKE",
    "ESCAPE",
    "EXISTS",
    "value",
    "json_each",
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "instr",
    "lower",
    "substr",
    "CAST",
    "BLOB",
    "0",
    "1",
];

#[derive(Debug, PartialEq)]
enum Tok {
    /// A quoted identifier, unescaped.
    Ident(String),
    Word(String),
    Placeholder,
    /// A single-quoted string literal, unescaped.
    Literal(String),
    Punct(&'static str),
}

/// Split SQL text into tokens with their byte ranges; anything the writer
/// does not produce is an error.
fn tokenize(sql: &str) -> Result<Vec<(Tok, std::ops::Range<usize>)>, String> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let tok = match b[i] {
            b' ' => {
                i += 1;
                continue;
            }
            q @ (b'"' | b'\'') => {
                let mut text = Vec::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated quote at byte {start}")),
                        Some(&c) if c == q => {
                            if b.get(i + 1) == Some(&q) {
                                text.push(q);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(&c) => {
                            text.push(c);
                            i += 1;
                        }
                    }
                }
                let text = String::from_utf8(text).map_err(|e| e.to_string())?;
                if q == b'"' {
                    Tok::Ident(text)
                } else {
                    Tok::Literal(text)
                }
            }
            b'?' => {
                i += 1;
                Tok::Placeholder
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                Tok::Word(sql[start..i].to_owned())
            }
            _ => {
                let puncts = ["<>", "<=", ">=", "(", ")", ",", ".", "*", "=", "<", ">"];
                let p = puncts
                    .iter()
                    .find(|p| sql[i..].starts_with(**p))
                    .ok_or_else(|| format!("unexpected character at byte {i} of {}", short(sql)))?;
                i += p.len();
                Tok::Punct(p)
            }
        };
        out.push((tok, start..i));
    }
    Ok(out)
}

/// A value as a comparable key (reals by their bits).
fn value_key(v: &Value) -> String {
    match v {
        Value::Real(r) => format!("Real({:#x})", r.to_bits()),
        other => format!("{other:?}"),
    }
}

/// Characters the fixed grammar of the writer is made of.
fn is_grammar_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " _(),.*=<>?'\\\"".contains(c)
}

/// Bytes -> a SELECT (a small deterministic decoder in `orm::__fuzz`) ->
/// SQL text and parameters. Properties:
/// - never a panic; failures are `Error::Usage` (NUL or empty identifiers,
///   values an IN list cannot carry);
/// - the text is made only of quoted identifiers, the writer's keywords and
///   punctuation, `?` placeholders and the one literal `ESCAPE '\'`;
/// - the number of `?` outside identifiers and literals equals the number
///   of parameters;
/// - the parameters (apart from LIMIT / OFFSET, and unless a long IN list
///   went into one JSON parameter) are exactly the values the decoder put
///   into the statement;
/// - no text value of 3 or more characters appears in the SQL text outside
///   the quoted identifiers (the decoder draws names and values from the
///   same bytes, so a value may legitimately equal an identifier), unless
///   it is made only of the writer's own grammar characters.
pub fn sql_writer(data: &[u8]) -> Verdict {
    match orm::__fuzz::write_select_from_bytes(data) {
        Ok((sql, params, used)) => check_select(&sql, &params, &used),
        Err(orm::Error::Usage(_)) => Ok(()),
        Err(e) => Err(format!("expected Ok or Error::Usage, got {e:?}")),
    }
}

/// The properties of [`sql_writer`] for one written statement: `sql` and
/// `params` as written, `used` the values the decoder put in.
pub fn check_select(sql: &str, params: &[Value], used: &[Value]) -> Verdict {
    let sql = sql.to_owned();
    let tokens = tokenize(&sql)?;
    let mut placeholders = 0;
    for (k, (tok, _)) in tokens.iter().enumerate() {
        match tok {
            Tok::Placeholder => placeholders += 1,
            Tok::Word(w) if !GRAMMAR_WORDS.contains(&w.as_str()) => {
                return Err(format!("unexpected word {} in {}", short(w), short(&sql)));
            }
            Tok::Literal(l) => {
                let after_escape =
                    k > 0 && matches!(&tokens[k - 1].0, Tok::Word(w) if w == "ESCAPE");
                if l != "\\" || !after_escape {
                    return Err(format!("string literal {} in {}", short(l), short(&sql)));
                }
            }
            _ => {}
        }
    }
    if placeholders != params.len() {
        return Err(format!(
            "{placeholders} placeholders for {} parameters in {}",
            params.len(),
            short(&sql)
        ));
    }
    // Parameters after LIMIT are LIMIT / OFFSET.
    let tail = tokens
        .iter()
        .rposition(|(t, _)| matches!(t, Tok::Word(w) if w == "LIMIT"))
        .map(|at| {
            tokens[at..]
                .iter()
                .filter(|(t, _)| *t == Tok::Placeholder)
                .count()
        })
        .unwrap_or(0);
    let json = tokens
        .iter()
        .any(|(t, _)| matches!(t, Tok::Word(w) if w == "json_each"));
    if !json {
        let mut bound: Vec<String> = params[..params.len() - tail]
            .iter()
            .map(value_key)
            .collect();
        let mut decoded: Vec<String> = used.iter().map(value_key).collect();
        bound.sort();
        decoded.sort();
        if bound != decoded {
            return Err(format!(
                "parameters {bound:?} differ from the decoded values {decoded:?}"
            ));
        }
    }
    let ident_spans: Vec<std::ops::Range<usize>> = tokens
        .iter()
        .filter(|(t, _)| matches!(t, Tok::Ident(_)))
        .map(|(_, r)| r.clone())
        .collect();
    for v in params.iter().chain(used) {
        let Value::Text(text) = v else { continue };
        if text.chars().count() < 3 || text.chars().all(is_grammar_char) {
            continue;
        }
        for (at, _) in sql.match_indices(text.as_str()) {
            let end = at + text.len();
            let in_identifier = ident_spans.iter().any(|r| at < r.end && r.start < end);
            if !in_identifier {
                return Err(format!(
                    "the value {} appears in the SQL text {} outside identifiers",
                    short(text),
                    short(&sql)
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// row_decoding
// ---------------------------------------------------------------------------

/// Values from bytes: a tag byte, then the payload.
fn values_from_bytes(data: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut i = 0;
    let take = |n: usize, i: &mut usize| {
        let mut buf = [0u8; 8];
        for (k, slot) in buf.iter_mut().enumerate().take(n) {
            *slot = data.get(*i + k).copied().unwrap_or(0);
        }
        *i += n;
        buf
    };
    while i < data.len() && out.len() < 64 {
        let tag = data[i];
        i += 1;
        let v = match tag % 7 {
            0 => Value::Null,
            1 => Value::Integer(i64::from_le_bytes(take(8, &mut i))),
            2 => Value::Real(f64::from_bits(u64::from_le_bytes(take(8, &mut i)))),
            3 | 4 => {
                let n = usize::from(data.get(i).copied().unwrap_or(0) % 40);
                i += 1;
                let end = (i + n).min(data.len());
                let bytes = data[i.min(end)..end].to_vec();
                i = end;
                if tag % 7 == 3 {
                    // Text that may not be UTF-8: kept as bytes, marked by a
                    // leading 'T' in this encoding.
                    let mut t = b"T".to_vec();
                    t.extend(bytes);
                    Value::Blob(t)
                } else {
                    let mut t = b"B".to_vec();
                    t.extend(bytes);
                    Value::Blob(t)
                }
            }
            5 => Value::Integer(i64::from(take(1, &mut i)[0] as i8)),
            _ => {
                // Integers at the edges of the narrower types.
                let edges = [
                    0,
                    1,
                    -1,
                    2,
                    i64::from(i8::MIN),
                    i64::from(i8::MAX),
                    i64::from(u8::MAX),
                    256,
                    i64::from(i16::MIN),
                    i64::from(u16::MAX),
                    i64::from(i32::MIN),
                    i64::from(i32::MAX),
                    i64::from(u32::MAX),
                    1 << 32,
                    i64::MIN,
                    i64::MAX,
                ];
                let k = take(1, &mut i)[0];
                Value::Integer(
                    edges[usize::from(k) % edges.len()].wrapping_add(i64::from(k / 16 % 3) - 1),
                )
            }
        };
        out.push(v);
    }
    out
}

/// The `ValueRef` a `Value` from [`values_from_bytes`] stands for.
fn as_ref(v: &Value) -> ValueRef<'_> {
    match v {
        Value::Null => ValueRef::Null,
        Value::Integer(i) => ValueRef::Integer(*i),
        Value::Real(r) => ValueRef::Real(*r),
        Value::Text(t) => ValueRef::Text(t.as_bytes()),
        Value::Blob(b) => match b.split_first() {
            Some((b'T', rest)) => ValueRef::Text(rest),
            Some((_, rest)) => ValueRef::Blob(rest),
            None => ValueRef::Blob(b),
        },
    }
}

/// Decode `v` as `T` and check the outcome against `expect`: `Some(check)`
/// when the decode must succeed (and `check` accepts the result), `None`
/// when it must fail with a short conversion error.
fn decode<T: ColumnType + std::fmt::Debug>(
    v: ValueRef<'_>,
    expect: Option<&dyn Fn(&T) -> bool>,
) -> Verdict {
    let got = T::from_sql(v);
    let ty = std::any::type_name::<T>();
    match (got, expect) {
        (Ok(x), Some(check)) if check(&x) => Ok(()),
        (Err(e), None) => {
            let mut msg = String::new();
            let _ = write!(msg, "{e}");
            if msg.is_empty() || msg.len() > 200 {
                Err(format!(
                    "{ty} from {v:?}: error message of {} bytes",
                    msg.len()
                ))
            } else {
                Ok(())
            }
        }
        (got, expect) => Err(format!(
            "{ty} from {v:?}: got {got:?}, expected {}",
            if expect.is_some() { "Ok" } else { "an error" }
        )),
    }
}

fn check_integers(v: ValueRef<'_>) -> Verdict {
    macro_rules! int {
        ($($t:ty),*) => {$(
            match v {
                ValueRef::Integer(i) if <$t>::try_from(i).is_ok() => {
                    decode::<$t>(v, Some(&|x: &$t| i64::from(*x) == i))?;
                    decode::<Option<$t>>(v, Some(&|x: &Option<$t>| x.map(i64::from) == Some(i)))?;
                }
                ValueRef::Null => {
                    decode::<$t>(v, None)?;
                    decode::<Option<$t>>(v, Some(&|x: &Option<$t>| x.is_none()))?;
                }
                _ => {
                    decode::<$t>(v, None)?;
                    decode::<Option<$t>>(v, None)?;
                }
            }
        )*};
    }
    int!(i8, i16, i32, i64, u8, u16, u32);
    Ok(())
}

fn same_f64(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn check_others(v: ValueRef<'_>) -> Verdict {
    // Reals: REAL as is, INTEGER converted.
    let real = match v {
        ValueRef::Real(r) => Some(r),
        ValueRef::Integer(i) => Some(i as f64),
        _ => None,
    };
    match real {
        Some(r) => {
            decode::<f64>(v, Some(&|x: &f64| same_f64(*x, r)))?;
            decode::<f32>(
                v,
                Some(&|x: &f32| same_f64(f64::from(*x), f64::from(r as f32))),
            )?;
            decode::<Option<f64>>(
                v,
                Some(&|x: &Option<f64>| x.is_some_and(|x| same_f64(x, r))),
            )?;
        }
        None => {
            decode::<f64>(v, None)?;
            decode::<f32>(v, None)?;
            if v == ValueRef::Null {
                decode::<Option<f64>>(v, Some(&|x: &Option<f64>| x.is_none()))?;
            } else {
                decode::<Option<f64>>(v, None)?;
            }
        }
    }
    // Booleans: exactly 0 or 1.
    match v {
        ValueRef::Integer(i @ (0 | 1)) => decode::<bool>(v, Some(&|x: &bool| *x == (i == 1)))?,
        _ => decode::<bool>(v, None)?,
    }
    // Text: exactly the bytes, when they are UTF-8.
    match v {
        ValueRef::Text(b) if std::str::from_utf8(b).is_ok() => {
            decode::<String>(v, Some(&|x: &String| x.as_bytes() == b))?;
            decode::<Option<String>>(
                v,
                Some(&|x: &Option<String>| x.as_deref().map(str::as_bytes) == Some(b)),
            )?;
        }
        ValueRef::Null => {
            decode::<String>(v, None)?;
            decode::<Option<String>>(v, Some(&|x: &Option<String>| x.is_none()))?;
        }
        _ => {
            decode::<String>(v, None)?;
            decode::<Option<String>>(v, None)?;
        }
    }
    // Blobs: exactly the bytes.
    match v {
        ValueRef::Blob(b) => {
            decode::<Vec<u8>>(v, Some(&|x: &Vec<u8>| x == b))?;
            decode::<Option<Vec<u8>>>(v, Some(&|x: &Option<Vec<u8>>| x.as_deref() == Some(b)))?;
        }
        ValueRef::Null => {
            decode::<Vec<u8>>(v, None)?;
            decode::<Option<Vec<u8>>>(v, Some(&|x: &Option<Vec<u8>>| x.is_none()))?;
        }
        _ => {
            decode::<Vec<u8>>(v, None)?;
            decode::<Option<Vec<u8>>>(v, None)?;
        }
    }
    Ok(())
}

fn check_value(v: ValueRef<'_>) -> Verdict {
    check_integers(v)?;
    check_others(v)
}

thread_local! {
    /// A table with one column per declared type the derive emits, so
    /// values also pass through SQLite's type affinity.
    static AFFINITY: rusqlite::Connection = {
        let c = rusqlite::Connection::open_in_memory().expect("in-memory SQLite");
        c.execute_batch(
            "CREATE TABLE t (i INTEGER, f FLOAT, b BOOLEAN, s TEXT, x BLOB, v VARCHAR(10))",
        )
        .expect("affinity table");
        c
    };
}

/// Arbitrary SQLite values (NULL, integers, reals including NaN and
/// infinities, text that may not be UTF-8, blobs) decoded as every column
/// type `orm` supports, directly and after being stored in a column of
/// each declared type: `Ok` with exactly the value, or a typed conversion
/// error with a short message; never a panic.
pub fn row_decoding(data: &[u8]) -> Verdict {
    for value in values_from_bytes(data) {
        let v = as_ref(&value);
        check_value(v)?;
        // Through SQLite: text is stored with CAST so it may stay non-UTF-8.
        AFFINITY.with(|c| -> Verdict {
            let sql = if matches!(v, ValueRef::Text(_)) {
                "INSERT INTO t VALUES (CAST(?1 AS TEXT), CAST(?1 AS TEXT), CAST(?1 AS TEXT), \
                 CAST(?1 AS TEXT), CAST(?1 AS TEXT), CAST(?1 AS TEXT))"
            } else {
                "INSERT INTO t VALUES (?1, ?1, ?1, ?1, ?1, ?1)"
            };
            let bind = match v {
                ValueRef::Text(b) => Value::Blob(b.to_vec()),
                ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                ValueRef::Null => Value::Null,
                ValueRef::Integer(i) => Value::Integer(i),
                ValueRef::Real(r) => Value::Real(r),
            };
            c.execute(sql, [bind]).map_err(|e| e.to_string())?;
            let mut stmt = c
                .prepare_cached("SELECT i, f, b, s, x, v FROM t")
                .map_err(|e| e.to_string())?;
            let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
            while let Some(row) = rows.next().map_err(|e| e.to_string())? {
                for col in 0..6 {
                    let stored = row.get_ref(col).map_err(|e| e.to_string())?;
                    check_value(stored.into())
                        .map_err(|e| format!("after storing in column {col}: {e}"))?;
                }
            }
            drop(rows);
            c.execute("DELETE FROM t", []).map_err(|e| e.to_string())?;
            Ok(())
        })?;
    }
    Ok(())
}
