//! [`Listener`] and [`Declares`]: a spec's listeners named by types, so the
//! server half takes its sockets by a key the compiler checks.
//!
//! A spec declares a listener with [`ServiceDecl::listens_on`] and says so to
//! the type system with `impl Declares<Key> for Spec`; the runtime binds
//! every declared listener before the server starts and hands each socket
//! out only for a key the spec declares. A server asking for a listener its
//! spec never declared does not compile ("`Spec` declares no listener
//! `Key`"), where a string name would have failed at run time.
//!
//! [`ServiceDecl::listens_on`]: crate::ServiceDecl::listens_on

use crate::{Protocol, ServiceSpec};

/// A listener's key: its name (in `plan`, logs and configuration) and the
/// protocol spoken on it. Write one with [`listener!`](crate::listener).
pub trait Listener: Copy + 'static {
    /// The listener's name: `client`, `s3`, `dns`.
    const NAME: &'static str;
    /// What is spoken on it.
    type Protocol: Protocol;
}

/// Says that spec `Self` declares the listener `L`, so its server may take
/// the socket bound for it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` declares no listener `{L}`",
    label = "the server asks for a listener its spec does not declare",
    note = "a server takes only the listeners its spec declares: add `.listens_on::<{L}>(port)` to the spec's `declare` and `impl Declares<{L}> for` the spec"
)]
pub trait Declares<L: Listener>: ServiceSpec {}

/// The name of listener `L` of `spec`: the one place the runtime turns a
/// typed key into the name it bound the socket under.
/// The key comes first, so a spec with a single listener does not make
/// the compiler guess the key from that one impl.
pub fn listener_name<L: Listener, S: Declares<L>>(key: L, spec: &S) -> &'static str {
    let _ = (spec, key);
    L::NAME
}

/// Declares listener keys: a unit type each, with its name and protocol.
///
/// ```
/// photon_dsl::listener! {
///     /// Where etcd v3 clients connect.
///     pub Client: photon_dsl::protocol::EtcdV3 = "client";
/// }
/// use photon_dsl::Listener as _;
/// assert_eq!(Client::NAME, "client");
/// ```
#[macro_export]
macro_rules! listener {
    ($($(#[$doc:meta])* $vis:vis $key:ident: $protocol:ty = $name:literal;)+) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis struct $key;

        impl $crate::Listener for $key {
            const NAME: &'static str = $name;
            type Protocol = $protocol;
        }
    )+};
}
