//! PostgreSQL's errors as orm's, by SQLSTATE: constraint violations naming
//! their table and columns, serialization failures and deadlocks (retryable),
//! a lost connection; everything else is [`Error::Database`].

use crate::error::{ConstraintKind, Error};

/// Classify an error of the `postgres` crate.
pub(crate) fn classify(e: postgres::Error, sql: Option<&str>) -> Error {
    if e.is_closed() {
        return Error::Disconnected {
            source: Box::new(e),
        };
    }
    let Some(db) = e.as_db_error() else {
        // Not from the server: an I/O error means the connection is gone.
        if std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
            return Error::Disconnected {
                source: Box::new(e),
            };
        }
        return Error::Database {
            source: Box::new(e),
            sql: sql.map(str::to_owned),
        };
    };
    let kind = match db.code().code() {
        "23505" => Some(ConstraintKind::Unique),
        "23503" => Some(ConstraintKind::ForeignKey),
        "23502" => Some(ConstraintKind::NotNull),
        "23514" => Some(ConstraintKind::Check),
        code if code.starts_with("23") => Some(ConstraintKind::Other),
        "40001" | "40P01" => {
            return Error::Conflict {
                source: Box::new(e),
            };
        }
        // The server shut the session down (admin shutdown, terminated).
        "57P01" | "57P02" | "57P03" => {
            return Error::Disconnected {
                source: Box::new(e),
            };
        }
        _ => None,
    };
    let Some(kind) = kind else {
        // The server's error itself: `postgres::Error` shows only "db
        // error", without the server's message.
        return Error::Database {
            source: Box::new(db.clone()),
            sql: sql.map(str::to_owned),
        };
    };
    // The columns: named by the server for NOT NULL, in the detail for
    // keys ("Key (username)=(...) already exists": only the names are
    // kept, never the values), else the constraint's name.
    let columns = match (db.column(), db.detail().and_then(key_columns)) {
        (Some(c), _) => vec![c.to_owned()],
        (None, Some(cols)) => cols,
        (None, None) => db.constraint().map(str::to_owned).into_iter().collect(),
    };
    Error::Constraint {
        kind,
        model: None,
        table: db.table().map(str::to_owned),
        columns,
        source: Box::new(e),
    }
}

/// The column names of a detail like `Key (a, b)=(1, 2) already exists.`
fn key_columns(detail: &str) -> Option<Vec<String>> {
    let rest = detail.strip_prefix("Key (")?;
    let end = rest.find(")=")?;
    Some(
        rest[..end]
            .split(", ")
            .map(|c| c.trim_matches('"').to_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::key_columns;

    #[test]
    fn key_details_give_column_names_only() {
        assert_eq!(
            key_columns("Key (username)=(ann) already exists."),
            Some(vec!["username".to_string()])
        );
        assert_eq!(
            key_columns(r#"Key (first, "last")=(a, b) already exists."#),
            Some(vec!["first".to_string(), "last".to_string()])
        );
        assert_eq!(
            key_columns(r#"Key (handler_id)=(5) is not present in table "pet_handler"."#),
            Some(vec!["handler_id".to_string()])
        );
        assert_eq!(key_columns("Failing row contains (1, null)."), None);
    }
}
