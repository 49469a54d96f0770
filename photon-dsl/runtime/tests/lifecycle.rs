//! The supervisor on recording services: start order, reverse stop order,
//! readiness waits, and cleanup when a start fails.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use photon_dsl::prelude::*;
use photon_dsl::{
    ConfigVersion, DeploymentName, Provides, Resolver, ServiceDecl, ServiceSpec, Topology,
};
use photon_runtime::{
    BoxFuture, RunError, RunOptions, Running, Service, ServiceError, StartContext, run,
};

type Log = &'static Mutex<Vec<String>>;

fn new_log() -> Log {
    Box::leak(Box::new(Mutex::new(Vec::new())))
}

nodes! {
    pub One = "one";
    pub Two = "two";
}

photon_dsl::listener! {
    /// A recorder's one listener.
    Main: RawTcp = "main";
}

/// Listens on `port` (if any), needs `upstream` (if any), logs start and stop.
// `node` fixes the node type; only `Debug` (the fingerprint) reads it.
#[allow(dead_code)]
#[derive(Debug)]
struct Recorder<N: Node> {
    node: N,
    kind: &'static str,
    port: Option<Port>,
    upstream: Option<Dep<RawTcp>>,
    fail_start: bool,
    /// Asks for its listener twice (a server bug the runtime must name).
    take_twice: bool,
    log: Log,
}

impl<N: Node> ServiceSpec for Recorder<N> {
    fn declare(&self) -> ServiceDecl {
        let mut d = ServiceDecl::new::<N>(self.kind).needs_optional("upstream", &self.upstream);
        if let Some(port) = self.port {
            d = d.listens_on::<Main>(port);
        }
        d
    }
}
/// A recorder that starts normally.
fn rec<N: Node>(
    node: N,
    kind: &'static str,
    port: Option<Port>,
    upstream: Option<Dep<RawTcp>>,
    log: Log,
) -> Recorder<N> {
    Recorder {
        node,
        kind,
        port,
        upstream,
        fail_start: false,
        take_twice: false,
        log,
    }
}

impl<N: Node> photon_dsl::Declares<Main> for Recorder<N> {}

impl<N: Node> Provides<RawTcp> for Recorder<N> {
    type OnNode = N;
}
impl<N: Node> Recorder<N> {
    fn endpoint(&self) -> Dep<RawTcp> {
        Dep::on(Endpoint::provided_by(self, self.port.unwrap(), None))
    }
}

impl<N: Node> Service for Recorder<N> {
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        Box::pin(async move {
            if self.fail_start {
                return Err(format!("{} refuses to start", self.kind).into());
            }
            let listener = match self.port {
                Some(_) => Some(ctx.tcp(Main, self)?),
                None => None,
            };
            if self.take_twice {
                ctx.tcp(Main, self)?;
            }
            self.log
                .lock()
                .unwrap()
                .push(format!("start {}", self.kind));
            let (kind, log) = (self.kind, self.log);
            let running: Running = Box::pin(async move {
                ctx.shutdown.cancelled().await;
                drop(listener);
                log.lock().unwrap().push(format!("stop {kind}"));
                Ok(())
            });
            Ok(running)
        })
    }
}

fn topology(services: Vec<Box<dyn Service>>) -> Topology<dyn Service> {
    let mut t = Topology::<dyn Service>::new(
        DeploymentName::from_literal("lifecycle"),
        ConfigVersion::from_literal("0.1.0", "test"),
    )
    .with_node(One::NAME)
    .with_node(Two::NAME);
    for s in services {
        t = t.with_service(s);
    }
    t
}

fn options(t: &Topology<dyn Service>, base: [u8; 3], nodes: &[&str], wait: Duration) -> RunOptions {
    let resolver = Arc::new(
        Resolver::new(
            t.nodes().to_vec(),
            photon_dsl::AddressPlan::Loopback,
            Ipv4Addr::new(base[0], base[1], base[2], 0),
        )
        .unwrap(),
    );
    RunOptions {
        nodes: nodes.iter().map(|n| resolver.node(n).unwrap()).collect(),
        resolver,
        dependency_timeout: wait,
        stop_timeout: Duration::from_secs(5),
        state_root: std::env::temp_dir().join("photon-lifecycle-tests"),
        standalone: None,
        skew: Default::default(),
    }
}

#[tokio::test]
async fn starts_in_dependency_order_and_stops_in_reverse_with_two_nodes_on_one_port() {
    let log = new_log();
    let db = rec(One, "db", Some(port!(41001)), None, log);
    // Same port as db: each node has its own loopback address, so no collision.
    let api = rec(Two, "api", Some(port!(41001)), Some(db.endpoint()), log);
    let web = rec(Two, "web", None, Some(api.endpoint()), log);
    // Declared out of order on purpose: the supervisor must sort them.
    let t = topology(vec![
        Box::new(web),
        Box::new(Lifetime {
            node: One,
            after: Duration::from_millis(300),
        }),
        Box::new(Lifetime {
            node: Two,
            after: Duration::from_millis(300),
        }),
        Box::new(api),
        Box::new(db),
    ]);
    let opts = options(&t, [127, 0, 41], &["one", "two"], Duration::from_secs(5));
    run(&t, opts).await.unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(&log[..3], ["start db", "start api", "start web"]);
    // Each node stops in reverse start order when its lifetime ends.
    let stop = |k: &str| log.iter().position(|l| l == &format!("stop {k}")).unwrap();
    assert!(stop("web") < stop("api"), "{log:?}");
    assert_eq!(log.len(), 6, "{log:?}");
}

#[tokio::test]
async fn a_failed_start_stops_what_already_started_in_reverse() {
    let log = new_log();
    let a = rec(One, "a", Some(port!(41011)), None, log);
    let b = rec(One, "b", Some(port!(41012)), Some(a.endpoint()), log);
    let c = Recorder {
        node: One,
        kind: "c",
        port: None,
        upstream: Some(b.endpoint()),
        fail_start: true,
        take_twice: false,
        log,
    };
    let t = topology(vec![Box::new(a), Box::new(b), Box::new(c)]);
    let err = run(
        &t,
        options(&t, [127, 0, 42], &["one"], Duration::from_secs(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        photon_runtime::error_chain(&err),
        "one/c failed to start: c refuses to start"
    );
    assert_eq!(
        *log.lock().unwrap(),
        ["start a", "start b", "stop b", "stop a"]
    );
}

#[tokio::test]
async fn a_service_waits_for_a_dependency_on_another_node_and_names_it_when_it_never_comes() {
    let log = new_log();
    let db = rec(One, "db", Some(port!(41021)), None, log);
    let app = rec(Two, "app", None, Some(db.endpoint()), log);
    let t = topology(vec![Box::new(db), Box::new(app)]);
    // Only node `two` runs here; node `one` (the db) never comes up.
    let err = run(
        &t,
        options(&t, [127, 0, 43], &["two"], Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, RunError::DependencyTimeout { .. }));
    assert_eq!(
        err.to_string(),
        "two/app waited 300ms for `upstream` (tcp at node `one`, 127.0.43.1:41021) and it never answered"
    );
    assert!(
        log.lock().unwrap().is_empty(),
        "nothing may start before its dependency"
    );
}

#[tokio::test]
async fn a_dependency_that_comes_up_late_is_waited_for() {
    let log = new_log();
    let db = rec(One, "db", Some(port!(41031)), None, log);
    let app = rec(Two, "app", None, Some(db.endpoint()), log);
    let t = topology(vec![
        Box::new(db),
        Box::new(app),
        Box::new(Lifetime {
            node: Two,
            after: Duration::from_millis(100),
        }),
    ]);
    // The "other machine" opens the db port 400 ms later.
    let late = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let l = tokio::net::TcpListener::bind("127.0.44.1:41031")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(l);
    });
    run(
        &t,
        options(&t, [127, 0, 44], &["two"], Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(*log.lock().unwrap(), ["start app", "stop app"]);
    late.abort();
}

#[tokio::test]
async fn a_lifetime_that_ends_during_a_dependency_wait_neither_cuts_the_wait_nor_is_lost() {
    let log = new_log();
    let db = rec(One, "db", Some(port!(41041)), None, log);
    let app = rec(Two, "app", None, Some(db.endpoint()), log);
    let t = topology(vec![
        // Declared first: starts first, and runs out while `app` still waits.
        Box::new(Lifetime {
            node: Two,
            after: Duration::from_millis(100),
        }),
        Box::new(db),
        Box::new(app),
    ]);
    let came_up = std::sync::Arc::new(std::sync::Mutex::new(None));
    let flag = came_up.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let l = tokio::net::TcpListener::bind("127.0.45.1:41041")
            .await
            .unwrap();
        *flag.lock().unwrap() = Some(std::time::Instant::now());
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(l);
    });
    let run = run(
        &t,
        options(&t, [127, 0, 45], &["two"], Duration::from_secs(10)),
    );
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the node's stop request was lost: the run never ended")
        .unwrap();
    assert!(
        came_up.lock().unwrap().is_some(),
        "app started before its dependency answered"
    );
    assert_eq!(*log.lock().unwrap(), ["start app", "stop app"]);
    late.abort();
}

#[tokio::test]
async fn a_listener_taken_twice_fails_the_start_naming_node_service_and_listener() {
    let log = new_log();
    let twice = Recorder {
        take_twice: true,
        ..rec(One, "twice", Some(port!(41051)), None, log)
    };
    let t = topology(vec![Box::new(twice)]);
    let err = run(
        &t,
        options(&t, [127, 0, 46], &["one"], Duration::from_secs(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        photon_runtime::error_chain(&err),
        "one/twice failed to start: node `one`: service `twice` took its `main` tcp socket twice"
    );
    assert!(log.lock().unwrap().is_empty());
}
