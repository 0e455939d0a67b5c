//! MNIST-C `.npy` arrays: any bytes give a value or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    synthmix_core::alloc::set_cap(1 << 30);
    let _ = synthmix_core::data::npy::parse(std::path::Path::new("fuzz.npy"), data);
});
