//! Periodic progress notifications, which a deployment sends only every
//! ten minutes (etcd's default), at a test-sized interval: a quiet watcher
//! that asked for them hears the current revision on each tick, a watcher
//! that did not ask hears nothing, and no notification claims a revision
//! whose events were not sent yet.

use std::collections::BTreeMap;
use std::time::Duration;

use chainfire::api::WatchService;
use chainfire::member::{Member, MemberAddrs, MemberConfig};
use chainfire::proto::etcdserverpb::kv_server::KvServer;
use chainfire::proto::etcdserverpb::watch_server::WatchServer;
use etcd_client::{Client, WatchOptions, WatchResponse, WatchStream};
use tokio::net::TcpListener;

const TICK: Duration = Duration::from_millis(400);

async fn next(stream: &mut WatchStream) -> Option<WatchResponse> {
    tokio::time::timeout(TICK * 3, stream.message())
        .await
        .ok()
        .map(|r| r.unwrap().expect("stream open"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_watchers_that_asked_get_progress_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let member = Member::start(MemberConfig {
        name: "progress".into(),
        data_dir: dir.path().join("progress"),
        members: BTreeMap::from([(
            "progress".to_owned(),
            MemberAddrs {
                peer: addr.clone(),
                client: addr.clone(),
            },
        )]),
        snapshot_count: chainfire::Limits::DEFAULT.snapshot_count.into(),
        presenting: Default::default(),
    })
    .await
    .unwrap();
    let server = {
        let member = member.clone();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(KvServer::new(chainfire::api::KvService::new(
                    member.clone(),
                    chainfire::Limits::DEFAULT,
                )))
                .add_service(WatchServer::new(WatchService::with_progress_interval(
                    member, TICK,
                )))
                .serve_with_incoming(chainfire::api::incoming(listener))
                .await
                .unwrap();
        })
    };
    let mut client = Client::connect([format!("http://{addr}")], None)
        .await
        .unwrap();
    let revision = client
        .put("p/a", "1", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();

    let mut asked = client
        .watch(
            "p/",
            Some(WatchOptions::new().with_prefix().with_progress_notify()),
        )
        .await
        .unwrap();
    let created = next(&mut asked).await.expect("created");
    assert!(created.created());
    let id = created.watch_id();
    let mut silent = client
        .watch("p/", Some(WatchOptions::new().with_prefix()))
        .await
        .unwrap();
    assert!(next(&mut silent).await.expect("created").created());

    // Two quiet ticks: two notifications, no events, the current revision.
    for _ in 0..2 {
        let progress = next(&mut asked).await.expect("a progress notification");
        assert_eq!(progress.watch_id(), id);
        assert!(progress.events().is_empty());
        assert_eq!(progress.header().unwrap().revision(), revision);
    }
    assert!(next(&mut silent).await.is_none(), "not asked, not sent");

    // An event. No notification may claim its revision before the event
    // itself was sent; after it, notifications carry the new revision.
    let written = client
        .put("p/b", "2", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    let event = loop {
        let message = next(&mut asked).await.expect("the event");
        if !message.events().is_empty() {
            break message;
        }
        assert!(message.header().unwrap().revision() < written);
    };
    assert_eq!(event.events().len(), 1);
    let progress = next(&mut asked)
        .await
        .expect("a later progress notification");
    assert!(progress.events().is_empty());
    assert_eq!(progress.header().unwrap().revision(), written);
    let started = tokio::time::Instant::now();
    let again = next(&mut asked).await.expect("another tick");
    assert!(again.events().is_empty());
    assert!(started.elapsed() >= TICK / 2, "ticks are an interval apart");

    server.abort();
    member.shutdown().await;
}
