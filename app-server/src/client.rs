//! Facts about the client recorded with a session: its IP (the TCP peer; put a proxy's
//! real-IP handling in front of this when one is added) and its User-Agent.

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;

pub fn ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub fn user_agent(req: &HttpRequest) -> String {
    req.headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(256)
        .collect()
}
