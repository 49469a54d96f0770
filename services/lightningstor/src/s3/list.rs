//! ListObjectsV2 and ListObjects: one walk over the index, rolling keys up
//! into common prefixes at the delimiter.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use s3s::dto::*;
use s3s::{S3Result, s3_error};

use super::common::{etag, timestamp};
use crate::auth::Caller;
use crate::store::{BucketRef, Store};

/// The most keys one page holds, as S3.
const MAX_KEYS: i32 = 1000;

/// What `encoding-type=url` leaves alone (as S3: unreserved and `/`).
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

struct Page {
    contents: Vec<Object>,
    prefixes: Vec<String>,
    truncated: bool,
    /// Where the next page starts (exclusive), as index bytes.
    next: Option<Vec<u8>>,
    /// The last key or common prefix listed.
    last: Option<String>,
}

/// The common prefix `key` rolls up into, if any.
fn rolls_up<'k>(key: &'k str, prefix: &str, delimiter: Option<&str>) -> Option<&'k str> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.find(delimiter)?;
    Some(&key[..prefix.len() + at + delimiter.len()])
}

/// Index bytes after every key under common prefix `prefix` (no UTF-8 key
/// has the byte 0xFF).
fn past(prefix: &str) -> Vec<u8> {
    let mut out = prefix.as_bytes().to_vec();
    out.push(0xFF);
    out
}

async fn page(
    store: &Store,
    bucket: BucketRef<'_>,
    prefix: &str,
    delimiter: Option<&str>,
    mut cursor: Option<Vec<u8>>,
    max: usize,
) -> S3Result<Page> {
    store.require_bucket(bucket).await?;
    let mut page = Page {
        contents: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        next: None,
        last: None,
    };
    'scan: loop {
        let batch = store
            .list_objects(bucket, prefix, cursor.as_deref(), 1000)
            .await?;
        if batch.is_empty() {
            return Ok(page);
        }
        for item in batch {
            if page.contents.len() + page.prefixes.len() >= max {
                page.truncated = true;
                return Ok(page);
            }
            if let Some(common) = rolls_up(&item.key, prefix, delimiter) {
                let common = common.to_owned();
                let skip = past(&common);
                page.next = Some(skip.clone());
                page.last = Some(common.clone());
                page.prefixes.push(common);
                cursor = Some(skip);
                continue 'scan;
            }
            page.next = Some(item.key.as_bytes().to_vec());
            page.last = Some(item.key.clone());
            cursor = page.next.clone();
            page.contents.push(Object {
                key: Some(item.key),
                e_tag: Some(etag(&item.record.etag)),
                last_modified: Some(timestamp(item.record.modified_ms)),
                size: Some(item.record.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Default::default()
            });
        }
    }
}

fn max_keys(asked: Option<i32>) -> S3Result<usize> {
    match asked {
        None => Ok(MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(n.min(MAX_KEYS) as usize),
    }
}

fn url_encoding(asked: Option<&EncodingType>) -> S3Result<bool> {
    match asked {
        None => Ok(false),
        Some(e) if e.as_str().eq_ignore_ascii_case("url") => Ok(true),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

fn encoder(url: bool) -> impl Fn(String) -> String {
    move |text| {
        if url {
            utf8_percent_encode(&text, URL_KEEP).to_string()
        } else {
            text
        }
    }
}

fn common_prefixes(prefixes: Vec<String>, encode: &impl Fn(String) -> String) -> CommonPrefixList {
    prefixes
        .into_iter()
        .map(|p| CommonPrefix {
            prefix: Some(encode(p)),
        })
        .collect()
}

/// ListObjectsV2.
pub async fn v2(
    store: &Store,
    caller: &Caller,
    input: ListObjectsV2Input,
) -> S3Result<ListObjectsV2Output> {
    let prefix = input.prefix.clone().unwrap_or_default();
    let max = max_keys(input.max_keys)?;
    let url = url_encoding(input.encoding_type.as_ref())?;
    let cursor = match (&input.continuation_token, &input.start_after) {
        (Some(token), _) => Some(hex::decode(token).map_err(|_| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })?),
        (None, Some(after)) => Some(after.as_bytes().to_vec()),
        (None, None) => None,
    };
    let page = page(
        store,
        caller.bucket(&input.bucket),
        &prefix,
        input.delimiter.as_deref(),
        cursor,
        max,
    )
    .await?;
    let encode = encoder(url);
    let key_count = (page.contents.len() + page.prefixes.len()) as i32;
    let contents = page
        .contents
        .into_iter()
        .map(|mut o| {
            o.key = o.key.map(&encode);
            o
        })
        .collect();
    Ok(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(encode(prefix)),
        delimiter: input.delimiter.map(&encode),
        max_keys: Some(max as i32),
        key_count: Some(key_count),
        is_truncated: Some(page.truncated),
        continuation_token: input.continuation_token,
        next_continuation_token: page.next.filter(|_| page.truncated).map(hex::encode),
        start_after: input.start_after.map(&encode),
        contents: Some(contents),
        common_prefixes: Some(common_prefixes(page.prefixes, &encode)),
        encoding_type: input.encoding_type,
        ..Default::default()
    })
}

/// ListObjects (version 1).
pub async fn v1(
    store: &Store,
    caller: &Caller,
    input: ListObjectsInput,
) -> S3Result<ListObjectsOutput> {
    let prefix = input.prefix.clone().unwrap_or_default();
    let max = max_keys(input.max_keys)?;
    let url = url_encoding(input.encoding_type.as_ref())?;
    let cursor = input.marker.as_deref().map(|marker| {
        match rolls_up(marker, &prefix, input.delimiter.as_deref()) {
            // A marker inside a common prefix already listed: go past it.
            Some(common) => past(common),
            None => marker.as_bytes().to_vec(),
        }
    });
    let page = page(
        store,
        caller.bucket(&input.bucket),
        &prefix,
        input.delimiter.as_deref(),
        cursor,
        max,
    )
    .await?;
    let encode = encoder(url);
    let contents = page
        .contents
        .into_iter()
        .map(|mut o| {
            o.key = o.key.map(&encode);
            o.owner = Some(Owner {
                display_name: Some("lightningstor".into()),
                id: Some("lightningstor".into()),
            });
            o
        })
        .collect();
    Ok(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(encode(prefix)),
        delimiter: input.delimiter.map(&encode),
        marker: Some(input.marker.map(&encode).unwrap_or_default()),
        next_marker: page.last.filter(|_| page.truncated).map(&encode),
        max_keys: Some(max as i32),
        is_truncated: Some(page.truncated),
        contents: Some(contents),
        common_prefixes: Some(common_prefixes(page.prefixes, &encode)),
        encoding_type: input.encoding_type,
        ..Default::default()
    })
}
