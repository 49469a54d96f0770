//! [`Lifetime`]: the article's lifecycle controller, as a service placed on a node.

use core::time::Duration;

use crate::{Node, ServiceDecl, ServiceSpec};

/// How long the node it is placed on runs. Without one, a node runs until
/// SIGINT or SIGTERM; with one, it stops by itself after `after` (and still
/// stops early on a signal).
#[derive(Debug, Clone, Copy)]
pub struct Lifetime<N: Node> {
    /// The node to stop.
    pub node: N,
    /// How long after start.
    pub after: Duration,
}

impl<N: Node> Lifetime<N> {
    /// What the topology checks see: a service with no ports.
    pub const fn declare(&self) -> ServiceDecl {
        ServiceDecl::new::<N>("lifetime")
    }
}

impl<N: Node> ServiceSpec for Lifetime<N> {
    fn declare(&self) -> ServiceDecl {
        Lifetime::declare(self)
    }
}
