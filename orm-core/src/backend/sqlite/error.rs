//! SQLite's errors as orm's: constraint violations (with the table and
//! columns SQLite names), busy and locked databases, a file moved away
//! under the connection; everything else stays [`Error::Sqlite`].

use crate::error::{ConstraintKind, Error};

impl Error {
    /// SQLite's extended result code, when the error came from SQLite.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = orm::Error::Usage("no sqlite here".into());
    /// assert_eq!(err.sqlite_code(), None);
    /// ```
    pub fn sqlite_code(&self) -> Option<i32> {
        match self.driver_error()?.downcast_ref::<rusqlite::Error>()? {
            rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code),
            _ => None,
        }
    }

    /// Classify a driver error: constraint violations and busy errors get
    /// their own variants, everything else is [`Error::Sqlite`].
    pub(crate) fn from_sqlite(source: rusqlite::Error, sql: Option<&str>) -> Error {
        use rusqlite::ffi;
        let (code, message) = match &source {
            rusqlite::Error::SqliteFailure(e, msg) => (Some(e.extended_code), msg.clone()),
            _ => (None, None),
        };
        let source = Box::new(source);
        let Some(code) = code else {
            return Error::Sqlite {
                source,
                sql: sql.map(str::to_owned),
            };
        };
        let primary = code & 0xff;
        if primary == ffi::SQLITE_BUSY || primary == ffi::SQLITE_LOCKED {
            return Error::Busy { source };
        }
        if primary == ffi::SQLITE_CONSTRAINT {
            let kind = match code {
                ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                    ConstraintKind::Unique
                }
                ffi::SQLITE_CONSTRAINT_NOTNULL => ConstraintKind::NotNull,
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ConstraintKind::ForeignKey,
                ffi::SQLITE_CONSTRAINT_CHECK => ConstraintKind::Check,
                _ => ConstraintKind::Other,
            };
            let (table, columns) = message
                .as_deref()
                .map(parse_constraint_message)
                .unwrap_or_default();
            return Error::Constraint {
                kind,
                model: None,
                table,
                columns,
                source,
            };
        }
        Error::Sqlite {
            source,
            sql: sql.map(str::to_owned),
        }
    }
}

/// Read `table` and `columns` out of SQLite's constraint messages, for
/// example `UNIQUE constraint failed: user.username, user.email`.
fn parse_constraint_message(message: &str) -> (Option<String>, Vec<String>) {
    let Some((_, list)) = message.split_once("failed: ") else {
        return (None, Vec::new());
    };
    let mut table = None;
    let mut columns = Vec::new();
    for item in list.split(", ") {
        match item.split_once('.') {
            Some((t, c)) => {
                table.get_or_insert_with(|| t.to_owned());
                columns.push(c.to_owned());
            }
            // CHECK constraints are reported by constraint name, not column.
            None => columns.push(item.to_owned()),
        }
    }
    (table, columns)
}

/// Driver errors from code using the connection directly (for example in
/// [`Session::with_connection`](crate::Session::with_connection)) are
/// classified like the crate's own: constraint violations and busy errors
/// get their variants.
impl From<rusqlite::Error> for Error {
    #[cold]
    fn from(e: rusqlite::Error) -> Self {
        Error::from_sqlite(e, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraint_messages_are_parsed() {
        assert_eq!(
            parse_constraint_message("UNIQUE constraint failed: user.username, user.email"),
            (
                Some("user".to_owned()),
                vec!["username".to_owned(), "email".to_owned()]
            )
        );
        assert_eq!(
            parse_constraint_message("CHECK constraint failed: positive_age"),
            (None, vec!["positive_age".to_owned()])
        );
        assert_eq!(
            parse_constraint_message("FOREIGN KEY constraint failed"),
            (None, vec![])
        );
    }
}
