//! flashdns's zone store over the etcd v3 API (`store::chainfire`): the
//! same conformance suite `FileStore` passes in flashdns's own tests, run
//! against a real `chainfire-server` and against Debian's etcd, the
//! reference.

use std::sync::Arc;

use e2e::Loopback;
use flashdns::store::chainfire::{ChainfireStore, cluster_prefix};
use flashdns::store::conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_in_chainfire_keep_the_zone_store_promises() {
    let net = Loopback::block();
    let dir = tempfile::tempdir().unwrap();
    let _chainfire = e2e::etcd::chainfire_server(&net, 1, dir.path()).await;
    let client = etcd_client::Client::connect([net.addr(1, 2379)], None)
        .await
        .unwrap();
    let store = ChainfireStore::new(client, cluster_prefix("conformance"));
    conformance::run(Arc::new(store), "chainfire.test").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_in_etcd_keep_them_too() {
    let net = Loopback::block();
    let etcd = e2e::etcd::Etcd::start(&net, 1).await;
    let client = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    let store = ChainfireStore::new(client, cluster_prefix("conformance"));
    conformance::run(Arc::new(store), "etcd.test").await;
}
