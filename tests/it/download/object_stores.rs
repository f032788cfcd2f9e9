//! Stores other than a local folder take the generic path: a metadata probe, then one ranged GET
//! pinned to the probed ETag.

use integration_tests::DownloadServer;
use object_store::ObjectStoreExt;
use object_store::path::Path;

async fn memory_server_with(obj: &str, bytes: &[u8]) -> DownloadServer {
    let server = DownloadServer::spawn_with(|c| c.store = "memory:///".into()).await;
    server
        .state
        .objects()
        .put(&Path::parse(obj).unwrap(), bytes.to_vec().into())
        .await
        .unwrap();
    server
}

#[tokio::test]
async fn a_memory_store_serves_whole_objects_once() {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let server = memory_server_with("m/obj.csv", &body).await;
    let token = server.mint("m/obj.csv");

    let head = server.head(&token).await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["content-length"], "300000");

    let response = server.get(&token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv");
    assert_eq!(response.bytes().await.unwrap().as_ref(), body.as_slice());
    assert_eq!(server.get(&token).await.status(), 410);
}

#[tokio::test]
async fn a_memory_store_serves_exact_ranges() {
    let body: Vec<u8> = (0..5000u32).map(|i| (i % 199) as u8).collect();
    let server = memory_server_with("r.bin", &body).await;

    let response = server
        .client
        .get(server.url(&server.mint("r.bin")))
        .header("range", "bytes=-1000")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 4000-4999/5000");
    assert_eq!(response.bytes().await.unwrap().as_ref(), &body[4000..]);
}

#[tokio::test]
async fn a_missing_object_in_a_memory_store_is_404_and_not_consumed() {
    let server = DownloadServer::spawn_with(|c| c.store = "memory:///".into()).await;
    let token = server.mint("not/yet");
    assert_eq!(server.get(&token).await.status(), 404);
    server
        .state
        .objects()
        .put(&Path::parse("not/yet").unwrap(), b"now".to_vec().into())
        .await
        .unwrap();
    assert_eq!(server.get(&token).await.status(), 200);
}
