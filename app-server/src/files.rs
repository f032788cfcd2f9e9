//! A user's files: receiving an upload, minting a download link (recorded, revocable),
//! deleting. Shared by the JSON API and the pages; ownership is part of every query, so another
//! user's file is "not found".

use crate::auth::CurrentUser;
use crate::db::{self, files::FileRow};
use crate::domain::FileName;
use crate::error::AppError;
use crate::revocation::{events, sid_of};
use crate::state::AppState;
use crate::{csrf, storage};
use actix_multipart::{Multipart, MultipartError};
use futures_util::StreamExt;
use shared::{DownloadName, ObjectPath, Revocable};

/// Reads a multipart body whose field `file` is the upload. With `form_token`, a `csrf` field
/// matching it must come first (HTML forms send fields in page order).
pub async fn receive(
    state: &AppState,
    user: &CurrentUser,
    mut multipart: Multipart,
    form_token: Option<&str>,
) -> Result<FileRow, AppError> {
    let mut token_checked = form_token.is_none();
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        match (field.name(), form_token) {
            (Some("csrf"), Some(expected)) => {
                let given = field
                    .bytes(256)
                    .await
                    .map_err(|_| AppError::bad("The csrf field is too long."))?
                    .map_err(multipart_error)?;
                csrf::check_form_token(expected, std::str::from_utf8(&given).unwrap_or(""))?;
                token_checked = true;
            }
            (Some("file"), _) => {
                if !token_checked {
                    return Err(csrf::missing_form_token());
                }
                return store_file(state, user, field).await;
            }
            _ => {
                // Small unknown fields are skipped; big ones are not read at all.
                field
                    .bytes(64 * 1024)
                    .await
                    .map_err(|_| AppError::bad("Unexpected large form field; send only \"file\"."))?
                    .map_err(multipart_error)?;
            }
        }
    }
    Err(AppError::bad(
        "Choose a file to upload (multipart form field \"file\").",
    ))
}

async fn store_file(
    state: &AppState,
    user: &CurrentUser,
    mut field: actix_multipart::Field,
) -> Result<FileRow, AppError> {
    let raw_name = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or_default()
        .to_owned();
    if raw_name.is_empty() {
        return Err(AppError::bad("Choose a file to upload."));
    }
    let name = FileName::parse(&raw_name).map_err(AppError::bad)?;
    let content_type = field
        .content_type()
        .map(|m| m.essence_str().to_owned())
        .filter(|t| t != "application/octet-stream" && t.len() <= 255)
        .unwrap_or_else(|| {
            mime_guess::from_path(name.as_str())
                .first_or_octet_stream()
                .essence_str()
                .to_owned()
        });
    let id = uuid::Uuid::new_v4().to_string();
    let object_path = format!("u/{}/{id}", user.user_id);
    let location = object_store::path::Path::parse(&object_path).map_err(AppError::internal)?;
    let size = storage::upload(&state.store, &location, &mut field, state.max_upload).await?;
    let row = FileRow {
        id,
        user_id: user.user_id.clone(),
        name: name.as_str().to_owned(),
        object_path,
        size: i64::try_from(size).map_err(AppError::internal)?,
        content_type,
        created_at: shared::time::now_secs(),
        dl_gen: 0,
    };
    if let Err(error) = db::files::insert(&state.pool, &row).await {
        let _ = storage::remove(&state.store, &row.object_path).await;
        return Err(error.into());
    }
    tracing::info!(file = %row.id, size, "stored an upload");
    Ok(row)
}

fn multipart_error(error: MultipartError) -> AppError {
    match error {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible => {
            AppError::UnsupportedMediaType("Send the file as multipart/form-data.")
        }
        other => AppError::bad(format!("Malformed multipart body: {other}")),
    }
}

/// A fresh single-use link for one of the user's files: `(url, expires_at)`. It carries the
/// person's generation as read with the session, the file's, and the session's `sid`, and is
/// recorded so its owner can see and revoke it.
pub async fn link(
    state: &AppState,
    user: &CurrentUser,
    file_id: &str,
) -> Result<(String, i64), AppError> {
    let file = db::files::owned(&state.pool, &user.user_id, file_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let obj = ObjectPath::parse(&file.object_path).map_err(AppError::internal)?;
    let name = DownloadName::sanitize(&file.name);
    let sid = sid_of(&user.session_id);
    let revocable = Revocable {
        sgen: u64::try_from(user.dl_gen).map_err(AppError::internal)?,
        ogen: u64::try_from(file.dl_gen).map_err(AppError::internal)?,
        sid: Some(sid.clone()),
    };
    let minted = state
        .keys
        .minter
        .mint_revocable(&user.user_id, &obj, Some(&name), revocable)
        .map_err(AppError::internal)?;
    let jti = minted.claims.jti.to_string();
    db::links::insert(
        &state.pool,
        &db::links::NewLink {
            jti: &jti,
            user_id: &user.user_id,
            file_id: &file.id,
            sid: &sid,
            minted_at: minted.claims.iat,
            expires_at: minted.claims.exp,
        },
    )
    .await?;
    let url = format!(
        "{}/d/{}/{}",
        state.download_base.as_str().trim_end_matches('/'),
        minted.token,
        name.url_path_segment()
    );
    tracing::info!(file = %file.id, jti = %minted.claims.jti, "minted a download link");
    Ok((url, minted.claims.exp))
}

pub async fn delete(state: &AppState, user: &CurrentUser, file_id: &str) -> Result<(), AppError> {
    let file = db::files::owned(&state.pool, &user.user_id, file_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let stamp = state.revocations.retention.stamp();
    if !db::files::delete(&state.pool, &user.user_id, &file.id, stamp).await? {
        return Err(AppError::NotFound);
    }
    events::made(state).await;
    if let Err(error) = storage::remove(&state.store, &file.object_path).await {
        tracing::warn!(file = %file.id, error = format!("{error:#}"), "could not remove a deleted file's object");
    }
    Ok(())
}
