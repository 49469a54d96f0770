//! A write request being applied: its changes kept aside in an overlay
//! (`StoreTxn`) until the whole request succeeds, the etcd rules for
//! comparing (`Compare`) and for shaping a range answer (sort, limit,
//! count, keys only).

use std::collections::BTreeMap;

use rocksdb::WriteBatch;

use super::*;

/// One change to write, kept aside until its request is known to succeed.
pub(super) enum Op {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Delete(&'static str, Vec<u8>),
}

impl Op {
    pub(super) fn into_batch(self, store: &MvccStore, batch: &mut WriteBatch) {
        match self {
            Op::Put(cf, key, value) => batch.put_cf(store.cf(cf), key, value),
            Op::Delete(cf, key) => batch.delete_cf(store.cf(cf), key),
        }
    }
}

/// A write request being applied. Its own reads see its changes
/// (`pending`) on top of what earlier requests of the same batch changed
/// (`base`) and the committed store. Its writes go straight into the
/// batch when the request cannot fail once it has started writing (a put,
/// a delete: every refusal comes before the first write), so a delete of
/// many keys is not held twice; a transaction's, which a later operation
/// can still refuse, are held in `ops` until it succeeds.
pub(super) struct StoreTxn<'a> {
    pub(super) store: &'a MvccStore,
    /// Newest versions written by earlier requests of the same batch.
    pub(super) base: &'a BTreeMap<Vec<u8>, KeyValue>,
    pub(super) revision: i64,
    /// Where writes go at once; `None`: they are held in `ops`.
    pub(super) batch: Option<&'a mut WriteBatch>,
    pub(super) ops: Vec<Op>,
    /// Key -> its newest version in this request (a tombstone if deleted,
    /// without its key: the map has it).
    pub(super) pending: BTreeMap<Vec<u8>, KeyValue>,
    pub(super) changes: u32,
    /// Reused while encoding a history key and a version.
    scratch_key: Vec<u8>,
    scratch_value: Vec<u8>,
}

impl<'a> StoreTxn<'a> {
    pub(super) fn new(
        store: &'a MvccStore,
        base: &'a BTreeMap<Vec<u8>, KeyValue>,
        revision: i64,
        batch: Option<&'a mut WriteBatch>,
    ) -> Self {
        StoreTxn {
            store,
            base,
            revision,
            batch,
            ops: Vec::new(),
            pending: BTreeMap::new(),
            changes: 0,
            scratch_key: Vec::new(),
            scratch_value: Vec::new(),
        }
    }

    fn write_put(&mut self, cf: &'static str, key: &[u8], value: &[u8]) {
        match &mut self.batch {
            Some(batch) => batch.put_cf(self.store.cf(cf), key, value),
            None => self.ops.push(Op::Put(cf, key.to_vec(), value.to_vec())),
        }
    }

    pub(super) fn write_delete(&mut self, cf: &'static str, key: &[u8]) {
        match &mut self.batch {
            Some(batch) => batch.delete_cf(self.store.cf(cf), key),
            None => self.ops.push(Op::Delete(cf, key.to_vec())),
        }
    }

    /// Whether this request or an earlier one of the batch changed a key
    /// of `range`: if not, the committed store alone answers for it.
    fn layers_touch(&self, range: &KeyRange) -> bool {
        let Some(bounds) = range.bounds() else {
            return false;
        };
        [self.base, &self.pending]
            .iter()
            .any(|layer| layer.range::<[u8], _>(bounds).next().is_some())
    }

    /// The state before this request: earlier requests of the batch on
    /// top of the committed store.
    pub(super) fn before(&self, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        match self.base.get(key) {
            Some(kv) => Ok(Some(kv.clone()).filter(is_live)),
            None => self.store.latest(key),
        }
    }

    /// [`current`](Self::current) without the value when it comes from
    /// the store (what a put needs unless it returns or keeps the value).
    fn current_head(&self, key: &[u8]) -> Option<KeyValue> {
        match self.pending.get(key).or_else(|| self.base.get(key)) {
            Some(kv) => Some(kv.clone()).filter(is_live),
            None => self.store.latest_head(key),
        }
    }

    pub(super) fn current(&self, key: &[u8]) -> Result<Option<KeyValue>, MvccError> {
        match self.pending.get(key) {
            Some(kv) => Ok(Some(kv.clone()).filter(is_live)),
            None => self.before(key),
        }
    }

    pub(super) fn scan_layers(
        &self,
        range: &KeyRange,
        with_pending: bool,
        values: bool,
    ) -> Result<Vec<KeyValue>, MvccError> {
        let layers: &[&BTreeMap<Vec<u8>, KeyValue>] = if with_pending {
            &[self.base, &self.pending]
        } else {
            &[self.base]
        };
        let stored = self.store.scan(range, self.store.current, values)?;
        if !self.layers_touch(range) {
            return Ok(stored);
        }
        let mut merged: BTreeMap<Vec<u8>, KeyValue> =
            stored.into_iter().map(|kv| (kv.key.clone(), kv)).collect();
        for layer in layers {
            for (key, kv) in layer.iter() {
                if range.contains(key) {
                    merged.insert(key.clone(), kv.clone());
                }
            }
        }
        Ok(merged.into_values().filter(is_live).collect())
    }

    pub(super) fn scan(&self, range: &KeyRange, values: bool) -> Result<Vec<KeyValue>, MvccError> {
        self.scan_layers(range, true, values)
    }

    /// Writes `kv`, the version of `key` at this request's revision (a
    /// tombstone has no key of its own: the history key holds it).
    pub(super) fn record(&mut self, key: &[u8], kv: KeyValue) {
        let mut history_key = std::mem::take(&mut self.scratch_key);
        let mut value = std::mem::take(&mut self.scratch_value);
        history_key.clear();
        keys::push_history_key(&mut history_key, key, self.revision);
        value.clear();
        kv.encode(&mut value).expect("a Vec grows");
        self.write_put(HISTORY, &history_key, &value);
        self.write_put(EVENTS, &keys::event_key(self.revision, self.changes), key);
        self.scratch_key = history_key;
        self.scratch_value = value;
        self.changes += 1;
        self.pending.insert(key.to_vec(), kv);
    }

    pub(super) fn range(&self, request: &RangeRequest) -> Result<RangeResponse, MvccError> {
        // A read at a committed past revision goes to the store; "now" is
        // the revision before this request.
        if request.revision > 0 && request.revision != self.revision - 1 {
            return self.store.range(request);
        }
        let range = KeyRange::new(&request.key, &request.range_end);
        Ok(shape_range(
            request,
            self.scan(&range, wants_values(request))?,
        ))
    }

    pub(super) fn put(&mut self, request: &PutRequest) -> Result<PutResponse, MvccError> {
        if request.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        let previous = if request.prev_kv || request.ignore_value {
            self.current(&request.key)?
        } else {
            self.current_head(&request.key)
        };
        if (request.ignore_value || request.ignore_lease) && previous.is_none() {
            return Err(MvccError::KeyNotFound);
        }
        let (create_revision, version) = match &previous {
            Some(prev) => (prev.create_revision, prev.version + 1),
            None => (self.revision, 1),
        };
        let value = match (&previous, request.ignore_value) {
            (Some(prev), true) => prev.value.clone(),
            _ => request.value.clone(),
        };
        let lease = match (&previous, request.ignore_lease) {
            (Some(prev), true) => prev.lease,
            _ => request.lease,
        };
        if lease != 0 && self.store.lease_ttl(lease)?.is_none() {
            return Err(MvccError::LeaseNotFound);
        }
        let old_lease = previous.as_ref().map_or(0, |prev| prev.lease);
        if old_lease != 0 && old_lease != lease {
            self.write_delete(LEASE_KEYS, &lease_key(old_lease, &request.key));
        }
        if lease != 0 {
            self.write_put(LEASE_KEYS, &lease_key(lease, &request.key), &[]);
        }
        self.record(
            &request.key,
            KeyValue {
                key: request.key.clone(),
                create_revision,
                mod_revision: self.revision,
                version,
                value,
                lease,
            },
        );
        Ok(PutResponse {
            header: None,
            prev_kv: previous.filter(|_| request.prev_kv),
        })
    }

    pub(super) fn delete_range(
        &mut self,
        request: &DeleteRangeRequest,
    ) -> Result<DeleteRangeResponse, MvccError> {
        if request.key.is_empty() {
            return Err(MvccError::EmptyKey);
        }
        let range = KeyRange::new(&request.key, &request.range_end);
        if !request.prev_kv && !self.layers_touch(&range) {
            // The common delete: its keys straight from the index of live
            // keys, nothing collected (a prefix can hold millions).
            let store = self.store;
            let mut deleted = 0;
            if let Some(bounds) = range.bounds() {
                for (key, head) in store.live.range::<[u8], _>(bounds) {
                    self.delete_one(key, head.lease);
                    deleted += 1;
                }
            }
            return Ok(DeleteRangeResponse {
                header: None,
                deleted,
                prev_kvs: Vec::new(),
            });
        }
        let doomed = self.scan(&range, request.prev_kv)?;
        for kv in &doomed {
            self.delete_one(&kv.key, kv.lease);
        }
        Ok(DeleteRangeResponse {
            header: None,
            deleted: doomed.len() as i64,
            prev_kvs: if request.prev_kv { doomed } else { Vec::new() },
        })
    }

    /// Deletes live `key`, attached to `lease` (0: none).
    pub(super) fn delete_one(&mut self, key: &[u8], lease: i64) {
        if lease != 0 {
            self.write_delete(LEASE_KEYS, &lease_key(lease, key));
        }
        self.record(key, tombstone(self.revision));
    }

    pub(super) fn txn(&mut self, request: &TxnRequest) -> Result<TxnResponse, MvccError> {
        let mut succeeded = true;
        for compare in &request.compare {
            if !self.holds(compare)? {
                succeeded = false;
                break;
            }
        }
        let ops = if succeeded {
            &request.success
        } else {
            &request.failure
        };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            responses.push(self.op(op)?);
        }
        Ok(TxnResponse {
            header: None,
            succeeded,
            responses,
        })
    }

    /// One operation of a transaction, its response with etcd's header:
    /// only the revision, the one the operation saw or wrote (a nested
    /// transaction's own header is left empty, as etcd leaves it).
    pub(super) fn op(&mut self, op: &RequestOp) -> Result<ResponseOp, MvccError> {
        use request_op::Request;
        use response_op::Response;
        let response = match &op.request {
            Some(Request::RequestRange(r)) => Response::ResponseRange(RangeResponse {
                header: self.revision_header(),
                ..self.range(r)?
            }),
            Some(Request::RequestPut(r)) => {
                let response = self.put(r)?;
                Response::ResponsePut(PutResponse {
                    header: self.revision_header(),
                    ..response
                })
            }
            Some(Request::RequestDeleteRange(r)) => {
                let response = self.delete_range(r)?;
                Response::ResponseDeleteRange(DeleteRangeResponse {
                    header: self.revision_header(),
                    ..response
                })
            }
            Some(Request::RequestTxn(r)) => Response::ResponseTxn(TxnResponse {
                header: Some(ResponseHeader::default()),
                ..self.txn(r)?
            }),
            None => {
                return Ok(ResponseOp { response: None });
            }
        };
        Ok(ResponseOp {
            response: Some(response),
        })
    }

    /// A header holding the revision a read sees now: this request's once
    /// it has changed something, the one before it until then.
    fn revision_header(&self) -> Option<ResponseHeader> {
        let revision = if self.changes > 0 {
            self.revision
        } else {
            self.revision - 1
        };
        Some(ResponseHeader {
            revision,
            ..ResponseHeader::default()
        })
    }

    /// Whether `compare` holds for every key it covers, in the state before
    /// this request (etcd compares before running either branch).
    pub(super) fn holds(&self, compare: &Compare) -> Result<bool, MvccError> {
        let kvs: Vec<Option<KeyValue>> = if compare.range_end.is_empty() {
            vec![self.before(&compare.key)?]
        } else {
            let range = KeyRange::new(&compare.key, &compare.range_end);
            self.scan_layers(
                &range,
                false,
                compare.target() == compare::CompareTarget::Value,
            )?
            .into_iter()
            .map(Some)
            .collect()
        };
        Ok(kvs.iter().all(|kv| compare_one(compare, kv.as_ref())))
    }
}

/// Whether answering `request` needs the keys' values (a keys-only range
/// sorted by value still does).
pub(super) fn wants_values(request: &RangeRequest) -> bool {
    !request.count_only
        && (!request.keys_only || request.sort_target() == range_request::SortTarget::Value)
}

/// etcd's rule: a key absent compares as version, create and mod revision
/// 0, lease 0 and an empty value.
pub(super) fn compare_one(compare: &Compare, kv: Option<&KeyValue>) -> bool {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let ordering = match (compare.target(), &compare.target_union) {
        (CompareTarget::Version, Some(TargetUnion::Version(v))) => {
            kv.map_or(0, |kv| kv.version).cmp(v)
        }
        (CompareTarget::Create, Some(TargetUnion::CreateRevision(v))) => {
            kv.map_or(0, |kv| kv.create_revision).cmp(v)
        }
        (CompareTarget::Mod, Some(TargetUnion::ModRevision(v))) => {
            kv.map_or(0, |kv| kv.mod_revision).cmp(v)
        }
        (CompareTarget::Lease, Some(TargetUnion::Lease(v))) => kv.map_or(0, |kv| kv.lease).cmp(v),
        (CompareTarget::Value, Some(TargetUnion::Value(v))) => match kv {
            Some(kv) => kv.value.as_slice().cmp(v.as_slice()),
            // A missing key fails every value comparison.
            None => return false,
        },
        // Target and operand disagree: the compare cannot hold.
        _ => return false,
    };
    match compare.result() {
        CompareResult::Equal => ordering.is_eq(),
        CompareResult::Greater => ordering.is_gt(),
        CompareResult::Less => ordering.is_lt(),
        CompareResult::NotEqual => ordering.is_ne(),
    }
}

/// etcd's rule for what one transaction may write: no key put twice, and
/// no key put inside a range it deletes, where both can run (either branch
/// of a nested transaction runs, never both, so the two may put one key);
/// "etcdserver: duplicate key given in txn request" otherwise. Checking up
/// front keeps the rule out of the apply path, and every change at a
/// revision then has a key of its own, as its event needs.
pub(super) fn check_txn_writes(request: &TxnRequest) -> Result<(), MvccError> {
    branch_writes(&request.success)?;
    branch_writes(&request.failure)?;
    Ok(())
}

/// The keys `ops` (one branch) put and the ranges they delete, nested
/// transactions' included; an error if two of them collide.
fn branch_writes(
    ops: &[RequestOp],
) -> Result<(std::collections::BTreeSet<Vec<u8>>, Vec<KeyRange>), MvccError> {
    let mut deleted: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(request_op::Request::RequestDeleteRange(d)) => {
                Some(KeyRange::new(&d.key, &d.range_end))
            }
            _ => None,
        })
        .collect();
    let covered = |deleted: &[KeyRange], key: &[u8]| deleted.iter().any(|r| r.contains(key));
    let mut put = std::collections::BTreeSet::new();
    for op in ops {
        let Some(request_op::Request::RequestTxn(nested)) = &op.request else {
            continue;
        };
        let (then_put, then_deleted) = branch_writes(&nested.success)?;
        let (else_put, else_deleted) = branch_writes(&nested.failure)?;
        for key in then_put.iter().chain(&else_put) {
            if put.contains(key) || covered(&deleted, key) {
                return Err(MvccError::DuplicateKey);
            }
        }
        put.extend(then_put);
        put.extend(else_put);
        deleted.extend(then_deleted);
        deleted.extend(else_deleted);
    }
    for op in ops {
        if let Some(request_op::Request::RequestPut(p)) = &op.request
            && (!put.insert(p.key.clone()) || covered(&deleted, &p.key))
        {
            return Err(MvccError::DuplicateKey);
        }
    }
    Ok((put, deleted))
}

/// Applies count, revision filters, sort, limit, keys-only and count-only.
pub(super) fn shape_range(request: &RangeRequest, mut kvs: Vec<KeyValue>) -> RangeResponse {
    // etcd counts the keys in the range before the revision filters prune
    // what it returns.
    let count = kvs.len() as i64;
    let within =
        |value: i64, min: i64, max: i64| (min <= 0 || value >= min) && (max <= 0 || value <= max);
    kvs.retain(|kv| {
        within(
            kv.mod_revision,
            request.min_mod_revision,
            request.max_mod_revision,
        ) && within(
            kv.create_revision,
            request.min_create_revision,
            request.max_create_revision,
        )
    });
    if request.count_only {
        return RangeResponse {
            header: None,
            kvs: Vec::new(),
            more: false,
            count,
        };
    }
    use range_request::{SortOrder, SortTarget};
    let order = match (request.sort_order(), request.sort_target()) {
        // etcd sorts ascending when a target other than the key is named
        // without an order.
        (SortOrder::None, SortTarget::Key) => SortOrder::None,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    if order != SortOrder::None {
        kvs.sort_by(|a, b| {
            let ordering = match request.sort_target() {
                SortTarget::Key => a.key.cmp(&b.key),
                SortTarget::Version => a.version.cmp(&b.version),
                SortTarget::Create => a.create_revision.cmp(&b.create_revision),
                SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
                SortTarget::Value => a.value.cmp(&b.value),
            };
            if order == SortOrder::Descend {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let more = request.limit > 0 && kvs.len() as i64 > request.limit;
    if more {
        kvs.truncate(request.limit as usize);
    }
    if request.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    RangeResponse {
        header: None,
        kvs,
        more,
        count,
    }
}
