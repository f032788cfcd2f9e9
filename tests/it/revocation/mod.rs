//! Links taken back: the real app server revokes, two real download servers (each on its own
//! memory store, or both on one real Redis) long-poll its signed state and refuse what it names,
//! cutting downloads already running. Every event a person or an operator can cause is here,
//! with the delay from the event to the refusal at each download server measured and printed.

mod events;
mod silence;

use integration_tests::app::{AppClient, AppServer};
use integration_tests::download::{DownloadServer, sample_bytes};
use integration_tests::redis::RedisServer;
use std::time::{Duration, Instant};

/// The worst case the docs state with the defaults; the tests print what they measured.
const BOUND: Duration = Duration::from_secs(5);
/// Large enough that a paused download has most of it still unsent (socket buffers hold a few
/// MiB on loopback).
const BIG: usize = 24 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Redis,
}

pub struct Fixture {
    pub app: AppServer,
    /// Two download servers enforcing the app server's revocations.
    pub b: Vec<DownloadServer>,
    pub backend: Backend,
    _redis: Option<RedisServer>,
}

impl Fixture {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, 30).await
    }

    /// `max_age`: `--revocation-max-age` of both download servers.
    pub async fn spawn_with(backend: Backend, max_age: u32) -> Self {
        let app = AppServer::spawn().await;
        let redis = matches!(backend, Backend::Redis).then(RedisServer::start);
        let mut config = app.download.config.clone();
        config.revocations = Some(
            format!("{}/.well-known/dl-revocations", app.base)
                .parse()
                .unwrap(),
        );
        config.revocation_max_age = max_age;
        if let Some(redis) = &redis {
            config.replay = redis.url();
            config.replay_prefix = RedisServer::prefix();
        }
        let mut b = Vec::new();
        for _ in 0..2 {
            let server = DownloadServer::start(app.download.files.clone(), config.clone()).await;
            server.wait_ready(200).await;
            b.push(server);
        }
        Fixture {
            app,
            b,
            backend,
            _redis: redis,
        }
    }

    /// The link as served by download server `i` (the app server names its own one).
    pub fn at(&self, i: usize, link: &str) -> String {
        assert!(link.starts_with(&self.app.download.base), "{link}");
        link.replacen(&self.app.download.base, &self.b[i].base, 1)
    }

    pub async fn head_status(&self, i: usize, link: &str) -> u16 {
        self.b[i]
            .client
            .head(self.at(i, link))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Downloads the whole link from server `i`: its status and length.
    pub async fn fetch(&self, i: usize, link: &str) -> (u16, usize) {
        let response = self.b[i].client.get(self.at(i, link)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap().len())
    }

    /// A signed-in device with a `BIG` file: `(device, file id)`.
    pub async fn user_with_file(&self, name: &str) -> (AppClient, String) {
        let device = self.app.signed_in(name).await;
        let file = device.upload_ok("big.bin", &sample_bytes(BIG, 7)).await;
        (device, file)
    }
}

/// A download running on server 1: its first bytes arrived, the rest is still to come.
pub struct Running {
    response: reqwest::Response,
    received: usize,
}

impl Running {
    pub async fn start(fixture: &Fixture, link: &str) -> Self {
        let mut response = fixture.b[1]
            .client
            .get(fixture.at(1, link))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut received = 0;
        while received < 256 * 1024 {
            received += response.chunk().await.unwrap().expect("more bytes").len();
        }
        Running { response, received }
    }

    /// Reads on as fast as it can: how many bytes arrived in all, and whether the body ended
    /// in an error (a cut) rather than complete.
    pub async fn finish(mut self) -> (usize, bool) {
        // Bounded: the body is finite, and the client has a 30 s timeout.
        loop {
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.received += chunk.len(),
                Ok(None) => return (self.received, false),
                Err(_) => return (self.received, true),
            }
        }
    }
}

/// Polls (bounded by `BOUND`) until `link` is refused with `want` by every download server;
/// how long each took from `since`.
pub async fn refused_everywhere(
    fixture: &Fixture,
    link: &str,
    want: u16,
    since: Instant,
) -> Vec<Duration> {
    let mut delays = Vec::new();
    for i in 0..fixture.b.len() {
        loop {
            let status = fixture.head_status(i, link).await;
            if status == want {
                delays.push(since.elapsed());
                break;
            }
            assert!(
                since.elapsed() < BOUND,
                "download server {i} still answers {status} {:?} after the event",
                since.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    delays
}

pub fn millis(delays: &[Duration]) -> String {
    delays
        .iter()
        .map(|d| format!("{} ms", d.as_millis()))
        .collect::<Vec<_>>()
        .join(", ")
}
