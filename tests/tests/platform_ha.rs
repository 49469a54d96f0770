//! `deploy-platform-ha`, each node in a process of its own: a three-member
//! chainfire cluster, photonauth, lightningstor checking a tenant's key
//! through photonauth, and flashdns serving a zone stored in chainfire.
//! The chainfire leader is SIGKILLed while a tenant writes objects through
//! the AWS SDK and records are added to the zone; afterwards every
//! acknowledged object reads back as written and every acknowledged record
//! is answered by flashdns.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use e2e::Loopback;
use e2e::etcd::{leader_index, run_node_with_env};
use flashdns::store::chainfire::{ChainfireStore, cluster_prefix};
use flashdns::store::{Change, ZoneStore};
use hickory_proto::rr::rdata::{A, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use photonauth::api::proto::photon_auth_client::PhotonAuthClient;

const NAME: &str = "platform-ha";
const ADMIN_TOKEN: &str = "platform-admin-token-0123456789";
const OPERATOR_SECRET: &str = "platform-operator-secret-0123456789";
/// How long each writer keeps writing after the leader is killed.
const AFTER_KILL: Duration = Duration::from_secs(4);

/// A tenant `acme` whose user may do anything in it: its key.
async fn tenant_key(net: &Loopback) -> (String, String) {
    let mut auth = PhotonAuthClient::connect(net.url(4, 50051)).await.unwrap();
    e2e::auth::user_with_key(
        &mut auth,
        ADMIN_TOKEN,
        "acme",
        "writer",
        e2e::auth::ALLOW_ALL,
    )
    .await
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn a_record(host: &str, i: u8) -> Record {
    Record::from_rdata(
        name(&format!("{host}.vpc.internal.")),
        60,
        RData::A(A(Ipv4Addr::new(10, 0, 1, i))),
    )
}

/// Writes objects `obj-<i>` until `stop`; the acknowledged ones, with when.
async fn write_objects(s3: aws_sdk_s3::Client, stop: Arc<AtomicBool>) -> Vec<(usize, Instant)> {
    let mut acknowledged = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let put = s3
            .put_object()
            .bucket("ha-objects")
            .key(format!("obj-{i}"))
            .body(ByteStream::from(e2e::s3::pattern(4096, i as u8)))
            .send()
            .await;
        if put.is_ok() {
            acknowledged.push((i, Instant::now()));
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acknowledged
}

/// Adds `web-<i>` records until `stop`; the acknowledged ones, with when.
async fn add_records(store: ChainfireStore, stop: Arc<AtomicBool>) -> Vec<(u8, Instant)> {
    let origin = name("vpc.internal.");
    let mut acknowledged = Vec::new();
    let mut i: u8 = 1;
    while !stop.load(Ordering::SeqCst) && i < 250 {
        let added = store
            .apply(&origin, &[Change::Add(a_record(&format!("web-{i}"), i))])
            .await;
        if added.is_ok() {
            acknowledged.push((i, Instant::now()));
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_object_and_record_survives_the_chainfire_leader_being_killed() {
    let net = Loopback::block();
    let state = tempfile::tempdir().unwrap();
    let base = net.to_string();
    let env = [
        ("PHOTONAUTH_ADMIN_TOKEN", ADMIN_TOKEN),
        ("LIGHTNINGSTOR_SECRET_KEY", OPERATOR_SECRET),
    ];
    let mut members: Vec<Option<e2e::Running>> = ["kv-1", "kv-2", "kv-3"]
        .iter()
        .map(|node| Some(run_node_with_env(NAME, node, &base, state.path(), &env)))
        .collect();
    let endpoints: Vec<String> = (1..=3).map(|i| net.addr(i, 2379)).collect();
    let leading = leader_index(&endpoints).await;
    let mut services = Vec::new();
    for node in ["auth", "storage", "dns"] {
        let mut running = run_node_with_env(NAME, node, &base, state.path(), &env);
        running.wait_for("all services started", Duration::from_secs(60));
        services.push(running);
    }

    let key = tenant_key(&net).await;
    let s3 = e2e::s3::client_with(&net.url(5, 9000), &key.0, &key.1);
    s3.create_bucket()
        .bucket("ha-objects")
        .send()
        .await
        .unwrap();
    let chainfire = etcd_client::Client::connect(&endpoints, None)
        .await
        .unwrap();
    let zones = ChainfireStore::new(chainfire, cluster_prefix(NAME));
    let origin = name("vpc.internal.");
    let apex = [
        Record::from_rdata(
            origin.clone(),
            300,
            RData::SOA(SOA::new(
                name("ns.vpc.internal."),
                name("hostmaster.vpc.internal."),
                1,
                7200,
                900,
                1_209_600,
                60,
            )),
        ),
        Record::from_rdata(origin.clone(), 300, RData::NS(NS(name("ns.vpc.internal.")))),
        a_record("ns", 1),
    ];
    assert!(zones.create(&origin, &apex).await.unwrap());

    let stop = Arc::new(AtomicBool::new(false));
    let objects = tokio::spawn(write_objects(s3.clone(), stop.clone()));
    let records = tokio::spawn(add_records(zones.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut leader = members[leading].take().unwrap();
    leader.signal("KILL");
    leader.wait(Duration::from_secs(10));
    let killed = Instant::now();
    tokio::time::sleep(AFTER_KILL).await;
    stop.store(true, Ordering::SeqCst);
    let objects = objects.await.unwrap();
    let records = records.await.unwrap();

    // Writes went on: the survivors elected a leader and every service
    // followed it (the SDK retries a request refused during the election).
    assert!(
        objects.len() >= 20,
        "{} objects acknowledged",
        objects.len()
    );
    assert!(
        records.len() >= 10,
        "{} records acknowledged",
        records.len()
    );
    assert!(
        objects.iter().any(|(_, at)| *at > killed),
        "objects were written after the kill too"
    );
    assert!(
        records.iter().any(|(_, at)| *at > killed),
        "records were added after the kill too"
    );

    for &(i, _) in &objects {
        assert_eq!(
            e2e::s3::get_bytes(&s3, "ha-objects", &format!("obj-{i}")).await,
            e2e::s3::pattern(4096, i as u8),
            "obj-{i}"
        );
    }
    let listed = s3
        .list_objects_v2()
        .bucket("ha-objects")
        .send()
        .await
        .unwrap()
        .key_count()
        .unwrap_or(0) as usize;
    assert!(listed >= objects.len(), "{listed} listed");

    let dns = e2e::dns::udp(net.addr(6, 5300).parse().unwrap(), None);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    for &(i, _) in &records {
        let host = format!("web-{i}.vpc.internal.");
        loop {
            let answer = e2e::dns::ask(&dns, &host, RecordType::A).await;
            if e2e::dns::lines(&answer.answers) == [format!("{host} 60 IN A 10.0.1.{i}")] {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{host} not served: {:?}",
                answer.answers
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The zone's serial moved once per acknowledged change at least.
    let snapshot = zones.read(&origin).await.unwrap();
    let serial = snapshot
        .records
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .unwrap();
    assert!(serial as usize > records.len(), "serial {serial}");
    drop(members);
}
