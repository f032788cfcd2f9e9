//! Fixed resources: the public JWKS, the stylesheet, the upload script, the health check.

use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// Download servers may cache the key set for five minutes; a rotated-in key is also picked up
/// at once by their unknown-`kid` re-read.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("cache-control", "public, max-age=300"))
        .json(&state.keys.jwks)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../templates/app.css"))
}

/// The files page's upload progress (the plain form works without it).
pub async fn upload_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../templates/upload.js"))
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}
