//! [`Endpoint`] (a port on a known node speaking a protocol) and [`Dep`] (the
//! same with the node erased: what a client's dependency slot holds).

use core::fmt;
use core::marker::PhantomData;

use crate::{Node, NodeName, Port, Protocol, ServiceSpec, UrlPathPrefix};

/// Implemented by a service spec for each protocol it serves, so only that
/// service can mint endpoints of the protocol on its own node.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not provide protocol `{P}`",
    label = "this service cannot make an endpoint of `{P}`",
    note = "an endpoint comes from the service that serves it, e.g. `CHAINFIRE.kv()` for `EtcdV3`"
)]
pub trait Provides<P: Protocol>: ServiceSpec {
    /// The node the service is placed on.
    type OnNode: Node;
    /// The service's kind, as `plan` and errors name it (`chainfire`): a
    /// dependency on it that finds nothing listening says what is missing.
    const KIND: &'static str = "";
}

/// A listening port (and path prefix, for HTTP protocols) on node `N` that
/// speaks `P`. It has no public constructor from a number: it is minted by the
/// service that listens there, from its own configured port, so a port is
/// written once, where its owner is configured.
pub struct Endpoint<N: Node, P: Protocol> {
    port: Port,
    path: Option<UrlPathPrefix>,
    provider: &'static str,
    _marker: PhantomData<(N, fn() -> P)>,
}

impl<N: Node, P: Protocol> Endpoint<N, P> {
    /// Mints the endpoint of `P` that `owner` serves on its node at `port`.
    ///
    /// Called by service crates from their accessors (`EchoServer::endpoint`);
    /// `owner` must provide `P` and be placed on `N`.
    pub const fn provided_by<S>(_owner: &S, port: Port, path: Option<UrlPathPrefix>) -> Self
    where
        S: Provides<P, OnNode = N>,
    {
        Endpoint {
            port,
            path,
            provider: S::KIND,
            _marker: PhantomData,
        }
    }

    /// The node that serves it.
    pub const fn node(&self) -> NodeName {
        N::NAME
    }

    /// The port it listens on.
    pub const fn port(&self) -> Port {
        self.port
    }

    /// The path prefix, for protocols that have one.
    pub const fn path(&self) -> Option<UrlPathPrefix> {
        self.path
    }

    /// The same endpoint with the node erased, for a dependency slot.
    pub const fn dep(self) -> Dep<P> {
        Dep::on(self)
    }
}

impl<N: Node, P: Protocol> Clone for Endpoint<N, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<N: Node, P: Protocol> Copy for Endpoint<N, P> {}

impl<N: Node, P: Protocol> fmt::Debug for Endpoint<N, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint<{}, {}>({}", N::NAME, P::NAME, self.port)?;
        if let Some(path) = self.path {
            write!(f, ", /{}", path.trimmed())?;
        }
        f.write_str(")")
    }
}

/// A dependency slot: an endpoint of protocol `P` on any node.
///
/// Fill it with the providing service's endpoint: `ECHO.endpoint().dep()`,
/// the one spelling deployments use. Handing it an endpoint of another
/// protocol is a type error (`expected Dep<EtcdV3>, found Dep<Dns>`).
pub struct Dep<P: Protocol> {
    node: NodeName,
    port: Port,
    path: Option<UrlPathPrefix>,
    provider: &'static str,
    _marker: PhantomData<fn() -> P>,
}

impl<P: Protocol> Dep<P> {
    /// Wires this slot to `endpoint`: what [`Endpoint::dep`] does, for
    /// code generic over the endpoint's node.
    pub const fn on<N: Node>(endpoint: Endpoint<N, P>) -> Self {
        Dep {
            node: N::NAME,
            port: endpoint.port,
            path: endpoint.path,
            provider: endpoint.provider,
            _marker: PhantomData,
        }
    }

    /// A slot written in a standalone server's text configuration, whose
    /// remote endpoints are no service of a compiled topology: the runner
    /// places a stand-in for the provider on `node`, and the topology
    /// checks hold it to the same rules. Not `const`, so a deployment
    /// (whose specs are constants) cannot use it: there, only the providing
    /// service makes an endpoint.
    pub fn from_text(node: NodeName, port: Port, path: Option<UrlPathPrefix>) -> Self {
        Dep {
            node,
            port,
            path,
            provider: "",
            _marker: PhantomData,
        }
    }

    /// The node serving it.
    pub const fn node(&self) -> NodeName {
        self.node
    }

    /// The kind of service that serves it (`chainfire`), when its spec
    /// says; empty for one written in a text configuration.
    pub const fn provider(&self) -> &'static str {
        self.provider
    }

    /// Its port.
    pub const fn port(&self) -> Port {
        self.port
    }

    /// Its path prefix, if the protocol has one.
    pub const fn path(&self) -> Option<UrlPathPrefix> {
        self.path
    }

    /// The dependency as the topology checks see it, held in `slot`.
    pub const fn decl(&self, slot: &'static str) -> crate::DepDecl {
        crate::DepDecl {
            slot,
            node: self.node,
            port: self.port,
            transport: P::TRANSPORT,
            protocol: P::NAME,
            provider: self.provider,
            detail: None,
        }
    }
}

impl<P: Protocol> Clone for Dep<P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<P: Protocol> Copy for Dep<P> {}

impl<P: Protocol> fmt::Debug for Dep<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dep<{}>({}:{}", P::NAME, self.node, self.port)?;
        if let Some(path) = self.path {
            write!(f, "/{}", path.trimmed())?;
        }
        f.write_str(")")
    }
}

impl<N: Node, P: Protocol> From<Endpoint<N, P>> for Dep<P> {
    fn from(endpoint: Endpoint<N, P>) -> Self {
        Dep::on(endpoint)
    }
}
