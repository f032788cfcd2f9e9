//! `/.well-known/dl-revocations` (the signed state, long-polled by download servers) and its
//! key set `/.well-known/dl-revocations/jwks.json`. Public: the state holds only opaque ids.

use crate::db;
use crate::error::AppError;
use crate::revocation::feed;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, web};

/// Answers at once when the state is newer than `after` (or `after` is absent, or `wait` is 0,
/// or too many requests are already held); otherwise holds the request until a revocation is
/// made or `wait` passes, then answers the current state.
pub async fn state(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let query = feed::parse_query(req.query_string())?;
    let revocations = &state.revocations;
    // Subscribed before reading: a revocation committed after the read wakes this request.
    let mut changes = revocations.changes.subscribe();
    let (mut seq, mut records) =
        db::revocations::live(&state.pool, shared::time::now_secs()).await?;
    let up_to_date = query.after.is_some_and(|after| seq <= after);
    if up_to_date
        && !query.wait.is_zero()
        && let Ok(_held) = revocations.long_polls.try_acquire()
    {
        let _ = tokio::time::timeout(query.wait, changes.changed()).await;
        (seq, records) = db::revocations::live(&state.pool, shared::time::now_secs()).await?;
    }
    let document = feed::state(revocations, seq, records, shared::time::now_secs());
    let signed = feed::sign(revocations, &document).map_err(AppError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/jwt")
        .insert_header(("cache-control", "no-store"))
        .body(signed))
}

/// The revocation key alone: never the key that signs download tokens.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("cache-control", "public, max-age=300"))
        .json(&state.revocations.jwks)
}
