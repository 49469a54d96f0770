//! A 5 GiB object goes through lightningstor in a bounded amount of memory:
//! bodies are streamed to disk on the way in and from disk on the way out.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use e2e::Loopback;
use e2e::s3::{client, up};
use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const OBJECT: u64 = 5 << 30;
const CHUNK: usize = 1 << 20;
/// The most the server may hold at its peak (resident set), whatever the
/// object size.
const PEAK_LIMIT_MIB: u64 = 256;

/// The object's bytes at `offset`: cheap to make, different per chunk.
fn chunk(index: u64) -> Vec<u8> {
    let mut bytes = vec![(index % 251) as u8; CHUNK];
    bytes[..8].copy_from_slice(&index.to_le_bytes());
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5_gib_object_streams_in_and_out_in_bounded_memory() {
    let net = Loopback::block();
    let store = up(&net).await;
    let s3 = client(&store);
    s3.create_bucket().bucket("big").send().await.unwrap();
    let pid = store.running.pid();
    let before = e2e::peak_rss_mib(pid);

    // PUT through a presigned URL, the body written to the socket a chunk
    // at a time: the client never holds the object either.
    let url = s3
        .put_object()
        .bucket("big")
        .key("five-gib")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(3600)).unwrap())
        .await
        .unwrap();
    let rest = url.uri().strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {OBJECT}\r\nConnection: close\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut md5 = Md5::new();
    for index in 0..OBJECT / CHUNK as u64 {
        let bytes = chunk(index);
        md5.update(&bytes);
        socket.write_all(&bytes).await.unwrap();
    }
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let md5 = hex::encode(md5.finalize());
    let after_put = e2e::peak_rss_mib(pid);

    let head = s3
        .head_object()
        .bucket("big")
        .key("five-gib")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(OBJECT as i64));
    assert_eq!(head.e_tag(), Some(format!("\"{md5}\"").as_str()));

    // GET it all back, streaming, and check every chunk.
    let mut body = s3
        .get_object()
        .bucket("big")
        .key("five-gib")
        .send()
        .await
        .unwrap()
        .body
        .into_async_read();
    let mut buffer = vec![0u8; CHUNK];
    for index in 0..OBJECT / CHUNK as u64 {
        body.read_exact(&mut buffer).await.unwrap();
        assert!(buffer == chunk(index), "chunk {index} differs");
    }
    assert_eq!(body.read(&mut buffer).await.unwrap(), 0);
    let after_get = e2e::peak_rss_mib(pid);

    eprintln!(
        "server peak RSS: {before} MiB at start, {after_put} MiB after PUT, {after_get} MiB after GET"
    );
    assert!(
        after_get < PEAK_LIMIT_MIB,
        "a 5 GiB object took the server to {after_get} MiB resident (limit {PEAK_LIMIT_MIB})"
    );
}
