//! Access keys added at run time, in their own column family so they
//! survive a restart like the objects they guard.

use rocksdb::{IteratorMode, WriteBatch};

use super::records::{self, AccessKeyRecord};
use super::{ACCESS_KEYS, Store, StoreError};

impl Store {
    /// The key with this id, if stored.
    pub fn access_key(&self, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.get(ACCESS_KEYS, id.as_bytes())
    }

    /// Stores a new key; false (and nothing written) if the id is taken.
    pub fn insert_access_key(
        &self,
        id: &str,
        record: &AccessKeyRecord,
    ) -> Result<bool, StoreError> {
        let _guard = self.lock();
        if self.access_key(id)?.is_some() {
            return Ok(false);
        }
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(ACCESS_KEYS), id.as_bytes(), records::encode(record));
        self.write(batch)?;
        Ok(true)
    }

    /// Removes a key, and every session it issued; whether it existed.
    pub fn delete_access_key(&self, id: &str) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let existed = self.access_key(id)?.is_some();
        let mut batch = WriteBatch::default();
        for (child, record) in self.access_keys()? {
            if record.session.as_ref().is_some_and(|s| s.parent == id) {
                batch.delete_cf(self.cf(ACCESS_KEYS), child.as_bytes());
            }
        }
        batch.delete_cf(self.cf(ACCESS_KEYS), id.as_bytes());
        self.write(batch)?;
        Ok(existed)
    }

    /// Every stored key, by id.
    pub fn access_keys(&self) -> Result<Vec<(String, AccessKeyRecord)>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .inner
            .db
            .iterator_cf(self.cf(ACCESS_KEYS), IteratorMode::Start)
        {
            let (id, value) = item?;
            let id = String::from_utf8(id.to_vec())
                .map_err(|_| StoreError::Corrupt("an access key id is not UTF-8".to_owned()))?;
            out.push((id, records::decode(&value)?));
        }
        Ok(out)
    }

    /// Deletes temporary credentials that have expired; how many.
    pub fn purge_expired_keys(&self, now_ms: i64) -> Result<usize, StoreError> {
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let mut purged = 0;
        for (id, record) in self.access_keys()? {
            if record.expired(now_ms) {
                batch.delete_cf(self.cf(ACCESS_KEYS), id.as_bytes());
                purged += 1;
            }
        }
        if purged > 0 {
            self.write(batch)?;
        }
        Ok(purged)
    }
}
