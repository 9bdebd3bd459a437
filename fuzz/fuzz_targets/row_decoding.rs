//! Fuzz target `row_decoding`: the oracle is `oracles::row_decoding` (shared with the corpus
//! replay in `tests/fuzz_corpus.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // each target uses one oracle
#[path = "../oracles.rs"]
mod oracles;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = oracles::row_decoding(data) {
        panic!("oracle `row_decoding` failed: {why}");
    }
});
