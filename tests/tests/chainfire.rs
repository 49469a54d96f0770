//! chainfire driven by real etcd clients: the `etcd-client` crate (not our
//! code) and Debian's `etcdctl`.
//!
//! Each test holds its own loopback block (`e2e::Loopback`).

use std::time::Duration;

use e2e::Loopback;
use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, EventType, GetOptions, PutOptions, SortOrder,
    SortTarget, Txn, TxnOp, TxnOpResponse, WatchOptions,
};

/// The next response on a watch stream, within 10 s; the stream must stay open.
async fn next_response(stream: &mut etcd_client::WatchStream) -> etcd_client::WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a watch response in time")
        .expect("no stream error")
        .expect("the stream stays open")
}

fn grpc_error(e: etcd_client::Error) -> tonic::Status {
    match e {
        etcd_client::Error::GRpcStatus(status) => status,
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_client_crate_drives_kv_txn_compaction_and_errors() {
    let net = Loopback::block();
    let (_running, _state, endpoints) = e2e::etcd::deployment_up("chainfire-single", &net, 1).await;
    let mut client = Client::connect(&endpoints, None).await.unwrap();

    // Put, with the previous value back.
    let first = client.put("app/a", "1", None).await.unwrap();
    let r1 = first.header().unwrap().revision();
    let second = client
        .put("app/a", "2", Some(PutOptions::new().with_prev_key()))
        .await
        .unwrap();
    assert_eq!(second.prev_key().unwrap().value_str().unwrap(), "1");
    for key in ["app/b", "app/c", "other"] {
        client.put(key, key, None).await.unwrap();
    }

    // Get: one key, its versions, a prefix with limit and sort, a past revision.
    let a = client.get("app/a", None).await.unwrap();
    let kv = &a.kvs()[0];
    assert_eq!((kv.value_str().unwrap(), kv.version()), ("2", 2));
    assert_eq!(kv.create_revision(), r1);
    let page = client
        .get(
            "app/",
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_limit(2)
                    .with_sort(SortTarget::Key, SortOrder::Descend),
            ),
        )
        .await
        .unwrap();
    let keys: Vec<&str> = page.kvs().iter().map(|kv| kv.key_str().unwrap()).collect();
    assert_eq!(keys, ["app/c", "app/b"]);
    assert!(page.more());
    assert_eq!(page.count(), 3);
    let then = client
        .get("app/a", Some(GetOptions::new().with_revision(r1)))
        .await
        .unwrap();
    assert_eq!(then.kvs()[0].value_str().unwrap(), "1");
    let everything = client
        .get(
            "\0",
            Some(GetOptions::new().with_from_key().with_count_only()),
        )
        .await
        .unwrap();
    assert_eq!(everything.count(), 4);
    let serializable = client
        .get(
            "other",
            Some(GetOptions::new().with_serializable().with_keys_only()),
        )
        .await
        .unwrap();
    assert_eq!(serializable.kvs()[0].value(), b"");

    // Txn: compare-and-swap, and the failure branch.
    let swap = Txn::new()
        .when([Compare::value("app/a", CompareOp::Equal, "2")])
        .and_then([TxnOp::put("app/a", "3", None), TxnOp::get("app/a", None)])
        .or_else([TxnOp::get("app/a", None)]);
    let done = client.txn(swap.clone()).await.unwrap();
    assert!(done.succeeded());
    match &done.op_responses()[1] {
        TxnOpResponse::Get(get) => assert_eq!(get.kvs()[0].value_str().unwrap(), "3"),
        other => panic!("expected a get response, got {other:?}"),
    }
    assert!(!client.txn(swap).await.unwrap().succeeded());

    // Delete a prefix, with the old values.
    let deleted = client
        .delete(
            "app/",
            Some(DeleteOptions::new().with_prefix().with_prev_key()),
        )
        .await
        .unwrap();
    assert_eq!(deleted.deleted(), 3);
    assert_eq!(deleted.prev_kvs().len(), 3);

    // Compaction, then the errors etcd gives.
    let now = client
        .get("other", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    client.compact(now, None).await.unwrap();
    let compacted = grpc_error(
        client
            .get("app/a", Some(GetOptions::new().with_revision(r1)))
            .await
            .unwrap_err(),
    );
    assert_eq!(compacted.code(), tonic::Code::OutOfRange);
    assert_eq!(
        compacted.message(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    let future = grpc_error(
        client
            .get("other", Some(GetOptions::new().with_revision(now + 100)))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        future.message(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    let too_large = grpc_error(
        client
            .put("big", vec![b'x'; 2 * 1024 * 1024], None)
            .await
            .unwrap_err(),
    );
    assert!(
        too_large.message().contains("too large")
            || too_large.code() == tonic::Code::ResourceExhausted,
        "{too_large:?}"
    );
    let big_but_allowed = client.put("big", vec![b'x'; 1024 * 1024], None).await;
    assert!(
        big_but_allowed.is_ok(),
        "a 1 MiB value is within etcd's limit"
    );
    let empty = grpc_error(client.put("", "v", None).await.unwrap_err());
    assert_eq!(empty.message(), "etcdserver: key is not provided");

    // The server is still serving after all of that.
    assert_eq!(
        client.get("other", None).await.unwrap().kvs()[0]
            .value_str()
            .unwrap(),
        "other"
    );
    let members = client.member_list().await.unwrap();
    assert_eq!(members.members().len(), 1);
    assert_eq!(members.members()[0].name(), "kv");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_replay_history_stream_changes_and_cancel() {
    let net = Loopback::block();
    let (_running, _state, endpoints) = e2e::etcd::deployment_up("chainfire-single", &net, 1).await;
    let mut client = Client::connect(&endpoints, None).await.unwrap();
    let start = client
        .put("w/1", "a", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    client.put("w/1", "b", None).await.unwrap();
    client.put("elsewhere", "x", None).await.unwrap();

    let mut stream = client
        .watch(
            "w/",
            Some(
                WatchOptions::new()
                    .with_prefix()
                    .with_start_revision(start)
                    .with_prev_key(),
            ),
        )
        .await
        .unwrap();
    let created = next_response(&mut stream).await;
    assert!(created.created());
    let watch_id = created.watch_id();
    let mut seen: Vec<(EventType, String, i64, Option<String>)> = Vec::new();
    client.delete("w/1", None).await.unwrap();
    client.put("w/2", "c", None).await.unwrap();
    while seen.len() < 4 {
        let response = next_response(&mut stream).await;
        for event in response.events() {
            let kv = event.kv().unwrap();
            seen.push((
                event.event_type(),
                kv.key_str().unwrap().to_owned(),
                kv.mod_revision(),
                event.prev_kv().map(|p| p.value_str().unwrap().to_owned()),
            ));
        }
    }
    let kinds: Vec<(EventType, &str, Option<&str>)> = seen
        .iter()
        .map(|(t, k, _, p)| (*t, k.as_str(), p.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventType::Put, "w/1", None),
            (EventType::Put, "w/1", Some("a")),
            (EventType::Delete, "w/1", Some("b")),
            (EventType::Put, "w/2", None),
        ]
    );
    let revisions: Vec<i64> = seen.iter().map(|s| s.2).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");

    // A progress request is answered with the current revision, for no
    // watcher in particular (watch id -1, as etcd does).
    stream.request_progress().await.unwrap();
    let progress = next_response(&mut stream).await;
    assert_eq!(progress.watch_id(), -1);
    assert!(progress.events().is_empty());
    assert!(progress.header().unwrap().revision() >= revisions[3]);

    stream.cancel(watch_id).await.unwrap();
    let canceled = next_response(&mut stream).await;
    assert!(canceled.canceled());

    // A watch from a compacted revision is refused with the compact revision.
    let now = client
        .put("w/3", "d", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    client.compact(now, None).await.unwrap();
    let mut stream = client
        .watch(
            "w/",
            Some(WatchOptions::new().with_prefix().with_start_revision(start)),
        )
        .await
        .unwrap();
    let refused = loop {
        let response = next_response(&mut stream).await;
        if response.canceled() {
            break response;
        }
    };
    assert_eq!(refused.compact_revision(), now);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_interop_script_passes_against_a_three_member_cluster() {
    let net = Loopback::block();
    let (mut running, _state, endpoints) =
        e2e::etcd::deployment_up("chainfire-cluster", &net, 3).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/interop/etcdctl.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .arg(endpoints.join(","))
        .output()
        .await
        .expect("bash runs");
    assert!(
        out.status.success(),
        "interop script failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        running.log()
    );
    // A normal start, election and stop is nothing to alarm an operator
    // with: members that are still starting are retried within the
    // election timeout, openraft's routine election chatter is held below
    // warn, and a clean stop is no transport error. (A heartbeat that times
    // out on a loaded machine is still reported: that one is real.)
    running.signal("INT");
    let (status, _) = running.wait(Duration::from_secs(20));
    assert!(status.success(), "{}", running.log());
    let alarming: Vec<String> = [
        "while requesting vote",
        "Connection refused",
        "vote changed",
        "seen a higher vote",
        "GoAway",
    ]
    .into_iter()
    .flat_map(|routine| running.lines_with(routine))
    .collect();
    assert!(
        alarming.is_empty(),
        "a clean run logged:\n{}",
        alarming.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_keep_keys_alive_and_expiry_deletes_them() {
    let net = Loopback::block();
    let (_running, _state, endpoints) = e2e::etcd::deployment_up("chainfire-single", &net, 1).await;
    let mut client = Client::connect(&endpoints, None).await.unwrap();

    // A short lease (raised to the minimum TTL) that nobody keeps alive.
    let short = client.lease_grant(1, None).await.unwrap();
    assert_eq!(
        short.ttl(),
        2,
        "a TTL below the minimum (2 s, as etcd) is raised"
    );
    client
        .put(
            "lease/short",
            "x",
            Some(PutOptions::new().with_lease(short.id())),
        )
        .await
        .unwrap();
    let mut watch = client.watch("lease/short", None).await.unwrap();

    // A lease kept alive across the same time.
    let kept = client.lease_grant(3, None).await.unwrap();
    client
        .put(
            "lease/kept",
            "y",
            Some(PutOptions::new().with_lease(kept.id())),
        )
        .await
        .unwrap();
    let (mut keeper, mut responses) = client.lease_keep_alive(kept.id()).await.unwrap();

    let ttl = client
        .lease_time_to_live(
            kept.id(),
            Some(etcd_client::LeaseTimeToLiveOptions::new().with_keys()),
        )
        .await
        .unwrap();
    assert_eq!(ttl.granted_ttl(), 3);
    assert!(ttl.ttl() > 0 && ttl.ttl() <= 3, "{}", ttl.ttl());
    assert_eq!(ttl.keys(), [b"lease/kept".to_vec()]);
    let ids: Vec<i64> = client
        .leases()
        .await
        .unwrap()
        .leases()
        .iter()
        .map(|l| l.id())
        .collect();
    assert!(
        ids.contains(&short.id()) && ids.contains(&kept.id()),
        "{ids:?}"
    );

    // Keep `kept` alive for five seconds; `short` expires meanwhile.
    for _ in 0..10 {
        keeper.keep_alive().await.unwrap();
        let renewed = tokio::time::timeout(Duration::from_secs(5), responses.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(renewed.ttl(), 3);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        client
            .get("lease/short", None)
            .await
            .unwrap()
            .kvs()
            .is_empty(),
        "the expired lease's key is gone"
    );
    assert_eq!(client.get("lease/kept", None).await.unwrap().kvs().len(), 1);
    // Watchers saw the expiry as a delete.
    let deleted = loop {
        let response = next_response(&mut watch).await;
        if let Some(event) = response.events().first() {
            break event.event_type();
        }
    };
    assert_eq!(deleted, EventType::Delete);
    let gone = client.lease_time_to_live(short.id(), None).await.unwrap();
    assert_eq!(gone.ttl(), -1);

    // Revoke deletes at once; revoking again is etcd's "not found".
    client.lease_revoke(kept.id()).await.unwrap();
    assert!(
        client
            .get("lease/kept", None)
            .await
            .unwrap()
            .kvs()
            .is_empty()
    );
    let again = grpc_error(client.lease_revoke(kept.id()).await.unwrap_err());
    assert_eq!(again.code(), tonic::Code::NotFound);
    assert_eq!(again.message(), "etcdserver: requested lease not found");
    let unknown = grpc_error(
        client
            .put("lease/x", "z", Some(PutOptions::new().with_lease(12345)))
            .await
            .unwrap_err(),
    );
    assert_eq!(unknown.message(), "etcdserver: requested lease not found");
}

/// A `tonic` codec that sends raw bytes and reads raw bytes, to put
/// messages on the wire that are not valid etcd protobuf.
#[derive(Debug, Clone, Default)]
struct RawCodec;

#[derive(Debug, Clone, Default)]
struct RawCoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

impl tonic::codec::Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf as _;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_wire_gets_an_error_and_the_server_keeps_serving() {
    let net = Loopback::block();
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (running, _state, endpoints) = e2e::etcd::deployment_up("chainfire-single", &net, 1).await;

    // Bytes that are not HTTP/2 at all.
    let mut raw = tokio::net::TcpStream::connect(&endpoints[0]).await.unwrap();
    raw.write_all(b"GET / HTTP/1.0\r\n\r\n\x00\xff\x13garbage")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut sink)).await;

    // The HTTP/2 preface, then a truncated frame.
    let mut truncated = tokio::net::TcpStream::connect(&endpoints[0]).await.unwrap();
    truncated
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x40\x01\x04")
        .await
        .unwrap();
    drop(truncated);

    // A well-formed gRPC call whose body is not a RangeRequest.
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", endpoints[0]))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static("/etcdserverpb.KV/Range");
    let refused = grpc
        .unary(
            tonic::Request::new(vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
            path,
            RawCodec,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused.code(),
            tonic::Code::Internal | tonic::Code::InvalidArgument
        ),
        "{refused:?}"
    );

    // A range whose end sorts before its start matches nothing.
    let mut client = Client::connect(&endpoints, None).await.unwrap();
    client.put("b", "1", None).await.unwrap();
    let backwards = client
        .get("b", Some(GetOptions::new().with_range("a")))
        .await
        .unwrap();
    assert!(backwards.kvs().is_empty());

    // Still serving.
    assert_eq!(
        client.get("b", None).await.unwrap().kvs()[0]
            .value_str()
            .unwrap(),
        "1",
        "log:\n{}",
        running.log()
    );
}

#[test]
fn plan_lists_the_compiled_initial_cluster() {
    let out = e2e::output("chainfire-cluster", &["plan"]);
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{plan}");
    assert!(
        plan.contains("clusters (initial members, compiled in):"),
        "{plan}"
    );
    assert!(plan.contains("  chainfire: kv-1, kv-2, kv-3"), "{plan}");
    let json = e2e::output("chainfire-cluster", &["plan", "--format", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        value["clusters"],
        serde_json::json!([{"name": "chainfire", "members": ["kv-1", "kv-2", "kv-3"]}])
    );
}
