//! The EBML/Matroska splitter on arbitrary bytes: never panics, and what it returns is
//! consistent with its input (fragments are in-bounds, ordered, disjoint slices after the
//! init data).
#![no_main]

use fragseal::mkv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tight = mkv::Limits {
        max_element_size: 4096,
        max_depth: 3,
    };
    let _ = mkv::split_with_limits(data, &tight);
    let Ok(stream) = mkv::split(data) else {
        return;
    };
    let base = data.as_ptr() as usize;
    let init = stream.init_data();
    assert_eq!(init.as_ptr() as usize, base, "init data starts the input");
    let mut end = init.len();
    for (i, f) in stream.fragments().iter().enumerate() {
        assert_eq!(f.index(), i as u64);
        let start = f.bytes().as_ptr() as usize - base;
        assert_eq!(start, f.offset());
        assert!(start >= end, "fragments are ordered and disjoint");
        end = start + f.bytes().len();
        assert!(end <= data.len());
        assert!(f.key_frames() <= f.blocks());
    }
});
