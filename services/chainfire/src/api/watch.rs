//! `etcdserverpb.Watch`: one task per stream. Each watcher remembers the next
//! revision it owes the client. After every applied batch of Raft entries
//! it reads the events from there on out of the local store. Every member
//! applies the same log, so a client that moves to another member (say,
//! after a leader change) and resumes from its last revision gets every
//! event once, in order.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::codegen::tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::header;
use crate::member::Member;
use crate::mvcc::{KeyRange, MvccError};
use crate::proto::etcdserverpb::watch_request::RequestUnion;
use crate::proto::etcdserverpb::watch_server::Watch;
use crate::proto::etcdserverpb::{
    WatchCreateRequest, WatchRequest, WatchResponse, watch_create_request,
};
use crate::proto::mvccpb::{Event, event};

/// etcd's default interval for `progress_notify` watchers.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(600);
/// Most events in one response (a long catch-up is split between revisions).
const MAX_EVENTS_PER_RESPONSE: usize = 1000;

/// The Watch service of one member.
#[derive(Debug, Clone)]
pub struct WatchService {
    member: Member,
    progress_interval: Duration,
}

impl WatchService {
    /// Serves `member`, with etcd's progress interval.
    pub fn new(member: Member) -> Self {
        Self::with_progress_interval(member, PROGRESS_INTERVAL)
    }

    /// Serves `member`, sending progress notifications every `interval`.
    pub fn with_progress_interval(member: Member, interval: Duration) -> Self {
        WatchService {
            member,
            progress_interval: interval,
        }
    }
}

struct Watcher {
    range: KeyRange,
    /// The next revision whose events this watcher has not sent.
    next: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    progress_notify: bool,
    /// Whether anything was sent since the last progress tick.
    active: bool,
}

impl Watcher {
    /// The revision through which this watcher has been sent every event.
    fn sent_through(&self, current: i64) -> i64 {
        (self.next - 1).min(current)
    }
}

type Out = mpsc::Sender<Result<WatchResponse, Status>>;

struct StreamState {
    member: Member,
    watchers: BTreeMap<i64, Watcher>,
    next_id: i64,
    out: Out,
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send + 'static>>;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let incoming = request.into_inner();
        let (out, rx) = mpsc::channel(64);
        let state = StreamState {
            member: self.member.clone(),
            watchers: BTreeMap::new(),
            next_id: 0,
            out,
        };
        tokio::spawn(state.run(incoming, self.progress_interval));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

impl StreamState {
    async fn run(mut self, mut incoming: Streaming<WatchRequest>, progress: Duration) {
        let mut revisions = self.member.revisions();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + progress, progress);
        loop {
            let sent = tokio::select! {
                message = incoming.message() => match message {
                    Ok(Some(request)) => self.handle(request).await,
                    // The client closed its side, or the stream broke.
                    Ok(None) | Err(_) => break,
                },
                changed = revisions.changed() => match changed {
                    Ok(()) => self.deliver_all().await,
                    Err(_) => break,
                },
                _ = ticks.tick() => self.progress_tick().await,
                () = self.out.closed() => break,
            };
            if sent.is_err() {
                break;
            }
        }
    }

    async fn send(&self, response: WatchResponse) -> Result<(), ()> {
        self.out.send(Ok(response)).await.map_err(|_| ())
    }

    fn response(&self, watch_id: i64, revision: i64) -> WatchResponse {
        WatchResponse {
            header: header(&self.member, revision),
            watch_id,
            ..Default::default()
        }
    }

    async fn handle(&mut self, request: WatchRequest) -> Result<(), ()> {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => {
                if self.watchers.remove(&cancel.watch_id).is_some() {
                    let mut response = self.response(cancel.watch_id, self.member.revision());
                    response.canceled = true;
                    self.send(response).await?;
                }
                Ok(())
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                // Not tied to one watcher: etcd answers with watch id -1,
                // and a revision every watcher has been sent all events to.
                self.deliver_all().await?;
                let current = self.member.revision();
                let revision = self
                    .watchers
                    .values()
                    .map(|w| w.sent_through(current))
                    .min()
                    .unwrap_or(current);
                let response = self.response(-1, revision);
                self.send(response).await
            }
            None => Ok(()),
        }
    }

    async fn create(&mut self, create: WatchCreateRequest) -> Result<(), ()> {
        let (current, compacted) = {
            let store = self.member.read_store().await;
            (store.revision(), store.compacted_revision())
        };
        let id = if create.watch_id != 0 {
            create.watch_id
        } else {
            while self.watchers.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id
        };
        let mut created = self.response(id, current);
        created.created = true;
        if self.watchers.contains_key(&id) {
            created.canceled = true;
            created.cancel_reason = "etcdserver: duplicate watch ID".into();
            return self.send(created).await;
        }
        let start = if create.start_revision > 0 {
            create.start_revision
        } else {
            current + 1
        };
        if start < compacted {
            self.send(created).await?;
            let mut canceled = self.response(id, current);
            canceled.canceled = true;
            canceled.compact_revision = compacted;
            canceled.cancel_reason = MvccError::Compacted {
                requested: start,
                compacted,
            }
            .to_string();
            return self.send(canceled).await;
        }
        let filters = create.filters();
        let mut no_put = false;
        let mut no_delete = false;
        for filter in filters {
            match filter {
                watch_create_request::FilterType::Noput => no_put = true,
                watch_create_request::FilterType::Nodelete => no_delete = true,
            }
        }
        self.watchers.insert(
            id,
            Watcher {
                range: KeyRange::new(&create.key, &create.range_end),
                next: start,
                prev_kv: create.prev_kv,
                no_put,
                no_delete,
                progress_notify: create.progress_notify,
                active: false,
            },
        );
        self.send(created).await?;
        self.deliver(id).await
    }

    async fn deliver_all(&mut self) -> Result<(), ()> {
        let ids: Vec<i64> = self.watchers.keys().copied().collect();
        for id in ids {
            self.deliver(id).await?;
        }
        Ok(())
    }

    /// Sends watcher `id` every event it is owed.
    async fn deliver(&mut self, id: i64) -> Result<(), ()> {
        let Some(watcher) = self.watchers.get(&id) else {
            return Ok(());
        };
        let (current, events) = {
            let store = self.member.read_store().await;
            let current = store.revision();
            if watcher.next > current {
                return Ok(());
            }
            (current, store.events_since(&watcher.range, watcher.next))
        };
        let events = match events {
            Ok(events) => events,
            Err(MvccError::Compacted { compacted, .. }) => {
                self.watchers.remove(&id);
                let mut canceled = self.response(id, current);
                canceled.canceled = true;
                canceled.compact_revision = compacted;
                canceled.cancel_reason = "mvcc: required revision has been compacted".into();
                return self.send(canceled).await;
            }
            Err(e) => {
                tracing::error!(error = %e, "watch cannot read events");
                self.watchers.remove(&id);
                let mut canceled = self.response(id, current);
                canceled.canceled = true;
                canceled.cancel_reason = format!("etcdserver: {e}");
                return self.send(canceled).await;
            }
        };
        let watcher = self.watchers.get_mut(&id).expect("checked above");
        watcher.next = current + 1;
        let events: Vec<Event> = events
            .into_iter()
            .filter(|e| {
                let put = e.r#type == event::EventType::Put as i32;
                !(put && watcher.no_put || !put && watcher.no_delete)
            })
            .map(|mut e| {
                if !watcher.prev_kv {
                    e.prev_kv = None;
                }
                e
            })
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        watcher.active = true;
        for chunk in split_between_revisions(events) {
            let mut response = self.response(id, current);
            response.events = chunk;
            self.send(response).await?;
        }
        Ok(())
    }

    async fn progress_tick(&mut self) -> Result<(), ()> {
        // A notification promises every event up to its revision was sent:
        // send what is owed first, and never claim past it.
        self.deliver_all().await?;
        let current = self.member.revision();
        let due: Vec<(i64, i64)> = self
            .watchers
            .iter_mut()
            .filter(|(_, w)| w.progress_notify)
            .filter_map(|(&id, w)| {
                let quiet = !w.active;
                w.active = false;
                quiet.then_some((id, w.sent_through(current)))
            })
            .collect();
        for (id, revision) in due {
            self.send(self.response(id, revision)).await?;
        }
        Ok(())
    }
}

/// Cuts a long list of events into responses of at most
/// [`MAX_EVENTS_PER_RESPONSE`], never splitting one revision's events.
fn split_between_revisions(events: Vec<Event>) -> Vec<Vec<Event>> {
    let revision = |e: &Event| e.kv.as_ref().map_or(0, |kv| kv.mod_revision);
    let mut chunks: Vec<Vec<Event>> = Vec::new();
    for event in events {
        let start_new = match chunks.last() {
            None => true,
            Some(last) => {
                last.len() >= MAX_EVENTS_PER_RESPONSE
                    && last.last().map(revision) != Some(revision(&event))
            }
        };
        if start_new {
            chunks.push(Vec::new());
        }
        chunks.last_mut().expect("pushed above").push(event);
    }
    chunks
}
