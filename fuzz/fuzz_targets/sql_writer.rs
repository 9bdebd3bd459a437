//! Fuzz target `sql_writer`: the oracle is `oracles::sql_writer` (shared with the corpus
//! replay in `tests/fuzz_corpus.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)] // each target uses one oracle
#[path = "../oracles.rs"]
mod oracles;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = oracles::sql_writer(data) {
        panic!("oracle `sql_writer` failed: {why}");
    }
});
