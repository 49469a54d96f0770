//! The store against etcd's documented semantics.

use super::*;
use crate::proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use std::collections::BTreeMap;

fn open() -> (tempfile::TempDir, MvccStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MvccStore::open(dir.path()).unwrap();
    (dir, store)
}

fn put(store: &mut MvccStore, key: &str, value: &str) -> i64 {
    store
        .put(&PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })
        .unwrap()
        .0
}

fn range(store: &MvccStore, key: &str, end: &[u8], revision: i64) -> RangeResponse {
    store
        .range(&RangeRequest {
            key: key.into(),
            range_end: end.to_vec(),
            revision,
            ..Default::default()
        })
        .unwrap()
}

fn keys(response: &RangeResponse) -> Vec<String> {
    response
        .kvs
        .iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect()
}

fn value_of(store: &MvccStore, key: &str) -> Option<String> {
    store
        .get(key.as_bytes(), store.revision())
        .unwrap()
        .map(|kv| String::from_utf8(kv.value).unwrap())
}

#[test]
fn revisions_versions_and_prev_kv_follow_etcd() {
    let (_dir, mut store) = open();
    assert_eq!(store.revision(), 1, "an empty store is at revision 1");
    assert_eq!(put(&mut store, "a", "1"), 2);
    let (rev, response) = store
        .put(&PutRequest {
            key: "a".into(),
            value: "2".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(rev, 3);
    let prev = response.prev_kv.unwrap();
    assert_eq!((prev.value.as_slice(), prev.version), (&b"1"[..], 1));
    let now = store.get(b"a", 3).unwrap().unwrap();
    assert_eq!(
        (now.create_revision, now.mod_revision, now.version),
        (2, 3, 2)
    );
}

#[test]
fn ranges_cover_single_keys_prefixes_from_keys_and_everything() {
    let (_dir, mut store) = open();
    for key in ["a", "b/1", "b/2", "b/3", "c"] {
        put(&mut store, key, key);
    }
    assert_eq!(keys(&range(&store, "b/2", b"", 0)), ["b/2"]);
    assert_eq!(keys(&range(&store, "b/", b"b0", 0)), ["b/1", "b/2", "b/3"]);
    assert_eq!(keys(&range(&store, "b/3", b"\0", 0)), ["b/3", "c"]);
    assert_eq!(
        keys(&range(&store, "\0", b"\0", 0)),
        ["a", "b/1", "b/2", "b/3", "c"]
    );
    assert!(range(&store, "zzz", b"", 0).kvs.is_empty());
}

#[test]
fn limit_sort_keys_only_count_only_and_filters() {
    let (_dir, mut store) = open();
    put(&mut store, "k1", "z");
    put(&mut store, "k2", "y");
    put(&mut store, "k3", "x");
    put(&mut store, "k1", "w"); // k1 now has the newest mod revision
    let base = RangeRequest {
        key: "k".into(),
        range_end: "l".into(),
        ..Default::default()
    };
    let limited = store
        .range(&RangeRequest {
            limit: 2,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(
        (keys(&limited), limited.more, limited.count),
        (vec!["k1".to_owned(), "k2".to_owned()], true, 3)
    );

    let by_mod_desc = store
        .range(&RangeRequest {
            sort_order: SortOrder::Descend as i32,
            sort_target: SortTarget::Mod as i32,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(keys(&by_mod_desc), ["k1", "k3", "k2"]);
    let by_value = store
        .range(&RangeRequest {
            sort_target: SortTarget::Value as i32,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(keys(&by_value), ["k1", "k3", "k2"], "w < x < y");

    let keys_only = store
        .range(&RangeRequest {
            keys_only: true,
            ..base.clone()
        })
        .unwrap();
    assert!(keys_only.kvs.iter().all(|kv| kv.value.is_empty()));
    let count_only = store
        .range(&RangeRequest {
            count_only: true,
            ..base.clone()
        })
        .unwrap();
    assert_eq!((count_only.kvs.len(), count_only.count), (0, 3));

    let recent = store
        .range(&RangeRequest {
            min_mod_revision: 4,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(keys(&recent), ["k1", "k3"]);
    // As etcd: the count is of the keys in the range, before the filter.
    assert_eq!(recent.count, 3);
    let recent_count = store
        .range(&RangeRequest {
            min_mod_revision: 4,
            count_only: true,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(recent_count.count, 3);
}

#[test]
fn past_revisions_are_readable_until_compacted() {
    let (_dir, mut store) = open();
    let r1 = put(&mut store, "k", "old");
    let r2 = put(&mut store, "k", "new");
    assert_eq!(range(&store, "k", b"", r1).kvs[0].value, b"old");
    assert_eq!(range(&store, "k", b"", r2).kvs[0].value, b"new");
    assert!(matches!(
        store.range(&RangeRequest {
            key: "k".into(),
            revision: r2 + 1,
            ..Default::default()
        }),
        Err(MvccError::FutureRevision { .. })
    ));
    store.compact(r2).unwrap();
    let err = store
        .range(&RangeRequest {
            key: "k".into(),
            revision: r1,
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(err, MvccError::Compacted { .. }));
    assert_eq!(
        err.to_string(),
        "mvcc: required revision has been compacted"
    );
    // The newest version survives compaction.
    assert_eq!(range(&store, "k", b"", 0).kvs[0].value, b"new");
    assert!(matches!(
        store.compact(r1),
        Err(MvccError::Compacted { .. })
    ));
}

/// A scan steps over a key's older versions (or seeks past a long
/// history, or into it for a read of the past): every key, every revision,
/// with and without values, against a model of the history.
#[test]
fn a_scan_finds_each_keys_version_at_every_revision_however_long_its_history() {
    let (_dir, mut store) = open();
    // key -> (revision, value or None if deleted), oldest first
    let mut model: BTreeMap<String, Vec<(i64, Option<String>)>> = BTreeMap::new();
    // Histories of 1 to 9 versions (a step covers up to four), some ending
    // in a delete, one deleted and put again, interleaved in time.
    for round in 0..9 {
        for k in 0..12 {
            if round > k % 9 {
                continue;
            }
            let key = format!("k{k:02}");
            let value = format!("{key}-v{round}");
            let at = put(&mut store, &key, &value);
            model.entry(key).or_default().push((at, Some(value)));
        }
    }
    for key in ["k03", "k07", "k08"] {
        let (at, _) = store
            .delete_range(&DeleteRangeRequest {
                key: key.into(),
                ..Default::default()
            })
            .unwrap();
        model.get_mut(key).unwrap().push((at, None));
    }
    let revision = put(&mut store, "k07", "again");
    model
        .get_mut("k07")
        .unwrap()
        .push((revision, Some("again".into())));
    // Each put learnt the version it replaced (from the index of live keys
    // now): versions count the puts since the key's last delete.
    for (key, history) in &model {
        let generation = history
            .iter()
            .rev()
            .take_while(|(_, value)| value.is_some())
            .collect::<Vec<_>>();
        let kv = store.get(key.as_bytes(), revision).unwrap();
        match generation.last() {
            None => assert!(kv.is_none(), "{key} is deleted"),
            Some((created, _)) => {
                let kv = kv.unwrap();
                assert_eq!(kv.version, generation.len() as i64, "{key}");
                assert_eq!(kv.create_revision, *created, "{key}");
            }
        }
    }
    for at in 1..=revision {
        let expected: Vec<(String, String)> = model
            .iter()
            .filter_map(|(key, history)| {
                let (_, value) = history.iter().rev().find(|(r, _)| *r <= at)?;
                Some((key.clone(), value.clone()?))
            })
            .collect();
        let all = range(&store, "\0", b"\0", at);
        let found: Vec<(String, String)> = all
            .kvs
            .iter()
            .map(|kv| {
                (
                    String::from_utf8(kv.key.clone()).unwrap(),
                    String::from_utf8(kv.value.clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(found, expected, "at revision {at}");
        let heads = store
            .range(&RangeRequest {
                key: vec![0],
                range_end: vec![0],
                revision: at,
                keys_only: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(keys(&heads), keys(&all), "keys only, at revision {at}");
        for (head, full) in heads.kvs.iter().zip(&all.kvs) {
            assert!(head.value.is_empty());
            assert_eq!(
                (head.create_revision, head.mod_revision, head.version),
                (full.create_revision, full.mod_revision, full.version)
            );
        }
    }
}

#[test]
fn deletes_leave_history_and_a_new_put_starts_a_new_generation() {
    let (_dir, mut store) = open();
    put(&mut store, "p/a", "1");
    put(&mut store, "p/b", "2");
    let before = store.revision();
    let (rev, deleted) = store
        .delete_range(&DeleteRangeRequest {
            key: "p/".into(),
            range_end: "p0".into(),
            prev_kv: true,
        })
        .unwrap();
    assert_eq!(rev, before + 1, "one delete request, one revision");
    assert_eq!(deleted.deleted, 2);
    assert_eq!(deleted.prev_kvs.len(), 2);
    assert!(range(&store, "p/", b"p0", 0).kvs.is_empty());
    assert_eq!(range(&store, "p/", b"p0", before).kvs.len(), 2);

    let (same, nothing) = store
        .delete_range(&DeleteRangeRequest {
            key: "p/".into(),
            range_end: "p0".into(),
            prev_kv: false,
        })
        .unwrap();
    assert_eq!(
        (same, nothing.deleted),
        (rev, 0),
        "deleting nothing keeps the revision"
    );

    let again = put(&mut store, "p/a", "3");
    let kv = store.get(b"p/a", again).unwrap().unwrap();
    assert_eq!((kv.version, kv.create_revision), (1, again));
}

#[test]
fn ignore_value_and_ignore_lease_need_an_existing_key() {
    let (_dir, mut store) = open();
    let missing = store.put(&PutRequest {
        key: "k".into(),
        ignore_value: true,
        ..Default::default()
    });
    assert!(matches!(missing, Err(MvccError::KeyNotFound)));
    store.lease_grant(7, 60, &[]).unwrap();
    store
        .put(&PutRequest {
            key: "k".into(),
            value: "v".into(),
            lease: 7,
            ..Default::default()
        })
        .unwrap();
    store
        .put(&PutRequest {
            key: "k".into(),
            ignore_value: true,
            ignore_lease: true,
            ..Default::default()
        })
        .unwrap();
    let kv = store.get(b"k", store.revision()).unwrap().unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.lease, kv.version),
        (&b"v"[..], 7, 2)
    );
    assert!(matches!(
        store.put(&PutRequest::default()),
        Err(MvccError::EmptyKey)
    ));
}

fn compare(
    key: &str,
    target: CompareTarget,
    result: CompareResult,
    operand: TargetUnion,
) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.into(),
        target_union: Some(operand),
        range_end: Vec::new(),
    }
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        })),
    }
}

fn range_op(key: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestRange(RangeRequest {
            key: key.into(),
            ..Default::default()
        })),
    }
}

#[test]
fn a_transaction_compares_then_runs_one_branch_at_one_revision() {
    let (_dir, mut store) = open();
    let created = put(&mut store, "lock", "free");
    let request = TxnRequest {
        compare: vec![
            compare(
                "lock",
                CompareTarget::Value,
                CompareResult::Equal,
                TargetUnion::Value("free".into()),
            ),
            compare(
                "lock",
                CompareTarget::Create,
                CompareResult::Equal,
                TargetUnion::CreateRevision(created),
            ),
            compare(
                "lock",
                CompareTarget::Version,
                CompareResult::Less,
                TargetUnion::Version(2),
            ),
        ],
        success: vec![
            put_op("lock", "taken"),
            put_op("owner", "me"),
            range_op("owner"),
        ],
        failure: vec![range_op("lock")],
    };
    let (rev, response) = store.txn(&request).unwrap();
    assert!(response.succeeded);
    assert_eq!(rev, created + 1);
    // The range inside the transaction saw the put before it.
    let Some(response_op::Response::ResponseRange(seen)) = &response.responses[2].response else {
        panic!("third response is a range: {response:?}");
    };
    assert_eq!(seen.kvs[0].value, b"me");
    assert_eq!(store.get(b"owner", rev).unwrap().unwrap().mod_revision, rev);

    // Same request again: the value compare now fails; the failure branch
    // only reads, so the revision stays.
    let (again, response) = store.txn(&request).unwrap();
    assert!(!response.succeeded);
    assert_eq!(again, rev);
    assert_eq!(value_of(&store, "lock").as_deref(), Some("taken"));
}

#[test]
fn a_missing_key_compares_as_zero_and_fails_value_compares() {
    let (_dir, mut store) = open();
    let absent = TxnRequest {
        compare: vec![compare(
            "new",
            CompareTarget::Create,
            CompareResult::Equal,
            TargetUnion::CreateRevision(0),
        )],
        success: vec![put_op("new", "1")],
        failure: vec![],
    };
    assert!(store.txn(&absent).unwrap().1.succeeded);
    assert!(!store.txn(&absent).unwrap().1.succeeded, "now it exists");

    let value_of_missing = TxnRequest {
        compare: vec![compare(
            "ghost",
            CompareTarget::Value,
            CompareResult::NotEqual,
            TargetUnion::Value("x".into()),
        )],
        ..Default::default()
    };
    assert!(!store.txn(&value_of_missing).unwrap().1.succeeded);
}

#[test]
fn a_transaction_may_not_put_one_key_twice() {
    let (_dir, mut store) = open();
    let request = TxnRequest {
        success: vec![put_op("k", "1"), put_op("k", "2")],
        ..Default::default()
    };
    let err = store.txn(&request).unwrap_err();
    assert_eq!(
        err.to_string(),
        "etcdserver: duplicate key given in txn request"
    );
    assert_eq!(store.revision(), 1, "nothing was applied");
}

fn delete_op(key: &str, range_end: &str) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(
            DeleteRangeRequest {
                key: key.into(),
                range_end: range_end.into(),
                ..Default::default()
            },
        )),
    }
}

fn txn_op(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
    RequestOp {
        request: Some(request_op::Request::RequestTxn(TxnRequest {
            success,
            failure,
            ..Default::default()
        })),
    }
}

/// etcd's rule: a key put inside a range the same transaction deletes is a
/// duplicate key, in either order and across nesting, where both can run;
/// the two branches of a transaction never both run.
#[test]
fn a_transaction_may_not_put_a_key_it_also_deletes() {
    let (_dir, mut store) = open();
    put(&mut store, "a/1", "old");
    let refused = [
        vec![put_op("a/1", "x"), delete_op("a/1", "")],
        vec![delete_op("a/", "a0"), put_op("a/1", "x")],
        vec![
            delete_op("a/", "a0"),
            txn_op(vec![put_op("a/1", "x")], vec![]),
        ],
        vec![
            txn_op(vec![], vec![delete_op("a/1", "")]),
            put_op("a/1", "x"),
        ],
        vec![put_op("a/1", "x"), txn_op(vec![put_op("a/1", "y")], vec![])],
    ];
    for success in refused {
        let request = TxnRequest {
            success: success.clone(),
            ..Default::default()
        };
        let err = store.txn(&request).unwrap_err();
        assert_eq!(
            err.to_string(),
            "etcdserver: duplicate key given in txn request",
            "{success:?}"
        );
    }
    assert_eq!(store.revision(), 2, "nothing was applied");
    let allowed = [
        // Either branch runs, never both.
        TxnRequest {
            success: vec![put_op("a/1", "x")],
            failure: vec![delete_op("a/1", "")],
            ..Default::default()
        },
        TxnRequest {
            success: vec![txn_op(vec![put_op("a/2", "x")], vec![put_op("a/2", "y")])],
            ..Default::default()
        },
        // Deletes may overlap each other.
        TxnRequest {
            success: vec![delete_op("a/", "a0"), delete_op("a/1", "")],
            ..Default::default()
        },
    ];
    for request in allowed {
        store.txn(&request).unwrap();
    }
    assert_eq!(store.revision(), 5);
    // The last one deleted `a/1` once: one delete event at its revision.
    let events = store.events_since(&KeyRange::new(b"a/", b"a0"), 5).unwrap();
    let kinds: Vec<(Vec<u8>, i32)> = events
        .iter()
        .map(|e| (e.kv.as_ref().unwrap().key.clone(), e.r#type))
        .collect();
    assert_eq!(
        kinds,
        [
            (b"a/1".to_vec(), event::EventType::Delete as i32),
            (b"a/2".to_vec(), event::EventType::Delete as i32),
        ]
    );
}

#[test]
fn events_replay_in_revision_order_with_previous_versions() {
    let (_dir, mut store) = open();
    let r1 = put(&mut store, "w/a", "1");
    put(&mut store, "other", "x");
    let r3 = put(&mut store, "w/a", "2");
    store
        .delete_range(&DeleteRangeRequest {
            key: "w/a".into(),
            ..Default::default()
        })
        .unwrap();
    let watched = KeyRange::new(b"w/", b"w0");
    let events = store.events_since(&watched, r1).unwrap();
    let summary: Vec<(i32, i64, Option<Vec<u8>>)> = events
        .iter()
        .map(|e| {
            (
                e.r#type,
                e.kv.as_ref().unwrap().mod_revision,
                e.prev_kv.as_ref().map(|p| p.value.clone()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (event::EventType::Put as i32, r1, None),
            (event::EventType::Put as i32, r3, Some(b"1".to_vec())),
            (event::EventType::Delete as i32, r3 + 1, Some(b"2".to_vec())),
        ]
    );
    // A tombstone is stored without its key; its event still names it.
    assert_eq!(events[2].kv.as_ref().unwrap().key, b"w/a");
    assert_eq!(store.events_since(&watched, r3).unwrap().len(), 2);
    store.compact(r3).unwrap();
    assert!(matches!(
        store.events_since(&watched, r1),
        Err(MvccError::Compacted { .. })
    ));
    assert_eq!(store.events_since(&watched, r3).unwrap().len(), 2);
}

#[test]
fn compaction_drops_deleted_keys_and_old_versions_only() {
    let (_dir, mut store) = open();
    put(&mut store, "gone", "1");
    store
        .delete_range(&DeleteRangeRequest {
            key: "gone".into(),
            ..Default::default()
        })
        .unwrap();
    put(&mut store, "kept", "1");
    let r = put(&mut store, "kept", "2");
    put(&mut store, "later", "1");
    store.compact(r).unwrap();
    assert_eq!(keys(&range(&store, "\0", b"\0", 0)), ["kept", "later"]);
    assert_eq!(keys(&range(&store, "\0", b"\0", r)), ["kept"]);
    // Only one stored version of `kept` is left, and no trace of `gone`.
    let cf = store.cf(HISTORY);
    let stored: Vec<(Vec<u8>, i64)> = store
        .db
        .iterator_cf(cf, rocksdb::IteratorMode::Start)
        .map(|entry| keys::split_history_key(&entry.unwrap().0).unwrap())
        .collect();
    assert_eq!(
        stored,
        vec![(b"kept".to_vec(), r), (b"later".to_vec(), r + 1)]
    );
}

#[test]
fn everything_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let rev = {
        let mut store = MvccStore::open(dir.path()).unwrap();
        put(&mut store, "a", "1");
        let rev = put(&mut store, "a", "2");
        store.compact(rev - 1).unwrap();
        rev
    };
    let mut store = MvccStore::open(dir.path()).unwrap();
    assert_eq!(store.revision(), rev);
    assert_eq!(store.compacted_revision(), rev - 1);
    assert_eq!(value_of(&store, "a").as_deref(), Some("2"));
    // The index of live keys is rebuilt: a put continues the key's history.
    let (_, response) = store
        .put(&PutRequest {
            key: "a".into(),
            value: "3".into(),
            prev_kv: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(response.prev_kv.map(|kv| kv.value), Some(b"2".to_vec()));
    let a = store.get(b"a", store.revision()).unwrap().unwrap();
    assert_eq!((a.create_revision, a.version), (rev - 1, 3));
}

#[test]
fn the_owners_meta_is_written_with_every_request_even_a_rejected_one() {
    let (_dir, mut store) = open();
    let applied = |n: u8| -> Vec<(&'static [u8], Vec<u8>)> { vec![(&b"applied"[..], vec![n])] };
    store
        .apply(
            &WriteRequest::Put(PutRequest {
                key: "k".into(),
                value: "v".into(),
                ..Default::default()
            }),
            &applied(1),
        )
        .unwrap();
    assert_eq!(store.meta(b"applied").unwrap(), Some(vec![1]));
    let duplicate = TxnRequest {
        success: vec![put_op("k", "1"), put_op("k", "2")],
        ..Default::default()
    };
    let revision = store.revision();
    assert!(
        store
            .apply(&WriteRequest::Txn(duplicate), &applied(2))
            .is_err()
    );
    assert_eq!(store.meta(b"applied").unwrap(), Some(vec![2]));
    assert_eq!(store.revision(), revision);
    assert!(store.compact_with(revision + 5, &applied(3)).is_err());
    assert_eq!(store.meta(b"applied").unwrap(), Some(vec![3]));
}

fn put_leased(store: &mut MvccStore, key: &str, lease: i64) -> Result<i64, MvccError> {
    store
        .put(&PutRequest {
            key: key.into(),
            value: "v".into(),
            lease,
            ..Default::default()
        })
        .map(|(revision, _)| revision)
}

#[test]
fn leases_own_their_keys_and_a_revoke_deletes_them_at_one_revision() {
    let (_dir, mut store) = open();
    assert!(matches!(
        put_leased(&mut store, "s/1", 7),
        Err(MvccError::LeaseNotFound)
    ));
    store.lease_grant(7, 10, &[]).unwrap();
    assert!(matches!(
        store.lease_grant(7, 10, &[]),
        Err(MvccError::LeaseExists)
    ));
    store.lease_grant(8, 20, &[]).unwrap();
    assert_eq!(store.leases().unwrap(), vec![(7, 10), (8, 20)]);
    put_leased(&mut store, "s/1", 7).unwrap();
    put_leased(&mut store, "s/2", 7).unwrap();
    put_leased(&mut store, "s/3", 7).unwrap();
    put_leased(&mut store, "s/3", 8).unwrap(); // moved to another lease
    put_leased(&mut store, "s/4", 7).unwrap();
    store
        .delete_range(&DeleteRangeRequest {
            key: "s/4".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        store.lease_keys(7).unwrap(),
        vec![b"s/1".to_vec(), b"s/2".to_vec()]
    );

    let before = store.revision();
    let after = store.lease_revoke(7, &[]).unwrap();
    assert_eq!(after, before + 1, "both keys go at one revision");
    assert_eq!(keys(&range(&store, "s/", b"s0", 0)), ["s/3"]);
    assert_eq!(store.leases().unwrap(), vec![(8, 20)]);
    assert!(store.lease_keys(7).unwrap().is_empty());
    assert!(matches!(
        store.lease_revoke(7, &[]),
        Err(MvccError::LeaseNotFound)
    ));
    // A lease without keys is revoked without a new revision.
    store.lease_grant(9, 5, &[]).unwrap();
    assert_eq!(store.lease_revoke(9, &[]).unwrap(), after);
}

#[test]
fn a_batch_applies_each_request_at_its_own_revision_and_skips_a_refused_one() {
    let (_dir, mut store) = open();
    let start = store.revision();
    let requests = vec![
        WriteRequest::Put(PutRequest {
            key: "a".into(),
            value: "1".into(),
            ..Default::default()
        }),
        // Refused (the key does not exist): must leave no trace.
        WriteRequest::Put(PutRequest {
            key: "ghost".into(),
            ignore_value: true,
            ..Default::default()
        }),
        // Sees the first request's put.
        WriteRequest::Txn(TxnRequest {
            compare: vec![compare(
                "a",
                CompareTarget::Value,
                CompareResult::Equal,
                TargetUnion::Value("1".into()),
            )],
            success: vec![put_op("b", "2")],
            failure: vec![],
        }),
        WriteRequest::Put(PutRequest {
            key: "a".into(),
            value: "3".into(),
            prev_kv: true,
            ..Default::default()
        }),
    ];
    let results = store.apply_many(&requests, &[]).unwrap();
    let revisions: Vec<Option<i64>> = results
        .iter()
        .map(|r| r.as_ref().ok().map(|(rev, _)| *rev))
        .collect();
    assert_eq!(
        revisions,
        [Some(start + 1), None, Some(start + 2), Some(start + 3)]
    );
    assert!(matches!(results[1], Err(MvccError::KeyNotFound)));
    match &results[2] {
        Ok((_, WriteResponse::Txn(txn))) => assert!(txn.succeeded),
        other => panic!("{other:?}"),
    }
    match &results[3] {
        Ok((_, WriteResponse::Put(put))) => {
            assert_eq!(put.prev_kv.as_ref().unwrap().value, b"1")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.revision(), start + 3);
    assert_eq!(value_of(&store, "a").as_deref(), Some("3"));
    assert_eq!(store.get(b"a", start + 3).unwrap().unwrap().version, 2);
    assert_eq!(value_of(&store, "ghost"), None);
    // Each request's events are at its own revision, in order.
    let events = store
        .events_since(&KeyRange::new(b"\0", b"\0"), start + 1)
        .unwrap();
    let at: Vec<i64> = events
        .iter()
        .map(|e| e.kv.as_ref().unwrap().mod_revision)
        .collect();
    assert_eq!(at, [start + 1, start + 2, start + 3]);
}

#[test]
fn the_history_hash_is_the_same_for_the_same_history_and_fixed_for_a_past_revision() {
    let (_a_dir, mut a) = open();
    let (_b_dir, mut b) = open();
    for store in [&mut a, &mut b] {
        put(store, "k", "1");
        put(store, "k", "2");
    }
    let at = a.revision();
    assert_eq!(a.hash_kv(0).unwrap(), b.hash_kv(0).unwrap());
    put(&mut a, "k", "3");
    assert_ne!(a.hash_kv(0).unwrap().0, b.hash_kv(0).unwrap().0);
    assert_eq!(a.hash_kv(at).unwrap(), b.hash_kv(at).unwrap());
}

fn delete_prefix(prefix: &str) -> DeleteRangeRequest {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    DeleteRangeRequest {
        key: prefix.into(),
        range_end: end,
        ..Default::default()
    }
}

/// A delete sees what earlier requests of its batch wrote; a transaction
/// refused by a later operation leaves nothing of its earlier ones, and
/// one that puts a key it also deletes is refused whole (as etcd refuses
/// it); tombstones are stored without their keys but read back with them.
#[test]
fn deletes_see_their_batch_and_a_refused_transaction_writes_nothing() {
    let (_dir, mut store) = open();
    put(&mut store, "p/a", "1");
    put(&mut store, "p/b", "2");
    put(&mut store, "t/y", "3");
    let start = store.revision();
    let put_request = |key: &str| {
        WriteRequest::Put(PutRequest {
            key: key.into(),
            value: "v".into(),
            ..Default::default()
        })
    };
    let refused = RequestOp {
        request: Some(request_op::Request::RequestPut(PutRequest {
            key: "ghost".into(),
            ignore_value: true,
            ..Default::default()
        })),
    };
    let delete_op = RequestOp {
        request: Some(request_op::Request::RequestDeleteRange(delete_prefix("t/"))),
    };
    let requests = vec![
        put_request("p/c"),
        WriteRequest::DeleteRange(delete_prefix("p/")),
        WriteRequest::Txn(TxnRequest {
            compare: vec![],
            success: vec![put_op("d", "4"), refused],
            failure: vec![],
        }),
        WriteRequest::Txn(TxnRequest {
            compare: vec![],
            success: vec![put_op("t/x", "5"), delete_op],
            failure: vec![],
        }),
        WriteRequest::DeleteRange(delete_prefix("nothing/")),
    ];
    let results = store.apply_many(&requests, &[]).unwrap();
    let deleted = |result: &Result<(i64, WriteResponse), MvccError>| match result {
        Ok((_, WriteResponse::DeleteRange(response))) => response.deleted,
        Ok((_, WriteResponse::Txn(txn))) => match &txn.responses[1].response {
            Some(response_op::Response::ResponseDeleteRange(response)) => response.deleted,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(deleted(&results[1]), 3, "p/a, p/b and the batch's p/c");
    assert!(matches!(results[2], Err(MvccError::KeyNotFound)));
    assert!(matches!(results[3], Err(MvccError::DuplicateKey)));
    assert_eq!(deleted(&results[4]), 0);
    assert_eq!(store.revision(), start + 2);
    for key in ["p/a", "p/b", "p/c", "d", "ghost", "t/x"] {
        assert_eq!(value_of(&store, key), None, "{key}");
    }
    let left: Vec<Vec<u8>> = range(&store, "\0", b"\0", 0)
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(left, [b"t/y".to_vec()]);
    // The refused transaction wrote no version of d.
    assert_eq!(store.version_at(b"d", store.revision()).unwrap(), None);
    // p/a's tombstone: stored without the key, read back with it.
    let raw = store
        .db()
        .get_cf(store.cf(HISTORY), keys::history_key(b"p/a", start + 2))
        .unwrap()
        .unwrap();
    assert!(decode(&raw).unwrap().key.is_empty());
    let tombstone = store.version_at(b"p/a", start + 2).unwrap().unwrap();
    assert_eq!(
        (tombstone.key.as_slice(), tombstone.version),
        (&b"p/a"[..], 0)
    );
    let deleted_keys: Vec<Vec<u8>> = store
        .events_since(&KeyRange::new(b"\0", b"\0"), start + 1)
        .unwrap()
        .into_iter()
        .filter(|e| e.r#type == event::EventType::Delete as i32)
        .map(|e| e.kv.unwrap().key)
        .collect();
    assert_eq!(deleted_keys, [&b"p/a"[..], b"p/b", b"p/c"]);
}
