//! Opens the object store named by `--store`, contained to its root: an object path from a token
//! can never name anything outside it.
//!
//! For a local folder, the probe that opens a file runs right on the worker when the kernel can
//! resolve its path from the dentry cache (`openat2` with `RESOLVE_CACHED`, Linux 5.12+), and on
//! the blocking pool otherwise; object_store's own `get_opts` then only reports the failures, in
//! its canonical form. Profiled with 1 KiB files, object_store's `spawn_blocking` per open (futex
//! wake-ups, context switches) cost about a sixth of the server's CPU.

use crate::problem::DownloadError;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetResult, ObjectStore};
use server_kit::store_url::OpenedStore;
use std::sync::Arc;

/// The object store, plus the local folder when it is one (for the inline open).
#[derive(Clone)]
pub struct Store {
    objects: Arc<dyn ObjectStore>,
    local: Option<Arc<LocalFileSystem>>,
}

impl Store {
    /// The object's metadata and, for a local folder, the opened file (`GetResultPayload::File`),
    /// which the download then streams: the very file whose size and ETag were checked.
    pub async fn probe(&self, location: &Path) -> object_store::Result<GetResult> {
        if let Some(local) = &self.local {
            if let Some(result) = local_open::open(local, location, false) {
                return result;
            }
            // Not in the dentry cache: the same open on the blocking pool, where it may wait
            // for a disk. Only its failures go on to object_store, for their canonical form.
            let (local, owned) = (Arc::clone(local), location.clone());
            let opened =
                tokio::task::spawn_blocking(move || local_open::open(&local, &owned, true)).await;
            if let Ok(Some(result)) = opened {
                return result;
            }
        }
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        self.objects.get_opts(location, head).await
    }

    pub async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.objects.get_opts(location, options).await
    }

    /// The object store itself (tests put objects through it).
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    fn remote(objects: Arc<dyn ObjectStore>) -> Self {
        Store {
            objects,
            local: None,
        }
    }
}

/// Opens `--store` as both servers read it (`server_kit::store_url`); a local folder also gets
/// the inline open when this kernel supports it.
pub fn open(spec: &str) -> anyhow::Result<Store> {
    Ok(match server_kit::store_url::open(spec)? {
        OpenedStore::Local { dir, fs } => {
            let local = local_open::supported(&dir).then(|| Arc::clone(&fs));
            Store { objects: fs, local }
        }
        OpenedStore::Remote(objects) => Store::remote(objects),
    })
}

/// What an object_store error means for a download: no such object (404), or storage that cannot
/// answer (503).
pub(crate) fn storage_error(error: object_store::Error) -> DownloadError {
    match error {
        object_store::Error::NotFound { .. } | object_store::Error::InvalidPath { .. } => {
            DownloadError::NotFound
        }
        other if names_no_object(&other) => DownloadError::NotFound,
        other => DownloadError::StorageUnavailable(other.to_string()),
    }
}

/// A local path through a file (`a.txt/b`) or with an over-long segment names no object: 404,
/// not a storage outage.
fn names_no_object(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::InvalidFilename
            )
        {
            return true;
        }
        current = e.source();
    }
    false
}

/// Opening a local object: on the worker when that cannot wait for a disk, else on the blocking
/// pool; never blocking on a FIFO.
mod local_open {
    use object_store::local::LocalFileSystem;
    use object_store::path::Path;
    use object_store::{GetResult, GetResultPayload, ObjectMeta};
    use std::fs::{File, Metadata};
    use std::time::SystemTime;

    /// Whether this kernel (and any seccomp filter in front of it) allows `RESOLVE_CACHED`.
    #[cfg(target_os = "linux")]
    pub fn supported(root: &std::path::Path) -> bool {
        use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match openat2(CWD, root, flags, Mode::empty(), ResolveFlags::CACHED) {
            Ok(_) => true,
            // Not in the dentry cache yet: the flag itself was accepted.
            Err(rustix::io::Errno::AGAIN) => true,
            // Older than 5.12 (EINVAL), no openat2 (ENOSYS), or refused by a filter (EPERM).
            Err(_) => false,
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn supported(_root: &std::path::Path) -> bool {
        false
    }

    /// The object opened and described exactly as object_store's `get_opts` would, or `None`
    /// when that fails in any way (the caller then asks object_store, which reports errors its
    /// own way) or, unless `may_wait_for_disk`, would need I/O to resolve the path.
    /// A FIFO or device under the store's folder is no object: opened without blocking and
    /// refused (404), where a plain open of a FIFO (object_store's) hangs until a writer appears.
    #[cfg(target_os = "linux")]
    pub fn open(
        fs: &LocalFileSystem,
        location: &Path,
        may_wait_for_disk: bool,
    ) -> Option<object_store::Result<GetResult>> {
        use rustix::fs::{CWD, Mode, OFlags, ResolveFlags, openat2};
        let path = fs.path_to_filesystem(location).ok()?;
        // O_NONBLOCK changes nothing for reads of regular files (nor RWF_NOWAIT's meaning).
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let resolve = if may_wait_for_disk {
            ResolveFlags::empty()
        } else {
            ResolveFlags::CACHED
        };
        let fd = openat2(CWD, &path, flags, Mode::empty(), resolve).ok()?;
        let file = File::from(fd);
        // fstat reads the inode already in memory.
        let metadata = file.metadata().ok()?;
        if metadata.is_dir() {
            return None;
        }
        if !metadata.is_file() {
            return Some(Err(object_store::Error::NotFound {
                path: path.display().to_string(),
                source: "not a regular file".into(),
            }));
        }
        let meta = ObjectMeta {
            location: location.clone(),
            last_modified: metadata.modified().ok()?.into(),
            size: metadata.len(),
            e_tag: Some(etag(&metadata)),
            version: None,
        };
        Some(Ok(GetResult {
            payload: GetResultPayload::File(file, path),
            range: 0..meta.size,
            meta,
            attributes: Default::default(),
            extensions: Default::default(),
        }))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn open(
        _fs: &LocalFileSystem,
        _location: &Path,
        _may_wait_for_disk: bool,
    ) -> Option<object_store::Result<GetResult>> {
        None
    }

    /// object_store's local ETag (inode, mtime in microseconds, size), so that an `If-Range`
    /// matches whichever way the file was opened.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fn etag(metadata: &Metadata) -> String {
        use std::os::unix::fs::MetadataExt;
        let mtime = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .unwrap_or_default()
            .as_micros();
        format!("\"{:x}-{mtime:x}-{:x}\"", metadata.ino(), metadata.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn object_store_view(store: &Store, location: &Path) -> object_store::Result<GetResult> {
        let head = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        store.objects.get_opts(location, head).await
    }

    #[tokio::test]
    async fn the_inline_open_describes_a_file_exactly_as_object_store_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/f.bin"), vec![7u8; 12_345]).unwrap();
        let store = open(dir.path().to_str().unwrap()).unwrap();
        assert!(store.local.is_some(), "this kernel supports RESOLVE_CACHED");
        let location = Path::parse("a/f.bin").unwrap();
        // Warm the dentry cache as a previous request would.
        let theirs = object_store_view(&store, &location).await.unwrap();
        let ours = local_open::open(store.local.as_ref().unwrap(), &location, false)
            .expect("a just-written file resolves from the dentry cache")
            .unwrap();
        assert_eq!(ours.meta, theirs.meta);
        assert_eq!(ours.range, theirs.range);
        assert!(matches!(
            ours.payload,
            object_store::GetResultPayload::File(..)
        ));
        let probed = store.probe(&location).await.unwrap();
        assert_eq!(probed.meta, theirs.meta);
    }

    #[tokio::test]
    async fn what_the_inline_open_cannot_serve_gets_object_stores_answer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let store = open(dir.path().to_str().unwrap()).unwrap();
        for missing in ["nope", "sub", "f/g"] {
            let location = Path::parse(missing).unwrap();
            for may_wait in [false, true] {
                assert!(
                    local_open::open(store.local.as_ref().unwrap(), &location, may_wait).is_none()
                );
            }
            let error = store.probe(&location).await.expect_err(missing);
            let theirs = object_store_view(&store, &location)
                .await
                .expect_err(missing);
            assert_eq!(error.to_string(), theirs.to_string(), "{missing}");
        }
    }

    #[test]
    fn a_fifo_in_the_store_is_no_object_and_never_blocks_the_worker() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let store = open(dir.path().to_str().unwrap()).unwrap();
        let location = Path::parse("pipe").unwrap();
        // On a thread of its own: a blocking open would wait there for a writer that never comes.
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let probed = runtime.block_on(store.probe(&location)).map(|_| ());
            // The blocking pool's open, taken when the path is not in the dentry cache.
            let local = store.local.as_ref().unwrap();
            let uncached = local_open::open(local, &location, true).map(|r| r.map(|_| ()));
            let _ = sender.send((probed, uncached));
        });
        let (probed, uncached) = receiver
            .recv_timeout(Duration::from_secs(5))
            .expect("neither open blocks");
        for opened in [probed, uncached.expect("the FIFO is opened")] {
            assert!(
                matches!(opened, Err(object_store::Error::NotFound { .. })),
                "{opened:?}"
            );
        }
    }
}
