//! What a component's schema glue returns ([`Built`]) and the remote
//! providers a text configuration names by URL ([`Remotes`]).

use std::net::IpAddr;
use std::path::PathBuf;

use photon_config::{ComponentDocument, ConfigError, Layers, OperationMode};
use photon_dsl::protocol::{EtcdV3, PhotonAuthApi};
use photon_dsl::{
    Auth, Declares, Dep, Hybrid, Integration, Kept, Listener, Mode, NodeAddress, NodeName, Port,
    Protocol, ServiceDecl,
};

use crate::{Peer, Service};

/// A component's typed spec, built from text, and where its listeners
/// bind. Start with [`Built::new`]; each listener's address is set by its
/// typed key, so a listener the spec does not declare is a compile error.
#[derive(Debug)]
pub struct Built<S> {
    /// The spec, as a deployment would write it.
    pub spec: S,
    /// Each listener's address (by listener name).
    pub listen: Vec<(&'static str, IpAddr)>,
    /// Where the service keeps its state, if the configuration says
    /// (`<state dir>/standalone/local/<component>` otherwise).
    pub state_dir: Option<PathBuf>,
    /// The other members of its cluster (chainfire's peers).
    pub peers: Vec<Peer>,
    /// The remote services its dependencies name (`chainfire_endpoints`),
    /// each a stand-in on a node of its own.
    pub remotes: Vec<Remote>,
    /// Services that run beside it ([`Lifetime`](photon_dsl::Lifetime)
    /// for `stop_after_ms`).
    pub companions: Vec<Box<dyn Service>>,
}

impl<S: Service> Built<S> {
    /// `spec` alone: every listener on the loopback address until
    /// [`listen`](Self::listen) says otherwise, its state in the default
    /// directory, no peers, remotes or companions.
    pub fn new(spec: S) -> Self {
        Built {
            spec,
            listen: Vec::new(),
            state_dir: None,
            peers: Vec::new(),
            remotes: Vec::new(),
            companions: Vec::new(),
        }
    }

    /// Listener `L` binds on `ip`.
    pub fn listen<L: Listener>(mut self, key: L, ip: IpAddr) -> Self
    where
        S: Declares<L>,
    {
        let name = photon_dsl::listener_name(key, &self.spec);
        self.listen.push((name, ip));
        self
    }

    /// The service keeps its state in `dir`.
    pub fn state_dir(mut self, dir: PathBuf) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// The other members of its cluster.
    pub fn peers(mut self, peers: Vec<Peer>) -> Self {
        self.peers = peers;
        self
    }

    /// The providers its dependencies name.
    pub fn remotes(mut self, remotes: Remotes<'_>) -> Self {
        self.remotes = remotes.list;
        self
    }

    /// A service that runs beside it.
    pub fn companion(mut self, companion: Box<dyn Service>) -> Self {
        self.companions.push(companion);
        self
    }
}

/// A remote provider a configuration names (chainfire at
/// `http://chainfire:2379`), standing in on its own node so the topology
/// checks find a provider for the dependency, as they would in a
/// deployment. It is never started here, and not probed: a text
/// configuration's remote is reached by the component itself (or by the
/// integration step, before anything starts).
#[derive(Debug, Clone)]
pub struct Remote {
    pub(super) decl: ServiceDecl,
    address: NodeAddress,
}

impl Remote {
    /// Its node (`etcd-v3-1`: the protocol's name, numbered).
    pub fn node(&self) -> NodeName {
        self.decl.node()
    }

    /// Where it is reached.
    pub fn address(&self) -> &NodeAddress {
        &self.address
    }
}

impl photon_dsl::ServiceSpec for Remote {
    fn declare(&self) -> ServiceDecl {
        self.decl
    }
}

impl Service for Remote {
    fn start(
        &self,
        _ctx: crate::StartContext,
    ) -> crate::BoxFuture<'_, Result<crate::Running, crate::ServiceError>> {
        Box::pin(async { Err("a remote service runs elsewhere; it is not started here".into()) })
    }

    fn probe<'a>(
        &'a self,
        _target: crate::ProbeTarget<'a>,
    ) -> crate::BoxFuture<'a, Result<String, crate::ServiceError>> {
        Box::pin(async { Ok("remote, written in the configuration; not checked here".to_owned()) })
    }
}

/// The remote providers one configuration names, each on a node named
/// after its protocol and numbered (`etcd-v3-1`, `etcd-v3-2`,
/// `photonauth-1`), so no two collide and nothing is spelt by hand.
#[derive(Debug)]
pub struct Remotes<'l> {
    layers: &'l Layers,
    list: Vec<Remote>,
}

impl<'l> Remotes<'l> {
    /// None yet; errors are located by `layers`.
    pub fn new(layers: &'l Layers) -> Self {
        Remotes {
            layers,
            list: Vec::new(),
        }
    }

    /// The dependency on protocol `P` that `url` (the value at `key`)
    /// names: `http://host:port[/path]` or `host:port`. Its node is named
    /// after the protocol and numbered.
    pub fn add<P: Protocol>(&mut self, key: &str, url: &str) -> Result<Dep<P>, ConfigError> {
        self.add_named::<P>(key, url, None)
    }

    /// As [`add`](Self::add), on a node the configuration names (a
    /// balancer's backend `web-1`). The same name again is the same server:
    /// it must be at the same address; another port is another listener
    /// of it.
    pub fn add_as<P: Protocol>(
        &mut self,
        key: &str,
        url: &str,
        node: NodeName,
    ) -> Result<Dep<P>, ConfigError> {
        self.add_named::<P>(key, url, Some(node))
    }

    /// Says that the remote serving `server` keeps zone `zone` in
    /// chainfire (as an integrated flashdns's stored zone), as the
    /// configuration that publishes into it implies: a remote is not
    /// checked here, so the topology takes the configuration's word.
    pub fn keeps_stored_zone(&mut self, server: &Dep<photon_dsl::protocol::Dns>, zone: &str) {
        if let Some(remote) = self.list.iter_mut().find(|r| r.node() == server.node()) {
            remote.decl = remote.decl.keeps_stored_zone(leak(zone));
        }
    }

    /// Says that the remote bus serving `bus` keeps JetStream stream
    /// `stream`, as the configuration naming a subject kept in it
    /// implies (a remote is not checked here).
    pub fn keeps_stream(&mut self, bus: &Dep<photon_dsl::protocol::Nats>, stream: &str) {
        if let Some(remote) = self.list.iter_mut().find(|r| r.node() == bus.node()) {
            remote.decl = remote.decl.holds(photon_dsl::events::STREAM, leak(stream));
        }
    }

    fn add_named<P: Protocol>(
        &mut self,
        key: &str,
        url: &str,
        named: Option<NodeName>,
    ) -> Result<Dep<P>, ConfigError> {
        let problem = |what: String| config_error(self.layers, key, what);
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .or_else(|| url.strip_prefix("nats://"))
            .unwrap_or(url);
        let (authority, path) = match rest.split_once('/') {
            Some((authority, path)) => (authority, Some(path.trim_end_matches('/'))),
            None => (rest, None),
        };
        let (host, port) = authority.rsplit_once(':').ok_or_else(|| {
            problem(format!(
                "`{url}` has no port: write `http://host:port`, such as `http://chainfire:2379`"
            ))
        })?;
        let port = port
            .parse::<u16>()
            .ok()
            .and_then(|p| Port::try_from(p).ok())
            .ok_or_else(|| {
                problem(format!(
                    "`{port}` in `{url}` is not a port: a port is 1 to 65535"
                ))
            })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(problem(format!("`{url}` has no host")));
        }
        let address = match host.parse::<IpAddr>() {
            Ok(ip) => NodeAddress::Ip(ip),
            Err(_) => NodeAddress::Host(host.to_owned()),
        };
        let path = match path {
            Some(path) if !path.is_empty() => {
                if !P::HAS_PATH {
                    return Err(problem(format!(
                        "`{url}` has a path, but {} has no path prefix",
                        P::NAME
                    )));
                }
                Some(
                    photon_dsl::UrlPathPrefix::parse(leak(path))
                        .map_err(|e| problem(format!("the path of `{url}`: {e}")))?,
                )
            }
            _ => None,
        };
        let node = match named {
            Some(node) => node,
            None => {
                let numbered = self
                    .list
                    .iter()
                    .filter(|r| r.decl.listeners().any(|l| l.name == P::NAME))
                    .count()
                    + 1;
                NodeName::parse(leak(&format!("{}-{numbered}", P::NAME)))
                    .map_err(|e| problem(format!("cannot name its node: {e}")))?
            }
        };
        if let Some(known) = self.list.iter_mut().find(|r| r.node() == node) {
            if known.address != address {
                return Err(problem(format!(
                    "`{node}` already names the server at {}: one name, one server",
                    known.address.with_port(port.get()),
                )));
            }
            let on_port = known
                .decl
                .listeners()
                .find(|l| l.port == port)
                .map(|l| l.protocol);
            match on_port {
                Some(protocol) if protocol == P::NAME => {}
                Some(protocol) => {
                    return Err(problem(format!(
                        "`{node}` port {port} is given as {} here and as {protocol} before",
                        P::NAME,
                    )));
                }
                // Another port of the same server.
                None => {
                    known.decl = known
                        .decl
                        .listens::<P>(leak(&format!("{}-{port}", P::NAME)), port);
                }
            }
        } else {
            let decl = ServiceDecl::on_node(node, "remote").listens::<P>(P::NAME, port);
            self.list.push(Remote { decl, address });
        }
        Ok(Dep::from_text(node, port, path))
    }
}

/// `text` as the `&'static str` a spec holds: a server's configuration
/// is loaded once and lives as long as the process.
pub fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// A configuration error at `key`, located by `layers`.
pub fn config_error(layers: &Layers, key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        origin: layers.origin(key),
        problem: problem.into(),
    }
}

/// Where a TOML section may give a secret: its value, a file holding it,
/// or an environment variable holding it (exactly one).
#[derive(Debug, Clone, Copy)]
pub struct SecretKeys<'a> {
    /// The section (`standalone.auth`).
    pub section: &'a str,
    /// The key holding the value (`secret_key`).
    pub value: &'a str,
    /// The key naming a file (`credentials_file`).
    pub file: &'a str,
    /// The key naming an environment variable (`secret_key_env`).
    pub env: &'a str,
    /// What the secret is, for messages (`the secret key`).
    pub what: &'a str,
}

/// The admin token `[standalone.auth]` gives ([`AdminToken`]), or why not.
///
/// [`AdminToken`]: photon_config::schema::AdminToken
pub fn admin_token(
    layers: &Layers,
    section: Option<&photon_config::schema::AdminToken>,
) -> Result<photon_dsl::Secret, ConfigError> {
    let Some(auth) = section else {
        return Err(config_error(
            layers,
            "standalone.auth",
            "required: the admin token (`admin_token_env`, `admin_token_file` or `admin_token`)",
        ));
    };
    secret_of(
        layers,
        SecretKeys {
            section: "standalone.auth",
            value: "admin_token",
            file: "admin_token_file",
            env: "admin_token_env",
            what: "the admin token",
        },
        auth.admin_token.as_deref(),
        auth.admin_token_file.as_deref(),
        auth.admin_token_env.as_deref(),
    )
}

/// `[standalone.auth]` as it gives `token`: the inverse of [`admin_token`],
/// for `export-config`.
pub fn admin_token_section(token: &photon_dsl::Secret) -> photon_config::schema::AdminToken {
    let mut auth = photon_config::schema::AdminToken::default();
    match token.source() {
        photon_dsl::SecretSource::Env(name) => auth.admin_token_env = Some(name.to_owned()),
        photon_dsl::SecretSource::File(path) => auth.admin_token_file = Some(path.to_owned()),
        photon_dsl::SecretSource::Written(written) => {
            auth.admin_token = Some(written.value.to_owned());
        }
    }
    auth
}

/// The [`Secret`](photon_dsl::Secret) a section gives one way of the three
/// `keys` name (`value`, `file` and `env` are what the document holds at
/// each); an error naming the keys when none or several are given.
pub fn secret_of(
    layers: &Layers,
    keys: SecretKeys<'_>,
    value: Option<&str>,
    file: Option<&str>,
    env: Option<&str>,
) -> Result<photon_dsl::Secret, ConfigError> {
    let at = |key: &str| format!("{}.{key}", keys.section);
    let SecretKeys {
        value: value_key,
        file: file_key,
        env: env_key,
        what,
        ..
    } = keys;
    match (value, file, env) {
        (Some(value), None, None) => {
            let origin = layers.origin(&at(value_key));
            Ok(photon_dsl::Secret::written_in(
                leak(&format!("`{}` ({origin})", at(value_key))),
                leak(value),
            ))
        }
        (None, Some(file), None) => photon_dsl::Secret::try_file(leak(file)).map_err(|problem| {
            config_error(
                layers,
                &at(file_key),
                format!("the file holding {what}, an absolute path: {problem}"),
            )
        }),
        (None, None, Some(name)) => photon_dsl::Secret::try_env(leak(name)).map_err(|problem| {
            config_error(
                layers,
                &at(env_key),
                format!("the name of an environment variable: {problem}"),
            )
        }),
        (None, None, None) => Err(config_error(
            layers,
            keys.section,
            format!("{what} is missing: give `{value_key}`, `{file_key}` or `{env_key}`"),
        )),
        _ => Err(config_error(
            layers,
            keys.section,
            format!("give {what} one way only: `{value_key}`, `{file_key}` or `{env_key}`"),
        )),
    }
}

/// Checks `host:port` (where a configuration says another node is
/// reached) has a port of 1 to 65535 (a host name, an IPv4 address,
/// or a bracketed IPv6 one).
pub fn check_host_port(addr: &str) -> Result<(), String> {
    let expected = "write `host:port`, such as `node-2:2380` or `10.0.0.2:2380`";
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err(format!("`{addr}` has no port: {expected}"));
    };
    if host.is_empty() || (host.contains(':') && !(host.starts_with('[') && host.ends_with(']'))) {
        return Err(format!(
            "`{addr}` has no host: {expected} (IPv6 in brackets)"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "`{port}` in `{addr}` is not a port: a port is 1 to 65535"
        )),
    }
}

/// The port of a listen address as the spec's [`Port`].
pub fn listen_port(
    layers: &Layers,
    key: &str,
    addr: photon_config::ListenAddr,
) -> Result<Port, ConfigError> {
    Port::try_from(addr.port).map_err(|_| config_error(layers, key, "a port is 1 to 65535"))
}

/// An empty standalone document for `C`, `mode = "standalone"` and
/// `component_id` set: where an export starts.
pub fn standalone_document<C: photon_config::Component>(
    component_id: &str,
) -> ComponentDocument<C> {
    let mut doc = ComponentDocument::<C>::default();
    doc.photon.mode = Some(OperationMode::Standalone);
    doc.photon.component_id = Some(component_id.to_owned());
    doc
}

/// `mode = "integrated"` as a spec's [`Mode::Integrated`]: its state store
/// is `chainfire_endpoints`, its auth photonauth at
/// `auth_service_endpoint` if given, each a remote stand-in. `mode =
/// "hybrid"` is a [`Mode::Hybrid`] registered in `chainfire_endpoints`,
/// its backends from `[photon.hybrid]` (metadata local; auth local or
/// photonauth at `auth_endpoint`). Any other mode is [`Mode::Standalone`].
pub fn integration<'l, C: photon_config::Component>(
    doc: &ComponentDocument<C>,
    layers: &'l Layers,
) -> Result<(Mode, Remotes<'l>), ConfigError> {
    let mut remotes = Remotes::new(layers);
    let hybrid = match doc.photon.mode {
        Some(OperationMode::Integrated) => false,
        Some(OperationMode::Hybrid) => true,
        _ => return Ok((Mode::Standalone, remotes)),
    };
    let integrated = &doc.photon.integrated;
    require_chainfire_endpoints(&integrated.chainfire_endpoints, layers)?;
    let mut state_store = Vec::new();
    for endpoint in &integrated.chainfire_endpoints {
        state_store.push(remotes.add::<EtcdV3>("photon.integrated.chainfire_endpoints", endpoint)?);
    }
    let state_store = Box::leak(state_store.into_boxed_slice());
    if hybrid {
        let auth = hybrid_auth(&doc.photon.hybrid, layers, &mut remotes)?;
        return Ok((
            Mode::Hybrid(Hybrid {
                state_store,
                metadata: Kept::Local,
                auth,
            }),
            remotes,
        ));
    }
    let auth = match &integrated.auth_service_endpoint {
        Some(endpoint) => Auth::PhotonAuth(
            remotes.add::<PhotonAuthApi>("photon.integrated.auth_service_endpoint", endpoint)?,
        ),
        None => Auth::Local,
    };
    Ok((Mode::Integrated(Integration { state_store, auth }), remotes))
}

/// The photonauth that `[photon.integrated] auth_service_endpoint` names,
/// for `component`, whose tenants are photonauth's (it checks their
/// tokens); an error on that key when the document names none.
pub fn photonauth_of(
    layers: &Layers,
    auth: Auth,
    component: &str,
) -> Result<Dep<PhotonAuthApi>, ConfigError> {
    match auth {
        Auth::PhotonAuth(auth) => Ok(auth),
        _ => Err(config_error(
            layers,
            "photon.integrated.auth_service_endpoint",
            format!("required: {component}'s tenants are photonauth's, whose tokens it checks"),
        )),
    }
}

/// Refuses `[photon.integrated] auth_service_endpoint` for a component
/// whose callers are not photonauth's tenants (`why` says who calls it).
pub fn without_photonauth(layers: &Layers, auth: Auth, why: &str) -> Result<(), ConfigError> {
    match auth {
        Auth::PhotonAuth(_) => Err(config_error(
            layers,
            "photon.integrated.auth_service_endpoint",
            format!("{why}: leave auth_service_endpoint out"),
        )),
        Auth::Local => Ok(()),
    }
}

/// Checks a fellow instance a configuration lists at `at`
/// (`standalone.cluster.member[0]`): its `name` is neither this
/// instance's own (`own`, its `component_id`) nor one `listed` before;
/// `what` names such an instance (`member`, `node`).
pub fn check_fellow(
    layers: &Layers,
    at: &str,
    name: &str,
    own: &str,
    listed: &[crate::Peer],
    what: &str,
) -> Result<(), ConfigError> {
    let key = format!("{at}.name");
    if name.is_empty() || name == own {
        return Err(config_error(
            layers,
            &key,
            format!(
                "`{name}` is this {what}'s own name (photon.component_id); list only the other {what}s"
            ),
        ));
    }
    if listed.iter().any(|p| p.name == name) {
        return Err(config_error(
            layers,
            &key,
            format!("{what} `{name}` is listed twice"),
        ));
    }
    Ok(())
}

/// The integration of a component that exists only integrated (photonauth,
/// photonnet: all their state is in chainfire): `mode = "integrated"` is
/// required (`needs` says why, at `photon.mode`), and falling back to
/// standalone is refused, having nothing local to fall back on.
pub fn integrated_only<'l, C: photon_config::Component>(
    doc: &ComponentDocument<C>,
    layers: &'l Layers,
    needs: &str,
) -> Result<(Integration, Remotes<'l>), ConfigError> {
    if doc.photon.mode != Some(OperationMode::Integrated) {
        return Err(config_error(layers, "photon.mode", needs));
    }
    if doc.photon.integrated.fallback_to_standalone {
        return Err(config_error(
            layers,
            "photon.integrated.fallback_to_standalone",
            format!(
                "{} cannot fall back to standalone: all its state is in chainfire",
                C::NAME
            ),
        ));
    }
    match integration::<C>(doc, layers)? {
        (Mode::Integrated(integration), remotes) => Ok((integration, remotes)),
        _ => unreachable!("an integrated document gives an integrated mode"),
    }
}

/// `[photon.hybrid]`'s backends: what it may integrate (auth), what it may
/// not (metadata, which integrated mode moves; events, with no event bus
/// yet), each refused naming its key.
fn hybrid_auth(
    hybrid: &photon_config::schema::Hybrid,
    layers: &Layers,
    remotes: &mut Remotes<'_>,
) -> Result<Auth, ConfigError> {
    use photon_config::schema::Backend;
    if hybrid.metadata_backend == Some(Backend::Integrated) {
        return Err(config_error(
            layers,
            "photon.hybrid.metadata_backend",
            "metadata on the platform is `mode = \"integrated\"`; hybrid mode keeps it \"local\"",
        ));
    }
    if hybrid.events_backend == Some(Backend::Integrated) || hybrid.event_bus_endpoint.is_some() {
        return Err(config_error(
            layers,
            if hybrid.events_backend.is_some() {
                "photon.hybrid.events_backend"
            } else {
                "photon.hybrid.event_bus_endpoint"
            },
            "there is no event bus to publish to yet: leave events \"local\"",
        ));
    }
    match (hybrid.auth_backend, &hybrid.auth_endpoint) {
        (Some(Backend::Integrated), Some(endpoint)) => Ok(Auth::PhotonAuth(
            remotes.add::<PhotonAuthApi>("photon.hybrid.auth_endpoint", endpoint)?,
        )),
        (Some(Backend::Integrated), None) => Err(config_error(
            layers,
            "photon.hybrid.auth_endpoint",
            "auth_backend = \"integrated\" checks requests with photonauth: give its endpoint, such as auth_endpoint = \"http://photonauth:50051\"",
        )),
        (_, Some(_)) => Err(config_error(
            layers,
            "photon.hybrid.auth_endpoint",
            "photonauth is asked only with auth_backend = \"integrated\"",
        )),
        (_, None) => Ok(Auth::Local),
    }
}

/// Integrated mode needs chainfire's endpoints.
pub(super) fn require_chainfire_endpoints(
    endpoints: &[String],
    layers: &Layers,
) -> Result<(), ConfigError> {
    if endpoints.is_empty() {
        return Err(config_error(
            layers,
            "photon.integrated.chainfire_endpoints",
            "integrated mode registers the component in chainfire: give its endpoints, such as chainfire_endpoints = [\"http://chainfire:2379\"] or PHOTON_CHAINFIRE_ENDPOINTS",
        ));
    }
    Ok(())
}

/// Where an integrated spec's dependencies are reached: `host:port` for a
/// node and port.
pub type Reach<'a> = &'a dyn Fn(NodeName, Port) -> Result<String, crate::ExportError>;

/// Writes an integrated `mode` into `doc`: `mode = "integrated"` in
/// `cluster`, its state store and photonauth as the endpoints `reach`
/// gives them. A standalone mode writes nothing.
pub fn write_integration<C: photon_config::Component>(
    doc: &mut ComponentDocument<C>,
    mode: Mode,
    cluster: &str,
    reach: Reach<'_>,
) -> Result<(), crate::ExportError> {
    let (state_store, auth, hybrid) = match mode {
        Mode::Standalone => return Ok(()),
        Mode::Integrated(Integration { state_store, auth }) => (state_store, auth, false),
        Mode::Hybrid(Hybrid {
            state_store, auth, ..
        }) => (state_store, auth, true),
    };
    doc.photon.mode = Some(if hybrid {
        OperationMode::Hybrid
    } else {
        OperationMode::Integrated
    });
    doc.photon.cluster_id = Some(cluster.to_owned());
    for dep in state_store {
        let endpoint = reach(dep.node(), dep.port())?;
        doc.photon
            .integrated
            .chainfire_endpoints
            .push(format!("http://{endpoint}"));
    }
    let photonauth = match auth {
        Auth::PhotonAuth(dep) => Some(format!("http://{}", reach(dep.node(), dep.port())?)),
        Auth::Local => None,
    };
    if hybrid {
        use photon_config::schema::Backend;
        doc.photon.hybrid.metadata_backend = Some(Backend::Local);
        doc.photon.hybrid.auth_backend = Some(if photonauth.is_some() {
            Backend::Integrated
        } else {
            Backend::Local
        });
        doc.photon.hybrid.auth_endpoint = photonauth;
    } else {
        doc.photon.integrated.auth_service_endpoint = photonauth;
    }
    Ok(())
}
