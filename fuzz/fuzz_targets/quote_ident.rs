//! Fuzz target `quote_ident`: the oracle is `oracles::quote_ident` (shared with the corpus
//! replay in `tests/fuzz_corpus.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // each target uses one oracle
#[path = "../oracles.rs"]
mod oracles;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = oracles::quote_ident(data) {
        panic!("oracle `quote_ident` failed: {why}");
    }
});
