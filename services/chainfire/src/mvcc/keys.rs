//! How user keys and revisions are laid out in RocksDB keys.
//!
//! History entries are `escape(user_key) ++ !revision`: one group per user
//! key, in user-key order, newest revision first within the group, so "the
//! version of `k` at revision R" is one seek. The escaping (`0x00` becomes
//! `0x00 0xFF`, and the key ends with `0x00 0x01`) keeps the groups in the
//! same order as the user keys and makes no group a prefix of another.

/// Ends an escaped user key.
const TERMINATOR: [u8; 2] = [0x00, 0x01];

/// `key` escaped so that escaped keys sort like the originals.
pub fn escape(key: &[u8]) -> Vec<u8> {
    let mut out = history_key(key, 0);
    out.truncate(out.len() - 8);
    out
}

/// The history key of `key` at `revision`.
pub fn history_key(key: &[u8], revision: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + TERMINATOR.len() + 8);
    push_history_key(&mut out, key, revision);
    out
}

/// Appends the history key of `key` at `revision` to `out` (a buffer
/// reused across many keys).
pub fn push_history_key(out: &mut Vec<u8>, key: &[u8], revision: i64) {
    for &b in key {
        out.push(b);
        if b == 0x00 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&TERMINATOR);
    out.extend_from_slice(&inverted(revision));
}

/// The history key at `revision` within an already escaped key's group:
/// seeking to it lands on the newest version at or before `revision`.
pub fn in_group(escaped: &[u8], revision: i64) -> Vec<u8> {
    let mut out = escaped.to_vec();
    out.extend_from_slice(&inverted(revision));
    out
}

/// The first history key of the group after `escaped`'s: all of `escaped`'s
/// entries sort before it.
pub fn after_group(escaped: &[u8]) -> Vec<u8> {
    let mut out = escaped.to_vec();
    out.extend_from_slice(&[0xFF; 8]);
    out
}

/// Splits a history key into the user key and the revision.
pub fn split_history_key(raw: &[u8]) -> Option<(Vec<u8>, i64)> {
    if raw.len() < TERMINATOR.len() + 8 {
        return None;
    }
    let (escaped, rev) = raw.split_at(raw.len() - 8);
    let body = escaped.strip_suffix(&TERMINATOR)?;
    let mut key = Vec::with_capacity(body.len());
    let mut bytes = body.iter();
    while let Some(&b) = bytes.next() {
        key.push(b);
        if b == 0x00 && bytes.next() != Some(&0xFF) {
            return None;
        }
    }
    let rev = u64::from_be_bytes(rev.try_into().ok()?);
    Some((key, (u64::MAX - rev) as i64))
}

/// The escaped-key part of a history key.
pub fn group_of(raw: &[u8]) -> &[u8] {
    &raw[..raw.len().saturating_sub(8)]
}

/// Newest first: a larger revision gives a smaller suffix.
fn inverted(revision: i64) -> [u8; 8] {
    (u64::MAX - revision as u64).to_be_bytes()
}

/// The event-log key of change `sub` within `revision`: revision order.
pub fn event_key(revision: i64, sub: u32) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&(revision as u64).to_be_bytes());
    out[8..].copy_from_slice(&sub.to_be_bytes());
    out
}

/// The revision of an event-log key.
pub fn event_revision(raw: &[u8]) -> Option<i64> {
    Some(u64::from_be_bytes(raw.get(..8)?.try_into().ok()?) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_keys_sort_like_the_keys_and_round_trip() {
        let mut keys: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"a\0".to_vec(),
            b"a\0b".to_vec(),
            b"ab".to_vec(),
            b"".to_vec(),
            vec![0xFF],
            vec![0x00],
            vec![0x00, 0x00],
        ];
        keys.sort();
        let mut escaped: Vec<Vec<u8>> = keys.iter().map(|k| history_key(k, 7)).collect();
        let before = escaped.clone();
        escaped.sort();
        assert_eq!(escaped, before, "escaping changed the order");
        for k in &keys {
            assert_eq!(
                split_history_key(&history_key(k, 42)),
                Some((k.clone(), 42))
            );
        }
    }

    #[test]
    fn newer_revisions_of_a_key_sort_first_and_stay_in_their_group() {
        let new = history_key(b"k", 10);
        let old = history_key(b"k", 3);
        assert!(new < old);
        assert!(old < after_group(&escape(b"k")));
        assert!(after_group(&escape(b"k")) < history_key(b"k\0", 1));
        assert!(after_group(&escape(b"k")) < history_key(b"ka", 1));
    }

    #[test]
    fn event_keys_are_in_revision_order() {
        assert!(event_key(2, 9) < event_key(3, 0));
        assert!(event_key(3, 0) < event_key(3, 1));
        assert_eq!(event_revision(&event_key(300, 2)), Some(300));
    }
}
