//! Zero-copy bodies for local files: the connection's IO writes a body's file pieces to the
//! socket with sendfile(2), instead of actix-http copying them through its write buffer.
//!
//! How it holds together (actix-http 3.20.0, pinned): the h1 dispatcher writes its whole write
//! buffer (the response head) before it flushes the IO, and a body that is waiting for its piece
//! adds nothing to that buffer. So a piece the body leaves in the connection's `Slot` and the IO
//! sends from `poll_flush` always follows the head and whatever came before it, never overtakes.

mod cached;
mod io;
mod piece;

pub(crate) use cached::is_cached;
pub(crate) use io::SendfileIo;
pub(crate) use piece::{FileSource, PieceEnd, Slot};
