//! Compile-fail cases live in `cases/`; the runner is `tests/ui.rs`.
//!
//! The deployment writer's reference (`docs/writing-deployments.md`) is
//! this crate's documentation below, so every example in it is compiled
//! and run as a doctest against the same light spec crates.
//!
//! [`fixtures`] holds small specs the cases share: shapes of services that
//! have no crate yet (a load balancer's front end, a bare listener), so each
//! case file can stay a few lines of deployment with one mistake in it.

pub mod fixtures {
    //! Specs for the cases, light like every spec: photon-dsl only.

    use core::marker::PhantomData;

    use echo::EchoProtocol;
    use photon_dsl::protocol::{Http, S3};
    use photon_dsl::{Dep, HostName, Node, Port, Protocol, ServiceDecl, ServiceSpec, Transport};

    /// Syslog over UDP (RFC 5426): a UDP-only protocol for the port cases.
    #[derive(Debug, Clone, Copy)]
    pub enum Syslog {}

    impl Protocol for Syslog {
        const NAME: &'static str = "syslog";
        const TRANSPORT: Transport = Transport::Udp;
        const HAS_PATH: bool = false;
    }

    /// A service of kind `kind` with one listener speaking `P`.
    #[derive(Debug)]
    pub struct Listener<N: Node, P: Protocol> {
        /// Where it runs.
        pub node: N,
        /// Its kind.
        pub kind: &'static str,
        /// Its port.
        pub port: Port,
        /// What it speaks.
        pub protocol: PhantomData<fn() -> P>,
    }

    impl<N: Node, P: Protocol> Listener<N, P> {
        /// `kind` listening on `port` of `node`.
        pub const fn new(node: N, kind: &'static str, port: Port) -> Self {
            Listener {
                node,
                kind,
                port,
                protocol: PhantomData,
            }
        }

        /// Its one listener.
        pub const fn declare(&self) -> ServiceDecl {
            ServiceDecl::new::<N>(self.kind).listens::<P>("main", self.port)
        }
    }

    impl<N: Node, P: Protocol> ServiceSpec for Listener<N, P> {
        fn declare(&self) -> ServiceDecl {
            Listener::declare(self)
        }
    }

    /// An application that keeps its uploads in S3: a client of the S3
    /// protocol, for the load-balancer cases.
    #[derive(Debug)]
    pub struct Uploads<N: Node> {
        /// Where it runs.
        pub node: N,
        /// The object store it writes to.
        pub s3: Dep<S3>,
    }

    impl<N: Node> Uploads<N> {
        /// Its one dependency.
        pub const fn declare(&self) -> ServiceDecl {
            ServiceDecl::new::<N>("uploads").needs("s3", &self.s3)
        }
    }

    impl<N: Node> ServiceSpec for Uploads<N> {
        fn declare(&self) -> ServiceDecl {
            Uploads::declare(self)
        }
    }

    /// A site behind a front end.
    #[derive(Debug)]
    pub struct VirtualHost {
        /// The `Host` it answers for.
        pub host: HostName,
        /// Where its requests go.
        pub backend: Dep<EchoProtocol>,
    }

    /// A load balancer's front end: one listener, any number of sites. This
    /// is how a port shared on purpose is modelled, so it is not a collision.
    #[derive(Debug)]
    pub struct FrontEnd<N: Node> {
        /// Where it runs.
        pub node: N,
        /// Its kind.
        pub kind: &'static str,
        /// The one port all its sites share.
        pub port: Port,
        /// The sites.
        pub hosts: &'static [VirtualHost],
    }

    impl<N: Node> FrontEnd<N> {
        /// One listener, one dependency per site.
        pub const fn declare(&self) -> ServiceDecl {
            let mut decl = ServiceDecl::new::<N>(self.kind).listens::<Http>("https", self.port);
            let mut i = 0;
            while i < self.hosts.len() {
                decl = decl.needs("hosts", &self.hosts[i].backend);
                i += 1;
            }
            decl
        }
    }

    impl<N: Node> ServiceSpec for FrontEnd<N> {
        fn declare(&self) -> ServiceDecl {
            FrontEnd::declare(self)
        }
    }
}

#[doc = include_str!("../../docs/writing-deployments.md")]
pub mod writing_deployments {}
