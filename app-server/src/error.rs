//! The JSON API's error type, mapped to HTTP in one place. Clients get a stable `error` code and
//! a readable `message`; the cause chain goes to the log, never into a response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not signed in")]
    Unauthorized,
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("upload too large")]
    TooLarge { limit: u64 },
    #[error("unsupported media type")]
    UnsupportedMediaType(&'static str),
    #[error("too many attempts")]
    TooManyRequests { retry_after: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn bad(message: impl Into<String>) -> Self {
        AppError::BadRequest(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(error.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest(_) => "bad_request",
            AppError::Unauthorized => "unauthorized",
            AppError::BadCredentials => "bad_credentials",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::TooLarge { .. } => "too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::TooManyRequests { .. } => "too_many_requests",
            AppError::Internal(_) => "internal",
        }
    }

    /// What a person may read: never internal error text.
    pub fn message(&self) -> String {
        match self {
            AppError::BadRequest(m) => m.clone(),
            AppError::Unauthorized => "Please sign in.".into(),
            AppError::BadCredentials => "Wrong user name or password.".into(),
            AppError::Forbidden(m) | AppError::Conflict(m) | AppError::UnsupportedMediaType(m) => {
                (*m).into()
            }
            AppError::NotFound => "No such thing here.".into(),
            AppError::TooLarge { limit } => format!("The upload is larger than {limit} bytes."),
            AppError::TooManyRequests { retry_after } => {
                format!("Too many failed attempts; try again in {retry_after} seconds.")
            }
            AppError::Internal(_) => "Something went wrong on our side; please try again.".into(),
        }
    }
}

impl AppError {
    /// `Retry-After` on a 429, whichever way (JSON or page) the refusal is rendered.
    pub fn add_retry_after(&self, response: &mut HttpResponse) {
        if let AppError::TooManyRequests { retry_after } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Internal(error.into())
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::BadCredentials => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        log(self);
        let mut response = HttpResponse::build(self.status_code()).json(json!({
            "error": self.code(),
            "message": self.message(),
        }));
        self.add_retry_after(&mut response);
        response
    }
}

/// Server faults with their whole cause chain; client mistakes briefly.
pub fn log(error: &AppError) {
    match error {
        AppError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "request failed")
        }
        other => tracing::debug!(code = other.code(), "request refused"),
    }
}
