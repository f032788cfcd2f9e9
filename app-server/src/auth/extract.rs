//! The auth layer's request extractors: `CurrentUser`, the signed-in user behind the session
//! cookie (401 otherwise), and `ClientInfo`, who is asking. Each reads the `AppState` once and
//! treats its absence as the server bug it is (500), never as "signed out" or "no proxies".

use super::client_info::ClientInfo;
use crate::error::AppError;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header::USER_AGENT;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use std::future::{Ready, ready};

#[derive(Clone)]
pub struct CurrentUser {
    pub user_id: String,
    pub username: String,
    pub session_id: String,
    pub csrf_token: String,
    /// The person's download generation, read with the session (`sgen`).
    pub dl_gen: i64,
}

/// The CSRF token is a per-session secret: never in a log line or a panic message.
impl std::fmt::Debug for CurrentUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentUser")
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .field("session_id", &self.session_id)
            .field("csrf_token", &"<redacted>")
            .field("dl_gen", &self.dl_gen)
            .finish()
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("the AppState is not registered")))
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let cookie = state
            .as_ref()
            .ok()
            .and_then(|s| s.sessions.presented_secret(req));
        Box::pin(async move {
            let state = state?;
            let cookie = cookie.ok_or(AppError::Unauthorized)?;
            let session = state
                .sessions
                .resolve(&state.pool, &cookie)
                .await?
                .ok_or(AppError::Unauthorized)?;
            Ok(CurrentUser {
                user_id: session.user_id,
                username: session.username,
                session_id: session.id,
                csrf_token: session.csrf_token,
                dl_gen: session.dl_gen,
            })
        })
    }
}

impl FromRequest for ClientInfo {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let headers = req.headers();
        ready(app_state(req).map(|state| {
            ClientInfo::new(
                &state.trusted_proxies,
                req.peer_addr(),
                headers
                    .get_all("x-forwarded-for")
                    .filter_map(|v| v.to_str().ok()),
                headers.get(USER_AGENT).and_then(|v| v.to_str().ok()),
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{ClientInfo, CurrentUser};
    use actix_web::FromRequest;
    use actix_web::test::TestRequest;

    #[test]
    fn debug_output_leaves_the_csrf_token_out() {
        let user = CurrentUser {
            user_id: "u1".into(),
            username: "alice".into(),
            session_id: "s1".into(),
            csrf_token: "csrf-secret-value".into(),
            dl_gen: 0,
        };
        let shown = format!("{user:?}");
        assert!(
            shown.contains("alice") && !shown.contains("csrf-secret-value"),
            "{shown}"
        );
    }

    #[actix_web::test]
    async fn without_the_app_state_the_extractors_fail_as_server_errors() {
        let (req, mut payload) = TestRequest::default()
            .insert_header(("cookie", "session=x"))
            .to_http_parts();
        let user = CurrentUser::from_request(&req, &mut payload).await;
        assert!(
            matches!(user, Err(crate::error::AppError::Internal(_))),
            "{user:?}"
        );
        let client = ClientInfo::from_request(&req, &mut payload).await;
        assert!(
            matches!(client, Err(crate::error::AppError::Internal(_))),
            "{client:?}"
        );
    }
}
