//! Statement AST and SQLite writer. Nothing here knows about models.
//!
//! [`ast`] holds statements as plain data, [`writer`] turns them into SQL
//! text plus parameters, and [`quote`] is the only code that writes
//! identifiers and DDL literals.

pub(crate) mod ast;
pub(crate) mod quote;
pub(crate) mod writer;
