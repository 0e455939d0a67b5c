//! CIFAR-10 binary batches: any bytes give a value or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    synthmix_core::alloc::set_cap(1 << 30);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    let _ = synthmix_core::data::cifar::parse_batch(std::path::Path::new("fuzz.bin"), data, &mut images, &mut labels);
});
