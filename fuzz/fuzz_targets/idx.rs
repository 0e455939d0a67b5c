//! IDX images and labels (MNIST, Fashion-MNIST): any bytes give a value or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    // A reader that trusts a size field must not allocate past 1 GiB.
    synthmix_core::alloc::set_cap(1 << 30);
    let p = Path::new("fuzz-idx");
    let _ = synthmix_core::data::idx::parse_images(p, data);
    let _ = synthmix_core::data::idx::parse_labels(p, data);
});
