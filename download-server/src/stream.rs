//! Streams object bytes to the socket without ever holding a whole file or range in memory.
//!
//! For local files object_store reads 8 KiB per blocking call; we read `chunk` bytes per call
//! with positioned reads instead, on the worker when the page cache has them (no thread hop at
//! all), else on the blocking pool; the same constant memory per download either way.

use bytes::Bytes;
use futures_util::Stream;
use std::io;
use std::ops::Range;
use std::sync::Arc;

pub type ByteStream = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// Reads `range` of `file` in chunks of at most `chunk` bytes. Data already in the page cache
/// is read right on the worker (Linux `RWF_NOWAIT`: the read fails rather than wait for a disk);
/// anything else goes to the blocking pool, with one chunk read ahead so that a download from
/// disk does not alternate between disk and network. At most two chunks per download are held.
/// A file that shrinks underneath ends the stream with an error (the connection is cut rather
/// than sending a short body that claims to be complete).
///
/// Profiled with 1 KiB and 1 MiB files: a round trip through the blocking pool per chunk (futex
/// wake-ups, context switches) cost more CPU than the signature check and the copy.
pub fn local_file(file: std::fs::File, range: Range<u64>, chunk: usize) -> ByteStream {
    let reader = ChunkReader {
        file: Arc::new(file),
        next: range.start,
        end: range.end,
        chunk: chunk.max(4096) as u64,
    };
    Box::pin(futures_util::stream::try_unfold(
        (reader, None),
        |(mut reader, pending): (ChunkReader, Option<PendingRead>)| async move {
            let read = match pending {
                Some(read) => read,
                None => {
                    if let Some(cached) = reader.read_cached()? {
                        return Ok(Some((Bytes::from(cached), (reader, None))));
                    }
                    let Some(read) = reader.spawn_next() else {
                        return Ok(None);
                    };
                    read
                }
            };
            let buf = read.await.map_err(io::Error::other)??;
            let ahead = reader.spawn_next();
            Ok(Some((Bytes::from(buf), (reader, ahead))))
        },
    ))
}

type PendingRead = tokio::task::JoinHandle<io::Result<Vec<u8>>>;

struct ChunkReader {
    file: Arc<std::fs::File>,
    next: u64,
    end: u64,
    chunk: u64,
}

impl ChunkReader {
    fn next_len(&self) -> usize {
        (self.end.saturating_sub(self.next)).min(self.chunk) as usize
    }

    /// Starts reading the next chunk on the blocking pool, or `None` at the end of the range.
    fn spawn_next(&mut self) -> Option<PendingRead> {
        let len = self.next_len();
        if len == 0 {
            return None;
        }
        let pos = self.next;
        self.next += len as u64;
        let file = Arc::clone(&self.file);
        Some(tokio::task::spawn_blocking(move || {
            read_at(&file, pos, len)
        }))
    }

    /// The next chunk (or its cached beginning) if it can be read without waiting for a disk;
    /// `None` when nothing is cached, at the end of the range, or off Linux.
    #[cfg(target_os = "linux")]
    fn read_cached(&mut self) -> io::Result<Option<Vec<u8>>> {
        use rustix::io::{Errno, ReadWriteFlags, preadv2};
        let len = self.next_len();
        if len == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            let slice = &mut [io::IoSliceMut::new(&mut buf[done..])];
            match preadv2(
                &*self.file,
                slice,
                self.next + done as u64,
                ReadWriteFlags::NOWAIT,
            ) {
                Ok(0) if done == 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(0) => break,
                Ok(n) => done += n,
                Err(Errno::INTR) => continue,
                // Not cached (AGAIN), or a kernel or file system without RWF_NOWAIT.
                Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => break,
                Err(error) => return Err(error.into()),
            }
        }
        if done == 0 {
            return Ok(None);
        }
        buf.truncate(done);
        self.next += done as u64;
        Ok(Some(buf))
    }

    #[cfg(not(target_os = "linux"))]
    fn read_cached(&mut self) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

fn read_at(file: &std::fs::File, pos: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    #[cfg(unix)]
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, pos)?;
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < len {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                pos + done as u64,
            )?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn collect(file: &std::path::Path, range: Range<u64>, chunk: usize) -> Vec<u8> {
        let file = std::fs::File::open(file).unwrap();
        let chunks: Vec<Bytes> = local_file(file, range, chunk).try_collect().await.unwrap();
        assert!(chunks.iter().all(|c| c.len() <= chunk.max(4096)));
        chunks.concat()
    }

    #[tokio::test]
    async fn every_range_streams_exactly_its_bytes_inline_or_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        for (start, end) in [
            (0, 0),
            (0, 1024),
            (5, 16 * 1024),
            (0, 300_000),
            (4095, 200_001),
        ] {
            let got = collect(&path, start..end, 64 * 1024).await;
            assert_eq!(got, &data[start as usize..end as usize], "{start}..{end}");
        }
        assert_eq!(collect(&path, 1..299_999, 4096).await, &data[1..299_999]);
    }

    #[tokio::test]
    async fn a_file_shorter_than_the_range_ends_in_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 100_000]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let result: Result<Vec<Bytes>, _> = local_file(file, 0..200_000, 65536).try_collect().await;
        assert!(result.is_err());
    }
}
