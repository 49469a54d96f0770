//! [`Mode`]: whether a service runs on its own or as part of the platform
//! (the design's `photon.mode`), with what integration needs made
//! impossible to leave out.
//!
//! An integrated service keeps its state in chainfire, so [`Integration`]
//! has no default for `state_store` and [`Mode::declare`] rejects an empty
//! list at compile time. Auth checked by photonauth is a variant that carries
//! the photonauth endpoint, so "auth required, no auth service" cannot be
//! written.

use crate::protocol::{EtcdV3, PhotonAuthApi};
use crate::text::{ConstText, same};
use crate::{Dep, ServiceDecl};

/// How a service that can run alone or inside the platform is run.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// On its own: local storage, local credentials, no other PhotonCloud
    /// service needed (the design's level 0).
    Standalone,
    /// Part of the platform: state in chainfire, auth as configured.
    Integrated(Integration),
    /// Joined to the platform with some backends left local (the design's
    /// hybrid mode, §6.4): say which of each.
    Hybrid(Hybrid),
}

/// Where one kind of a hybrid service's state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// On the service's own node, as when standalone.
    Local,
    /// In the platform's state store (chainfire).
    Platform,
}

/// A hybrid service: registered in the platform's state store, each
/// backend chosen (the design's `[photon.hybrid]`).
///
/// What makes sense: metadata local with requests checked by photonauth
/// (the design's example: one tenant model, data kept where it is), or
/// everything local with the service only registered (seen by
/// `photonctl status`, its data independent of chainfire). Metadata on the
/// platform is [`Mode::Integrated`]'s, so it is refused here with the
/// spelling to use instead, and one configuration has one spelling.
#[derive(Debug, Clone, Copy)]
pub struct Hybrid {
    /// The chainfire members it registers in (and reads the platform's
    /// service secret from, to ask photonauth); at least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// Where its metadata lives.
    pub metadata: Kept,
    /// Who checks its requests.
    pub auth: Auth,
}

impl Hybrid {
    /// Adds its dependencies to `decl` as [`Integration::declare`] does and
    /// marks it hybrid; refuses metadata on the platform.
    pub const fn declare(&self, decl: ServiceDecl) -> ServiceDecl {
        if let Kept::Platform = self.metadata {
            return decl.reject(match self.auth {
                Auth::PhotonAuth(_) => {
                    "it runs hybrid with nothing local (metadata on the platform, auth by photonauth): that is `Mode::Integrated(Integration { state_store, auth })`"
                }
                Auth::Local => {
                    "it runs hybrid with metadata on the platform and its own keys: that is `Mode::Integrated(Integration { state_store, auth: Auth::Local })`"
                }
            });
        }
        Integration {
            state_store: self.state_store,
            auth: self.auth,
        }
        .declare(decl)
        .hybrid()
    }

    /// What is local, for `/health`'s `checks.mode`.
    pub const fn describe(&self) -> &'static str {
        Hybrid::note(matches!(self.auth, Auth::PhotonAuth(_)))
    }

    /// What is local when photonauth does, or does not, check requests.
    pub const fn note(by_photonauth: bool) -> &'static str {
        if by_photonauth {
            "hybrid: metadata local; requests checked by photonauth"
        } else {
            "hybrid: metadata and access keys local; registered only"
        }
    }
}

/// What an integrated service connects to (the design's `[photon.integrated]`).
#[derive(Debug, Clone, Copy)]
pub struct Integration {
    /// The chainfire members that hold this service's state; at least one.
    /// Listing every member lets the client fail over when one is down.
    pub state_store: &'static [Dep<EtcdV3>],
    /// Who checks the service's requests.
    pub auth: Auth,
}

/// Who checks an integrated service's requests.
#[derive(Debug, Clone, Copy)]
pub enum Auth {
    /// The service's own credentials, as when standalone.
    Local,
    /// photonauth, at this endpoint, checks every request.
    PhotonAuth(Dep<PhotonAuthApi>),
}

impl Mode {
    /// Whether the service is integrated.
    pub const fn is_integrated(&self) -> bool {
        matches!(self, Mode::Integrated(_))
    }

    /// `"standalone"` or `"integrated"`, as in the TOML schema.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Integrated(_) => "integrated",
            Mode::Hybrid(_) => "hybrid",
        }
    }

    /// Adds the mode's dependencies to `decl` (see [`Integration::declare`]);
    /// a standalone service has none.
    pub const fn declare(&self, decl: ServiceDecl) -> ServiceDecl {
        match self {
            Mode::Standalone => decl,
            Mode::Integrated(integration) => integration.declare(decl),
            Mode::Hybrid(hybrid) => hybrid.declare(decl),
        }
    }
}

impl Integration {
    /// Adds every state-store member (slot `state_store`) and the photonauth
    /// endpoint (slot `auth`) to `decl`, so the topology checks that each is
    /// placed and `plan` shows them.
    ///
    /// An empty `state_store`, or one listing a member twice, is rejected
    /// ([`ServiceDecl::reject`]), which fails the build.
    pub const fn declare(&self, decl: ServiceDecl) -> ServiceDecl {
        if self.state_store.is_empty() {
            return decl.reject(
                "it runs integrated but its `state_store` lists no chainfire endpoint: give it the members' endpoints, e.g. `&[CHAINFIRE.kv().dep()]`",
            );
        }
        let mut decl = decl.integrated(*self);
        let mut i = 0;
        while i < self.state_store.len() {
            let member = &self.state_store[i];
            let mut j = 0;
            while j < i {
                let earlier = &self.state_store[j];
                if same(earlier.node().as_str(), member.node().as_str())
                    && earlier.port().get() == member.port().get()
                {
                    return decl.reject_because(
                        ConstText::new()
                            .push("its `state_store` lists the chainfire member on node ")
                            .quoted(member.node().as_str())
                            .push(" (port ")
                            .number(member.port().get() as i128)
                            .push(") twice: list each member once"),
                    );
                }
                j += 1;
            }
            decl = decl.needs("state_store", member);
            i += 1;
        }
        match &self.auth {
            Auth::Local => decl,
            Auth::PhotonAuth(endpoint) => decl.needs("auth", endpoint),
        }
    }
}
