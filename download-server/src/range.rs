//! One `Range: bytes=…` header against an object of known length (RFC 9110 §14).
//!
//! Multi-range and malformed headers are ignored (a 200 with the whole object is allowed); a
//! stale `If-Range` also falls back to the whole object.

use actix_web::http::header::{HeaderValue, HttpDate, Range};
use std::str::FromStr;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Send everything (200).
    Full,
    /// Send bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// The validators of the stored object, for `If-Range`.
pub struct Validators<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: SystemTime,
}

pub fn evaluate(
    range: Option<&HeaderValue>,
    if_range: Option<&HeaderValue>,
    len: u64,
    validators: &Validators<'_>,
) -> RangeRequest {
    let Some(range) = range.and_then(|v| v.to_str().ok()) else {
        return RangeRequest::Full;
    };
    if let Some(if_range) = if_range
        && !if_range_matches(if_range, validators)
    {
        return RangeRequest::Full;
    }
    if !is_one_plain_range_spec(range) {
        return RangeRequest::Full;
    }
    let Ok(Range::Bytes(specs)) = Range::from_str(range) else {
        return RangeRequest::Full;
    };
    let [spec] = specs.as_slice() else {
        return RangeRequest::Full;
    };
    if len == 0 {
        return RangeRequest::Full;
    }
    match spec.to_satisfiable_range(len) {
        Some((start, end)) => RangeRequest::Partial { start, end },
        None => RangeRequest::Unsatisfiable,
    }
}

/// actix's parser skips the list items it cannot read (`bytes=50-,4-1` is one range) and takes
/// `+5` for `5`; a range is honoured only when the header is one range-spec of plain digits.
fn is_one_plain_range_spec(range: &str) -> bool {
    let Some(set) = range.strip_prefix("bytes=") else {
        return false;
    };
    let mut specs = set
        .split(',')
        .map(|spec| spec.trim_matches([' ', '\t']))
        .filter(|spec| !spec.is_empty());
    match (specs.next(), specs.next()) {
        (Some(spec), None) => spec.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
        _ => false,
    }
}

/// `If-Range` holds a strong ETag or an HTTP date; only an exact match keeps the Range.
fn if_range_matches(value: &HeaderValue, validators: &Validators<'_>) -> bool {
    let Ok(value) = value.to_str() else {
        return false;
    };
    let value = value.trim();
    if value.starts_with('"') {
        return validators.etag == Some(value);
    }
    if value.starts_with("W/") {
        return false; // weak validators never match If-Range
    }
    match HttpDate::from_str(value) {
        Ok(date) => HttpDate::from(validators.last_modified) == date,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(range: &str, len: u64) -> RangeRequest {
        let v = Validators {
            etag: Some("\"abc\""),
            last_modified: SystemTime::UNIX_EPOCH,
        };
        evaluate(Some(&HeaderValue::from_str(range).unwrap()), None, len, &v)
    }

    #[test]
    fn single_ranges_are_resolved_against_the_length() {
        assert_eq!(
            eval("bytes=0-9", 100),
            RangeRequest::Partial { start: 0, end: 9 }
        );
        assert_eq!(
            eval("bytes=90-200", 100),
            RangeRequest::Partial { start: 90, end: 99 }
        );
        assert_eq!(
            eval("bytes=-10", 100),
            RangeRequest::Partial { start: 90, end: 99 }
        );
        assert_eq!(
            eval("bytes=50-", 100),
            RangeRequest::Partial { start: 50, end: 99 }
        );
        assert_eq!(
            eval("bytes=-1000", 100),
            RangeRequest::Partial { start: 0, end: 99 }
        );
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(eval("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(eval("bytes=500-600", 100), RangeRequest::Unsatisfiable);
    }

    #[test]
    fn odd_headers_fall_back_to_the_whole_object() {
        for h in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=9-1",
            "bytes=",
            "garbage",
            "bytes=a-b",
        ] {
            assert_eq!(eval(h, 100), RangeRequest::Full, "{h}");
        }
        assert_eq!(eval("bytes=0-0", 0), RangeRequest::Full);
    }

    // Found by fuzz/fuzz_targets/range.rs: actix dropped the unreadable item and served 50-99.
    #[test]
    fn a_range_list_with_an_unreadable_item_is_ignored() {
        for h in ["bytes=50-,4-1", "bytes=0-1,junk", "bytes=+5-", "bytes=0-+9"] {
            assert_eq!(eval(h, 100), RangeRequest::Full, "{h}");
        }
        assert_eq!(
            eval("bytes= 0-9 ,", 100),
            RangeRequest::Partial { start: 0, end: 9 }
        );
    }

    #[test]
    fn a_stale_if_range_ignores_the_range() {
        let v = Validators {
            etag: Some("\"abc\""),
            last_modified: SystemTime::UNIX_EPOCH,
        };
        let r = HeaderValue::from_static("bytes=0-1");
        let same = HeaderValue::from_static("\"abc\"");
        let other = HeaderValue::from_static("\"xyz\"");
        let weak = HeaderValue::from_static("W/\"abc\"");
        let date = HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            evaluate(Some(&r), Some(&same), 10, &v),
            RangeRequest::Partial { start: 0, end: 1 }
        );
        assert_eq!(
            evaluate(Some(&r), Some(&date), 10, &v),
            RangeRequest::Partial { start: 0, end: 1 }
        );
        assert_eq!(evaluate(Some(&r), Some(&other), 10, &v), RangeRequest::Full);
        assert_eq!(evaluate(Some(&r), Some(&weak), 10, &v), RangeRequest::Full);
    }

    proptest::proptest! {
        #[test]
        fn a_partial_range_always_lies_inside_the_object(header in "bytes=[0-9]{0,4}-[0-9]{0,4}", len in 0u64..5000) {
            let v = Validators { etag: None, last_modified: SystemTime::UNIX_EPOCH };
            let Ok(value) = HeaderValue::from_str(&header) else { return Ok(()) };
            if let RangeRequest::Partial { start, end } = evaluate(Some(&value), None, len, &v) {
                proptest::prop_assert!(start <= end && end < len, "{header} on {len}: {start}-{end}");
            }
        }
    }
}
