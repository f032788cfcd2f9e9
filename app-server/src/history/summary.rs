//! From a file's stored events to what its owner reads: each download (its streams grouped by
//! link), how much of the file it covered, and the uses that were refused.

use crate::auth::client_info::describe_device;
use crate::db::history::EventRow;

/// One link's download: its streams taken together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    pub jti: String,
    /// When its first stream began.
    pub started_at: i64,
    /// The address and device of its first stream.
    pub ip: Option<String>,
    pub device: String,
    /// Bytes written over every stream (a byte sent twice counts twice).
    pub sent: i64,
    /// Percent of the file the union of its streams covers, rounded down.
    pub coverage_percent: u8,
    pub completed: bool,
}

/// A use of a link the download server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub at: i64,
    pub jti: String,
    /// The problem type suffix (`already_used`, ...).
    pub reason: String,
    pub ip: Option<String>,
    pub device: String,
    /// A used link opened again from an address other than the one its download came from.
    pub other_network: bool,
}

impl Refusal {
    /// The reason as people read it.
    pub fn reason_text(&self) -> &str {
        reason_text(&self.reason)
    }
}

pub fn reason_text(reason: &str) -> &str {
    match reason {
        "already_used" => "used link opened again",
        "expired" => "expired link",
        "revoked" => "revoked link",
        "grant_ended" => "download ended (too long or too many requests)",
        "object_changed" => "file changed since the link was made",
        "before_epoch" => "link made before the download server's reset",
        other => other,
    }
}

/// A file's history: downloads and refusals, newest first, at most `limit` of each.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct History {
    pub downloads: Vec<Download>,
    pub refused: Vec<Refusal>,
}

pub fn summarize(events: &[EventRow], limit: usize) -> History {
    let mut streams: Vec<&EventRow> = events.iter().filter(|e| e.kind == "stream").collect();
    // Grouped by link, each link's streams in the order they began.
    streams.sort_by(|a, b| {
        (&a.jti, a.started_at.unwrap_or(a.at), a.at, &a.id).cmp(&(
            &b.jti,
            b.started_at.unwrap_or(b.at),
            b.at,
            &b.id,
        ))
    });
    let mut downloads: Vec<Download> = streams
        .chunk_by(|a, b| a.jti == b.jti)
        .map(download)
        .collect();
    downloads.sort_by(|a, b| (b.started_at, &b.jti).cmp(&(a.started_at, &a.jti)));

    let mut refused: Vec<Refusal> = events
        .iter()
        .filter(|e| e.kind == "refused")
        .map(|e| {
            let reason = e.reason.clone().unwrap_or_default();
            let other_network = reason == "already_used"
                && downloads
                    .iter()
                    .any(|d| d.jti == e.jti && d.ip.is_some() && e.ip.is_some() && d.ip != e.ip);
            Refusal {
                at: e.at,
                jti: e.jti.clone(),
                reason,
                ip: e.ip.clone(),
                device: describe_device(e.ua.as_deref().unwrap_or("")),
                other_network,
            }
        })
        .collect();
    refused.sort_by(|a, b| (b.at, &b.jti).cmp(&(a.at, &a.jti)));

    downloads.truncate(limit);
    refused.truncate(limit);
    History { downloads, refused }
}

/// One link's streams (non-empty, in the order they began).
fn download(streams: &[&EventRow]) -> Download {
    let first = streams[0];
    let size = streams.iter().filter_map(|s| s.size).max().unwrap_or(0);
    let ranges = streams.iter().map(|s| {
        let start = s.start_byte.unwrap_or(0).max(0);
        (start, start.saturating_add(s.sent.unwrap_or(0).max(0)))
    });
    let covered = covered(ranges, size);
    let coverage_percent = if size == 0 {
        100
    } else {
        // covered <= size, so this is 0..=100.
        u8::try_from(i128::from(covered) * 100 / i128::from(size)).unwrap_or(100)
    };
    Download {
        jti: first.jti.clone(),
        started_at: first.started_at.unwrap_or(first.at),
        ip: first.ip.clone(),
        device: describe_device(first.ua.as_deref().unwrap_or("")),
        sent: streams.iter().map(|s| s.sent.unwrap_or(0).max(0)).sum(),
        coverage_percent,
        completed: covered >= size,
    }
}

/// The length of the union of `[start, end)` ranges, clipped to `[0, size)`.
fn covered(ranges: impl Iterator<Item = (i64, i64)>, size: i64) -> i64 {
    let mut ranges: Vec<(i64, i64)> = ranges
        .map(|(start, end)| (start.min(size), end.min(size)))
        .filter(|(start, end)| start < end)
        .collect();
    ranges.sort_unstable();
    let mut total = 0;
    let mut reach = 0;
    for (start, end) in ranges {
        let start = start.max(reach);
        if end > start {
            total += end - start;
            reach = end;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";

    fn stream(id: &str, jti: &str, started: i64, start: i64, sent: i64, ip: &str) -> EventRow {
        EventRow {
            id: id.into(),
            kind: "stream".into(),
            at: started + 1,
            jti: jti.into(),
            size: Some(1000),
            started_at: Some(started),
            start_byte: Some(start),
            sent: Some(sent),
            ip: Some(ip.into()),
            ua: Some(CHROME.into()),
            ..EventRow::default()
        }
    }

    fn refused(id: &str, jti: &str, at: i64, reason: &str, ip: &str) -> EventRow {
        EventRow {
            id: id.into(),
            kind: "refused".into(),
            at,
            jti: jti.into(),
            ip: Some(ip.into()),
            ua: Some("curl/8.5.0".into()),
            reason: Some(reason.into()),
            status: Some(410),
            ..EventRow::default()
        }
    }

    #[test]
    fn the_union_of_ranges_counts_each_byte_once() {
        assert_eq!(covered([(0, 600), (400, 1000)].into_iter(), 1000), 1000);
        assert_eq!(
            covered([(500, 700), (0, 100), (50, 120)].into_iter(), 1000),
            320
        );
        assert_eq!(covered([(900, 5000)].into_iter(), 1000), 100);
        assert_eq!(covered([].into_iter(), 1000), 0);
    }

    #[test]
    fn streams_of_one_link_make_one_download_and_resumes_complete_it() {
        let events = [
            stream("3", "b", 200, 0, 630, "192.0.2.1"),
            stream("2", "a", 101, 600, 400, "192.0.2.9"),
            stream("1", "a", 100, 0, 700, "192.0.2.8"),
        ];
        let h = summarize(&events, 50);
        assert_eq!(h.downloads.len(), 2);
        let (b, a) = (&h.downloads[0], &h.downloads[1]);
        assert_eq!(
            (b.jti.as_str(), b.coverage_percent, b.completed),
            ("b", 63, false)
        );
        assert_eq!(
            (a.jti.as_str(), a.coverage_percent, a.completed),
            ("a", 100, true)
        );
        assert_eq!(a.started_at, 100);
        assert_eq!(a.sent, 1100);
        assert_eq!(a.ip.as_deref(), Some("192.0.2.8"));
        assert_eq!(a.device, "Chrome on Linux");
    }

    #[test]
    fn a_used_link_opened_from_another_address_is_flagged() {
        let events = [
            stream("1", "a", 100, 0, 1000, "192.0.2.8"),
            refused("2", "a", 150, "already_used", "198.51.100.4"),
            refused("3", "a", 160, "already_used", "192.0.2.8"),
            refused("4", "c", 170, "expired", "198.51.100.4"),
        ];
        let h = summarize(&events, 50);
        let flags: Vec<_> = h
            .refused
            .iter()
            .map(|r| (r.jti.as_str(), r.reason_text(), r.other_network))
            .collect();
        assert_eq!(
            flags,
            [
                ("c", "expired link", false),
                ("a", "used link opened again", false),
                ("a", "used link opened again", true),
            ]
        );
        assert_eq!(h.refused[0].device, "curl");
    }

    #[test]
    fn an_empty_file_is_complete_and_the_lists_are_bounded() {
        let mut empty = stream("1", "a", 100, 0, 0, "192.0.2.8");
        empty.size = Some(0);
        assert!(summarize(&[empty], 50).downloads[0].completed);
        let many: Vec<_> = (0..10)
            .map(|i| stream(&i.to_string(), &format!("j{i}"), i, 0, 1, "192.0.2.8"))
            .collect();
        let h = summarize(&many, 3);
        assert_eq!(h.downloads.len(), 3);
        assert_eq!(h.downloads[0].jti, "j9");
    }
}
