//! `DownloadName::sanitize` over any bytes a token's `name` or an object's last segment can hold:
//! the result is a clean file name, and its `Content-Disposition` value and URL segment are
//! always valid and parse back to the same name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::DownloadName;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    download_token_fuzz::assert_download_name(&DownloadName::sanitize(&raw));
});
