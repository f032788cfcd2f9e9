//! The object store for uploads (the folder or bucket the download server serves) and streaming
//! writes into it: a multipart upload fed chunk by chunk, so a file is never whole in memory.

use crate::error::AppError;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use std::sync::Arc;

pub type Store = Arc<dyn ObjectStore>;

/// Parts of this size are buffered before each is written (S3's minimum part is 5 MiB).
const PART_SIZE: usize = 5 * 1024 * 1024;

/// `--store`, read as the download server reads it (`server_kit::store_url`).
pub fn open(spec: &str) -> anyhow::Result<Store> {
    Ok(server_kit::store_url::open(spec)?.objects())
}

/// Streams `body` to `path`; refuses (and removes the partial upload) past `limit` bytes.
/// Returns the number of bytes stored.
pub async fn upload<E: std::fmt::Display>(
    store: &Store,
    path: &Path,
    mut body: impl Stream<Item = Result<Bytes, E>> + Unpin,
    limit: u64,
) -> Result<u64, AppError> {
    let upload = store
        .put_multipart(path)
        .await
        .map_err(AppError::internal)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut size: u64 = 0;
    let outcome = loop {
        let chunk = match body.next().await {
            None => break Ok(()),
            Some(Ok(chunk)) => chunk,
            Some(Err(error)) => {
                break Err(AppError::bad(format!("The upload was cut off: {error}")));
            }
        };
        size += chunk.len() as u64;
        if size > limit {
            break Err(AppError::TooLarge { limit });
        }
        if let Err(error) = writer.wait_for_capacity(2).await {
            break Err(AppError::internal(error));
        }
        writer.put(chunk);
    };
    match outcome {
        Ok(()) => {
            writer.finish().await.map_err(AppError::internal)?;
            Ok(size)
        }
        Err(error) => {
            let _ = writer.abort().await;
            Err(error)
        }
    }
}

/// Removes an object; one already gone is fine.
pub async fn remove(store: &Store, path: &str) -> anyhow::Result<()> {
    match store.delete(&Path::parse(path)?).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
