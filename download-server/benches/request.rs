//! The whole request path in one process: the real `Application` (one worker) on a loopback port,
//! driven by a minimal keep-alive HTTP/1.1 client, one fresh token per request. Includes the
//! client's own cost, so it is an upper bound on the server's per-request time.

mod support;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use download_server::config::Switch;
use download_server::{Application, Config};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const SMALL: &str = "bench/1k.bin";
const MEDIUM: &str = "bench/1m.bin";

fn request_path(c: &mut Criterion) {
    let keys = support::Keys::generate();
    let files = keys.dir.path().join("files");
    std::fs::create_dir_all(files.join("bench")).expect("dir");
    std::fs::write(files.join(SMALL), vec![7u8; 1024]).expect("file");
    std::fs::write(files.join(MEDIUM), vec![7u8; 1024 * 1024]).expect("file");

    let config = |sendfile| {
        let mut config = Config::for_tests(files.to_string_lossy(), keys.jwks_path());
        config.issuer = support::ISSUER.into();
        config.audience = support::AUDIENCE.into();
        config.workers = Some(1);
        config.sendfile = sendfile;
        config
    };
    let (address, stop) = start_server(config(Switch::On));
    let mut client = Client::connect(address);

    let mut group = c.benchmark_group("request");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(4));
    // A fresh token per request: verify, consume, open, stream 1 KiB.
    group.bench_function("get_1k_fresh_token", |b| {
        fresh_downloads(b, &mut client, &keys, SMALL);
    });
    // A used token: verify and the replay check, then a problem+json 410.
    let used = format!("/d/{}/1k.bin", keys.token(SMALL));
    assert_eq!(client.get(&used), 200);
    group.bench_function("get_used_token_410", |b| {
        b.iter(|| assert_eq!(client.get(&used), 410));
    });
    // 1 MiB from the page cache: with sendfile (the default), then read and copied through the
    // server (`--sendfile off`), each on its own server.
    let mut fresh_1m = |name: &str, client: &mut Client| {
        group.throughput(Throughput::Bytes(1024 * 1024));
        group.bench_function(name, |b| fresh_downloads(b, client, &keys, MEDIUM));
    };
    fresh_1m("get_1m_sendfile", &mut client);
    drop(client);
    stop();
    let (address, stop) = start_server(config(Switch::Off));
    let mut client = Client::connect(address);
    fresh_1m("get_1m_copy", &mut client);
    group.finish();
    drop(client);
    stop();
}

/// Times `iters` downloads of `object`, each with a fresh token minted beforehand.
fn fresh_downloads(
    b: &mut criterion::Bencher,
    client: &mut Client,
    keys: &support::Keys,
    object: &str,
) {
    let name = object.rsplit('/').next().expect("a file name");
    b.iter_custom(|iters| {
        let paths: Vec<String> = (0..iters)
            .map(|_| format!("/d/{}/{name}", keys.token(object)))
            .collect();
        let started = Instant::now();
        for path in &paths {
            assert_eq!(client.get(path), 200);
        }
        started.elapsed()
    });
}

/// Runs the server on its own thread; returns its address and a function that stops it.
fn start_server(config: Config) -> (SocketAddr, impl FnOnce()) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let app = Application::build(config).await.expect("server builds");
            let epoch = app.state().replay.epoch().await.expect("replay answers");
            // Tokens issued before the store's epoch are refused: start minting after it.
            while shared::time::now_secs() < epoch {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            ready_tx.send(app.address()).expect("bench waits");
            app.run_until(async {
                let _ = stop_rx.await;
            })
            .await
            .expect("server runs");
        });
    });
    let address = ready_rx.recv().expect("server started");
    (address, move || {
        let _ = stop_tx.send(());
        thread.join().expect("server thread");
    })
}

/// Just enough HTTP/1.1 for `Content-Length` responses on one keep-alive connection.
struct Client {
    reader: BufReader<TcpStream>,
    body: Vec<u8>,
}

impl Client {
    fn connect(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Client {
            reader: BufReader::with_capacity(64 * 1024, stream),
            body: Vec::new(),
        }
    }

    /// Sends one GET and reads the whole response; returns the status.
    fn get(&mut self, path: &str) -> u16 {
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n");
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("length");
            }
        }
        self.body.resize(length, 0);
        self.reader.read_exact(&mut self.body).expect("body");
        status
    }
}

criterion_group!(benches, request_path);
criterion_main!(benches);
