//! lightningstor's metadata over the etcd v3 API (`store::chainfire`): the
//! same conformance suite the RocksDB backend passes in lightningstor's own
//! tests, run against a real `chainfire-server`, against Debian's etcd (the
//! reference), and against a three-member chainfire cluster whose leader is
//! killed mid-suite.

use std::sync::Arc;

use e2e::Loopback;
use lightningstor::store::chainfire::{ChainfireMeta, instance_prefix};
use lightningstor::store::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_in_chainfire_keeps_the_metadata_store_promises() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let client = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let meta = ChainfireMeta::new(client, instance_prefix("conformance", "storage"));
    conformance::run(Arc::new(meta), "chainfire").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_in_etcd_keeps_them_too() {
    let net = Loopback::block();
    let etcd = e2e::etcd::Etcd::start(&net, 1).await;
    let client = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    let meta = ChainfireMeta::new(client, instance_prefix("conformance", "storage"));
    conformance::run(Arc::new(meta), "etcd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_in_a_chainfire_cluster_keeps_them_with_its_leader_killed_mid_suite() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let mut cluster = e2e::etcd::LeaderToKill::start(&net.to_string(), state.path()).await;
    let meta = ChainfireMeta::new(
        cluster.client().await,
        instance_prefix("conformance", "storage"),
    );
    conformance::run_with(Arc::new(meta), "cluster", |case| {
        // After the first writes: the rest of the suite (the concurrent
        // writers, the races, multipart) runs while the two members left
        // elect a leader and after.
        if case == "objects" {
            cluster.kill_leader();
        }
    })
    .await;
    assert!(cluster.killed());
}
