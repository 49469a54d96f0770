//! The [`ZoneStore`] conformance suite: what every backend must do, run
//! against each (`FileStore` in flashdns's tests, `ChainfireStore` against
//! chainfire and etcd in the end-to-end tests). It panics, naming the
//! promise, at the first one broken.
//!
//! Each case works in a zone of its own under `suffix`, so the suite can
//! run in a store that holds other zones (or an earlier run's).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};

use super::{Change, StoreError, ZoneStore, identity};

/// Runs every case against `store`.
pub async fn run(store: Arc<dyn ZoneStore>, suffix: &str) {
    run_with(store, suffix, |_| {}).await;
}

/// As [`run`], calling `between` with each case's name once it passed:
/// where a test kills a chainfire member mid-suite.
pub async fn run_with(store: Arc<dyn ZoneStore>, suffix: &str, mut between: impl FnMut(&str)) {
    creating_is_once(&*store, &zone("create", suffix)).await;
    between("create");
    changes_land_together_with_one_serial_step(&*store, &zone("apply", suffix)).await;
    between("apply");
    nothing_invalid_is_written(&*store, &zone("invalid", suffix)).await;
    between("invalid");
    concurrent_writers_lose_nothing(store.clone(), &zone("concurrent", suffix)).await;
    between("concurrent");
    readers_learn_of_changes_without_polling(store.clone(), &zone("watch", suffix)).await;
    between("watch");
}

fn zone(case: &str, suffix: &str) -> Name {
    Name::from_ascii(format!("{case}.{suffix}.")).expect("a zone name")
}

fn at(origin: &Name, label: &str) -> Name {
    Name::from_ascii(label)
        .expect("a label")
        .append_domain(origin)
        .expect("a name")
}

/// A zone's SOA (serial 100), NS and the name server's address.
fn apex(origin: &Name) -> Vec<Record> {
    let ns = at(origin, "ns");
    vec![
        Record::from_rdata(
            origin.clone(),
            3600,
            RData::SOA(SOA::new(
                ns.clone(),
                at(origin, "hostmaster"),
                100,
                7200,
                900,
                1_209_600,
                300,
            )),
        ),
        Record::from_rdata(origin.clone(), 3600, RData::NS(NS(ns.clone()))),
        a(&ns, 1, 3600),
    ]
}

fn a(owner: &Name, last: u8, ttl: u32) -> Record {
    Record::from_rdata(
        owner.clone(),
        ttl,
        RData::A(A(Ipv4Addr::new(10, 0, 0, last))),
    )
}

fn has(records: &[Record], wanted: &Record) -> bool {
    let id = identity(wanted);
    records.iter().any(|r| identity(r) == id)
}

async fn read(store: &dyn ZoneStore, origin: &Name) -> super::Snapshot {
    let snapshot = store.read(origin).await.expect("the store reads");
    assert!(snapshot.exists(), "zone {origin} is in the store");
    snapshot
}

async fn creating_is_once(store: &dyn ZoneStore, origin: &Name) {
    let records = apex(origin);
    let before = store.read(origin).await.expect("the store reads");
    assert!(
        !before.exists(),
        "create: {origin} is not there before it is created"
    );
    // Its creation is a change a reader is told of.
    let waiting = store.changed(origin, before.version);
    assert!(
        store.create(origin, &records).await.expect("created"),
        "create: a new zone is created"
    );
    tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("create: a reader waiting for the zone is told within a second")
        .expect("the watch answered");
    let other = vec![
        records[0].clone(),
        records[1].clone(),
        a(&at(origin, "ns"), 99, 60),
    ];
    assert!(
        !store.create(origin, &other).await.expect("asked"),
        "create: a zone that exists is not created again"
    );
    let stored = read(store, origin).await;
    assert_eq!(stored.serial(), Some(100), "create: the serial as given");
    assert!(
        has(&stored.records, &records[2]) && !has(&stored.records, &other[2]),
        "create: the second create left the first's records: {:?}",
        stored.records
    );
    stored
        .zone(origin, "conformance")
        .expect("create: what is stored makes a zone");
}

async fn changes_land_together_with_one_serial_step(store: &dyn ZoneStore, origin: &Name) {
    store.create(origin, &apex(origin)).await.expect("created");
    let (www, mail) = (
        a(&at(origin, "www"), 10, 300),
        a(&at(origin, "mail"), 20, 300),
    );
    let serial = store
        .apply(
            origin,
            &[Change::Add(www.clone()), Change::Add(mail.clone())],
        )
        .await
        .expect("applied");
    assert_eq!(serial, 101, "apply: one apply, one serial step");
    let stored = read(store, origin).await;
    assert_eq!(stored.serial(), Some(101));
    assert!(has(&stored.records, &www) && has(&stored.records, &mail));

    // A record added again (with another TTL) is still one record, with
    // the new TTL; a removal compares name, type and data, not the TTL.
    let longer = a(&at(origin, "www"), 10, 900);
    let mut removed_mail = mail.clone();
    removed_mail.ttl = 1;
    let serial = store
        .apply(
            origin,
            &[Change::Add(longer.clone()), Change::Remove(removed_mail)],
        )
        .await
        .expect("applied");
    assert_eq!(serial, 102);
    let stored = read(store, origin).await;
    let www_records: Vec<&Record> = stored
        .records
        .iter()
        .filter(|r| identity(r) == identity(&www))
        .collect();
    assert_eq!(
        www_records.len(),
        1,
        "apply: one www record: {www_records:?}"
    );
    assert_eq!(www_records[0].ttl, 900, "apply: the TTL of the last add");
    assert!(!has(&stored.records, &mail), "apply: mail removed");

    // Removing what is not there changes only the serial.
    let serial = store
        .apply(origin, &[Change::Remove(a(&at(origin, "none"), 1, 1))])
        .await
        .expect("applied");
    assert_eq!(serial, 103);
    assert_eq!(
        read(store, origin).await.records.len(),
        stored.records.len()
    );
}

async fn nothing_invalid_is_written(store: &dyn ZoneStore, origin: &Name) {
    store.create(origin, &apex(origin)).await.expect("created");
    let www = at(origin, "www");
    store
        .apply(origin, &[Change::Add(a(&www, 10, 300))])
        .await
        .expect("applied");
    let before = read(store, origin).await;
    let refused: [(&str, Vec<Change>); 3] = [
        (
            "a CNAME beside other data",
            vec![
                Change::Add(a(&at(origin, "ok"), 3, 300)),
                Change::Add(Record::from_rdata(
                    www.clone(),
                    300,
                    RData::CNAME(CNAME(at(origin, "elsewhere"))),
                )),
            ],
        ),
        (
            "a record outside the zone",
            vec![Change::Add(a(
                &Name::from_ascii("www.elsewhere.example.").unwrap(),
                3,
                300,
            ))],
        ),
        (
            "the SOA itself",
            vec![Change::Remove(apex(origin)[0].clone())],
        ),
    ];
    for (what, changes) in refused {
        match store.apply(origin, &changes).await {
            Err(StoreError::Invalid { .. }) => {}
            other => panic!("invalid: {what} must be refused as invalid, got {other:?}"),
        }
    }
    let after = read(store, origin).await;
    assert_eq!(after.serial(), before.serial(), "invalid: the serial stays");
    assert_eq!(
        after.records.len(),
        before.records.len(),
        "invalid: nothing of a refused apply is written"
    );
    let missing = Name::from_ascii(format!("missing.{origin}")).unwrap();
    assert!(
        matches!(
            store
                .apply(&missing, &[Change::Add(a(&missing, 1, 1))])
                .await,
            Err(StoreError::NoZone(_))
        ),
        "invalid: an apply to a zone not there is refused"
    );
}

async fn concurrent_writers_lose_nothing(store: Arc<dyn ZoneStore>, origin: &Name) {
    const WRITERS: u8 = 8;
    const EACH: u8 = 6;
    store.create(origin, &apex(origin)).await.expect("created");
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let (store, origin) = (store.clone(), origin.clone());
        writers.spawn(async move {
            for i in 0..EACH {
                let owner = at(&origin, &format!("w{w}-{i}"));
                store
                    .apply(&origin, &[Change::Add(a(&owner, w * EACH + i, 60))])
                    .await
                    .expect("applied");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("a writer finished");
    }
    let stored = read(&*store, origin).await;
    for w in 0..WRITERS {
        for i in 0..EACH {
            let owner = at(origin, &format!("w{w}-{i}"));
            assert!(
                has(&stored.records, &a(&owner, w * EACH + i, 60)),
                "concurrent: {owner} was lost"
            );
        }
    }
    assert_eq!(
        stored.serial(),
        Some(100 + u32::from(WRITERS) * u32::from(EACH)),
        "concurrent: one serial step per apply"
    );
}

async fn readers_learn_of_changes_without_polling(store: Arc<dyn ZoneStore>, origin: &Name) {
    store.create(origin, &apex(origin)).await.expect("created");
    let seen = read(&*store, origin).await;
    let waiting = {
        let (store, origin) = (store.clone(), origin.clone());
        tokio::spawn(async move { store.changed(&origin, seen.version).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiting.is_finished(), "watch: nothing changed yet");
    let added = a(&at(origin, "new"), 7, 60);
    store
        .apply(origin, &[Change::Add(added.clone())])
        .await
        .expect("applied");
    let version = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("watch: told within a second")
        .expect("the waiter ran")
        .expect("the watch answered");
    assert!(version > seen.version, "watch: a newer version");
    let now = read(&*store, origin).await;
    assert!(
        has(&now.records, &added),
        "watch: the change is there to read"
    );

    // A change made before the wait began is not missed.
    store
        .apply(origin, &[Change::Remove(added)])
        .await
        .expect("applied");
    tokio::time::timeout(Duration::from_secs(1), store.changed(origin, now.version))
        .await
        .expect("watch: a change already made is told at once")
        .expect("the watch answered");
}
