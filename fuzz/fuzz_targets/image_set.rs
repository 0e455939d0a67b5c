//! Image-set artifacts (safetensors): any bytes give a value or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    synthmix_core::alloc::set_cap(1 << 30);
    let _ = synthmix_core::artifact::image_set::decode(std::path::Path::new("fuzz.safetensors"), data);
});
