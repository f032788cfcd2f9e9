//! Every route: the JSON API, the HTML pages, the JWKS and the stylesheet.

pub mod api;
pub mod pages;
mod well_known;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(well_known::jwks))
        .route("/static/app.css", web::get().to(well_known::stylesheet))
        .route("/healthz", web::get().to(well_known::healthz));
    api::configure(cfg);
    pages::configure(cfg);
}
