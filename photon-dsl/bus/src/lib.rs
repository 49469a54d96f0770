//! The event bus's typed client: publishes and subscribes to
//! [`photon_dsl::events::Subject`]s over NATS with NATS's own client
//! (`async-nats`).
//!
//! A message is JSON of the subject's message type. A live subject is core
//! NATS: whoever is subscribed hears it. A kept subject goes through
//! JetStream: a publish returns once the bus has stored it (deduplicated
//! by the publisher's message id, so a retried publish is stored once), and
//! each subscriber is a durable consumer that gets every message until it
//! acknowledges it, across restarts of itself and of the bus.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, context::PublishErrorKind};
use bytes::Bytes;
use futures_util::StreamExt as _;
use photon_dsl::events::{Message, Stream, Subject};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long JetStream remembers a message id, so a publish retried within
/// it is stored once.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// How long a kept message may go unacknowledged before it is delivered
/// again (its subscriber died, or is stuck).
pub const ACK_WAIT: Duration = Duration::from_secs(10);

/// What went wrong on the bus, in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The client could not be set up.
    #[error("cannot connect to the event bus at {addr}: {source}")]
    Connect {
        /// The bus's address.
        addr: String,
        /// Why.
        source: async_nats::ConnectError,
    },
    /// A message could not be serialised.
    #[error("subject `{subject}`: cannot encode the message: {source}")]
    Encode {
        /// The subject.
        subject: &'static str,
        /// Why.
        source: serde_json::Error,
    },
    /// No stream of the bus keeps the subject.
    #[error(
        "subject `{subject}`: the bus has no stream keeping it (is stream `{stream}` among the bus's `streams`, and is this the bus the topology names?)"
    )]
    NotKept {
        /// The subject.
        subject: &'static str,
        /// The stream the topology says keeps it.
        stream: &'static str,
    },
    /// The bus stored the message in another stream than the topology says.
    #[error("subject `{subject}` was stored in stream `{got}`, not `{expected}`")]
    WrongStream {
        /// The subject.
        subject: &'static str,
        /// The stream the topology names.
        expected: &'static str,
        /// The stream that acknowledged it.
        got: String,
    },
    /// A received message is not the subject's message type. A kept one
    /// is not delivered again (it stays in its stream).
    #[error("subject `{subject}`: message {at} is not a `{message}`: {source}")]
    Malformed {
        /// The subject.
        subject: &'static str,
        /// The message type.
        message: &'static str,
        /// Where it is: its message id, or its stream sequence.
        at: String,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// A consumer name NATS would refuse.
    #[error(
        "`{0}` is not a subscriber name: 1 to 64 of `a-z A-Z 0-9 - _` (it names the subscriber's durable consumer)"
    )]
    BadName(String),
    /// A consumer of that name exists for another subject.
    #[error(
        "subscriber `{name}` of stream `{stream}` follows `{follows}`, not `{subject}`: one name, one subject"
    )]
    NameTaken {
        /// The consumer.
        name: String,
        /// The stream.
        stream: &'static str,
        /// What it follows.
        follows: String,
        /// What it was asked to follow.
        subject: &'static str,
    },
    /// The bus did not do what it was asked.
    #[error("event bus: {what}: {source}")]
    Nats {
        /// What was being done.
        what: String,
        /// The client's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn nats(
    what: impl Into<String>,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> BusError {
    let what = what.into();
    move |source| BusError::Nats { what, source }
}

/// A connection to the event bus.
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
}

impl Bus {
    /// Connects to the bus at `addr` (`host:port`) as `name` (what the
    /// server's connection list shows). The first connection is waited
    /// for; after it, the client reconnects by itself whenever the bus
    /// goes away, and publishes wait for it.
    pub async fn connect(addr: &str, name: &str) -> Result<Bus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name(name)
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .connect(addr)
            .await
            .map_err(|source| BusError::Connect {
                addr: addr.to_owned(),
                source,
            })?;
        Ok(Bus::from_client(client))
    }

    /// The bus over a connection made elsewhere.
    pub fn from_client(client: async_nats::Client) -> Bus {
        let jetstream = jetstream::new(client.clone());
        Bus { client, jetstream }
    }

    /// The NATS connection, for what this client does not wrap.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Makes the bus keep `stream` as the topology declares it: created
    /// if missing, its limits and subjects updated if they differ. What it
    /// holds is never dropped by this call.
    pub async fn keep(&self, stream: &Stream) -> Result<(), BusError> {
        let config = stream_config(stream);
        match self.jetstream.get_stream(stream.name).await {
            Ok(mut existing) => {
                let info = existing
                    .info()
                    .await
                    .map_err(|e| nats(format!("reading stream `{}`", stream.name))(e.into()))?;
                let current = &info.config;
                if current.subjects != config.subjects
                    || current.max_age != config.max_age
                    || current.max_bytes != config.max_bytes
                    || current.duplicate_window != config.duplicate_window
                {
                    self.jetstream.update_stream(config).await.map_err(|e| {
                        nats(format!("updating stream `{}`", stream.name))(e.into())
                    })?;
                    tracing::info!(
                        stream = stream.name,
                        "stream updated to the topology's settings"
                    );
                }
                Ok(())
            }
            Err(e) if stream_missing(&e) => {
                self.jetstream
                    .create_stream(config)
                    .await
                    .map_err(|e| nats(format!("creating stream `{}`", stream.name))(e.into()))?;
                tracing::info!(
                    stream = stream.name,
                    subjects = stream.subjects,
                    "stream created"
                );
                Ok(())
            }
            Err(e) => Err(nats(format!("reading stream `{}`", stream.name))(e.into())),
        }
    }

    /// Publishes `message` on `subject`. `id` names it for deduplication:
    /// a kept subject stores a message id once within [`DUPLICATE_WINDOW`],
    /// so a publisher that retries after a lost acknowledgement does not
    /// send it twice. Returns once a kept message is stored, or a live one
    /// is flushed to the bus.
    pub async fn publish<M: Message + Serialize>(
        &self,
        subject: &Subject<M>,
        id: &str,
        message: &M,
    ) -> Result<Published, BusError> {
        let payload =
            Bytes::from(
                serde_json::to_vec(message).map_err(|source| BusError::Encode {
                    subject: subject.name(),
                    source,
                })?,
            );
        let Some(stream) = subject.stream() else {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
            self.client
                .publish_with_headers(subject.name(), headers, payload)
                .await
                .map_err(|e| nats(format!("publishing on `{}`", subject.name()))(e.into()))?;
            self.client
                .flush()
                .await
                .map_err(|e| nats(format!("publishing on `{}`", subject.name()))(e.into()))?;
            return Ok(Published {
                sequence: None,
                duplicate: false,
            });
        };
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload)
            .message_id(id);
        let not_kept = |e: jetstream::context::PublishError| {
            if e.kind() == PublishErrorKind::StreamNotFound {
                BusError::NotKept {
                    subject: subject.name(),
                    stream: stream.name,
                }
            } else {
                nats(format!("publishing on `{}`", subject.name()))(e.into())
            }
        };
        let ack = self
            .jetstream
            .send_publish(subject.name(), publish)
            .await
            .map_err(not_kept)?
            .await
            .map_err(not_kept)?;
        if ack.stream != stream.name {
            return Err(BusError::WrongStream {
                subject: subject.name(),
                expected: stream.name,
                got: ack.stream,
            });
        }
        Ok(Published {
            sequence: Some(ack.sequence),
            duplicate: ack.duplicate,
        })
    }

    /// Subscribes to `subject` as `name`. For a kept subject `name` is a
    /// durable consumer: messages not yet acknowledged by a subscriber of
    /// that name, earlier ones included, are delivered to it (each to one
    /// of the subscribers sharing the name). For a live one it is only a
    /// label: every subscriber hears every message from now on.
    pub async fn subscribe<M: Message + DeserializeOwned>(
        &self,
        subject: &Subject<M>,
        name: &str,
    ) -> Result<Subscription<M>, BusError> {
        if !is_consumer_name(name) {
            return Err(BusError::BadName(name.to_owned()));
        }
        let inner = match subject.stream() {
            None => Inner::Live(
                self.client
                    .subscribe(subject.name())
                    .await
                    .map_err(|e| nats(format!("subscribing to `{}`", subject.name()))(e.into()))?,
            ),
            Some(stream) => Inner::Kept(Box::new(self.consumer(subject, stream, name).await?)),
        };
        Ok(Subscription {
            subject: *subject,
            inner,
        })
    }

    async fn consumer<M: Message>(
        &self,
        subject: &Subject<M>,
        stream: Stream,
        name: &str,
    ) -> Result<pull::Stream, BusError> {
        let what = || format!("subscriber `{name}` of stream `{}`", stream.name);
        let kept = self.jetstream.get_stream(stream.name).await.map_err(|e| {
            if stream_missing(&e) {
                BusError::NotKept {
                    subject: subject.name(),
                    stream: stream.name,
                }
            } else {
                nats(what())(e.into())
            }
        })?;
        let config = pull::Config {
            durable_name: Some(name.to_owned()),
            filter_subject: subject.name().to_owned(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: ACK_WAIT,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        };
        let consumer: jetstream::consumer::Consumer<pull::Config> = kept
            .get_or_create_consumer(name, config)
            .await
            .map_err(|e| nats(what())(e.into()))?;
        let follows = &consumer.cached_info().config.filter_subject;
        if follows != subject.name() {
            return Err(BusError::NameTaken {
                name: name.to_owned(),
                stream: stream.name,
                follows: follows.clone(),
                subject: subject.name(),
            });
        }
        consumer
            .messages()
            .await
            .map_err(|e| nats(what())(e.into()))
    }
}

/// What the bus said of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Where a kept message is in its stream.
    pub sequence: Option<u64>,
    /// Whether a kept message's id had been stored already (a retry).
    pub duplicate: bool,
}

/// The messages of one subject, decoded.
pub struct Subscription<M: Message> {
    subject: Subject<M>,
    inner: Inner,
}

impl<M: Message> std::fmt::Debug for Subscription<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("subject", &self.subject)
            .field("kept", &matches!(self.inner, Inner::Kept(_)))
            .finish()
    }
}

enum Inner {
    Live(async_nats::Subscriber),
    Kept(Box<pull::Stream>),
}

impl<M: Message + DeserializeOwned> Subscription<M> {
    /// The next message. `None` when the subscription ended (the client
    /// was closed). An `Err` does not end it: a message that is not an
    /// `M` (a kept one is not delivered again, and stays in its stream),
    /// or the bus being away for a while (the client reconnects).
    pub async fn next(&mut self) -> Option<Result<Delivery<M>, BusError>> {
        let subject = self.subject.name();
        match &mut self.inner {
            Inner::Live(subscriber) => {
                let message = subscriber.next().await?;
                let id = message_id(message.headers.as_ref());
                Some(
                    decode::<M>(subject, &message.payload, || id.clone().unwrap_or_default()).map(
                        |message| Delivery {
                            message,
                            id,
                            attempt: 1,
                            kept: None,
                        },
                    ),
                )
            }
            Inner::Kept(stream) => {
                let message = match stream.next().await? {
                    Ok(message) => message,
                    Err(e) => return Some(Err(nats(format!("receiving `{subject}`"))(e.into()))),
                };
                let id = message_id(message.headers.as_ref());
                let (sequence, attempt) = message
                    .info()
                    .map(|i| (i.stream_sequence, i.delivered.max(1) as u64))
                    .unwrap_or((0, 1));
                match decode::<M>(subject, &message.payload, || {
                    id.clone().unwrap_or_else(|| format!("#{sequence}"))
                }) {
                    Ok(decoded) => Some(Ok(Delivery {
                        message: decoded,
                        id,
                        attempt,
                        kept: Some(message),
                    })),
                    Err(e) => {
                        // Never decodable: delivering it again would only
                        // stall the subscriber on it.
                        if let Err(term) = message.ack_with(jetstream::AckKind::Term).await {
                            tracing::warn!(%subject, error = %term, "could not set a malformed message aside");
                        }
                        Some(Err(e))
                    }
                }
            }
        }
    }
}

fn decode<M: Message + DeserializeOwned>(
    subject: &'static str,
    payload: &[u8],
    at: impl FnOnce() -> String,
) -> Result<M, BusError> {
    serde_json::from_slice(payload).map_err(|source| BusError::Malformed {
        subject,
        message: M::NAME,
        at: at(),
        source,
    })
}

fn message_id(headers: Option<&async_nats::HeaderMap>) -> Option<String> {
    headers?
        .get(async_nats::header::NATS_MESSAGE_ID)
        .map(|v| v.as_str().to_owned())
}

/// One message, as its subscriber got it.
#[derive(Debug)]
pub struct Delivery<M> {
    /// The message.
    pub message: M,
    /// Its publisher's id for it.
    pub id: Option<String>,
    /// How many times a kept message has been delivered (1 the first
    /// time); always 1 for a live one.
    pub attempt: u64,
    kept: Option<jetstream::Message>,
}

impl<M> Delivery<M> {
    /// Says a kept message was handled: it is not delivered again. Nothing
    /// for a live one.
    pub async fn ack(self) -> Result<(), BusError> {
        if let Some(message) = self.kept {
            message
                .double_ack()
                .await
                .map_err(|e| nats("acknowledging a message")(e))?;
        }
        Ok(())
    }

    /// Asks for a kept message again after `delay` (handling it failed
    /// for now). Nothing for a live one.
    pub async fn retry_in(self, delay: Duration) -> Result<(), BusError> {
        if let Some(message) = self.kept {
            message
                .ack_with(jetstream::AckKind::Nak(Some(delay)))
                .await
                .map_err(|e| nats("asking for a message again")(e))?;
        }
        Ok(())
    }
}

/// The JetStream configuration of a declared stream: on disk, oldest
/// dropped first past its limits.
pub fn stream_config(stream: &Stream) -> jetstream::stream::Config {
    jetstream::stream::Config {
        name: stream.name.to_owned(),
        subjects: vec![format!("{}.>", stream.subjects)],
        max_age: Duration::from_secs(u64::from(stream.max_age_seconds)),
        max_bytes: i64::from(stream.max_mib) * 1024 * 1024,
        storage: jetstream::stream::StorageType::File,
        retention: jetstream::stream::RetentionPolicy::Limits,
        discard: jetstream::stream::DiscardPolicy::Old,
        duplicate_window: DUPLICATE_WINDOW,
        num_replicas: 1,
        ..Default::default()
    }
}

/// Whether JetStream said the stream does not exist.
fn stream_missing(e: &jetstream::context::GetStreamError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::GetStreamErrorKind::JetStream(e)
            if e.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
    )
}

/// Whether NATS accepts `name` as a durable consumer's.
fn is_consumer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumer_names_are_what_nats_accepts() {
        assert!(is_consumer_name("resource-manager_1"));
        for bad in ["", "a.b", "a b", "a*", "a>", &"x".repeat(65)] {
            assert!(!is_consumer_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_stream_keeps_everything_under_its_prefix_on_disk() {
        let config = stream_config(&Stream {
            name: "RESOURCES",
            subjects: "photon.resources",
            max_age_seconds: 60,
            max_mib: 2,
        });
        assert_eq!(config.subjects, ["photon.resources.>"]);
        assert_eq!(config.max_bytes, 2 * 1024 * 1024);
        assert_eq!(config.max_age, Duration::from_secs(60));
        assert_eq!(config.storage, jetstream::stream::StorageType::File);
    }
}
