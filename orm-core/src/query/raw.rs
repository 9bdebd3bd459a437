//! Raw SQL with bound parameters, mapped to a model (through the identity
//! map) or to tuples. The SQL must be a `&'static str`: values go in
//! `params`, never into the text (`Box::leak` gets around the bound, and
//! defeats its purpose).

use crate::error::{Error, Result};
use crate::model::Model;
use crate::query::FromRow;
use crate::session::{Obj, Session};
use crate::sql::quote::push_ident;
use crate::types::Value;

/// Build a parameter array for raw SQL from Rust values of mixed types.
///
/// # Examples
///
/// ```
/// use orm::types::Value;
/// let p = orm::params![1, "ann", None::<String>, 2.5];
/// assert_eq!(p, [Value::Integer(1), Value::Text("ann".into()), Value::Null, Value::Real(2.5)]);
/// ```
#[macro_export]
macro_rules! params {
    () => { [$crate::types::Value::Null; 0] };
    ($($value:expr),+ $(,)?) => {
        {
            use $crate::types::ToValue as _;
            [$(($value).to_value()),+]
        }
    };
}

impl Session {
    /// Run a raw SELECT and map its rows to `M` by column name, through the
    /// identity map. The result must have a column named like each of the
    /// model's columns.
    ///
    /// # Errors
    ///
    /// SQL errors (a missing column is "no such column"); conversion errors;
    /// [`Error::Usage`](crate::Error::Usage) for a transaction-control
    /// statement (as [`execute`](Self::execute)).
    ///
    /// # Examples
    ///
    /// ```
    /// use orm::prelude::*;
    /// #[derive(Model, Debug, Default)]
    /// struct User { #[orm(primary_key)] id: i64, name: String }
    ///
    /// # fn main() -> orm::Result<()> {
    /// let db = Database::builder().model::<User>().open("sqlite://")?;
    /// db.create_all()?;
    /// let s = db.session();
    /// let ann = s.add(User { name: "ann".into(), ..Default::default() })?;
    /// let found: Vec<Obj<User>> =
    ///     s.raw_query("SELECT * FROM user WHERE name LIKE ?", &orm::params!["a%"])?;
    /// assert!(found[0] == ann); // the same object, from the identity map
    /// # Ok(()) }
    /// ```
    pub fn raw_query<M: Model>(&self, sql: &'static str, params: &[Value]) -> Result<Vec<Obj<M>>> {
        refuse_transaction_control(sql, "raw_query")?;
        self.inner.autoflush()?;
        let wrapped = wrap_for_model::<M>(sql)?;
        self.inner.load_objects::<M>(&wrapped, params)
    }

    /// Run a raw SELECT and decode each row as a tuple (or one value).
    ///
    /// # Errors
    ///
    /// SQL and conversion errors; [`Error::Usage`](crate::Error::Usage) for
    /// a transaction-control statement (as [`execute`](Self::execute)).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let rows: Vec<(i64, Option<String>)> =
    ///     db.session().raw_tuples("SELECT ?, NULL", &orm::params![7])?;
    /// assert_eq!(rows, [(7, None)]);
    /// # Ok(()) }
    /// ```
    pub fn raw_tuples<T: FromRow>(&self, sql: &'static str, params: &[Value]) -> Result<Vec<T>> {
        refuse_transaction_control(sql, "raw_tuples")?;
        self.inner.autoflush()?;
        self.inner.load_tuples(sql, params, "(raw query)")
    }

    /// Run a raw writing statement in the session's transaction (commit to
    /// keep it) and return the number of rows changed. Objects in the
    /// session are not updated; call [`expire_all`](Self::expire_all) if the
    /// statement touched rows they hold.
    ///
    /// The session cannot run the statement again: if the database rolls
    /// the transaction back when it is committed (a refused `COMMIT`), the
    /// session asks for [`rollback`](Self::rollback)
    /// ([`Error::NeedsRollback`](crate::Error::NeedsRollback)) rather than
    /// let a retried commit succeed without it; a rollback expires every
    /// object.
    ///
    /// Transaction-control statements (`BEGIN`, `COMMIT`, `END`,
    /// `ROLLBACK`, `SAVEPOINT`, `RELEASE`) are refused: the session keeps
    /// track of its transaction and would no longer match the database. Use
    /// [`begin`](Self::begin), [`commit`](Self::commit) and
    /// [`rollback`](Self::rollback).
    ///
    /// # Errors
    ///
    /// SQL errors, constraint violations, [`Error::Busy`](crate::Error::Busy);
    /// [`Error::Usage`](crate::Error::Usage) for a transaction-control
    /// statement, before anything runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> orm::Result<()> {
    /// let db = orm::Database::open("sqlite://")?;
    /// let s = db.session();
    /// s.execute("CREATE TABLE log (line TEXT)", &[])?;
    /// assert_eq!(s.execute("INSERT INTO log VALUES (?), (?)", &orm::params!["a", "b"])?, 2);
    /// let err = s.execute("COMMIT", &[]).unwrap_err();
    /// assert!(err.to_string().contains("Session::commit"));
    /// s.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, sql: &'static str, params: &[Value]) -> Result<usize> {
        refuse_transaction_control(sql, "execute")?;
        self.inner.autoflush()?;
        self.inner.ensure_write_txn()?;
        // Noted before it runs: a note that failed after it would report an
        // error for a statement that ran. (A failed statement leaves the
        // note: a rollback expires more, a refused commit asks for one.)
        self.inner.note_untracked_write()?;
        let observer = self.inner.observer();
        self.inner
            .with_conn(|conn| conn.execute_values(sql, params, observer))
    }
}

/// Statements that begin, end or nest a transaction, by their first
/// keyword. `END` is SQLite's COMMIT; `ROLLBACK TO` starts with ROLLBACK.
const TRANSACTION_CONTROL: [&str; 6] =
    ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"];

/// Refuse raw SQL that would open, commit, roll back or nest a transaction
/// behind the session's back: the session would then believe a transaction
/// is open (or closed) when it is not, and its rollback bookkeeping would
/// undo the wrong things.
fn refuse_transaction_control(sql: &str, method: &str) -> Result<()> {
    let word = first_keyword(sql);
    match TRANSACTION_CONTROL
        .iter()
        .find(|k| k.eq_ignore_ascii_case(word))
    {
        None => Ok(()),
        Some(keyword) => Err(Error::Usage(format!(
            "Session::{method} cannot run `{keyword}`: the session keeps track of its own \
             transaction; use Session::begin to open it, Session::commit to commit it and \
             Session::rollback to roll it back"
        ))),
    }
}

/// The first word of `sql` after whitespace, `-- ...` and `/* ... */`
/// comments, and empty statements (`;`), as SQLite's tokenizer reads it.
fn first_keyword(sql: &str) -> &str {
    let mut rest = sql;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(comment) = trimmed.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if let Some(comment) = trimmed.strip_prefix("/*") {
            // SQLite lets an unterminated comment run to the end.
            rest = comment.split_once("*/").map_or("", |(_, after)| after);
        } else {
            rest = trimmed;
            break;
        }
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// `SELECT "c1", "c2", ... FROM (<sql>) AS "raw"`: picks the model's columns
/// by name, in the order the model decodes them.
fn wrap_for_model<M: Model>(sql: &str) -> Result<String> {
    let inner = sql.trim().trim_end_matches(';');
    let mut out = String::from("SELECT ");
    for (i, c) in M::table().columns.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_ident(&mut out, c.name)?;
    }
    out.push_str(" FROM (");
    out.push_str(inner);
    out.push_str(") AS \"raw\"");
    Ok(out)
}
