//! `deploy-chainfire-cluster` on three hosts: one network namespace per
//! member, each with its own address, reaching the others by name
//! (`run --node kv-N --host-names`), as on three machines
//! (`e2e::netns`). With a member cut off, the other two keep serving, and
//! the cut member catches up when it comes back. A history of concurrent
//! etcd clients recorded through cuts, slowed links and SIGKILLed members
//! is linearizable (`e2e::linearizability`, a port of Porcupine's
//! algorithm), and no acknowledged write is lost.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e::Running;
use e2e::etcd::{MEMBERS, leader};
use e2e::linearizability::{Event, History, Op};
use e2e::netns::Hosts;

const DEPLOYMENT: &str = "chainfire-cluster";

/// The three members, each on its own host, once each sees a leader.
async fn start(hosts: &Hosts, states: &[PathBuf]) -> Vec<Running> {
    let members: Vec<Running> = MEMBERS
        .iter()
        .zip(states)
        .map(|(node, state)| hosts.run_node(DEPLOYMENT, node, state, &[]))
        .collect();
    for (node, member) in MEMBERS.iter().zip(&members) {
        if let Err(problem) = leader(&hosts.addr(node, 2379), Duration::from_secs(60)).await {
            panic!("{problem}; {node}'s log:\n{}", member.log());
        }
    }
    members
}

fn states(dir: &tempfile::TempDir) -> Vec<PathBuf> {
    MEMBERS.iter().map(|n| dir.path().join(n)).collect()
}

/// Short timeouts: a member cut off must not hold a client for long.
fn options() -> etcd_client::ConnectOptions {
    etcd_client::ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(1))
        .with_timeout(Duration::from_secs(2))
}

async fn client(endpoints: &[String]) -> etcd_client::Client {
    etcd_client::Client::connect(endpoints, Some(options()))
        .await
        .expect("the cluster answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_member_does_not_stop_the_cluster_and_catches_up_when_back() {
    let Some(hosts) = Hosts::create_or_skip(&MEMBERS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let members = start(&hosts, &states(&dir)).await;
    let all: Vec<String> = MEMBERS.iter().map(|n| hosts.addr(n, 2379)).collect();
    let mut kv = client(&all).await;
    for i in 0..50 {
        kv.put(format!("before/{i}"), "x", None).await.unwrap();
    }

    hosts.cut("kv-3");
    let mut two = client(&all[..2]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut written = 0;
    while written < 50 {
        match two.put(format!("during/{written}"), "y", None).await {
            Ok(_) => written += 1,
            // a new leader is being elected if kv-3 led
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the two members left stopped serving: {e}"),
        }
    }
    let (_, health) = e2e::http_get(&format!("http://{}", all[0]), "/health").await;
    assert!(health.contains("\"status\":\"healthy\""), "{health}");

    // Back, it catches up: a linearizable read through kv-3 alone sees
    // every write made while it was away.
    hosts.heal("kv-3");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let caught_up = async {
            let mut three = client(&all[2..]).await;
            let got = three
                .get(
                    "during/",
                    Some(
                        etcd_client::GetOptions::new()
                            .with_prefix()
                            .with_count_only(),
                    ),
                )
                .await
                .ok()?;
            Some(got.count())
        }
        .await;
        if caught_up == Some(50) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kv-3 has {caught_up:?} of 50 writes 30 s after it came back; its log:\n{}",
            members[2].log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One client's loop: on three registers, writes of values unique to it
/// and linearizable reads, each recorded with its call and return times
/// (a write without an answer in 2 s has an unknown outcome); and a
/// unique key per acknowledged write, to count none lost.
async fn clients_loop(
    id: usize,
    endpoints: Vec<String>,
    stop: Arc<AtomicBool>,
) -> (History, Vec<String>) {
    let mut history = History::default();
    let mut acknowledged = Vec::new();
    let mut n = 0u64;
    let mut kv: Option<etcd_client::Client> = None;
    while !stop.load(Ordering::Relaxed) {
        let client = match &mut kv {
            Some(c) => c,
            None => match etcd_client::Client::connect(&endpoints, Some(options())).await {
                Ok(c) => kv.insert(c),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        n += 1;
        let key = format!("reg/{}", n % 3);
        let call = Instant::now();
        if n.is_multiple_of(2) {
            let value = format!("c{id}-{n}");
            let answer = tokio::time::timeout(
                Duration::from_secs(2),
                client.put(key.clone(), value.clone(), None),
            )
            .await;
            let acked = matches!(answer, Ok(Ok(_)));
            history.push(Event {
                key: key.clone(),
                op: Op::Put(value.clone()),
                call,
                ret: acked.then(Instant::now),
            });
            if acked {
                // the register's write, acknowledged: also kept under its own key
                let unique = format!("ack/{value}");
                if matches!(
                    tokio::time::timeout(
                        Duration::from_secs(2),
                        client.put(unique.clone(), "1", None)
                    )
                    .await,
                    Ok(Ok(_))
                ) {
                    acknowledged.push(unique);
                }
            } else {
                kv = None;
            }
        } else {
            let answer =
                tokio::time::timeout(Duration::from_secs(2), client.get(key.clone(), None)).await;
            match answer {
                Ok(Ok(got)) => history.push(Event {
                    key,
                    op: Op::Get(
                        got.kvs()
                            .first()
                            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
                    ),
                    call,
                    ret: Some(Instant::now()),
                }),
                // a read without an answer constrains nothing
                _ => kv = None,
            }
        }
    }
    (history, acknowledged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn histories_through_cuts_slow_links_and_killed_members_are_linearizable() {
    let Some(hosts) = Hosts::create_or_skip(&MEMBERS) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let states = states(&dir);
    let mut members: Vec<Option<Running>> =
        start(&hosts, &states).await.into_iter().map(Some).collect();
    let endpoints: Vec<String> = MEMBERS.iter().map(|n| hosts.addr(n, 2379)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|id| {
            // each client talks to one member first, and moves on when it fails
            let mut mine = endpoints.clone();
            mine.rotate_left(id % 3);
            tokio::spawn(clients_loop(id, mine, stop.clone()))
        })
        .collect();

    // The nemesis: each member in turn is cut off, slowed, and killed.
    for (round, node) in MEMBERS.iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        hosts.cut(node);
        tokio::time::sleep(Duration::from_secs(3)).await;
        hosts.heal(node);
        hosts.slow(node, Some("200kbit"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        hosts.slow(node, None);
        let mut member = members[round].take().expect("running");
        member.signal("KILL");
        member.wait(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(2)).await;
        members[round] = Some(hosts.run_node(DEPLOYMENT, node, &states[round], &[]));
        if let Err(problem) = leader(&hosts.addr(node, 2379), Duration::from_secs(30)).await {
            panic!("{problem} after {node} restarted");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);

    let mut history = History::default();
    let mut acknowledged = Vec::new();
    for c in clients {
        let (h, acked) = c.await.unwrap();
        history.extend(h);
        acknowledged.extend(acked);
    }
    assert!(
        history.len() > 100,
        "only {} operations recorded",
        history.len()
    );
    // the faults were felt: some writes went unanswered
    assert!(
        history.unanswered() > 0,
        "no write of {} went unanswered",
        history.len()
    );
    if let Err(problem) = history.check() {
        panic!("not linearizable: {problem}");
    }

    // Every acknowledged write is there, read through each member.
    for endpoint in &endpoints {
        let mut kv = client(std::slice::from_ref(endpoint)).await;
        let got = kv
            .get(
                "ack/",
                Some(
                    etcd_client::GetOptions::new()
                        .with_prefix()
                        .with_keys_only(),
                ),
            )
            .await
            .unwrap();
        let present: std::collections::HashSet<String> = got
            .kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
            .collect();
        let lost: Vec<&String> = acknowledged
            .iter()
            .filter(|k| !present.contains(*k))
            .collect();
        assert!(
            lost.is_empty(),
            "{endpoint} lost acknowledged writes: {lost:?}"
        );
    }
    assert!(
        acknowledged.len() > 20,
        "only {} writes acknowledged",
        acknowledged.len()
    );
}

/// What systemd would run for a unit: its `ExecStart=` words, and the
/// credentials it loads (`LoadCredential=<name>:<path>`).
fn unit_command(unit: &str) -> (Vec<String>, Vec<(String, String)>) {
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    let credentials = unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
        .map(|c| {
            let (name, from) = c.split_once(':').expect("name:path");
            (name.to_owned(), from.to_owned())
        })
        .collect();
    (exec.split(' ').map(str::to_owned).collect(), credentials)
}

/// The units `export --format systemd` writes for `deploy-echo-token`,
/// each run as systemd would on the host of its node: its `ExecStart=` in
/// the node's namespace, a private `/var/lib/photoncloud` (its
/// `StateDirectory=`), and its credentials in `$CREDENTIALS_DIRECTORY`
/// (the token is in no environment). The client's echoes cross hosts and
/// carry the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exported_systemd_units_run_the_deployment_across_hosts() {
    let Some(hosts) = Hosts::create_or_skip(&["server", "client"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let binary = e2e::deployment("echo-token");
    let units = dir.path().join("units");
    let exported = e2e::output(
        "echo-token",
        &[
            "export",
            "--format",
            "systemd",
            "--out",
            units.to_str().unwrap(),
            "--binary-path",
            binary.to_str().unwrap(),
        ],
    );
    assert!(exported.status.success(), "{exported:?}");
    std::fs::create_dir_all("/var/lib/photoncloud").unwrap();
    let mut running = Vec::new();
    for node in ["server", "client"] {
        let unit =
            std::fs::read_to_string(units.join(format!("photoncloud-echo-token-{node}.service")))
                .unwrap();
        let (command, credentials) = unit_command(&unit);
        assert_eq!(
            credentials,
            [(
                "ECHO_TOKEN".to_owned(),
                "/etc/photoncloud/credentials/ECHO_TOKEN".to_owned()
            )]
        );
        // systemd copies each credential into a directory of the unit's own
        let handed = dir.path().join(format!("{node}-credentials"));
        std::fs::create_dir_all(&handed).unwrap();
        std::fs::write(handed.join("ECHO_TOKEN"), "a-token-from-credentials\n").unwrap();
        let state = dir.path().join(format!("{node}-state"));
        std::fs::create_dir_all(&state).unwrap();
        let script = format!(
            "mount --bind {} /var/lib/photoncloud && exec {}",
            state.display(),
            command.join(" ")
        );
        running.push(hosts.start(
            node,
            std::path::Path::new("/usr/bin/unshare"),
            &["--mount", "sh", "-c", &script],
            &[("CREDENTIALS_DIRECTORY", handed.to_str().unwrap())],
        ));
    }
    // the server refuses a request without the token: a reply is proof
    // both read it from their credentials
    let reply = running[1].wait_for("echo reply", Duration::from_secs(60));
    assert!(reply.contains("dolly"), "{reply}");
}
