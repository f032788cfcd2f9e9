//! Opens the object store named by `--store`, contained to its root: an object path from a token
//! can never name anything outside it.

use anyhow::{Context, bail};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

pub type Store = Arc<dyn ObjectStore>;

/// `file:///dir` or a plain path: a local folder (created when missing), rooted at `dir` and not
/// at `/` as object_store's own URL parsing would do. `memory:///`: in-process. `s3://bucket/p`:
/// S3-compatible storage under prefix `p`, configured from AWS_* variables, with short retries so
/// a download fails in seconds rather than minutes.
pub fn open(spec: &str) -> anyhow::Result<Store> {
    let Ok(url) = Url::parse(spec) else {
        return open_local(PathBuf::from(spec));
    };
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|_| anyhow::anyhow!("not a local path: {spec}"))?;
            open_local(path)
        }
        "memory" => Ok(Arc::new(InMemory::new())),
        "s3" | "s3a" => {
            let bucket = url
                .host_str()
                .context("s3 URL needs a bucket: s3://bucket/prefix")?;
            let s3 = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(RetryConfig {
                    max_retries: 2,
                    retry_timeout: Duration::from_secs(10),
                    ..RetryConfig::default()
                })
                .build()
                .context("configuring the S3 store")?;
            let prefix = url.path().trim_matches('/');
            if prefix.is_empty() {
                Ok(Arc::new(s3))
            } else {
                Ok(Arc::new(PrefixStore::new(s3, prefix)))
            }
        }
        // A one-letter "scheme" is a Windows drive letter, anything else is not supported.
        s if s.len() == 1 => open_local(PathBuf::from(spec)),
        other => bail!("unsupported store scheme {other:?} (use file://, s3:// or memory://)"),
    }
}

fn open_local(dir: PathBuf) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating store folder {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let fs = LocalFileSystem::new_with_prefix(&dir)
        .with_context(|| format!("opening store folder {}", dir.display()))?;
    Ok(Arc::new(fs))
}
