//! A probe of glibc's allocator under the pattern of a tracked load: N
//! reference-counted objects, each with a heap string, entered in a hash
//! map and a list of handles, then all freed at once (the session closes),
//! again and again. It has no SQLite and no orm: it isolates what the
//! allocator costs per object for two object sizes, one within glibc's
//! fastbin limit (128-byte chunks) and one the size of orm's tracked
//! object for the bench's `User` (a 208-byte chunk). Run under callgrind
//! (BENCHMARKS.md, "Tracked reads and the allocator"):
//!
//! ```sh
//! valgrind --tool=callgrind target/release/alloc-probe small 20
//! valgrind --tool=callgrind target/release/alloc-probe large 20
//! GLIBC_TUNABLES=glibc.malloc.tcache_count=2000 valgrind --tool=callgrind target/release/alloc-probe large 20
//! ```

use std::collections::HashMap;
use std::hint::black_box;
use std::rc::Rc;

/// Objects per round, as trivial_query/1000.
const OBJECTS: usize = 1000;

struct Object<const PAD: usize> {
    _fields: [u8; PAD],
    _name: String,
}

/// One session's worth: load, hand out, close.
fn round<const PAD: usize>() {
    let mut map: HashMap<i64, Rc<Object<PAD>>> = HashMap::new();
    let mut handles = Vec::new();
    for i in 0..OBJECTS {
        let object = Rc::new(Object::<PAD> {
            _fields: [i as u8; PAD],
            _name: format!("user {i}"),
        });
        map.insert(i as i64, Rc::clone(&object));
        handles.push(object);
    }
    black_box(&handles);
    drop(handles);
    drop(map);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(size), Some(rounds)) = (args.get(1), args.get(2).and_then(|r| r.parse().ok())) else {
        eprintln!("usage: alloc-probe small|large ROUNDS");
        std::process::exit(2);
    };
    let run: fn() = match size.as_str() {
        // 72 + 24 (String) + 16 (Rc counts) = 112 bytes: a 128-byte chunk.
        "small" => round::<72>,
        // 160 + 24 + 16 = 200 bytes: orm's tracked `User` (a 208-byte chunk).
        "large" => round::<160>,
        _ => {
            eprintln!("size: small or large");
            std::process::exit(2);
        }
    };
    for _ in 0..rounds {
        run();
    }
}
