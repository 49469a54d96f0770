//! The echo pair's standalone schema: any server or client spec, exported
//! and loaded back through the same layers and checks the binaries use, is
//! the same spec (the client's server a stand-in at the same address):
//! the runtime's round trip, given echo's specs.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use echo::standalone::{EchoClientSchema, EchoServerSchema};
use echo::{EchoClient, EchoServer};
use photon_config::{ComponentDocument, Layers};
use photon_dsl::{Dep, Node as _, NodeAddress, NodeName, Port, Secret, UrlPathPrefix};
use photon_runtime::standalone::StandaloneServer;
use photon_runtime::standalone::leak;
use photon_runtime::standalone::round_trip::{context, round_trip};
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's node.
    pub Here = "here";
}

fn token() -> impl Strategy<Value = Option<Secret>> {
    prop_oneof![
        Just(None),
        "[A-Z][A-Z0-9_]{0,12}".prop_map(|n| Some(Secret::try_env(leak(&n)).unwrap())),
        "/etc/[a-z]{1,8}/[a-z]{1,8}".prop_map(|p| Some(Secret::try_file(leak(&p)).unwrap())),
    ]
}

fn prefix() -> impl Strategy<Value = UrlPathPrefix> {
    "[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}".prop_map(|p| UrlPathPrefix::parse(leak(&p)).unwrap())
}

proptest! {
    #[test]
    fn a_server_loads_back_as_the_same_spec(
        port in 1u16..=65535,
        prefix in prefix(),
        token in token(),
        bind in any::<[u8; 4]>(),
    ) {
        let spec = EchoServer { node: Here, port: Port::try_from(port).unwrap(), prefix, token };
        let ctx = context(Here::NAME, IpAddr::V4(Ipv4Addr::from(bind)), Vec::new());
        let built = round_trip::<EchoServerSchema>(&spec, &ctx).unwrap();
        prop_assert_eq!(built.spec.prefix, spec.prefix);
    }

    #[test]
    fn a_client_loads_back_as_the_same_spec(
        port in 1u16..=65535,
        prefix in proptest::option::of(prefix()),
        host in any::<[u8; 4]>(),
        message in "[ -~]{0,30}",
        interval in 1u64..=3_600_000,
        stop in proptest::option::of(1u64..=3_600_000),
        token in token(),
    ) {
        let server = NodeName::parse("server").unwrap();
        let spec = EchoClient {
            node: Here,
            echo: Dep::from_text(server, Port::try_from(port).unwrap(), prefix),
            test_message: leak(&message),
            poll_interval: Duration::from_millis(interval),
            token,
        };
        let host = NodeAddress::Ip(IpAddr::V4(Ipv4Addr::from(host)));
        let mut ctx = context(Here::NAME, IpAddr::V4(Ipv4Addr::LOCALHOST), vec![(server, host)]);
        ctx.stops_node_after = stop.map(Duration::from_millis);
        let built = round_trip::<EchoClientSchema>(&spec, &ctx).unwrap();
        prop_assert_eq!(built.spec.echo.path(), spec.echo.path());
        prop_assert_eq!(built.spec.test_message, spec.test_message);
        prop_assert_eq!(built.spec.poll_interval, spec.poll_interval);
    }
}

/// The error `echo-client` gives for `[standalone.client]` written as `text`.
fn client_error(text: &str) -> String {
    let mut layers = Layers::new();
    layers
        .text(
            Path::new("c.toml"),
            &format!("[standalone.client]\n{text}\n"),
        )
        .unwrap();
    let doc: ComponentDocument<EchoClientSchema> = layers.extract().unwrap();
    EchoClientSchema::build(&doc, &layers)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_bad_echo_url_or_interval_is_named_by_its_key() {
    for (text, error) in [
        (
            "test_message = \"x\"",
            "c.toml:1: `standalone.client.echo_url`: required: the echo server, such as `http://echo-01:8080/echo`",
        ),
        (
            "echo_url = \"http://server/echo\"",
            "c.toml:2: `standalone.client.echo_url`: `http://server/echo` has no port: write `http://host:port`, such as `http://chainfire:2379`",
        ),
        (
            "echo_url = \"http://server:0/echo\"",
            "c.toml:2: `standalone.client.echo_url`: `0` in `http://server:0/echo` is not a port: a port is 1 to 65535",
        ),
        (
            "echo_url = \"http://:8080\"",
            "c.toml:2: `standalone.client.echo_url`: `http://:8080` has no host",
        ),
        (
            "echo_url = \"http://server:8080/a b\"",
            "c.toml:2: `standalone.client.echo_url`: the path of `http://server:8080/a b`: ",
        ),
        (
            "echo_url = \"http://server:8080\"\npoll_interval_ms = 0",
            "c.toml:3: `standalone.client.poll_interval_ms`: at least 1 millisecond",
        ),
    ] {
        let got = client_error(text);
        assert!(got.starts_with(error), "{text}: {got}");
    }
}
