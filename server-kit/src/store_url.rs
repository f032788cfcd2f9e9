//! Opening the object store an operator names (`--store`): the same URL means the same store to
//! both servers.

use anyhow::{Context, bail};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, RetryConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// An opened store. A local folder is kept as such: the download server opens its files itself.
#[derive(Debug)]
pub enum OpenedStore {
    /// A folder on this machine; `fs` is rooted at `dir` (canonical, created when missing).
    Local {
        dir: PathBuf,
        fs: Arc<LocalFileSystem>,
    },
    /// In memory, or S3-compatible storage.
    Remote(Arc<dyn ObjectStore>),
}

impl OpenedStore {
    pub fn objects(&self) -> Arc<dyn ObjectStore> {
        match self {
            OpenedStore::Local { fs, .. } => Arc::clone(fs) as Arc<dyn ObjectStore>,
            OpenedStore::Remote(store) => Arc::clone(store),
        }
    }
}

/// `spec` is a folder path or `file:///abs/dir` (rooted at that folder, not at `/` as
/// object_store's own URL parsing would do), `memory:///`, or `s3://bucket/prefix`, configured
/// from the `AWS_*` variables, under `prefix`, with short retries so a request fails in seconds
/// rather than object_store's default of ten retries within three minutes.
pub fn open(spec: &str) -> anyhow::Result<OpenedStore> {
    let url = match url::Url::parse(spec) {
        // A one-letter "scheme" is a Windows drive letter (`C:\files`): a path.
        Ok(url) if url.scheme().len() > 1 => url,
        _ => return open_local(PathBuf::from(spec)),
    };
    match url.scheme() {
        "file" => open_local(
            url.to_file_path()
                .map_err(|()| anyhow::anyhow!("not a local path: {spec}"))?,
        ),
        "memory" => Ok(OpenedStore::Remote(Arc::new(InMemory::new()))),
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
            Ok(OpenedStore::Remote(match url.path().trim_matches('/') {
                "" => Arc::new(s3),
                prefix => Arc::new(PrefixStore::new(s3, prefix)),
            }))
        }
        other => {
            bail!("unsupported store scheme {other:?} (use a folder, file://, s3:// or memory://)")
        }
    }
}

fn open_local(dir: PathBuf) -> anyhow::Result<OpenedStore> {
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating store folder {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("resolving {}", dir.display()))?;
    let fs = LocalFileSystem::new_with_prefix(&dir)
        .with_context(|| format!("opening store folder {}", dir.display()))?;
    Ok(OpenedStore::Local {
        dir,
        fs: Arc::new(fs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_its_file_url_open_the_same_rooted_folder() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("files");
        let by_path = open(dir.to_str().unwrap()).unwrap();
        let url = url::Url::from_directory_path(&dir).unwrap();
        let by_url = open(url.as_str()).unwrap();
        let folder = |opened: &OpenedStore| match opened {
            OpenedStore::Local { dir, .. } => dir.clone(),
            OpenedStore::Remote(_) => panic!("a local folder"),
        };
        assert_eq!(folder(&by_path), dir.canonicalize().unwrap());
        assert_eq!(folder(&by_url), folder(&by_path));
    }

    #[test]
    fn memory_and_unknown_schemes() {
        assert!(matches!(open("memory:///"), Ok(OpenedStore::Remote(_))));
        let error = open("ftp://files.example/x").unwrap_err().to_string();
        assert!(error.contains("unsupported store scheme"), "{error}");
        assert!(open("s3:///no-bucket").is_err());
    }
}
