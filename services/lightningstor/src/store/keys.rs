//! RocksDB key layouts. Bucket names never contain NUL, so `bucket NUL`
//! is an unambiguous prefix whatever bytes an object key holds.

/// `bucket NUL`: every object (or upload) of the bucket starts with it.
pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bucket.len() + 1);
    out.extend_from_slice(bucket.as_bytes());
    out.push(0);
    out
}

/// An object's index key: `bucket NUL key`.
pub fn object(bucket: &str, key: &str) -> Vec<u8> {
    let mut out = bucket_prefix(bucket);
    out.extend_from_slice(key.as_bytes());
    out
}

/// The smallest key that sorts after `key`.
pub fn after(key: &[u8]) -> Vec<u8> {
    let mut out = key.to_vec();
    out.push(0);
    out
}

/// An upload's key: `bucket NUL upload-id`.
pub fn upload(bucket: &str, upload_id: &str) -> Vec<u8> {
    object(bucket, upload_id)
}

/// The prefix of an upload's parts: `bucket NUL upload-id NUL`.
pub fn upload_parts_prefix(bucket: &str, upload_id: &str) -> Vec<u8> {
    let mut out = upload(bucket, upload_id);
    out.push(0);
    out
}

/// A part's key: the upload's prefix, then the part number big-endian (so
/// parts sort by number).
pub fn part(bucket: &str, upload_id: &str, number: u32) -> Vec<u8> {
    let mut out = upload_parts_prefix(bucket, upload_id);
    out.extend_from_slice(&number.to_be_bytes());
    out
}

/// The part number at the end of a part key.
pub fn part_number(rest: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(rest.try_into().ok()?))
}

/// Where a listing of `bucket`'s keys under `prefix` after the raw bytes
/// `after` begins: after `after` when it sorts at or past the prefix, else
/// at the prefix.
pub fn list_start(bucket: &str, prefix: &str, after: Option<&[u8]>) -> Vec<u8> {
    match after {
        Some(after) if after >= prefix.as_bytes() => {
            let mut start = bucket_prefix(bucket);
            start.extend_from_slice(after);
            self::after(&start)
        }
        _ => object(bucket, prefix),
    }
}
