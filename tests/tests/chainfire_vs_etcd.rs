//! chainfire and etcd 3.4 side by side: the same requests, from the same
//! clients (the `etcd-client` crate, and raw HTTP/2 for what a client that
//! decodes does not show), to a `chainfire-single` deployment and to
//! Debian's etcd, each on a fresh store; the answers must agree.
//!
//! Each test holds its own loopback block (`e2e::Loopback`): chainfire on
//! `.1`, etcd on `.200`.

use e2e::Loopback;
use e2e::etcd::{Etcd, deployment_up};
use e2e::grpc::{RawAnswer, call, frame};
use etcd_client::{Client, DeleteOptions, GetOptions, Txn, TxnOp, TxnOpResponse};

/// Both servers, fresh, and a client of each (chainfire's first).
struct Side {
    _chainfire: (e2e::Running, tempfile::TempDir),
    _etcd: Etcd,
    endpoints: [String; 2],
}

impl Side {
    async fn start(net: &Loopback) -> Side {
        let (running, state, endpoints) = deployment_up("chainfire-single", net, 1).await;
        let etcd = Etcd::start(net, 200).await;
        let endpoints = [endpoints[0].clone(), etcd.endpoint().to_owned()];
        Side {
            _chainfire: (running, state),
            _etcd: etcd,
            endpoints,
        }
    }

    async fn clients(&self) -> [Client; 2] {
        let [a, b] = &self.endpoints;
        [
            Client::connect([a], None).await.unwrap(),
            Client::connect([b], None).await.unwrap(),
        ]
    }
}

/// The same `what` asked of both; panics naming it if the answers differ.
fn agree<T: PartialEq + std::fmt::Debug>(what: &str, [chainfire, etcd]: [T; 2]) -> T {
    assert_eq!(
        chainfire, etcd,
        "{what}: chainfire (left) and etcd (right) differ"
    );
    etcd
}

fn status(e: etcd_client::Error) -> (tonic::Code, String) {
    match e {
        etcd_client::Error::GRpcStatus(status) => (status.code(), status.message().to_owned()),
        other => panic!("not a gRPC status: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ranges_count_is_of_the_keys_before_the_revision_filters() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let mut answers = Vec::new();
    for mut client in side.clients().await {
        // Seven keys, one per revision (2..=8); k2 and k5 written again (9, 10).
        for i in 1..=7 {
            client.put(format!("k{i}"), "v", None).await.unwrap();
        }
        client.put("k2", "w", None).await.unwrap();
        client.put("k5", "w", None).await.unwrap();
        let mut seen = Vec::new();
        for options in [
            GetOptions::new().with_prefix().with_min_mod_revision(6),
            GetOptions::new().with_prefix().with_max_mod_revision(4),
            GetOptions::new().with_prefix().with_min_create_revision(5),
            GetOptions::new().with_prefix().with_max_create_revision(3),
            GetOptions::new()
                .with_prefix()
                .with_min_mod_revision(6)
                .with_limit(2),
            GetOptions::new()
                .with_prefix()
                .with_min_mod_revision(6)
                .with_count_only(),
        ] {
            let got = client.get("k", Some(options)).await.unwrap();
            let keys: Vec<String> = got
                .kvs()
                .iter()
                .map(|kv| kv.key_str().unwrap().to_owned())
                .collect();
            seen.push((got.count(), keys, got.more()));
        }
        answers.push(seen);
    }
    let [chainfire, etcd]: [_; 2] = answers.try_into().unwrap();
    let agreed = agree("ranges with revision filters", [chainfire, etcd]);
    assert_eq!(agreed[0].0, 7, "every key in the range is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_in_a_txn_carries_the_revision_it_saw() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let mut answers = Vec::new();
    for mut client in side.clients().await {
        client.put("a", "1", None).await.unwrap();
        let txn = Txn::new().and_then([
            TxnOp::get("a", None),
            TxnOp::delete("missing", None),
            TxnOp::put("b", "2", None),
            TxnOp::get("a", None),
            TxnOp::delete("a", None),
            TxnOp::txn(Txn::new().and_then([TxnOp::get("b", None)])),
        ]);
        let response = client.txn(txn).await.unwrap();
        let outer = response.header().unwrap().revision();
        let revisions: Vec<(&str, Option<i64>)> = response
            .op_responses()
            .iter()
            .map(|op| match op {
                TxnOpResponse::Get(r) => ("get", r.header().map(|h| h.revision())),
                TxnOpResponse::Put(r) => ("put", r.header().map(|h| h.revision())),
                TxnOpResponse::Delete(r) => ("delete", r.header().map(|h| h.revision())),
                TxnOpResponse::Txn(r) => ("txn", r.header().map(|h| h.revision())),
            })
            .collect();
        let nested = match &response.op_responses()[5] {
            TxnOpResponse::Txn(nested) => match &nested.op_responses()[0] {
                TxnOpResponse::Get(r) => r.header().map(|h| h.revision()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        answers.push((outer, revisions, nested));
    }
    let [chainfire, etcd]: [_; 2] = answers.try_into().unwrap();
    let (outer, revisions, _) = agree("the headers inside a txn", [chainfire, etcd]);
    assert_eq!(
        revisions[0],
        ("get", Some(outer - 1)),
        "a read before any change sees the revision before"
    );
    assert_eq!(revisions[2], ("put", Some(outer)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_over_128_operations_is_refused_as_etcd_refuses_it() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let puts = |n: usize| -> Vec<TxnOp> {
        (0..n)
            .map(|i| TxnOp::put(format!("op/{i}"), "v", None))
            .collect()
    };
    let mut answers = Vec::new();
    for mut client in side.clients().await {
        let at_limit = client.txn(Txn::new().and_then(puts(128))).await.is_ok();
        let over = client
            .txn(Txn::new().and_then(puts(129)))
            .await
            .map(|_| ())
            .map_err(status);
        // The nested transaction counts against what its parent leaves
        // (128 - 2), so 127 inside two is too many.
        let nested = client
            .txn(Txn::new().and_then([
                TxnOp::get("op/0", None),
                TxnOp::txn(Txn::new().and_then(puts(127))),
            ]))
            .await
            .map(|_| ())
            .map_err(status);
        let applied = client
            .get(
                "op/",
                Some(GetOptions::new().with_prefix().with_count_only()),
            )
            .await
            .unwrap()
            .count();
        answers.push((at_limit, over, nested, applied));
    }
    let [chainfire, etcd]: [_; 2] = answers.try_into().unwrap();
    let (at_limit, over, _, applied) =
        agree("transactions at and over the limit", [chainfire, etcd]);
    assert!(at_limit);
    assert_eq!(
        over,
        Err((
            tonic::Code::InvalidArgument,
            "etcdserver: too many operations in txn request".to_owned()
        ))
    );
    assert_eq!(applied, 128, "nothing of a refused transaction is applied");
}

/// What one transaction may write, as etcd rules it: a key put twice, or
/// put inside a range the transaction deletes, is a duplicate (nested
/// transactions included); the two branches of a nested transaction may
/// put one key, and deletes may overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_writing_one_key_twice_is_refused_as_etcd_refuses_it() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let put = |key: &str| TxnOp::put(key, "v", None);
    let delete = |key: &str, prefix: bool| {
        TxnOp::delete(key, prefix.then(|| DeleteOptions::new().with_prefix()))
    };
    let cases = || {
        vec![
            Txn::new().and_then([put("d/1"), put("d/1")]),
            Txn::new().and_then([put("d/1"), delete("d/1", false)]),
            Txn::new().and_then([delete("d/", true), put("d/1")]),
            Txn::new().and_then([
                delete("d/", true),
                TxnOp::txn(Txn::new().and_then([put("d/1")])),
            ]),
            Txn::new().and_then([
                TxnOp::txn(Txn::new().or_else([delete("d/1", false)])),
                put("d/1"),
            ]),
            Txn::new().and_then([TxnOp::txn(
                Txn::new().and_then([put("d/2")]).or_else([put("d/2")]),
            )]),
            Txn::new().and_then([delete("d/", true), delete("d/2", false)]),
            Txn::new()
                .and_then([put("d/3")])
                .or_else([delete("d/3", false)]),
        ]
    };
    let mut answers = Vec::new();
    for mut client in side.clients().await {
        let mut outcomes = Vec::new();
        for txn in cases() {
            outcomes.push(client.txn(txn).await.map(|_| ()).map_err(status));
        }
        answers.push(outcomes);
    }
    let outcomes = agree(
        "transactions writing one key twice",
        answers.try_into().unwrap(),
    );
    let duplicate = Err((
        tonic::Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request".to_owned(),
    ));
    assert_eq!(outcomes[..5], vec![duplicate; 5][..]);
    assert_eq!(outcomes[5..], [Ok(()), Ok(()), Ok(())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lease_is_raised_to_the_same_minimum() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let mut answers = Vec::new();
    for mut client in side.clients().await {
        let mut granted = Vec::new();
        for ttl in [1, 2, 3] {
            granted.push(client.lease_grant(ttl, None).await.unwrap().ttl());
        }
        answers.push(granted);
    }
    let [chainfire, etcd]: [_; 2] = answers.try_into().unwrap();
    assert_eq!(agree("granted TTLs", [chainfire, etcd]), [2, 2, 3]);
}

/// A `RangeRequest` for key `a` at `revision`, in protobuf: field 1
/// (`key`, bytes) and field 4 (`revision`, varint).
fn range_at(revision: u8) -> Vec<u8> {
    assert!(revision < 0x80, "one varint byte");
    vec![0x0a, 0x01, b'a', 0x20, revision]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_text_on_the_wire_is_the_text_etcd_sends() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let mut answers = Vec::new();
    for endpoint in &side.endpoints {
        answers.push(call(endpoint, "/etcdserverpb.KV/Range", frame(&range_at(100))).await);
    }
    let [chainfire, etcd]: [RawAnswer; 2] = answers.try_into().unwrap();
    let agreed = agree("a range at a future revision", [chainfire, etcd]);
    assert_eq!(
        agreed.message_text(),
        "etcdserver: mvcc: required revision is a future revision"
    );
    // A transaction with one empty operation (`success`, field 2, holding
    // a `RequestOp` with nothing set).
    let mut answers = Vec::new();
    for endpoint in &side.endpoints {
        answers.push(call(endpoint, "/etcdserverpb.KV/Txn", frame(&[0x12, 0x00])).await);
    }
    let [chainfire, etcd]: [RawAnswer; 2] = answers.try_into().unwrap();
    let agreed = agree("a txn with an empty operation", [chainfire, etcd]);
    assert_eq!(agreed.message_text(), "etcdserver: key not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_grpc_frame_gets_the_status_etcd_gives() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let request = range_at(1);
    let mut oversized = vec![0, 0xff, 0xff, 0xff, 0xff];
    oversized.extend_from_slice(&request);
    let cases: [(&str, Vec<u8>); 4] = [
        ("a length prefix cut short", vec![0, 0, 0]),
        ("a message shorter than its prefix says", {
            let mut body = frame(&request);
            body.truncate(body.len() - 2);
            body
        }),
        ("a prefix over the size limit", oversized),
        ("a compressed flag without compression", {
            let mut body = frame(&request);
            body[0] = 1;
            body
        }),
    ];
    let mut answers = [Vec::new(), Vec::new()];
    for (what, body) in cases {
        for (i, endpoint) in side.endpoints.iter().enumerate() {
            let answer = call(endpoint, "/etcdserverpb.KV/Range", body.clone()).await;
            answers[i].push((what, answer.http, answer.code(), answer.message_text()));
        }
    }
    agree("malformed frames", answers);
    // Both still serve.
    for mut client in side.clients().await {
        client.put("after", "ok", None).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_leader_refuses_a_stranger_and_accepts_the_leader_itself_as_etcd_does() {
    let net = Loopback::block();
    let side = Side::start(&net).await;
    let mut answers = Vec::new();
    for mut client in side.clients().await {
        let stranger = client.move_leader(0xabcdef).await.map_err(status).err();
        let own_id = client.status().await.unwrap().header().unwrap().member_id();
        let to_itself = client.move_leader(own_id).await.map(|_| ()).map_err(status);
        answers.push((stranger, to_itself));
    }
    let [chainfire, etcd]: [_; 2] = answers.try_into().unwrap();
    let (stranger, to_itself) = agree("move-leader answers", [chainfire, etcd]);
    assert_eq!(
        stranger,
        Some((
            tonic::Code::FailedPrecondition,
            "etcdserver: bad leader transferee".to_owned()
        ))
    );
    assert_eq!(to_itself, Ok(()));
}
