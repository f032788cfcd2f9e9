//! `/api/files/{id}/downloads`: what the download server reported about the file's links, each
//! download with its device and coverage, and each refused use.

use crate::auth::CurrentUser;
use crate::db;
use crate::error::AppError;
use crate::history::{self, summary::History};
use crate::state::AppState;
use crate::time_fmt::rfc3339;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

pub fn history_json(history: &History) -> Value {
    json!({
        "downloads": history.downloads.iter().map(|d| json!({
            "jti": d.jti,
            "started_at": rfc3339(d.started_at),
            "ip": d.ip,
            "device": d.device,
            "sent": d.sent,
            "coverage_percent": d.coverage_percent,
            "state": if d.completed { "completed" } else { "interrupted" },
        })).collect::<Vec<_>>(),
        "refused": history.refused.iter().map(|r| json!({
            "at": rfc3339(r.at),
            "jti": r.jti,
            "reason": r.reason,
            "ip": r.ip,
            "device": r.device,
            "other_network": r.other_network,
        })).collect::<Vec<_>>(),
    })
}

pub async fn for_file(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let file = db::files::owned(&state.pool, &user.user_id, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let history = history::of_object(&state.pool, &file.object_path).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(history_json(&history)))
}
