//! NOTIFY (RFC 1996): when a zone's serial changes, and once when it is
//! first loaded, flashdns tells its secondaries, so they transfer the new
//! version at once instead of at their next SOA refresh. Each secondary
//! gets the zone's SOA in a NOTIFY over UDP, sent again (up to
//! [`ATTEMPTS`] times, [`WAIT`] apart) until it answers.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::zone::Zone;

/// How many times one NOTIFY is sent to a secondary that does not answer.
const ATTEMPTS: usize = 5;
/// How long to wait for each answer.
const WAIT: Duration = Duration::from_secs(2);

/// Sends NOTIFY to the secondaries, from the address flashdns serves on
/// (secondaries accept a NOTIFY only from their primary's address).
#[derive(Debug, Clone)]
pub struct Notifier {
    targets: Arc<[SocketAddr]>,
    source: IpAddr,
}

impl Notifier {
    /// NOTIFY to `targets`, sent from `source` (an ephemeral port).
    pub fn new(targets: &[SocketAddr], source: IpAddr) -> Notifier {
        Notifier {
            targets: targets.into(),
            source,
        }
    }

    /// Tells every secondary that `zone` is at its current serial; returns
    /// at once (each secondary is told in a task of its own).
    pub fn notify(&self, zone: &Zone) {
        for &target in self.targets.iter() {
            let message = notify_message(zone);
            let (source, origin, serial) = (self.source, zone.origin().to_string(), zone.serial());
            tokio::spawn(async move {
                match send(source, target, &message).await {
                    Ok(()) => {
                        tracing::debug!(zone = origin, serial, %target, "NOTIFY acknowledged")
                    }
                    Err(problem) => {
                        tracing::warn!(zone = origin, serial, %target, "NOTIFY not acknowledged: {problem}")
                    }
                }
            });
        }
    }
}

/// A NOTIFY for `zone`: its apex and SOA as the question, its SOA as the
/// answer (RFC 1996 section 3.7), AA set.
fn notify_message(zone: &Zone) -> Message {
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Notify);
    message.metadata.authoritative = true;
    message.add_query(Query::query(zone.origin().into(), RecordType::SOA));
    message.add_answer(zone.soa().clone());
    message
}

/// A query id nobody can guess from the last one: std's random hash
/// keys, fresh for each `RandomState`.
fn rand_id() -> u16 {
    use std::hash::BuildHasher as _;
    std::collections::hash_map::RandomState::new().hash_one(0u8) as u16
}

/// Sends `message` to `target` until it answers with the same id and
/// NOERROR, or [`ATTEMPTS`] have gone unanswered.
async fn send(source: IpAddr, target: SocketAddr, message: &Message) -> Result<(), String> {
    let bytes = message
        .to_vec()
        .map_err(|e| format!("cannot encode the NOTIFY: {e}"))?;
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(source, 0))
        .await
        .map_err(|e| format!("cannot bind a socket on {source}: {e}"))?;
    let mut buffer = [0u8; 4096];
    for _ in 0..ATTEMPTS {
        socket
            .send_to(&bytes, target)
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Ok(received) =
            tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await
        {
            let Ok((len, from)) = received else { break };
            if from != target {
                continue;
            }
            let Ok(answer) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            if answer.metadata.id != message.metadata.id {
                continue;
            }
            return match answer.metadata.response_code {
                ResponseCode::NoError => Ok(()),
                code => Err(format!("the secondary answered {code}")),
            };
        }
    }
    Err(format!("no answer after {ATTEMPTS} attempts"))
}
