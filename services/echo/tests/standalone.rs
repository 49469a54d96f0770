//! The echo pair's standalone schema: any server or client spec, exported
//! and loaded back through the same layers and checks the binaries use, is
//! the same spec (the client's server a stand-in at the same address).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use echo::standalone::{EchoClientText, EchoServerText, export_client, export_server};
use echo::{EchoClient, EchoServer};
use photon_config::{ComponentDocument, Layers};
use photon_dsl::{Dep, NodeName, Port, Secret, UrlPathPrefix};
use photon_runtime::standalone::StandaloneServer;
use proptest::prelude::*;

photon_dsl::nodes! {
    /// The deployment's node.
    pub Here = "here";
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn token() -> impl Strategy<Value = Option<Secret>> {
    prop_oneof![
        Just(None),
        "[A-Z][A-Z0-9_]{0,12}".prop_map(|n| Some(Secret::try_env(leak(n)).unwrap())),
        "/etc/[a-z]{1,8}/[a-z]{1,8}".prop_map(|p| Some(Secret::try_file(leak(p)).unwrap())),
    ]
}

fn prefix() -> impl Strategy<Value = UrlPathPrefix> {
    "[a-z0-9_]{1,8}(/[a-z0-9_]{1,8}){0,2}".prop_map(|p| UrlPathPrefix::parse(leak(p)).unwrap())
}

/// Loads `doc` back through the layers, as the binary does.
fn load<C: StandaloneServer>(doc: &ComponentDocument<C>) -> (ComponentDocument<C>, Layers) {
    let text = photon_config::to_toml(doc).unwrap();
    let mut layers = Layers::new();
    layers.text(Path::new("exported.toml"), &text).unwrap();
    (layers.extract().unwrap(), layers)
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
        let bind = IpAddr::V4(Ipv4Addr::from(bind));
        let doc = export_server(&spec, bind, "here-echo").unwrap();
        let (loaded, layers) = load::<EchoServerText>(&doc);
        prop_assert_eq!(&loaded, &doc);
        let built = EchoServerText::build(&loaded, &layers).unwrap();
        prop_assert_eq!(built.spec.port, spec.port);
        prop_assert_eq!(built.spec.prefix, spec.prefix);
        prop_assert_eq!(built.spec.token.map(|t| t.source()), spec.token.map(|t| t.source()));
        prop_assert_eq!(built.listen, vec![("echo", bind)]);
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
        let echo = Dep::from_text(NodeName::parse("server").unwrap(), Port::try_from(port).unwrap(), prefix);
        let spec = EchoClient {
            node: Here,
            echo,
            test_message: leak(message),
            poll_interval: Duration::from_millis(interval),
            token,
        };
        let host = Ipv4Addr::from(host);
        let url = match prefix {
            Some(p) => format!("http://{host}:{port}/{}", p.trimmed()),
            None => format!("http://{host}:{port}"),
        };
        let doc = export_client(&spec, "here-echo-client", url, stop.map(Duration::from_millis)).unwrap();
        let (loaded, layers) = load::<EchoClientText>(&doc);
        prop_assert_eq!(&loaded, &doc);
        let built = EchoClientText::build(&loaded, &layers).unwrap();
        let b = built.spec;
        prop_assert_eq!(b.echo.port(), spec.echo.port());
        prop_assert_eq!(b.echo.path(), spec.echo.path());
        prop_assert_eq!(b.test_message, spec.test_message);
        prop_assert_eq!(b.poll_interval, spec.poll_interval);
        prop_assert_eq!(b.token.map(|t| t.source()), spec.token.map(|t| t.source()));
        prop_assert_eq!(built.remotes.len(), 1);
        prop_assert_eq!(built.remotes[0].address(), &photon_dsl::NodeAddress::Ip(IpAddr::V4(host)));
        prop_assert_eq!(
            built.companions.iter().map(|c| c.stops_node_after()).collect::<Vec<_>>(),
            stop.map(Duration::from_millis).into_iter().map(Some).collect::<Vec<_>>()
        );
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
    let doc: ComponentDocument<EchoClientText> = layers.extract().unwrap();
    EchoClientText::build(&doc, &layers)
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
