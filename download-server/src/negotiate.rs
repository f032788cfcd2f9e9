//! Does the client prefer an HTML page (a browser) or problem+json (everything else)?

use actix_web::HttpRequest;
use actix_web::http::header::ACCEPT;

/// True when `Accept` ranks `text/html` above every JSON type it names (browsers send
/// `text/html,…,*/*;q=0.8`; curl sends `*/*`, which gets JSON).
pub fn prefers_html(req: &HttpRequest) -> bool {
    let Some(accept) = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/problem+json" | "application/json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn with(accept: &str) -> bool {
        prefers_html(
            &TestRequest::default()
                .insert_header((ACCEPT, accept))
                .to_http_request(),
        )
    }

    #[test]
    fn browsers_get_html_and_tools_get_json() {
        assert!(with(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!with("*/*"));
        assert!(!with("application/problem+json, text/html;q=0.5"));
        assert!(!with("text/html;q=0"));
        assert!(!prefers_html(&TestRequest::default().to_http_request()));
    }
}
