//! `Range` / `If-Range` against an object of known length. The input is lines: `length`,
//! `Range`, `If-Range`, the object's ETag, its mtime in seconds (a missing line is an absent
//! header; an empty ETag line is no ETag). A served range lies inside the object, If-Range only
//! keeps or drops it, and a plain single range gets exactly the RFC 9110 answer.
#![no_main]

use actix_web::http::header::{HeaderValue, HttpDate};
use download_server::range::{RangeRequest, Validators, evaluate};
use libfuzzer_sys::fuzz_target;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let Some(len) = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.parse::<u64>().ok())
    else {
        return;
    };
    // A header with bytes HTTP forbids never reaches the handler.
    let Ok(range) = lines.next().map(HeaderValue::from_bytes).transpose() else {
        return;
    };
    let Ok(if_range) = lines.next().map(HeaderValue::from_bytes).transpose() else {
        return;
    };
    let etag = lines
        .next()
        .filter(|e| !e.is_empty())
        .and_then(|e| std::str::from_utf8(e).ok());
    let mtime = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.parse::<u32>().ok())
        .unwrap_or(0);
    let validators = Validators {
        etag,
        last_modified: SystemTime::UNIX_EPOCH + Duration::from_secs(mtime.into()),
    };

    let answer = evaluate(range.as_ref(), if_range.as_ref(), len, &validators);
    if let RangeRequest::Partial { start, end } = answer {
        assert!(start <= end && end < len, "{start}-{end} of {len}");
    }
    // RFC 9110 §13.1.5: If-Range keeps what the Range alone gets, or sends everything; it keeps
    // it only for the object's strong ETag or its exact Last-Modified date.
    let alone = evaluate(range.as_ref(), None, len, &validators);
    assert!(
        answer == alone || answer == RangeRequest::Full,
        "{answer:?} / {alone:?}"
    );
    if let Some(if_range) = &if_range
        && answer != RangeRequest::Full
    {
        let value = if_range
            .to_str()
            .expect("a kept If-Range is readable")
            .trim();
        let strong_etag = value.starts_with('"') && validators.etag == Some(value);
        let same_date = HttpDate::from_str(value)
            .is_ok_and(|date| date == HttpDate::from(validators.last_modified));
        assert!(strong_etag || same_date, "If-Range {value:?} matched");
    }

    let Some(range) = range.as_ref().and_then(|r| r.to_str().ok()) else {
        assert_eq!(alone, RangeRequest::Full, "no readable Range header");
        return;
    };
    if len == 0 {
        assert_eq!(alone, RangeRequest::Full, "an empty object is sent whole");
        return;
    }
    match strict_single_range(range) {
        Some(spec) => assert_eq!(alone, spec.against(len), "{range:?} of {len}"),
        None => assert_eq!(
            alone,
            RangeRequest::Full,
            "{range:?} is no single plain range"
        ),
    }
});

enum Spec {
    FromTo(u64, Option<u64>),
    Suffix(u64),
}

impl Spec {
    fn against(&self, len: u64) -> RangeRequest {
        match *self {
            Spec::FromTo(first, _) if first >= len => RangeRequest::Unsatisfiable,
            Spec::FromTo(first, last) => RangeRequest::Partial {
                start: first,
                end: last.map_or(len - 1, |last| last.min(len - 1)),
            },
            Spec::Suffix(0) => RangeRequest::Unsatisfiable,
            Spec::Suffix(n) => RangeRequest::Partial {
                start: len - n.min(len),
                end: len - 1,
            },
        }
    }
}

/// `bytes=` and one `first-[last]` or `-suffix` of plain digits (RFC 9110 §14.1.2), list commas
/// around it allowed; `None` for anything else, and for numbers past u64.
fn strict_single_range(header: &str) -> Option<Spec> {
    let set = header.strip_prefix("bytes=")?;
    let mut specs = set
        .split(',')
        .map(|s| s.trim_matches([' ', '\t']))
        .filter(|s| !s.is_empty());
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return number(last).map(Spec::Suffix);
    }
    let first = number(first)?;
    if last.is_empty() {
        return Some(Spec::FromTo(first, None));
    }
    let last = number(last)?;
    (first <= last).then_some(Spec::FromTo(first, Some(last)))
}
