//! The JSON API under `/api`: cookie sessions, 401 when signed out, 404 for other users' things.

mod accounts;
mod downloads;
mod files;
mod links;
mod sessions;

use crate::error::AppError;
use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .app_data(
                web::JsonConfig::default()
                    .limit(16 * 1024)
                    .error_handler(|error, _| {
                        use actix_web::error::JsonPayloadError as E;
                        match &error {
                            E::ContentType => AppError::UnsupportedMediaType(
                                "Send JSON (Content-Type: application/json).",
                            )
                            .into(),
                            E::Overflow { .. } | E::OverflowKnownLength { .. } => {
                                AppError::TooLarge { limit: 16 * 1024 }.into()
                            }
                            E::Deserialize(inner) => {
                                AppError::bad(format!("Invalid JSON body: {inner}")).into()
                            }
                            _ => AppError::bad("Invalid JSON body.").into(),
                        }
                    }),
            )
            .route("/signup", web::post().to(accounts::signup))
            .route("/login", web::post().to(accounts::login))
            .route("/logout", web::post().to(accounts::logout))
            .route("/me", crate::routes::get().to(accounts::me))
            .route("/password", web::post().to(accounts::change_password))
            .route("/files", crate::routes::get().to(files::list))
            .route("/files", web::post().to(files::upload))
            .route("/files/{id}", web::delete().to(files::delete))
            .route("/files/{id}/link", web::post().to(files::link))
            .route(
                "/files/{id}/links",
                crate::routes::get().to(links::for_file),
            )
            .route(
                "/files/{id}/downloads",
                crate::routes::get().to(downloads::for_file),
            )
            .route("/links/{jti}/revoke", web::post().to(links::revoke))
            .route("/sessions", crate::routes::get().to(sessions::list))
            .route(
                "/sessions/revoke-others",
                web::post().to(sessions::revoke_others),
            )
            .route("/sessions/{id}", web::delete().to(sessions::revoke))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(AppError::NotFound)
            })),
    );
}
