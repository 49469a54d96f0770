//! fiberlb's L4 TCP path (`fiberlb-server`, `protocol = "tcp"`): bytes
//! pass both ways intact, a half close travels through (a client may stop
//! sending and still read the answer), and large transfers do not grow
//! fiberlb's memory: the kernel moves them (splice).
//!
//! fiberlb on `.1:9000` of the test's loopback block, the TCP echo server
//! on `.2:9000`.

use md5::{Digest as _, Md5};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use e2e::Loopback;

/// A TCP echo server: every connection gets back what it sends, and is
/// closed once the client has closed its sending side and all is echoed.
async fn echo_server(addr: &str) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                let _ = write.shutdown().await;
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_pass_both_ways_intact_and_a_half_close_travels_through() {
    let net = Loopback::block();
    let echo = echo_server(&net.addr(2, 9000)).await;
    let config = format!(
        "[[standalone.loadbalancers]]\nname = \"tcp\"\nvip = \"{}\"\nport = 9000\nprotocol = \"tcp\"\n\
         [[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = 9000\n",
        net.ip(1),
        net.ip(2),
    );
    let (lb, _dir) = e2e::fiberlb::start(&net, &config);
    let before = e2e::peak_rss_mib(lb.pid());

    const SIZE: usize = 256 << 20;
    let chunk = e2e::s3::pattern(1 << 20, 9);
    let stream = tokio::net::TcpStream::connect(net.addr(1, 9000))
        .await
        .unwrap();
    let (mut read, mut write) = stream.into_split();
    let sender = tokio::spawn(async move {
        let mut md5 = Md5::new();
        for _ in 0..SIZE / chunk.len() {
            write.write_all(&chunk).await.unwrap();
            md5.update(&chunk);
        }
        // Done sending; the answer must still come back whole.
        write.shutdown().await.unwrap();
        hex::encode(md5.finalize())
    });
    let mut md5 = Md5::new();
    let mut received = 0usize;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = read.read(&mut buffer).await.unwrap();
        if n == 0 {
            break;
        }
        md5.update(&buffer[..n]);
        received += n;
    }
    let sent = sender.await.unwrap();
    assert_eq!(received, SIZE, "every byte came back, then the close");
    assert_eq!(hex::encode(md5.finalize()), sent);
    let after = e2e::peak_rss_mib(lb.pid());
    assert!(
        after < before + 32,
        "passing 2 x 256 MiB took fiberlb's peak memory from {before} MiB to {after} MiB"
    );
    echo.abort();
}
