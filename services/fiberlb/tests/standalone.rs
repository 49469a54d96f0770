//! fiberlb's standalone schema: the design's 2.3 example loads as written
//! and is refused only where fiberlb says what it lacks; any fiberlb a
//! deployment can write, exported and loaded back through
//! `fiberlb-server`'s layers and checks, is the same balancers; and each
//! wrong configuration is named by its key.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use fiberlb::standalone::{Dataplane, DataplaneSection, FiberLbSchema};
use fiberlb::{
    Backend, Balancer, Certificate, Check, FiberLb, Health, HttpStickiness, L4, L4Stickiness, L7,
    Method, Publish, Route, TlsFront,
};
use photon_config::{ComponentDocument, Layers, Sources, load};
use photon_dsl::UrlPathPrefix;
use photon_dsl::protocol::{Dns, Http, HttpGet, OverHttp, RawTcp, S3};
use photon_dsl::{
    Auth, Dep, HostName, Integration, Mode, Node as _, NodeAddress, NodeName, Port, Protocol,
    Secret,
};
use photon_runtime::standalone::round_trip::{context, round_trip};
use photon_runtime::standalone::{StandaloneServer as _, leak};
use proptest::prelude::*;

fn example(name: &str) -> (ComponentDocument<FiberLbSchema>, Layers) {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/standalone/design")
        .join(name);
    load::<ComponentDocument<FiberLbSchema>>(&Sources {
        file: Some(file),
        ..Sources::default()
    })
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_design_example_loads_and_each_thing_fiberlb_lacks_is_refused_by_its_key() {
    let (mut doc, layers) = example("fiberlb-2.3.toml");
    assert_eq!(doc.standalone.loadbalancers.len(), 2);
    assert_eq!(doc.standalone.loadbalancers[0].backends.len(), 2);
    let refused = |doc: &ComponentDocument<FiberLbSchema>| {
        let e = FiberLbSchema::build(doc, &layers).unwrap_err();
        (e.key, e.problem)
    };
    let (key, problem) = refused(&doc);
    assert_eq!(key, "photon.standalone.dataplane");
    assert!(
        problem.contains("the `iptables` dataplane is not available"),
        "{problem}"
    );
    for kernel in [Dataplane::Ipvs, Dataplane::Ebpf] {
        doc.photon.standalone.dataplane = Some(kernel);
        doc.standalone.dataplane = None;
        let (key, problem) = refused(&doc);
        assert_eq!(key, "photon.standalone.dataplane");
        assert!(problem.contains("dataplane is not available"), "{problem}");
    }
    doc.photon.standalone.dataplane = Some(Dataplane::Userspace);
    doc.standalone.dataplane = Some(DataplaneSection {
        kind: Dataplane::Iptables,
    });
    assert_eq!(
        refused(&doc).0,
        "standalone.dataplane.type",
        "the two must agree"
    );
    doc.standalone.dataplane = None;
    assert_eq!(refused(&doc).0, "standalone.server.grpc_addr");
    doc.standalone.server.grpc_addr = None;
    assert_eq!(refused(&doc).0, "standalone.server.metrics_addr");
    doc.standalone.server.metrics_addr = None;
    // TLS offload at L4 (`protocol = "tcp"` with `tls_termination`).
    let (key, problem) = refused(&doc);
    assert_eq!(key, "standalone.loadbalancers[1].tls_termination");
    assert!(
        problem.contains("TLS is terminated by L7 (HTTP) balancers"),
        "{problem}"
    );
    doc.standalone.loadbalancers[1].protocol = "https".to_owned();
    // The design gives api-lb no backends, which fiberlb will not run.
    let (key, problem) = refused(&doc);
    assert_eq!(key, "standalone.loadbalancers[1]");
    assert!(
        problem.contains("balancer `api-lb` has no backends"),
        "{problem}"
    );
    let mut api_1 = doc.standalone.loadbalancers[0].backends[0].clone();
    api_1.name = Some("api-1".to_owned());
    api_1.address = "10.0.0.21".to_owned();
    doc.standalone.loadbalancers[1].backends.push(api_1);
    let built = FiberLbSchema::build(&doc, &layers).unwrap();
    let [web, api] = built.spec.balancers else {
        panic!("two balancers")
    };
    assert_eq!(
        (web.name, web.port.get(), web.protocol),
        ("web-lb", 80, "tcp")
    );
    assert_eq!(
        web.health.check,
        Check::Http {
            path: "/health",
            status: 200
        }
    );
    assert_eq!(web.health.interval, Duration::from_secs(10));
    assert_eq!(
        (api.name, api.protocol, api.method),
        ("api-lb", "http", Method::LeastConnections)
    );
    assert!(
        built
            .listen
            .contains(&("web-lb", "10.0.0.100".parse().unwrap()))
    );
    assert!(
        built
            .listen
            .contains(&("api-lb", "10.0.0.101".parse().unwrap()))
    );
    // The backends are nodes named as the file names them.
    let nodes: Vec<String> = built.remotes.iter().map(|r| r.node().to_string()).collect();
    assert_eq!(nodes, ["web-1", "web-2", "api-1"]);
}

/// `text` as fiberlb-server reads it (a file's worth).
fn build(text: &str) -> Result<(), (String, String)> {
    let mut layers = Layers::new();
    layers
        .text(std::path::Path::new("fiberlb.toml"), text)
        .map_err(|e| ("load".to_owned(), e.to_string()))?;
    let doc: ComponentDocument<FiberLbSchema> = layers
        .extract()
        .map_err(|e| ("load".to_owned(), e.to_string()))?;
    FiberLbSchema::build(&doc, &layers)
        .map(|_| ())
        .map_err(|e| (e.key, e.problem))
}

const HEAD: &str =
    "[photon]\nmode = \"standalone\"\n[standalone.server]\nadmin_api_addr = \"127.0.0.1:8404\"\n";

#[test]
fn a_wrong_balancer_is_named_by_its_key_with_what_to_write() {
    let one =
        |lb: &str| format!("{HEAD}[[standalone.loadbalancers]]\nname = \"web\"\nport = 8080\n{lb}");
    let backend = "[[standalone.loadbalancers.backends]]\naddress = \"10.0.0.1\"\nport = 80\n";
    assert_eq!(
        build(&one(&format!("protocol = \"http\"\n{backend}"))),
        Ok(())
    );
    let cases: &[(&str, &str, &str)] = &[
        (
            "protocol = \"gopher\"\n",
            "standalone.loadbalancers[0].protocol",
            "`gopher` is no protocol fiberlb knows",
        ),
        (
            "protocol = \"etcd-v3\"\nlayer = \"l7\"\n",
            "standalone.loadbalancers[0].layer",
            "`etcd-v3` is not HTTP underneath",
        ),
        (
            "protocol = \"http\"\n",
            "standalone.loadbalancers[0]",
            "has no backends",
        ),
        (
            "protocol = \"tcp\"\npersistence = \"cookie\"\n",
            "standalone.loadbalancers[0].persistence",
            "an L4 balancer sees no cookies",
        ),
        (
            "protocol = \"http\"\npersistence = \"cookie\"\n",
            "standalone.loadbalancers[0].cookie_name",
            "needs the cookie's name",
        ),
        (
            "protocol = \"https\"\n",
            "standalone.loadbalancers[0].tls",
            "TLS termination needs `[tls]`",
        ),
        (
            "protocol = \"tcp\"\n[[standalone.loadbalancers.backends]]\naddress = \"10.0.0.1\"\nport = 80\nweight = 300\n",
            "standalone.loadbalancers[0].backends[0].weight",
            "a weight is 0 to 255",
        ),
        (
            "protocol = \"tcp\"\n[[standalone.loadbalancers.backends]]\naddress = \"10.0.0.1\"\nport = 80\nweight = 0\n",
            "standalone.loadbalancers[0]",
            "gives every backend weight 0",
        ),
        (
            "protocol = \"s3\"\n[[standalone.loadbalancers.backends]]\naddress = \"10.0.0.1\"\nport = 80\npath = \"v1\"\n",
            "standalone.loadbalancers[0].backends[0].address",
            "has no path prefix",
        ),
        (
            "protocol = \"http\"\n[[standalone.loadbalancers.backends]]\nname = \"web-1\"\naddress = \"10.0.0.1\"\nport = 80\n[[standalone.loadbalancers.backends]]\nname = \"web-1\"\naddress = \"10.0.0.2\"\nport = 80\n",
            "standalone.loadbalancers[0].backends[1].address",
            "`web-1` already names the server at 10.0.0.1:80",
        ),
        (
            "protocol = \"http\"\n[[standalone.loadbalancers.backends]]\nname = \"Web_1\"\naddress = \"10.0.0.1\"\nport = 80\n",
            "standalone.loadbalancers[0].backends[0].name",
            "node name",
        ),
        (
            "protocol = \"tcp\"\n[standalone.loadbalancers.healthcheck]\ntype = \"tcp\"\npath = \"/health\"\n",
            "standalone.loadbalancers[0].healthcheck.path",
            "only an `http` check asks a path",
        ),
    ];
    for (lb, key, problem) in cases {
        // A case that writes no backends of its own gets one, but for the
        // case about having none.
        let text = if lb.contains("backends]]") || problem.contains("no backends") {
            one(lb)
        } else {
            one(&format!("{lb}{backend}"))
        };
        let (got_key, got) = build(&text).expect_err(lb);
        assert_eq!(got_key, *key, "{lb}: {got}");
        assert!(got.contains(problem), "{lb}: {got}");
    }
    let (key, problem) = build(HEAD).unwrap_err();
    assert_eq!(key, "standalone.loadbalancers");
    assert!(problem.contains("no balancers"), "{problem}");
    let two = format!(
        "{}[[standalone.loadbalancers]]\nname = \"web\"\nport = 8081\nprotocol = \"tcp\"\n{backend}",
        one(&format!("protocol = \"tcp\"\n{backend}")),
    );
    let (key, problem) = build(&two).unwrap_err();
    assert_eq!(key, "standalone.loadbalancers");
    assert!(
        problem.contains("two balancers are named `web`"),
        "{problem}"
    );
}

photon_dsl::nodes! {
    /// The balancer's node.
    pub Edge = "edge";
}

/// The backends' nodes, reached at `<node>.example` or an address.
const NODES: [&str; 4] = ["web-1", "web-2", "web-3", "web-4"];

fn addresses() -> Vec<(NodeName, NodeAddress)> {
    NODES
        .iter()
        .chain(&["kv-1", "kv-2", "kv-3", "dns"])
        .enumerate()
        .map(|(i, node)| {
            let address = if i % 2 == 0 {
                NodeAddress::Host(format!("{node}.example"))
            } else {
                NodeAddress::Ip(IpAddr::from([192, 0, 2, i as u8]))
            };
            (NodeName::parse(node).unwrap(), address)
        })
        .collect()
}

/// One backend of `P`: a node's endpoint (its port set by the protocol,
/// as one server port speaks one protocol) or an address outside.
fn backend<P: Protocol>(base: u16) -> impl Strategy<Value = Backend<P>> {
    prop_oneof![
        4 => (0..NODES.len(), 0u16..3, "[a-z]{1,6}", 1u8..=255).prop_map(move |(n, k, path, weight)| {
            let path = P::HAS_PATH.then(|| UrlPathPrefix::parse(leak(&path)).unwrap());
            let port = Port::try_from(base + k).unwrap();
            Backend::of(Dep::<P>::from_text(NodeName::parse(NODES[n]).unwrap(), port, path)).weight(weight)
        }),
        1 => (any::<IpAddr>(), 1u16..=65535, 0u8..=255).prop_map(|(ip, port, weight)| {
            Backend::outside_topology(SocketAddr::new(ip, port)).weight(weight)
        }),
    ]
}

fn pool<P: Protocol>(base: u16) -> impl Strategy<Value = &'static [Backend<P>]> {
    (
        backend::<P>(base),
        proptest::collection::vec(backend::<P>(base), 0..3),
    )
        .prop_map(|(first, rest)| {
            // The first takes traffic, so no pool is all weight 0.
            let mut all = vec![first.weight(first.decl().weight.max(1))];
            all.extend(rest);
            &*Box::leak(all.into_boxed_slice())
        })
}

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![
        Just(Health::DEFAULT),
        (
            prop_oneof![
                Just(Check::Connect),
                Just(Check::Protocol),
                ("/[a-z]{0,8}", 100u16..=599).prop_map(|(path, status)| Check::Http {
                    path: leak(&path),
                    status
                }),
            ],
            (1u64..=60_000, 1u64..=60_000, 1u8..=10, 1u8..=10),
        )
            .prop_map(|(check, (interval, timeout, rise, fall))| Health {
                check,
                interval: Duration::from_millis(interval),
                timeout: Duration::from_millis(timeout),
                rise,
                fall,
            }),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::RoundRobin),
        Just(Method::LeastConnections),
        Just(Method::SourceHash)
    ]
}

fn secret() -> impl Strategy<Value = Secret> {
    prop_oneof![
        "[A-Z][A-Z0-9_]{0,20}".prop_map(|n| Secret::try_env(leak(&n)).unwrap()),
        "/etc/[a-z]{1,8}/[a-z]{1,8}\\.key".prop_map(|p| Secret::try_file(leak(&p)).unwrap()),
    ]
}

fn l4<P: Protocol>(base: u16, i: usize) -> impl Strategy<Value = Balancer> {
    (
        pool::<P>(base),
        method(),
        health(),
        any::<bool>(),
        1u64..=3_600_000,
    )
        .prop_map(move |(backends, method, health, sticky, idle)| {
            let l4 = L4 {
                name: leak(&format!("lb{i}")),
                port: Port::try_from(10000 + i as u16).unwrap(),
                backends,
                method,
                health,
                stickiness: if sticky {
                    L4Stickiness::SourceIp
                } else {
                    L4Stickiness::None
                },
                idle_timeout: Duration::from_millis(idle),
            };
            l4.balancer()
        })
}

fn l7<P: OverHttp>(base: u16, i: usize) -> impl Strategy<Value = Balancer> {
    let route = (
        proptest::option::of("[a-z]{1,8}\\.example"),
        proptest::option::of("[a-z]{1,6}(/[a-z]{1,6})?"),
        pool::<P>(base),
    )
        .prop_filter("a route matches something", |(host, path, _)| {
            host.is_some() || path.is_some()
        })
        .prop_map(|(host, path, backends)| Route {
            host: host.map(|h| HostName::parse(leak(&h)).unwrap()),
            path: path.map(|p| UrlPathPrefix::parse(leak(&p)).unwrap()),
            backends,
        });
    (
        pool::<P>(base),
        proptest::collection::vec(route, 0..3),
        method(),
        health(),
        proptest::option::of("[A-Z]{1,8}"),
        proptest::option::of(proptest::collection::vec(
            ("/etc/fiberlb/[a-z]{1,8}\\.crt", secret()),
            1..3,
        )),
        1u64..=600_000,
    )
        .prop_map(
            move |(backends, routes, method, health, cookie, tls, timeout)| {
                let l7 = L7 {
                    name: leak(&format!("lb{i}")),
                    port: Port::try_from(10000 + i as u16).unwrap(),
                    backends,
                    routes: Box::leak(routes.into_boxed_slice()),
                    method,
                    health,
                    stickiness: match cookie {
                        Some(name) => HttpStickiness::Cookie(leak(&name)),
                        None => HttpStickiness::None,
                    },
                    tls: tls.map(|certificates| TlsFront {
                        certificates: Box::leak(
                            certificates
                                .into_iter()
                                .map(|(cert, key)| Certificate {
                                    cert_file: leak(&cert),
                                    key,
                                })
                                .collect::<Vec<_>>()
                                .into_boxed_slice(),
                        ),
                    }),
                    request_timeout: Duration::from_millis(timeout),
                };
                l7.balancer()
            },
        )
}

/// Balancer `i` of any kind fiberlb has, over a protocol of each sort.
fn any_balancer(i: usize) -> impl Strategy<Value = Balancer> {
    prop_oneof![
        l4::<RawTcp>(1000, i),
        l4::<Dns>(2000, i),
        l4::<S3>(3000, i),
        l4::<Http>(4000, i),
        l4::<HttpGet<String, String>>(5000, i),
        l7::<Http>(4000, i),
        l7::<S3>(3000, i),
        l7::<HttpGet<String, String>>(5000, i),
    ]
}

/// An endpoint of `node` on some port.
fn dep<P: Protocol>(node: &'static str) -> impl Strategy<Value = Dep<P>> {
    (1u16..=65535).prop_map(move |port| {
        Dep::from_text(
            NodeName::parse(node).unwrap(),
            Port::try_from(port).unwrap(),
            None,
        )
    })
}

/// Standalone, or integrated with one to three chainfire members and
/// perhaps publishing into a zone of the flashdns on `dns`.
fn integration() -> impl Strategy<Value = (Mode, Publish)> {
    prop_oneof![
        Just((Mode::Standalone, Publish::Off)),
        (
            (dep("kv-1"), dep("kv-2"), dep("kv-3"), 1usize..=3),
            proptest::option::of((dep::<Dns>("dns"), "[a-z]{1,8}\\.internal")),
        )
            .prop_map(|((a, b, c, n), publish)| {
                (
                    Mode::Integrated(Integration {
                        state_store: Box::leak(vec![a, b, c][..n].to_vec().into_boxed_slice()),
                        auth: Auth::Local,
                    }),
                    match publish {
                        None => Publish::Off,
                        Some((server, zone)) => Publish::Dns {
                            zone: leak(&zone),
                            server,
                        },
                    },
                )
            }),
    ]
}

fn spec() -> impl Strategy<Value = FiberLb<Edge>> {
    (
        any_balancer(0),
        proptest::option::of(any_balancer(1)),
        proptest::option::of(any_balancer(2)),
        20000u16..=30000,
        integration(),
    )
        .prop_map(|(first, second, third, admin, (mode, publish))| {
            let balancers: Vec<Balancer> =
                std::iter::once(first).chain(second).chain(third).collect();
            FiberLb {
                admin_port: Port::try_from(admin).unwrap(),
                mode,
                publish,
                ..FiberLb::new(Edge, Box::leak(balancers.into_boxed_slice()))
            }
        })
}

#[test]
fn an_exported_fiberlb_loads_back_as_the_same_balancers() {
    // Balancers are large values (fixed arrays of backends and routes),
    // and proptest's strategies copy them down deep calls: a roomy stack.
    let run = || {
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(&(spec(), any::<IpAddr>()), |(spec, bind)| {
                let problems: Vec<_> = spec.balancers.iter().filter_map(|b| b.problem()).collect();
                prop_assert!(problems.is_empty(), "{problems:?}");
                let ctx = context(Edge::NAME, bind, addresses());
                let back = round_trip::<FiberLbSchema>(&spec, &ctx).unwrap().spec;
                prop_assert_eq!(back.admin_port, spec.admin_port);
                prop_assert_eq!(back.mode.as_str(), spec.mode.as_str());
                match (back.publish, spec.publish) {
                    (Publish::Off, Publish::Off) => {}
                    (Publish::Dns { zone: a, .. }, Publish::Dns { zone: b, .. }) => {
                        prop_assert_eq!(a, b)
                    }
                    (a, b) => prop_assert!(false, "published {a:?}, exported {b:?}"),
                }
                prop_assert_eq!(
                    format!("{:?}", back.balancers),
                    format!("{:?}", spec.balancers)
                );
                for (a, b) in back.balancers.iter().zip(spec.balancers) {
                    prop_assert_eq!(a.health, b.health);
                    prop_assert_eq!(a.layer, b.layer);
                    prop_assert_eq!(a.transport, b.transport);
                }
                Ok(())
            })
            .unwrap();
    };
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn the_binary_refuses_a_kernel_dataplane_with_the_key_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fiberlb.toml");
    std::fs::write(
        &file,
        format!("{HEAD}[photon.standalone]\ndataplane = \"ipvs\"\n"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fiberlb-server"))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:6: `photon.standalone.dataplane`: the `ipvs` dataplane is not available",
            file.display()
        )),
        "{stderr}"
    );
}

#[test]
fn publishing_names_needs_integrated_mode_and_balancer_names_that_are_dns_labels() {
    let lb = |name: &str| {
        format!(
            "[[standalone.loadbalancers]]\nname = \"{name}\"\nport = 8080\nprotocol = \"http\"\n[[standalone.loadbalancers.backends]]\naddress = \"10.0.0.1\"\nport = 80\n"
        )
    };
    let publish = "[standalone.publish]\nzone = \"apps.internal\"\nserver = \"10.0.0.53:53\"\n";
    let integrated = "[photon]\nmode = \"integrated\"\n[photon.integrated]\nchainfire_endpoints = [\"http://10.0.0.9:2379\"]\n[standalone.server]\nadmin_api_addr = \"127.0.0.1:8404\"\n";
    assert_eq!(
        build(&format!("{integrated}{}{publish}", lb("web"))),
        Ok(())
    );
    let (key, problem) = build(&format!("{HEAD}{}{publish}", lb("web"))).unwrap_err();
    assert_eq!(key, "standalone.publish");
    assert!(problem.contains("mode = \"integrated\""), "{problem}");
    let (key, problem) = build(&format!("{integrated}{}{publish}", lb("Web_1"))).unwrap_err();
    assert_eq!(key, "standalone.publish");
    assert!(
        problem.contains("balancer `Web_1` is published as a DNS name"),
        "{problem}"
    );
    let with_photonauth = integrated.replace(
        "chainfire_endpoints",
        "auth_service_endpoint = \"http://10.0.0.7:50051\"\nchainfire_endpoints",
    );
    let (key, problem) = build(&format!("{with_photonauth}{}", lb("web"))).unwrap_err();
    assert_eq!(key, "photon.mode");
    assert!(
        problem.contains("photonauth checks none of fiberlb's requests"),
        "{problem}"
    );
}
