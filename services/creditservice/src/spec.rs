//! creditservice's typed configuration (light: photon-dsl only).

use photon_dsl::protocol::{CreditApi, EtcdV3, PhotonAuthApi};
use photon_dsl::text::ConstText;
use photon_dsl::{
    Auth, Declares, Dep, Endpoint, Integration, Node, Port, Provides, Secret, ServiceDecl,
    ServiceSpec,
};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "creditservice";

photon_dsl::listener! {
    /// The gRPC API (the API gateway; tenants reading their accounts).
    pub ApiListener: CreditApi = "grpc";
}

/// The limits a tenant has where none is set for it.
#[derive(Debug, Clone, Copy)]
pub struct DefaultLimits {
    /// Per resource kind (a DNS label, such as `bucket`): how many a
    /// tenant may hold.
    pub kinds: &'static [(&'static str, u64)],
    /// Kinds not named (`None`: unlimited).
    pub other: Option<u64>,
}

impl DefaultLimits {
    /// No limit on anything until the operator sets one per tenant.
    pub const UNLIMITED: DefaultLimits = DefaultLimits {
        kinds: &[],
        other: None,
    };
}

/// The quota and credit service, placed on node `N`. It exists only
/// integrated: accounts and reservations live in chainfire, and tenants
/// are photonauth's.
#[derive(Debug, Clone, Copy)]
pub struct CreditService<N: Node> {
    /// Where it runs.
    pub node: N,
    /// Its gRPC API port.
    pub port: Port,
    /// The chainfire members holding its state; at least one.
    pub state_store: &'static [Dep<EtcdV3>],
    /// photonauth, whose tokens say which tenant reads its account.
    pub auth: Dep<PhotonAuthApi>,
    /// The operator's token, which the API gateway holds too (every call,
    /// every tenant), read on the node: sent as `authorization: Bearer
    /// <token>`.
    pub admin_token: Secret,
    /// The limits of tenants without their own.
    pub limits: DefaultLimits,
}

/// Whether `name` is a DNS label (1 to 63 of `a-z 0-9 -`, not starting or
/// ending with `-`), as resource kinds are.
const fn is_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 63 || bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

impl<N: Node> CreditService<N> {
    /// Its listener, state store and photonauth, for the topology checks.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<ApiListener>(self.port)
            .with_health()
            .secret("admin_token", &self.admin_token);
        let kinds = self.limits.kinds;
        let mut i = 0;
        while i < kinds.len() {
            let kind = kinds[i].0;
            if !is_label(kind) {
                decl = decl.reject_because(
                    ConstText::new()
                        .push("`limits.kinds`: ")
                        .quoted(kind)
                        .push(" is not a resource kind: 1 to 63 lower-case letters, digits and `-`, not at either end"),
                );
            }
            let mut j = 0;
            while j < i {
                if photon_dsl::text::same(kinds[j].0, kind) {
                    decl = decl.reject_because(
                        ConstText::new()
                            .push("`limits.kinds`: ")
                            .quoted(kind)
                            .push(" is given two limits"),
                    );
                }
                j += 1;
            }
            i += 1;
        }
        Integration {
            state_store: self.state_store,
            auth: Auth::PhotonAuth(self.auth),
        }
        .declare(decl)
    }

    /// The endpoint the API gateway calls.
    pub const fn api(&self) -> Endpoint<N, CreditApi> {
        Endpoint::provided_by(self, self.port, None)
    }
}

impl<N: Node> ServiceSpec for CreditService<N> {
    fn declare(&self) -> ServiceDecl {
        CreditService::declare(self)
    }
}

impl<N: Node> Declares<ApiListener> for CreditService<N> {}

impl<N: Node> Provides<CreditApi> for CreditService<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}
