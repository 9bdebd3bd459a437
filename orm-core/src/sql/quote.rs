//! Quoting of identifiers and of the few literals that DDL needs.
//!
//! This is the only place that decides how a name or literal appears in SQL
//! text. Values in queries never come here: they are bound parameters.

use crate::error::{Error, Result};
use crate::types::Value;

/// Append `name` as a double-quoted identifier, doubling embedded quotes.
///
/// # Errors
///
/// A NUL character would end the SQL text early inside SQLite, so it is
/// refused; so is an empty name.
pub(crate) fn push_ident(out: &mut String, name: &str) -> Result<()> {
    // One pass over the bytes finds both a NUL and a quote: a query writes
    // a dozen names or more, and two searches by `char` cost about 200
    // instructions a name. Neither byte occurs inside a UTF-8 sequence.
    if name.is_empty() || name.bytes().any(|b| b == 0 || b == b'"') {
        return push_unusual_ident(out, name);
    }
    out.reserve(name.len() + 2);
    out.push('"');
    out.push_str(name);
    out.push('"');
    Ok(())
}

/// [`push_ident`] for a name that is empty or holds a NUL or a quote.
#[cold]
fn push_unusual_ident(out: &mut String, name: &str) -> Result<()> {
    check_ident(name)?;
    out.reserve(name.len() + 2);
    out.push('"');
    let mut parts = name.split('"');
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    for part in parts {
        out.push_str("\"\"");
        out.push_str(part);
    }
    out.push('"');
    Ok(())
}

/// Whether `name` can be used as an identifier at all.
pub(crate) fn check_ident(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Usage("an SQL identifier cannot be empty".into()));
    }
    if name.contains('\0') {
        return Err(Error::Usage(
            "an SQL identifier cannot contain a NUL character".into(),
        ));
    }
    Ok(())
}

/// Append a literal for a DDL `DEFAULT` clause.
///
/// # Errors
///
/// Non-finite reals have no SQL literal; text with NUL cannot be written.
pub(crate) fn push_literal(out: &mut String, value: &Value) -> Result<()> {
    use std::fmt::Write;
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(r) if r.is_finite() => {
            // `{:?}` keeps a decimal point (1.0), so SQLite reads a REAL back.
            let _ = write!(out, "{r:?}");
        }
        Value::Real(_) => {
            return Err(Error::Usage(
                "a column default cannot be NaN or infinite".into(),
            ));
        }
        Value::Text(s) => {
            if s.contains('\0') {
                return Err(Error::Usage(
                    "a column default cannot contain a NUL character".into(),
                ));
            }
            out.push('\'');
            out.push_str(&s.replace('\'', "''"));
            out.push('\'');
        }
        Value::Blob(b) => {
            out.push_str("X'");
            for byte in b {
                let _ = write!(out, "{byte:02X}");
            }
            out.push('\'');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> String {
        let mut s = String::new();
        push_ident(&mut s, name).unwrap();
        s
    }

    #[test]
    fn identifiers_are_quoted_and_escaped() {
        assert_eq!(q("user"), "\"user\"");
        assert_eq!(q("a\"b"), "\"a\"\"b\"");
        assert_eq!(q("x'); DROP TABLE t;--"), "\"x'); DROP TABLE t;--\"");
        assert_eq!(q("\"\""), "\"\"\"\"\"\"");
        assert_eq!(q("ü名前"), "\"ü名前\"");
    }

    #[test]
    fn bad_identifiers_are_errors() {
        let mut s = String::new();
        assert!(push_ident(&mut s, "").is_err());
        assert!(push_ident(&mut s, "a\0b").is_err());
    }

    #[test]
    fn literals_are_escaped() {
        let lit = |v: Value| {
            let mut s = String::new();
            push_literal(&mut s, &v).map(|_| s)
        };
        assert_eq!(lit(Value::Text("it's".into())).unwrap(), "'it''s'");
        assert_eq!(lit(Value::Integer(-3)).unwrap(), "-3");
        assert_eq!(lit(Value::Real(1.0)).unwrap(), "1.0");
        assert_eq!(lit(Value::Blob(vec![0, 255])).unwrap(), "X'00FF'");
        assert!(lit(Value::Real(f64::NAN)).is_err());
        assert!(lit(Value::Text("a\0".into())).is_err());
    }

    #[test]
    fn hostile_identifiers_round_trip_through_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let names = [
            "a\"b",
            "x'); DROP TABLE t;--",
            "[x]",
            "?1",
            "ü名前",
            "select",
            "order",
            " spaced ",
            "`tick`",
            "\"",
        ];
        for name in names {
            let mut sql = String::from("CREATE TABLE ");
            push_ident(&mut sql, name).unwrap();
            sql.push_str(" (");
            push_ident(&mut sql, name).unwrap();
            sql.push_str(" INTEGER)");
            conn.execute_batch(&sql).unwrap();
            let listed: String = conn
                .query_row("SELECT name FROM pragma_table_info(?1)", [name], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(listed, name);
            let mut drop = String::from("DROP TABLE ");
            push_ident(&mut drop, name).unwrap();
            conn.execute_batch(&drop).unwrap();
        }
    }
}
