//! The snapshot file: what one member sends another to catch up, and what
//! each member keeps of its last snapshot.
//!
//! It is written and read as a stream, one store entry at a time, so neither
//! building nor installing a snapshot holds the whole store in memory:
//!
//! ```text
//! u32 meta length, postcard(SnapshotMeta)
//! repeated: u8 family, u32 key length, key, u32 value length, value
//! u8 END, u64 entry count       (a cut-short file is refused)
//! ```
//!
//! Lengths are little-endian. `family` indexes [`SNAPSHOT_FAMILIES`].

use std::io::{BufReader, BufWriter, Read, Write};

use super::{decode, encode};
use crate::mvcc::SNAPSHOT_FAMILIES;

/// One store entry in a snapshot: (family index, key, value), as RocksDB's
/// iterators give it.
pub type Record = (u8, Box<[u8]>, Box<[u8]>);

/// The snapshot's metadata as openraft knows it.
pub type Meta = openraft::SnapshotMeta<u64, openraft::BasicNode>;

const END: u8 = u8::MAX;
/// Largest metadata, key or value we accept from a file (a corrupt length
/// must not make us allocate gigabytes).
const MAX_FIELD: u32 = 64 << 20;

/// Writes a snapshot: `meta`, then every `(family, key, value)` from
/// `entries`, then the end mark. The caller syncs and renames the file.
pub fn write<W: Write>(
    out: W,
    meta: &Meta,
    entries: impl IntoIterator<Item = Result<Record, std::io::Error>>,
) -> Result<W, std::io::Error> {
    let mut out = BufWriter::with_capacity(1 << 20, out);
    write_field(&mut out, &encode(meta))?;
    let mut count: u64 = 0;
    for entry in entries {
        let (family, key, value) = entry?;
        out.write_all(&[family])?;
        write_field(&mut out, &key)?;
        write_field(&mut out, &value)?;
        count += 1;
    }
    out.write_all(&[END])?;
    out.write_all(&count.to_le_bytes())?;
    out.into_inner().map_err(|e| e.into_error())
}

/// Reads a snapshot's metadata and calls `each` for every entry, in order.
/// A file that is cut short, has an unknown family or a wrong entry count
/// is an error (entries already passed to `each` must then be discarded).
pub fn read<R: Read>(
    input: R,
    mut each: impl FnMut(&'static str, Vec<u8>, Vec<u8>) -> Result<(), std::io::Error>,
) -> Result<Meta, std::io::Error> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    let meta: Meta = decode(&read_field(&mut input)?)?;
    let mut count: u64 = 0;
    loop {
        let mut family = [0u8];
        input.read_exact(&mut family)?;
        if family[0] == END {
            let mut expected = [0u8; 8];
            input.read_exact(&mut expected)?;
            if u64::from_le_bytes(expected) != count {
                return Err(invalid("snapshot entry count does not match its contents"));
            }
            return Ok(meta);
        }
        let name = SNAPSHOT_FAMILIES
            .get(family[0] as usize)
            .ok_or_else(|| invalid("unknown column family in snapshot"))?;
        let key = read_field(&mut input)?;
        let value = read_field(&mut input)?;
        each(name, key, value)?;
        count += 1;
    }
}

/// Reads only a snapshot's metadata (the start of the file).
pub fn read_meta<R: Read>(mut input: R) -> Result<Meta, std::io::Error> {
    decode(&read_field(&mut input)?)
}

fn write_field(out: &mut impl Write, bytes: &[u8]) -> Result<(), std::io::Error> {
    let len = u32::try_from(bytes.len()).map_err(|_| invalid("snapshot field over 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(bytes)
}

fn read_field(input: &mut impl Read) -> Result<Vec<u8>, std::io::Error> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FIELD {
        return Err(invalid("snapshot field longer than 64 MiB"));
    }
    let mut bytes = vec![0; len as usize];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn invalid(message: &'static str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(family: u8, key: &str, value: &str) -> Result<Record, std::io::Error> {
        Ok((family, key.as_bytes().into(), value.as_bytes().into()))
    }

    #[test]
    fn round_trips_and_refuses_a_file_cut_short() {
        let meta = Meta {
            snapshot_id: "7-1".into(),
            ..Default::default()
        };
        let bytes = write(Vec::new(), &meta, [entry(0, "a", "1"), entry(1, "b", "")]).unwrap();
        let mut seen = Vec::new();
        let back = read(bytes.as_slice(), |family, key, value| {
            seen.push((family, key, value));
            Ok(())
        })
        .unwrap();
        assert_eq!(back.snapshot_id, "7-1");
        assert_eq!(
            seen,
            vec![
                (SNAPSHOT_FAMILIES[0], b"a".to_vec(), b"1".to_vec()),
                (SNAPSHOT_FAMILIES[1], b"b".to_vec(), Vec::new()),
            ]
        );
        for cut in 1..bytes.len() {
            assert!(
                read(&bytes[..cut], |_, _, _| Ok(())).is_err(),
                "a file cut at {cut} of {} bytes was accepted",
                bytes.len()
            );
        }
    }
}
