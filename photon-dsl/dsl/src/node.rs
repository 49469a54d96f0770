//! [`Node`]: a typed machine identity.

use crate::NodeName;

/// A machine of the topology, as a type, so an endpoint's type says which node
/// serves it. Declare nodes with [`nodes!`](crate::nodes); never by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a node of the topology",
    label = "not declared with `nodes!`",
    note = "declare nodes with `photon_dsl::nodes! {{ pub Server = \"server\"; }}`"
)]
pub trait Node: Copy + Default + core::fmt::Debug + Send + Sync + 'static {
    /// The node's stable name (used in `plan`, `run --node`, logs and as host name).
    const NAME: NodeName;
}

/// Declares node types, each with its stable name.
///
/// ```
/// photon_dsl::nodes! {
///     /// Answers echo requests.
///     pub Server = "server";
///     pub Client = "client";
/// }
/// use photon_dsl::Node;
/// assert_eq!(Server::NAME.as_str(), "server");
/// ```
///
/// A name that is not a lowercase DNS label fails the build.
#[macro_export]
macro_rules! nodes {
    ($( $(#[$doc:meta])* $vis:vis $ty:ident = $name:literal; )+) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
            $vis struct $ty;

            impl $crate::Node for $ty {
                $crate::__respan! {
                    [$name]
                    const NAME: $crate::NodeName = ($crate::NodeName::from_literal)($name);
                }
            }

            // Associated consts are only evaluated when used; check the name
            // now, on the literal, even for a node no topology lists yet.
            $crate::__respan! {
                [$name]
                const _: $crate::NodeName = <$ty as $crate::Node>::NAME;
            }
        )+
    };
}
