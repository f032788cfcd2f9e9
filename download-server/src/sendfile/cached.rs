//! Whether a file's range is in the page cache, so that sendfile(2) on a worker thread does not
//! wait for a disk.

use std::fs::File;
use std::ops::Range;

/// Probes the first and the last byte of `range` with `preadv2(RWF_NOWAIT)`, which fails rather
/// than wait for a disk. A file read or written recently is cached whole, so the ends stand for
/// the middle; a range only partly evicted can still make sendfile wait for the disk (as a
/// cached read of it today would not).
#[cfg(target_os = "linux")]
pub(crate) fn is_cached(file: &File, range: Range<u64>) -> bool {
    use rustix::io::{ReadWriteFlags, preadv2};
    if range.is_empty() {
        return false;
    }
    let mut byte = [0u8; 1];
    [range.start, range.end - 1].into_iter().all(|at| {
        let slice = &mut [std::io::IoSliceMut::new(&mut byte)];
        matches!(preadv2(file, slice, at, ReadWriteFlags::NOWAIT), Ok(1))
    })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn is_cached(_file: &File, _range: Range<u64>) -> bool {
    false
}
