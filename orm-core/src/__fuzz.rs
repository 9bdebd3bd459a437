//! Entry points for the fuzz targets in `fuzz/` and for replaying their
//! corpora in `cargo test`. Not part of the public API.

use crate::error::Result;
use crate::sql::ast::{BinOp, Expr, Func, OrderBy, Select, Statement, TableRef, TextAt};
use crate::sql::{quote, writer};
use crate::types::Value;

/// Quote `name` as an identifier.
pub fn quote_ident(name: &str) -> Result<String> {
    let mut out = String::new();
    quote::push_ident(&mut out, name)?;
    Ok(out)
}

/// Parse a database URL; `Ok(None)` means an in-memory database, `Ok(Some(path))` a file.
pub fn parse_url(url: &str) -> Result<Option<String>> {
    Ok(match crate::url::parse(url)? {
        crate::url::Location::Memory => None,
        crate::url::Location::File(p) => Some(p.display().to_string()),
        #[cfg(feature = "postgres")]
        crate::url::Location::Postgres(u) => Some(u),
    })
}

/// Build a SELECT from arbitrary bytes (a small deterministic decoder), and
/// write it. Returns the SQL text, its parameters, and every value the
/// decoder put into the statement (to check none is spliced into the text).
pub fn write_select_from_bytes(data: &[u8]) -> Result<(String, Vec<Value>, Vec<Value>)> {
    let mut d = Decoder {
        data,
        pos: 0,
        values: Vec::new(),
    };
    let mut s = Select::new(TableRef::new(d.name()));
    for _ in 0..=(d.byte() % 4) {
        s.columns.push(Expr::column(s.from.name.clone(), d.name()));
    }
    if d.byte().is_multiple_of(2) {
        s.filter = Some(d.expr(0));
    }
    for _ in 0..(d.byte() % 3) {
        let expr = d.expr(3);
        s.order_by.push(OrderBy {
            expr,
            desc: d.byte().is_multiple_of(2),
        });
    }
    if d.byte().is_multiple_of(3) {
        s.limit = Some(i64::from(d.byte()));
    }
    if d.byte().is_multiple_of(3) {
        s.offset = Some(i64::from(d.byte()));
    }
    let w = writer::write(&Statement::Select(s), &crate::backend::Dialect::SQLITE)?;
    Ok((w.sql, w.params, d.values))
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    values: Vec<Value>,
}

impl Decoder<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn text(&mut self) -> String {
        let n = usize::from(self.byte() % 12);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = end;
        String::from_utf8_lossy(&self.data[start..end]).into_owned()
    }

    fn name(&mut self) -> String {
        let t = self.text();
        if t.is_empty() { "c".to_owned() } else { t }
    }

    fn value(&mut self) -> Value {
        let v = match self.byte() % 5 {
            0 => Value::Null,
            1 => Value::Integer(i64::from(self.byte()) - 128),
            2 => Value::Real(f64::from(self.byte()) / 7.0),
            3 => Value::Text(self.text()),
            _ => Value::Blob(self.text().into_bytes()),
        };
        self.values.push(v.clone());
        v
    }

    fn expr(&mut self, depth: u8) -> Expr {
        if depth > 6 {
            return Expr::Value(self.value());
        }
        match self.byte() % 13 {
            0 => Expr::Value(self.value()),
            1 => Expr::column("t", self.name()),
            2 | 3 => {
                // 0 and 1 are AND and OR (two-item lists, left unflattened
                // so nested lists reach the writer too).
                let op = usize::from(self.byte() % 6);
                let (left, right) = (self.expr(depth + 1), self.expr(depth + 1));
                match op {
                    0 => Expr::And(vec![left, right]),
                    1 => Expr::Or(vec![left, right]),
                    _ => Expr::binary(
                        [BinOp::Eq, BinOp::Ne, BinOp::Lt, BinOp::Ge][op - 2],
                        left,
                        right,
                    ),
                }
            }
            4 => Expr::Not(Box::new(self.expr(depth + 1))),
            5 => Expr::IsNull {
                expr: Box::new(self.expr(depth + 1)),
                negated: self.byte().is_multiple_of(2),
            },
            6 => {
                let n = usize::from(self.byte()) * 8;
                let list = (0..n).map(|_| self.value()).collect();
                Expr::InList {
                    expr: Box::new(self.expr(depth + 1)),
                    list,
                    negated: self.byte().is_multiple_of(2),
                }
            }
            7 => Expr::Between {
                expr: Box::new(self.expr(depth + 1)),
                low: Box::new(self.expr(depth + 1)),
                high: Box::new(self.expr(depth + 1)),
                negated: self.byte().is_multiple_of(2),
            },
            8 => Expr::Like {
                expr: Box::new(self.expr(depth + 1)),
                pattern: Box::new(Expr::Value(self.value())),
                escaped: self.byte().is_multiple_of(2),
                negated: self.byte().is_multiple_of(2),
            },
            9 => Expr::Func {
                func: Func::Max,
                args: vec![self.expr(depth + 1)],
                distinct: false,
            },
            10 => Expr::CountStar,
            11 => {
                let expr = Box::new(self.expr(depth + 1));
                let needle = self.text();
                let at =
                    [TextAt::Anywhere, TextAt::Start, TextAt::End][usize::from(self.byte() % 3)];
                // What the writer binds for it (the oracle checks the
                // parameters against these values).
                let folded = needle.to_ascii_lowercase();
                let len = folded.len() as i64;
                match at {
                    _ if needle.is_empty() => {}
                    TextAt::Anywhere => self.values.push(Value::Text(folded)),
                    TextAt::Start | TextAt::End => {
                        let signed = if at == TextAt::Start { len } else { -len };
                        self.values.push(Value::Integer(signed));
                        self.values.push(Value::Blob(folded.into_bytes()));
                    }
                }
                Expr::TextMatch { expr, needle, at }
            }
            _ => Expr::Bool(self.byte().is_multiple_of(2)),
        }
    }
}
