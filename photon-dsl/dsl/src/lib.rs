//! The PhotonCloud configuration vocabulary.
//!
//! A deployment is Rust: typed [nodes](Node), services placed on them, and
//! dependencies wired by handing one service's [`Endpoint`] to another's
//! [`Dep`] slot. Mistakes are caught while the deployment compiles:
//!
//! | mistake | caught by |
//! |---|---|
//! | port literal out of `1..=65535` | [`port!`] (const evaluation) |
//! | malformed path prefix, node name, host or DNS name | [`path!`], [`nodes!`], [`host!`], [`dns_name!`] |
//! | dependency of the wrong protocol, or a bare port for one | the type of [`Dep<P>`](Dep) |
//! | endpoint minted by a service that does not serve it | the [`Provides`] bound |
//! | required dependency left out | the spec struct's required field |
//! | integrated mode without chainfire or photonauth | [`Integration`]'s fields, [`Auth::PhotonAuth`]'s endpoint |
//! | a secret written as its value | [`Secret`] has no constructor from a value |
//! | two listeners on one node, port and transport | [`topology!`] (const evaluation) |
//! | service on an undeclared node, dependency on nothing | [`topology!`] (const evaluation) |
//!
//! `ui-tests/README.md` has the whole catalogue with a case for each.
//!
//! The same checks run again when the binary starts ([`Topology::check`]), so a
//! topology assembled at run time gets the same messages.
//!
//! This crate is the light half of the configuration: no I/O, no async. The
//! runtime (start, stop, CLI) is `photon-runtime`.

pub mod check;
mod endpoint;
pub mod events;
mod integration;
mod lifetime;
mod listener;
mod names;
mod node;
mod port;
pub mod protocol;
mod resolver;
mod secret;
mod service;
pub mod text;
mod topology;
mod version;

pub use endpoint::{Dep, Endpoint, Provides};
pub use integration::{Auth, Hybrid, Integration, Kept, Mode};
pub use lifetime::Lifetime;
pub use listener::{Declares, Listener, listener_name};
pub use names::{
    BranchLabel, DeploymentName, DnsName, HostName, InvalidText, NodeName, ServiceKind,
    UrlPathPrefix, Violation, validate_dns_name,
};
pub use node::Node;
pub use port::{PORT_RANGE, Port, PortParseError};
pub use protocol::{Protocol, Transport};
pub use resolver::{AddressPlan, DEFAULT_LOOPBACK_BASE, NodeAddress, ResolveError, Resolver};
pub use secret::{Secret, SecretSource, WrittenSecret};
pub use service::{
    DepDecl, HeldDecl, ListenerDecl, MAX_DEPS, MAX_HELD, MAX_LISTENERS, MAX_NODE_REFS, MAX_SECRETS,
    MAX_WRITES, NodeRefDecl, SecretDecl, ServiceDecl, ServiceSpec, WriteDecl,
};
pub use topology::{Fingerprint, Placed, Topology, TopologyError};
pub use version::ConfigVersion;

/// What a deployment file needs in scope.
pub mod prelude {
    pub use crate::check::Allow;
    pub use crate::protocol::*;
    pub use crate::{
        AddressPlan, Auth, Dep, Endpoint, HostName, Hybrid, Integration, Kept, Lifetime, Mode,
        Node, Port, Secret, UrlPathPrefix, dns_name, host, nodes, path, port,
    };
    pub use core::time::Duration;
}

/// Declares a topology: checks it while the crate compiles and defines
/// `pub fn topology()` that builds it.
///
/// ```
/// use photon_dsl::prelude::*;
/// photon_dsl::nodes! { pub Solo = "solo"; }
/// const STOP: Lifetime<Solo> = Lifetime { node: Solo, after: Duration::from_secs(1) };
/// photon_dsl::topology! {
///     name: "tiny",
///     version: "1.0.0",
///     branch: "main",
///     nodes: [Solo],
///     services: [STOP],
/// }
/// assert_eq!(topology().services().len(), 1);
/// ```
///
/// Optional, after `nodes`: `addresses: <AddressPlan>` (default: loopback).
#[macro_export]
macro_rules! topology {
    ($($body:tt)*) => {
        $crate::__topology!(dyn $crate::ServiceSpec; $($body)*);
    };
}

/// One check call per service, each spanned on the service's name in the
/// `services` list so a failure points there; `topology!` puts them all in
/// one const.
#[doc(hidden)]
#[macro_export]
macro_rules! __check_services {
    ($index:expr;) => {};
    ($index:expr; $svc:expr $(, $rest:expr)*) => {
        $crate::__respan! {
            [$svc]
            ($crate::check::assert_service)(&__PHOTON_TOPOLOGY_DECL, $index);
        }
        $crate::__check_services!($index + 1; $($rest),*);
    };
}

#[doc(hidden)]
pub use photon_dsl_macros::respan as __respan;

/// The body of [`topology!`], parameterised by the trait object the services
/// are boxed as (the runtime's `deployment!` uses `dyn Service`).
#[doc(hidden)]
#[macro_export]
macro_rules! __topology {
    (
        $dyn:ty;
        name: $name:literal,
        version: $version:literal,
        branch: $branch:literal,
        nodes: [$($node:ty),+ $(,)?],
        $(addresses: $addresses:expr,)?
        $(allow: [$($allow:expr),* $(,)?],)?
        services: [$($svc:expr),+ $(,)?] $(,)?
    ) => {
        /// What the compile-time checks read: node names and each service's
        /// declaration, in the order written.
        #[doc(hidden)]
        const __PHOTON_TOPOLOGY_DECL: $crate::check::TopologyDecl<'static> =
            $crate::check::TopologyDecl {
                nodes: &[$(<$node as $crate::Node>::NAME),+],
                // Spanned on each service, so a spec that rejects its own
                // settings in `declare` points at its name in the list.
                services: &[$($crate::__respan!([$svc] $svc.declare())),+],
                allowed: &[$($($allow),*)?],
            };
        $crate::__respan! {
            [$name]
            const _: $crate::DeploymentName =
                ($crate::DeploymentName::from_literal)($name);
        }
        $crate::__respan! {
            [$version]
            const _: $crate::ConfigVersion =
                ($crate::ConfigVersion::from_literal)($version, $branch);
        }
        // One const for every check, each call spanned on what it checks:
        // a bad literal in one service then costs one note here, not one
        // per service that the compiler found unevaluable.
        #[allow(clippy::identity_op)] // indices are written `0 + 1 + ...`
        const _: () = {
            $crate::__respan! {
                [$($node)+]
                ($crate::check::assert_topology)(&__PHOTON_TOPOLOGY_DECL);
            }
            $crate::__check_services!(0usize; $($svc),+);
        };

        /// The topology this crate describes; it passed every check when the
        /// crate was compiled.
        pub fn topology() -> $crate::Topology<$dyn> {
            $crate::Topology::<$dyn>::new(
                // Checked by the consts above; re-read here so a bad literal
                // is reported once, on the literal.
                $crate::DeploymentName::from_literal($name),
                $crate::ConfigVersion::from_literal($version, $branch),
            )
            $(.with_node(<$node as $crate::Node>::NAME))+
            $(.with_addresses($addresses))?
            $($(.allowing($allow))*)?
            $(.with_service(::std::boxed::Box::new($svc) as ::std::boxed::Box<$dyn>))+
        }
    };
}
