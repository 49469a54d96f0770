//! A write-ahead record: the samples of one append, in one RocksDB value.
//!
//! One value per append rather than one key per sample is what keeps
//! ingestion cheap (a memtable insert per scrape, not per sample). The
//! encoding is small without depending on any other record, so records
//! can be dropped in any order once their samples are in chunks. Each
//! sample is a flag byte, then its series and time as zigzag varint
//! deltas from the sample before unless a flag says they need none (a
//! scrape's samples share a time and mostly follow each other's numbers),
//! then the value's bits without their trailing zero bytes (whole numbers,
//! which most counters are, keep two to four of eight): the flag byte's low
//! four bits say how many are kept.

use super::SeriesRef;

/// The flag byte's bits: how many value bytes follow ...
const KEPT: u8 = 0x0f;
/// ... the series is the one after the sample before's (no delta follows) ...
const NEXT_ID: u8 = 0x10;
/// ... and the time is the sample before's (no delta follows).
const SAME_T: u8 = 0x20;

/// Encodes `samples` (series, ms, value).
pub fn encode(samples: &[(SeriesRef, i64, f64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + samples.len() * 6);
    put_varint(&mut out, samples.len() as u64);
    let (mut id, mut t) = (-1i64, 0i64);
    for &(sid, st, v) in samples {
        let bits = v.to_bits();
        let kept = 8 - (bits.trailing_zeros() / 8).min(8) as u8;
        let next_id = i64::from(sid) == id + 1;
        let same_t = st == t;
        out.push(kept | if next_id { NEXT_ID } else { 0 } | if same_t { SAME_T } else { 0 });
        if !next_id {
            put_varint(&mut out, zigzag(i64::from(sid) - id));
        }
        if !same_t {
            put_varint(&mut out, zigzag(st.wrapping_sub(t)));
        }
        out.extend_from_slice(&bits.to_be_bytes()[..usize::from(kept)]);
        (id, t) = (i64::from(sid), st);
    }
    out
}

/// Decodes a record, or `None` if it is damaged.
pub fn decode(mut bytes: &[u8]) -> Option<Vec<(SeriesRef, i64, f64)>> {
    let count = usize::try_from(take_varint(&mut bytes)?).ok()?;
    // every sample takes at least a byte: never trust a count more
    let mut out = Vec::with_capacity(count.min(bytes.len()));
    let (mut id, mut t) = (-1i64, 0i64);
    for _ in 0..count {
        let (&flags, rest) = bytes.split_first()?;
        bytes = rest;
        id = if flags & NEXT_ID != 0 {
            id + 1
        } else {
            id.checked_add(unzigzag(take_varint(&mut bytes)?))?
        };
        if flags & SAME_T == 0 {
            t = t.wrapping_add(unzigzag(take_varint(&mut bytes)?));
        }
        let kept = usize::from(flags & KEPT);
        if flags & !(KEPT | NEXT_ID | SAME_T) != 0 || kept > 8 || bytes.len() < kept {
            return None;
        }
        let mut be = [0u8; 8];
        be[..kept].copy_from_slice(&bytes[..kept]);
        bytes = &bytes[kept..];
        out.push((
            SeriesRef::try_from(id).ok()?,
            t,
            f64::from_bits(u64::from_be_bytes(be)),
        ));
    }
    bytes.is_empty().then_some(out)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn any_samples_round_trip_bit_for_bit(
            samples in prop::collection::vec((any::<u32>(), any::<i64>(), any::<u64>()), 0..200)
        ) {
            let samples: Vec<(SeriesRef, i64, f64)> =
                samples.into_iter().map(|(id, t, v)| (id, t, f64::from_bits(v))).collect();
            let decoded = decode(&encode(&samples)).expect("decodes");
            prop_assert_eq!(decoded.len(), samples.len());
            for (a, b) in decoded.iter().zip(&samples) {
                prop_assert_eq!((a.0, a.1, a.2.to_bits()), (b.0, b.1, b.2.to_bits()));
            }
        }

        #[test]
        fn damaged_bytes_are_refused_or_decoded_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..64)
        ) {
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn a_scrape_of_whole_numbers_takes_a_few_bytes_a_sample() {
        let samples: Vec<(SeriesRef, i64, f64)> = (0..10_000)
            .map(|i| (i, 1_700_000_000_000, f64::from(i * 7)))
            .collect();
        let bytes = encode(&samples);
        assert!(bytes.len() < samples.len() * 5, "{} bytes", bytes.len());
        let truncated = &bytes[..bytes.len() - 1];
        assert_eq!(decode(truncated), None);
    }
}
