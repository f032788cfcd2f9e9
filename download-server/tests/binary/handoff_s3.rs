//! Hand-off mode on an S3 store, with the real programs: the binary answers nginx (running the
//! shipped `deploy/nginx/handoff.conf`) with a presigned GET of the S3-compatible server
//! (s3s-fs), which nginx fetches through its internal location and streams to the client.

use crate::support::{Binary, keys, put_with, s3_client};
use object_store::{Attribute, Attributes};
use shared::{Minter, ObjectPath};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use test_support::s3::BUCKET;
use test_support::{NginxServer, S3Server, Template, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Waits (bounded) until nginx has logged `requests` requests: it writes a request's line once
/// its `post_action` report is answered, so from then on the download server knows what it sent.
async fn wait_for_logged(nginx: &NginxServer, requests: usize) {
    eventually(
        Duration::from_secs(10),
        "nginx logs the request",
        || async {
            let log = nginx.access_log();
            if log.lines().count() >= requests {
                Ok(())
            } else {
                Err(format!("logged so far:\n{log}"))
            }
        },
    )
    .await;
}

/// A TCP relay in front of the store that keeps every byte nginx sends it. Hand-written (a few
/// lines of tokio): s3s-fs accepts a presigned GET whatever else the request carries, so only
/// the bytes on the wire show which of the client's headers reached the store.
struct Recorder {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(store: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(store).await else {
                        return;
                    };
                    let (mut from_nginx, mut to_nginx) = inbound.split();
                    let (mut from_store, mut to_store) = outbound.split();
                    let up = async {
                        let mut buf = vec![0u8; 16 * 1024];
                        loop {
                            let n = from_nginx.read(&mut buf).await?;
                            if n == 0 {
                                return to_store.shutdown().await;
                            }
                            kept.lock().unwrap().extend_from_slice(&buf[..n]);
                            to_store.write_all(&buf[..n]).await?;
                        }
                    };
                    let down = tokio::io::copy(&mut from_store, &mut to_nginx);
                    let _ = tokio::join!(up, down);
                });
            }
        });
        Recorder {
            address,
            seen,
            task,
        }
    }

    /// Everything nginx sent the store so far, as text.
    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn nginx_streams_an_s3_object_from_the_presigned_hand_off_without_the_clients_credentials() {
    let s3 = S3Server::start().await;
    let s3_address: SocketAddr = s3.endpoint.trim_start_matches("http://").parse().unwrap();
    let store = s3_client(&s3.endpoint, BUCKET);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/vnd.test+data".into());
    // What the store would say besides, which must not reach the client next to the download
    // server's own.
    attributes.insert(Attribute::CacheControl, "public, max-age=86400".into());
    attributes.insert(
        Attribute::ContentDisposition,
        "inline; filename=\"other.html\"".into(),
    );
    // A space and a percent sign: the key is escaped in the presigned URL, and again in the
    // redirect, and must reach the store as signed.
    let key = "tenant/u1/annual report 100%.dat";
    put_with(&store, key, body.clone(), attributes).await;

    let dir = tempfile::tempdir().unwrap();
    let (signing_key, jwks) = keys(dir.path());
    let aws = s3.env();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("DL_STORE", "s3://downloads/tenant"),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("DL_ACCEL_REDIRECT", "/_dl/"),
        ("DL_TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let server = Binary::start(&env).await;
    let upstream = server.base.trim_start_matches("http://");
    let s3_host = s3_address.to_string();
    let recorder = Recorder::start(s3_address).await;
    let nginx = NginxServer::start(
        Template::shipped("nginx/handoff.conf")
            .fill("DL_UPSTREAM", upstream)
            // No folder store here: nothing is served from it.
            .fill("FILES", dir.path().to_str().unwrap())
            .fill("S3_ENDPOINT", recorder.address.to_string())
            .fill("S3_HOST", &s3_host),
    )
    .await;
    let minter = Minter::new(signing_key, shared::DEFAULT_ISSUER, "download", 120);
    let mint = || {
        minter
            .mint(
                "u1",
                &ObjectPath::parse("u1/annual report 100%.dat").unwrap(),
                None,
            )
            .unwrap()
            .token
    };
    let http = reqwest::Client::new();
    let token = mint();
    let url = nginx.url(&format!("/d/{token}"));

    // The client's credentials for this site must never reach the store: S3 would read an
    // Authorization header as a second signature and refuse the presigned GET.
    let response = http
        .get(&url)
        .header("authorization", "Bearer the-clients-own")
        .header("cookie", "session=the-clients-own")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200, "{}", nginx.error_log());
    let h = response.headers().clone();
    for (name, value) in [
        ("content-type", "application/vnd.test+data"),
        ("cache-control", "private, no-store"),
        ("content-length", "300000"),
    ] {
        let values: Vec<_> = h.get_all(name).iter().collect();
        assert_eq!(values, [value], "one {name}, the download server's: {h:?}");
    }
    let dispositions: Vec<_> = h.get_all("content-disposition").iter().collect();
    assert_eq!(
        dispositions,
        [
            "attachment; filename=\"annual report 100_.dat\"; filename*=UTF-8''annual%20report%20100%25.dat"
        ],
        "{h:?}"
    );
    let leaked: Vec<_> = h
        .keys()
        .map(reqwest::header::HeaderName::as_str)
        .filter(|name| name.starts_with("x-accel-") || name.starts_with("x-amz-"))
        .collect();
    assert!(leaked.is_empty(), "{leaked:?} reached the client");
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    let to_store = recorder.seen().to_ascii_lowercase();
    assert!(
        to_store.contains(&format!("\r\nhost: {s3_host}\r\n")),
        "the Host the URL was signed for: {to_store}"
    );
    assert!(!to_store.contains("the-clients-own"), "{to_store}");
    assert!(!to_store.contains("\r\nauthorization:"), "{to_store}");
    wait_for_logged(&nginx, 1).await;
    let again = http.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 410, "{}", nginx.access_log());

    // A range goes to the store with the presigned GET, and nginx passes its 206 on.
    let ranged = http
        .get(nginx.url(&format!("/d/{}", mint())))
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206, "{}", nginx.error_log());
    assert_eq!(ranged.headers()["content-range"], "bytes 1000-1999/300000");
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &body[1000..2000]);
}
