//! The headers of a download response: type, disposition, validators, caching.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue, HttpDate};
use object_store::{Attribute, GetResult, ObjectMeta};
use shared::{Claims, DownloadName};

pub(crate) fn content_headers(
    response: &mut actix_web::HttpResponseBuilder,
    claims: &Claims,
    probe: &GetResult,
    etag: Option<&str>,
) {
    let name = DownloadName::sanitize(claims.name.as_deref().unwrap_or(claims.obj.file_name()));
    response
        .insert_header((
            header::CONTENT_TYPE,
            content_type(&probe.attributes, &name, &probe.meta),
        ))
        .insert_header((header::CONTENT_DISPOSITION, name.content_disposition()))
        .insert_header((
            header::LAST_MODIFIED,
            HttpDate::from(std::time::SystemTime::from(probe.meta.last_modified)),
        ))
        .insert_header((header::ACCEPT_RANGES, HeaderValue::from_static("bytes")))
        .insert_header((
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ))
        // A proxy in front must pass the bytes on as they come: the grant counts what this
        // server sent, and a proxy that read ahead would make a cut-off client's loss invisible.
        .insert_header(("x-accel-buffering", HeaderValue::from_static("no")));
    if let Some(etag) = etag {
        response.insert_header((header::ETAG, etag));
    }
}

/// The store's own content type (S3 keeps one per object), else a guess from the name, else
/// `application/octet-stream`. The body is always an attachment with `nosniff`.
fn content_type(
    attributes: &object_store::Attributes,
    name: &DownloadName,
    meta: &ObjectMeta,
) -> String {
    if let Some(stored) = attributes.get(&Attribute::ContentType)
        && let Ok(mime) = stored.as_ref().parse::<mime_guess::mime::Mime>()
        && mime.essence_str() != "binary/octet-stream"
    {
        return mime.to_string();
    }
    mime_guess::from_path(name.as_str())
        .first()
        .or_else(|| mime_guess::from_path(meta.location.as_ref()).first())
        .map_or_else(|| "application/octet-stream".to_owned(), |m| m.to_string())
}

/// object_store hands out ETags quoted (S3, local files); accept those that are valid
/// `entity-tag`s, quote bare ones, drop anything else.
pub(crate) fn quoted_etag(raw: &str) -> Option<String> {
    let valid = |s: &str| {
        s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80)
    };
    let (weak, rest) = raw.strip_prefix("W/").map_or((false, raw), |r| (true, r));
    let inner = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    if inner.is_empty() || !inner.is_ascii() || !valid(inner) {
        return None;
    }
    Some(if weak {
        format!("W/\"{inner}\"")
    } else {
        format!("\"{inner}\"")
    })
}

/// Speculative loads (`Sec-Purpose: prefetch`, `Purpose: prefetch`, and the older `X-Purpose`
/// and `X-Moz` forms) must not burn a single-use link.
pub(crate) fn is_speculative(req: &HttpRequest) -> bool {
    ["sec-purpose", "purpose", "x-purpose", "x-moz"]
        .iter()
        .any(|name| {
            req.headers()
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    let v = v.to_ascii_lowercase();
                    v.contains("prefetch") || v.contains("prerender") || v.contains("preview")
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_from_the_store_are_normalised() {
        assert_eq!(quoted_etag("\"abc-1\"").as_deref(), Some("\"abc-1\""));
        assert_eq!(quoted_etag("abc").as_deref(), Some("\"abc\""));
        assert_eq!(quoted_etag("W/\"abc\"").as_deref(), Some("W/\"abc\""));
        assert_eq!(quoted_etag("a\"b"), None);
        assert_eq!(quoted_etag("\"\""), None);
        assert_eq!(quoted_etag("a b"), None);
    }
}
