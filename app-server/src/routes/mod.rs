//! Every route: the JSON API, the HTML pages, the JWKS, the revocation feed, the stylesheet
//! and the upload script.

pub mod api;
pub mod pages;
mod revocations;
mod well_known;

use actix_web::{Route, guard, web};

/// GET, and HEAD for the same handler: the same status and headers, and actix sends no body.
pub fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", get().to(well_known::jwks))
        .route("/.well-known/dl-revocations", get().to(revocations::state))
        .route(
            "/.well-known/dl-revocations/jwks.json",
            get().to(revocations::jwks),
        )
        .route("/static/app.css", get().to(well_known::stylesheet))
        .route("/static/upload.js", get().to(well_known::upload_script))
        .route("/healthz", get().to(well_known::healthz));
    api::configure(cfg);
    pages::configure(cfg);
}
