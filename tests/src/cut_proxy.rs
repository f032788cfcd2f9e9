//! `CutProxy`: a TCP proxy on 127.0.0.1:0 in front of a server that resets a connection after a
//! set number of response bytes, so a client's download breaks off mid-file as it does when the
//! Wi-Fi drops.
//!
//! Hand-written rather than taken from a crate: the only thing it does beyond
//! `tokio::io::copy` is count response bytes and reset at the count, which no proxy crate
//! exposes.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

/// The proxy's receive buffer towards the server: a router's worth, so the bytes lost when a
/// connection is cut are about what the server's own socket holds, as on a real network.
const UPSTREAM_RECEIVE_BUFFER: u32 = 128 * 1024;

/// How long a cut connection stays open, silent, before the reset: a reset makes the client's
/// kernel throw away what it had received but not yet read, which a dropped Wi-Fi does not (the
/// client keeps every byte that reached it), so the client gets time to read them first.
const DRAIN: Duration = Duration::from_millis(300);

pub struct CutProxy {
    pub address: SocketAddr,
    /// `http://` + the address, to put in front of a download path.
    pub base: String,
    shared: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    /// Response byte counts at which the next connections are cut, in order.
    cuts: Mutex<VecDeque<u64>>,
    /// Connections that carried response bytes.
    responses: AtomicUsize,
    /// Connections cut.
    cut: AtomicUsize,
    /// The head (request line and headers) of each connection's first request, in order.
    heads: Mutex<Vec<String>>,
}

impl CutProxy {
    /// Forwards every connection to `upstream`. The first connections that carry a response are
    /// reset after `cuts[0]`, `cuts[1]`, ... response bytes (headers included); the others pass
    /// whole. A connection that never carries a response (a browser's preconnect) takes no cut.
    pub async fn start(upstream: SocketAddr, cuts: impl IntoIterator<Item = u64>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        shared.cuts.lock().unwrap().extend(cuts);
        let accept = tokio::spawn(accept_loop(listener, upstream, Arc::clone(&shared)));
        CutProxy {
            address,
            base: format!("http://{address}"),
            shared,
            accept,
        }
    }

    /// Replaces the cuts for the connections that carry a response from now on.
    pub fn set_cuts(&self, cuts: impl IntoIterator<Item = u64>) {
        let mut queue = self.shared.cuts.lock().unwrap();
        queue.clear();
        queue.extend(cuts);
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many connections were cut so far.
    pub fn cut_count(&self) -> usize {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// How many connections carried response bytes so far.
    pub fn response_count(&self) -> usize {
        self.shared.responses.load(Ordering::SeqCst)
    }

    /// The head (request line and headers) of each connection's first request, in the order
    /// they arrived.
    pub fn request_heads(&self) -> Vec<String> {
        self.shared.heads.lock().unwrap().clone()
    }
}

impl Drop for CutProxy {
    /// Stops accepting and drops every open connection (the accept task owns them).
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // A failed accept (a client that gave up at once) leaves nothing to forward.
                if let Ok((client, _)) = accepted {
                    relays.spawn(relay(client, upstream, Arc::clone(&shared)));
                }
            }
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

/// Copies a client's requests to the server, keeping the head of the first one.
async fn forward_requests(
    from_client: &mut (impl AsyncReadExt + Unpin),
    to_server: &mut (impl AsyncWriteExt + Unpin),
    shared: &Shared,
) -> io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = from_client.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        if head.len() < HEAD_LIMIT && !head.ends_with(HEAD_END) {
            head.extend_from_slice(&buffer[..read]);
            if let Some(end) = head.windows(4).position(|w| w == HEAD_END) {
                head.truncate(end + HEAD_END.len());
                let text = String::from_utf8_lossy(&head).into_owned();
                shared.heads.lock().unwrap().push(text);
            }
        }
        to_server.write_all(&buffer[..read]).await?;
    }
}

/// Where a request head ends, and how much of one is kept at most.
const HEAD_END: &[u8] = b"\r\n\r\n";
const HEAD_LIMIT: usize = 64 * 1024;

/// Forwards one connection; requests pass whole, responses up to this connection's cut.
async fn relay(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(UPSTREAM_RECEIVE_BUFFER)?;
    let mut server = socket.connect(upstream).await?;
    let (mut from_client, mut to_client) = client.split();
    let (mut from_server, mut to_server) = server.split();
    let requests = async {
        let _ = forward_requests(&mut from_client, &mut to_server, &shared).await;
        let _ = to_server.shutdown().await;
        // The response may go on after the client half-closed; the other branch ends the relay.
        std::future::pending::<()>().await;
    };
    let responses = async {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut left: Option<u64> = None;
        loop {
            let room = match left {
                Some(0) => return Ok::<bool, io::Error>(true),
                Some(left) => buffer
                    .len()
                    .min(usize::try_from(left).unwrap_or(usize::MAX)),
                None => buffer.len(),
            };
            let read = from_server.read(&mut buffer[..room]).await?;
            if read == 0 {
                to_client.shutdown().await?;
                return Ok(false);
            }
            if left.is_none() {
                // The first response byte decides this connection's cut.
                shared.responses.fetch_add(1, Ordering::SeqCst);
                left = Some(shared.cuts.lock().unwrap().pop_front().unwrap_or(u64::MAX));
            }
            let read = read.min(usize::try_from(left.unwrap_or(u64::MAX)).unwrap_or(usize::MAX));
            to_client.write_all(&buffer[..read]).await?;
            left = left.map(|left| left - read as u64);
        }
    };
    let cut = tokio::select! {
        cut = responses => cut?,
        () = requests => unreachable!("the request copy never ends the relay"),
    };
    if cut {
        shared.cut.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(DRAIN).await;
        // A reset, not a clean close: the client sees the connection fail mid-body.
        client.set_zero_linger()?;
    }
    Ok(())
}
