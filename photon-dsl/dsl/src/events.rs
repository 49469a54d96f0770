//! Events on the bus, typed like endpoints: a [`Subject<M>`] is a NATS
//! subject that carries messages of type `M`, so a service publishing
//! `Subject<ZoneChanged>` cannot be wired to one subscribing to
//! `Subject<BucketChanged>`: the deployment does not compile.
//!
//! A subject is either live (core NATS: subscribers that are connected
//! hear it, nothing is kept) or kept in a JetStream [`Stream`] the bus
//! holds (delivery survives a restart of the bus, the publisher or the
//! subscriber). The bus declares its streams; a kept subject names one,
//! and the topology checks that the bus it is published on holds it.

use core::marker::PhantomData;

use crate::protocol::Nats;
use crate::text::ConstText;
use crate::{Dep, ServiceDecl};

/// What [`ServiceDecl::holds`] calls a bus's JetStream stream.
pub const STREAM: &str = "stream";

/// A message type carried on the bus (serialised as JSON by the runtime's
/// client).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event message",
    note = "a subject's message type implements `photon_dsl::events::Message` (the component that publishes it defines it)"
)]
pub trait Message: 'static {
    /// The type's name, as `plan` shows it.
    const NAME: &'static str;
}

/// A JetStream stream the bus keeps: every message published on a subject
/// under `subjects` is stored (on the bus node's disk) until it is older
/// than `max_age_seconds` or the stream holds more than `max_mib`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// Its name (`A-Z a-z 0-9 - _`, as JetStream allows).
    pub name: &'static str,
    /// The subject prefix it captures: `photon.resources` keeps
    /// `photon.resources.>`.
    pub subjects: &'static str,
    /// How long a message is kept.
    pub max_age_seconds: u32,
    /// How much the stream keeps on disk, oldest dropped first.
    pub max_mib: u32,
}

impl Stream {
    /// Why the stream's settings are wrong, if they are.
    pub const fn problem(&self) -> Option<ConstText> {
        if !is_stream_name(self.name) {
            return Some(
                ConstText::new()
                    .push("stream ")
                    .quoted(self.name)
                    .push(" is not a stream name: 1 to 32 of `A-Z a-z 0-9 - _`"),
            );
        }
        if let Some(why) = subject_problem(self.subjects) {
            return Some(
                ConstText::new()
                    .push("stream ")
                    .quoted(self.name)
                    .push(": its subjects ")
                    .quoted(self.subjects)
                    .push(" ")
                    .push(why),
            );
        }
        if self.max_age_seconds == 0 || self.max_mib == 0 {
            return Some(
                ConstText::new()
                    .push("stream ")
                    .quoted(self.name)
                    .push(" keeps nothing: `max_age_seconds` and `max_mib` must be at least 1"),
            );
        }
        None
    }

    /// Whether `subject` is one this stream keeps (under its prefix).
    pub const fn keeps(&self, subject: &str) -> bool {
        let (prefix, name) = (self.subjects.as_bytes(), subject.as_bytes());
        if name.len() <= prefix.len() + 1 || name[prefix.len()] != b'.' {
            return false;
        }
        let mut i = 0;
        while i < prefix.len() {
            if prefix[i] != name[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// A NATS subject on the bus at `bus`, carrying messages of type `M`.
pub struct Subject<M: Message> {
    bus: Dep<Nats>,
    name: &'static str,
    stream: Option<Stream>,
    _message: PhantomData<fn(M) -> M>,
}

impl<M: Message> Clone for Subject<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M: Message> Copy for Subject<M> {}

impl<M: Message> core::fmt::Debug for Subject<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subject")
            .field("name", &self.name)
            .field("message", &M::NAME)
            .field("stream", &self.stream.map(|s| s.name))
            .finish()
    }
}

impl<M: Message> Subject<M> {
    /// A live subject: connected subscribers hear each message once;
    /// nothing is kept for one that is away.
    pub const fn live(bus: Dep<Nats>, name: &'static str) -> Self {
        Subject {
            bus,
            name,
            stream: None,
            _message: PhantomData,
        }
    }

    /// A subject kept in `stream` on the bus: each subscriber (a durable
    /// consumer) gets every message, acknowledges it when handled, and
    /// gets it again if it did not (a restart mid-message included).
    pub const fn kept(bus: Dep<Nats>, stream: Stream, name: &'static str) -> Self {
        Subject {
            bus,
            name,
            stream: Some(stream),
            _message: PhantomData,
        }
    }

    /// The bus it is on.
    pub const fn bus(&self) -> Dep<Nats> {
        self.bus
    }

    /// The subject (`photon.resources.changed`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The stream keeping it, if it is kept.
    pub const fn stream(&self) -> Option<Stream> {
        self.stream
    }

    /// Why the subject is wrong, if it is.
    const fn problem(&self) -> Option<ConstText> {
        if let Some(why) = subject_problem(self.name) {
            return Some(
                ConstText::new()
                    .push("subject ")
                    .quoted(self.name)
                    .push(" ")
                    .push(why),
            );
        }
        if let Some(stream) = self.stream
            && !stream.keeps(self.name)
        {
            return Some(
                ConstText::new()
                    .push("subject ")
                    .quoted(self.name)
                    .push(" is not under ")
                    .quoted(stream.subjects)
                    .push(", the subjects of stream ")
                    .quoted(stream.name)
                    .push(" it is said to be kept in"),
            );
        }
        None
    }
}

impl ServiceDecl {
    /// Declares that the setting `slot` publishes on `subject`: a
    /// dependency on its bus, and, for a kept subject, on the bus holding
    /// its stream.
    pub const fn publishes<M: Message>(self, slot: &'static str, subject: &Subject<M>) -> Self {
        self.on_subject(slot, subject)
    }

    /// Declares that the setting `slot` subscribes to `subject` (the same
    /// checks as [`ServiceDecl::publishes`]).
    pub const fn subscribes<M: Message>(self, slot: &'static str, subject: &Subject<M>) -> Self {
        self.on_subject(slot, subject)
    }

    const fn on_subject<M: Message>(self, slot: &'static str, subject: &Subject<M>) -> Self {
        if let Some(why) = subject.problem() {
            return self.reject_because(
                ConstText::new()
                    .push("`")
                    .push(slot)
                    .push("`: ")
                    .push(why.as_str()),
            );
        }
        let mut dep = subject.bus.decl(slot);
        dep.detail = Some(subject.name);
        let decl = self.needs_erased(dep);
        match subject.stream {
            None => decl,
            Some(stream) => decl.writes_into(
                slot,
                STREAM,
                stream.name,
                &subject.bus,
                "list it among that bus's `streams`",
            ),
        }
    }
}

/// Whether `name` is a JetStream stream name we accept.
const fn is_stream_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 32 {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// Why `name` is not a subject one message type is sent on: dot-separated
/// tokens of `a-z A-Z 0-9 - _`, none empty, no wildcards.
const fn subject_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 {
        return Some("is not 1 to 255 characters");
    }
    let mut i = 0;
    let mut token_len = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            if token_len == 0 {
                return Some("has an empty token (`..`, or a dot at either end)");
            }
            token_len = 0;
        } else if b == b'*' || b == b'>' {
            return Some("has a wildcard: a typed subject names one subject");
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            token_len += 1;
        } else {
            return Some("has a character other than `a-z A-Z 0-9 - _` and dots between tokens");
        }
        i += 1;
    }
    if token_len == 0 {
        return Some("has an empty token (`..`, or a dot at either end)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESOURCES: Stream = Stream {
        name: "RESOURCES",
        subjects: "photon.resources",
        max_age_seconds: 86_400,
        max_mib: 64,
    };

    #[test]
    fn subjects_are_plain_dotted_tokens() {
        assert_eq!(subject_problem("photon.resources.changed"), None);
        assert_eq!(subject_problem("a-b_c.D9"), None);
        for bad in ["", "a..b", ".a", "a.", "a.*", "a.>", "a b", "a.é"] {
            assert!(subject_problem(bad).is_some(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_stream_keeps_what_is_under_its_prefix_only() {
        assert!(RESOURCES.keeps("photon.resources.changed"));
        assert!(RESOURCES.keeps("photon.resources.a.b"));
        assert!(!RESOURCES.keeps("photon.resources"));
        assert!(!RESOURCES.keeps("photon.resourcesx.a"));
        assert!(!RESOURCES.keeps("photon.other.a"));
        assert!(RESOURCES.problem().is_none());
        let bad = Stream {
            name: "RES OURCES",
            ..RESOURCES
        };
        assert!(
            bad.problem()
                .unwrap()
                .as_str()
                .contains("not a stream name")
        );
        let empty = Stream {
            max_mib: 0,
            ..RESOURCES
        };
        assert!(empty.problem().unwrap().as_str().contains("keeps nothing"));
    }
}
