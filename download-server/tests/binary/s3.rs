//! The download server against a real S3-compatible server (s3s-fs, installed by scripts/test),
//! configured the way operators do it: `--store s3://bucket/prefix` plus AWS_* variables.

use crate::support::{Binary, keys};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions};
use shared::{Minter, ObjectPath};
use std::process::{Command, Stdio};
use std::time::Duration;
use test_support::procs::wait_for_port;
use test_support::{ChildGuard, free_port};

const ACCESS_KEY: &str = "AKIATESTKEY";
const SECRET_KEY: &str = "test-secret-key";
const BUCKET: &str = "downloads";

fn s3s_fs_binary() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("S3S_FS") {
        return path.into();
    }
    let home = std::env::var("CARGO_HOME").map_or_else(
        |_| std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"),
        std::path::PathBuf::from,
    );
    let candidate = home.join("bin/s3s-fs");
    assert!(
        candidate.exists(),
        "s3s-fs is not installed: run ./scripts/test (it installs s3s-fs 0.14.1) or \
         `cargo install s3s-fs --version 0.14.1 --features binary --locked`"
    );
    candidate
}

/// Starts s3s-fs serving `root` on `port`, and waits (bounded) until it listens.
async fn start_s3(root: &std::path::Path, port: u16) -> ChildGuard {
    let process = ChildGuard(
        Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, Duration::from_secs(30)).await;
    process
}

#[tokio::test]
async fn objects_on_s3_are_served_once_with_ranges_and_their_stored_type() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("s3");
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let port = free_port();
    let s3 = start_s3(&root, port).await;
    let endpoint = format!("http://127.0.0.1:{port}");

    // Upload the way the app server would: under a prefix, with a content type.
    let client = AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 239) as u8).collect();
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, "application/vnd.test+data".into());
    client
        .put_opts(
            &Path::parse("tenant/u1/report.dat").unwrap(),
            body.clone().into(),
            PutOptions {
                attributes,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let (key, jwks) = keys(dir.path());
    let env = [
        ("DL_STORE", "s3://downloads/tenant"),
        ("DL_JWKS", jwks.to_str().unwrap()),
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    let server = Binary::start(&env).await;
    let base = &server.base;
    let minter = Minter::new(key, shared::DEFAULT_ISSUER, "download", 120);
    let mint = |obj: &str| {
        minter
            .mint("u1", &ObjectPath::parse(obj).unwrap(), None)
            .unwrap()
            .token
    };
    let http = reqwest::Client::new();

    // Whole object, with the type S3 stored.
    let token = mint("u1/report.dat");
    let head = http.head(format!("{base}/d/{token}")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "200000");
    let response = http.get(format!("{base}/d/{token}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.test+data"
    );
    assert!(response.headers().contains_key("etag"));
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    assert_eq!(
        http.get(format!("{base}/d/{token}"))
            .send()
            .await
            .unwrap()
            .status(),
        410
    );

    // A range.
    let ranged = http
        .get(format!("{base}/d/{}", mint("u1/report.dat")))
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(ranged.headers()["content-range"], "bytes 1000-1999/200000");
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &body[1000..2000]);

    // Missing object: 404, and the prefix keeps other keys of the bucket out of reach.
    client
        .put(
            &Path::parse("outside.txt").unwrap(),
            b"not under the prefix".to_vec().into(),
        )
        .await
        .unwrap();
    assert_eq!(
        http.get(format!("{base}/d/{}", mint("nothing/here")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{base}/d/{}", mint("outside.txt")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Storage down: fail with 503 + Retry-After, never consume; back up: the same token works.
    let token = mint("u1/report.dat");
    drop(s3);
    let down = http.get(format!("{base}/d/{token}")).send().await.unwrap();
    assert_eq!(down.status(), 503);
    assert!(down.headers().contains_key("retry-after"));
    let _s3 = start_s3(&root, port).await;
    let up = http.get(format!("{base}/d/{token}")).send().await.unwrap();
    assert_eq!(up.status(), 200);
    assert_eq!(up.bytes().await.unwrap().len(), body.len());
}
