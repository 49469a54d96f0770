//! A component's state in chainfire: reads and guarded transactions that
//! ride out a leader election ([`retried`](crate::retry::retried)), and the
//! compares that guard them. Every component that keeps records in
//! chainfire writes them the same way: read, decide, then one transaction
//! whose compares fail if anything read has changed, tried again from the
//! read when they do.

use etcd_client::{Client, Compare, CompareOp, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse};

use crate::retry::{prefix_end, retried};

/// What is wrong with `name` as a DNS label (1 to 63 of `a-z 0-9 -`, not
/// starting or ending with `-`), if anything. Tenants', VPCs' and
/// resource kinds' names are labels: they become parts of keys here and
/// of other services' DNS names.
pub fn label_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name.len() > 63 {
        return Some("1 to 63 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Some("only lower-case letters, digits and `-` (a DNS label)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("must not start or end with `-`");
    }
    None
}

/// The key exists.
pub fn exists(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Greater, 0)
}

/// The key does not exist.
pub fn absent(key: &str) -> Compare {
    Compare::create_revision(key, CompareOp::Equal, 0)
}

/// The key is as it was at `revision` (its mod revision then; 0 for a key
/// that did not exist, which must still not).
pub fn unchanged(key: &str, revision: i64) -> Compare {
    if revision == 0 {
        absent(key)
    } else {
        Compare::mod_revision(key, CompareOp::Equal, revision)
    }
}

/// Nothing under `prefix` at all.
pub fn empty(prefix: &str) -> Compare {
    absent(prefix).with_range(prefix_end(prefix.as_bytes()))
}

/// chainfire, as a component's state store.
#[derive(Clone)]
pub struct StateKv {
    client: Client,
}

impl std::fmt::Debug for StateKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateKv").finish_non_exhaustive()
    }
}

impl StateKv {
    /// The store behind `client`.
    pub fn new(client: Client) -> StateKv {
        StateKv { client }
    }

    /// The client, for what these calls do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `key`'s value and revisions, if it exists.
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, etcd_client::Error> {
        let answer = retried(|| {
            let mut kv = self.client.kv_client();
            async move { kv.get(key, None).await }
        })
        .await?;
        Ok(answer.kvs().first().cloned())
    }

    /// Each of `keys`' value and revisions, if it exists, all read at one
    /// revision (one transaction): a decision taken on several records
    /// sees them as they were together.
    pub async fn get_all(
        &self,
        keys: &[&str],
    ) -> Result<Vec<Option<KeyValue>>, etcd_client::Error> {
        let txn = Txn::new().and_then(
            keys.iter()
                .map(|key| TxnOp::get(*key, None))
                .collect::<Vec<_>>(),
        );
        let answer = retried(|| {
            let (mut kv, txn) = (self.client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await?;
        Ok(answer
            .op_responses()
            .into_iter()
            .map(|response| match response {
                TxnOpResponse::Get(got) => got.kvs().first().cloned(),
                _ => None,
            })
            .collect())
    }

    /// Every key-value under each of `prefixes`, all read at one revision
    /// (one transaction): records and the records about them (a resource
    /// and its status) seen as they were together.
    pub async fn get_all_prefixes(
        &self,
        prefixes: &[&str],
    ) -> Result<Vec<Vec<KeyValue>>, etcd_client::Error> {
        let txn = Txn::new().and_then(
            prefixes
                .iter()
                .map(|prefix| TxnOp::get(*prefix, Some(GetOptions::new().with_prefix())))
                .collect::<Vec<_>>(),
        );
        let answer = retried(|| {
            let (mut kv, txn) = (self.client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await?;
        Ok(answer
            .op_responses()
            .into_iter()
            .map(|response| match response {
                TxnOpResponse::Get(got) => got.kvs().to_vec(),
                _ => Vec::new(),
            })
            .collect())
    }

    /// Every key-value under `prefix`, at one revision; that revision.
    pub async fn range(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), etcd_client::Error> {
        let answer = retried(|| {
            let mut kv = self.client.kv_client();
            async move { kv.get(prefix, Some(GetOptions::new().with_prefix())).await }
        })
        .await?;
        let revision = answer.header().map_or(0, |h| h.revision());
        Ok((answer.kvs().to_vec(), revision))
    }

    /// How many keys there are under `prefix`.
    pub async fn count(&self, prefix: &str) -> Result<i64, etcd_client::Error> {
        let answer = retried(|| {
            let mut kv = self.client.kv_client();
            async move {
                kv.get(
                    prefix,
                    Some(GetOptions::new().with_prefix().with_count_only()),
                )
                .await
            }
        })
        .await?;
        Ok(answer.count())
    }

    /// `then` if every compare in `when` holds, in one transaction;
    /// whether it did. A transaction tried again after its answer was
    /// lost may have taken effect the first time: `when` must then be
    /// false, so the caller reads again and sees its own write.
    pub async fn txn(
        &self,
        when: Vec<Compare>,
        then: Vec<TxnOp>,
    ) -> Result<bool, etcd_client::Error> {
        let txn = Txn::new().when(when).and_then(then);
        let answer = retried(|| {
            let (mut kv, txn) = (self.client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        })
        .await?;
        Ok(answer.succeeded())
    }
}
