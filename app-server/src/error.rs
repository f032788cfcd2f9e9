//! The app server's error type, presented in one table: each variant's status, stable `error`
//! code, page title, readable message and `Retry-After`, for the JSON API and the pages alike.
//! The cause chain goes to the log, never into a response.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;
use std::borrow::Cow;

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
    /// The account is disabled (`app-server user disable`).
    #[error("account disabled")]
    Disabled,
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
    /// Too many password checks running and waiting (`auth::hash_limit`).
    #[error("too busy to check a password")]
    Busy,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// One row of the table.
struct Presentation<'a> {
    status: StatusCode,
    /// The JSON API's `error` field: stable, for programs to match on.
    code: &'static str,
    /// The heading of the error page.
    title: &'static str,
    /// What a person may read: never internal error text.
    message: Cow<'a, str>,
    retry_after: Option<u64>,
}

impl AppError {
    pub fn bad(message: impl Into<String>) -> Self {
        AppError::BadRequest(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(error.into())
    }

    fn presentation(&self) -> Presentation<'_> {
        const DID_NOT_WORK: &str = "That did not work";
        let row = |status, code, title, message: Cow<'static, str>| Presentation {
            status,
            code,
            title,
            message,
            retry_after: None,
        };
        match self {
            AppError::BadRequest(message) => Presentation {
                message: Cow::Borrowed(message),
                ..row(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    DID_NOT_WORK,
                    "".into(),
                )
            },
            AppError::Unauthorized => row(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                DID_NOT_WORK,
                "Please sign in.".into(),
            ),
            AppError::BadCredentials => row(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                DID_NOT_WORK,
                "Wrong user name or password.".into(),
            ),
            AppError::Forbidden(message) => row(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed",
                (*message).into(),
            ),
            AppError::Disabled => row(
                StatusCode::FORBIDDEN,
                "account_disabled",
                "Not allowed",
                "This account is disabled.".into(),
            ),
            AppError::NotFound => row(
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "No such thing here.".into(),
            ),
            AppError::Conflict(message) => row(
                StatusCode::CONFLICT,
                "conflict",
                DID_NOT_WORK,
                (*message).into(),
            ),
            AppError::TooLarge { limit } => row(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                DID_NOT_WORK,
                format!("The upload is larger than {limit} bytes.").into(),
            ),
            AppError::UnsupportedMediaType(message) => row(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                DID_NOT_WORK,
                (*message).into(),
            ),
            AppError::TooManyRequests { retry_after } => Presentation {
                retry_after: Some(*retry_after),
                ..row(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "Slow down",
                    format!("Too many failed attempts; try again in {retry_after} seconds.").into(),
                )
            },
            AppError::Busy => Presentation {
                retry_after: Some(1),
                ..row(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "Busy",
                    "The server is busy; please try again in a moment.".into(),
                )
            },
            AppError::Internal(_) => row(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Something went wrong",
                "Something went wrong on our side; please try again.".into(),
            ),
        }
    }

    pub fn message(&self) -> String {
        self.presentation().message.into_owned()
    }

    /// The heading of the page that shows this error.
    pub fn title(&self) -> &'static str {
        self.presentation().title
    }

    /// `Retry-After` where the table has one, whichever way (JSON or page) the error is rendered.
    pub fn add_retry_after(&self, response: &mut HttpResponse) {
        if let Some(seconds) = self.presentation().retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
}

impl From<crate::auth::hash_limit::Busy> for AppError {
    fn from(_: crate::auth::hash_limit::Busy) -> Self {
        AppError::Busy
    }
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        AppError::Internal(error.into())
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        self.presentation().status
    }

    fn error_response(&self) -> HttpResponse {
        log(self);
        let Presentation {
            status,
            code,
            message,
            ..
        } = self.presentation();
        let mut response = HttpResponse::build(status).json(json!({
            "error": code,
            "message": message,
        }));
        self.add_retry_after(&mut response);
        response
    }
}

/// Server faults with their whole cause chain; client mistakes briefly.
pub fn log(error: &AppError) {
    match error {
        AppError::Internal(cause) => {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        other => tracing::debug!(code = other.presentation().code, "request refused"),
    }
}

#[cfg(test)]
mod tests {
    use super::AppError;
    use actix_web::ResponseError;
    use actix_web::body::MessageBody;

    /// Status, `Retry-After` and JSON body of the API's answer.
    fn answer(error: &AppError) -> (u16, Option<String>, serde_json::Value) {
        let response = error.error_response();
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().try_into_bytes().unwrap();
        (status, retry_after, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn an_internal_error_shows_a_fixed_message_never_its_cause() {
        let cause = anyhow::anyhow!("connecting to db.internal:5432 refused");
        let (status, retry_after, body) = answer(&AppError::internal(cause));
        assert_eq!((status, retry_after), (500, None));
        assert_eq!(body["error"], "internal");
        assert!(!body.to_string().contains("db.internal"), "{body}");
    }

    #[test]
    fn a_throttled_attempt_says_when_to_come_back() {
        let (status, retry_after, body) = answer(&AppError::TooManyRequests { retry_after: 42 });
        assert_eq!((status, retry_after.as_deref()), (429, Some("42")));
        assert_eq!(body["error"], "too_many_requests");
        assert!(
            body["message"].as_str().unwrap().contains("42 seconds"),
            "{body}"
        );
    }

    #[test]
    fn a_bad_request_shows_its_own_message() {
        let (status, _, body) = answer(&AppError::bad("The two passwords differ."));
        assert_eq!(status, 400);
        assert_eq!(body["error"], "bad_request");
        assert_eq!(body["message"], "The two passwords differ.");
        assert_eq!(AppError::NotFound.title(), "Not found");
    }
}
