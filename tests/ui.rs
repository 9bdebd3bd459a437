//! Compile-fail tests for `#[derive(Model)]`: each file in `tests/ui` makes
//! one mistake, and its `.stderr` holds the exact error the user sees.
//! Bless new output with `TRYBUILD=overwrite cargo test --test ui` on the
//! toolchain pinned in `rust-toolchain.toml` (rustc's wording changes
//! between releases).
//!
//! The `.stderr` files are for the default features: rustc's lists of
//! types that implement `ColumnType` grow with the optional column types.
//! `cargo test --workspace` builds `orm` with the features the examples
//! ask for (the blog's `chrono`), so there this test says it is skipped;
//! `cargo test --test ui` runs it, and CI does.

#[test]
fn derive_mistakes_are_spanned_errors_that_name_the_fix() {
    if cfg!(any(
        feature = "chrono",
        feature = "time",
        feature = "uuid",
        feature = "json"
    )) {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipped derive_mistakes_are_spanned_errors_that_name_the_fix: built with optional \
             column types (cargo test --workspace unifies the examples' features); \
             `cargo test --test ui` runs it"
        );
        return;
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
