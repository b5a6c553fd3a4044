//! `archive import`'s strict reader on arbitrary bytes: it must return (accept or
//! reject), never panic, hang or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = triplicate::archive::Limits {
        max_bytes: 256 << 20,
        ..Default::default()
    };
    let _ = triplicate::archive::validate(data, &limits);
});
