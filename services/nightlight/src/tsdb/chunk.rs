//! A chunk of one series' samples, compressed as Gorilla (Facebook's
//! in-memory TSDB) and Prometheus do: timestamps as delta-of-delta in
//! variable-width buckets, values XORed with the previous one, so a
//! regularly scraped counter costs about 1.5 bytes a sample.
//!
//! Layout: the sample count (u16 BE), then a bit stream: the first
//! timestamp and value in 64 bits each; then for each further sample its
//! delta-of-delta in a bucket (`0`, or `10`/`110`/`1110` + 7/12/20 bits (Gorilla's narrow first bucket: a scrape a millisecond late costs 9 bits),
//! or `1111` + 64) and its value's XOR with the previous (`0` when equal,
//! `10` + the bits inside the previous window, `11` + leading zeros,
//! width and bits).

/// A bit stream being written, most significant bit first.
#[derive(Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = a fresh byte is needed).
    used: u8,
}

impl BitWriter {
    fn bit(&mut self, on: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if on {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// The low `n` bits of `value`, high first.
    fn bits(&mut self, value: u64, n: u8) {
        for i in (0..n).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }
}

/// A bit stream being read.
#[derive(Debug)]
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let on = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(on)
    }

    fn bits(&mut self, n: u8) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Some(v)
    }
}

/// Delta-of-delta buckets: a prefix of ones ended by a zero, then the
/// value in this many bits (two's complement); the last takes 64.
const BUCKETS: [u8; 4] = [7, 12, 20, 64];

fn write_dod(w: &mut BitWriter, dod: i64) {
    if dod == 0 {
        w.bit(false);
        return;
    }
    for (i, &width) in BUCKETS.iter().enumerate() {
        let fits = width == 64 || {
            let limit = 1i64 << (width - 1);
            (-limit..limit).contains(&dod)
        };
        if fits {
            for _ in 0..=i {
                w.bit(true);
            }
            if i < BUCKETS.len() - 1 {
                w.bit(false);
            }
            w.bits(dod as u64, width);
            return;
        }
    }
}

fn read_dod(r: &mut BitReader<'_>) -> Option<i64> {
    let mut ones = 0;
    while ones < BUCKETS.len() && r.bit()? {
        ones += 1;
    }
    if ones == 0 {
        return Some(0);
    }
    let width = BUCKETS[ones - 1];
    let raw = r.bits(width)?;
    // sign-extend
    let shift = 64 - u32::from(width);
    Some(((raw << shift) as i64) >> shift)
}

/// Encodes `samples` (timestamps ascending, at most `u16::MAX`).
pub fn encode(samples: &[(i64, f64)]) -> Vec<u8> {
    let mut w = BitWriter::default();
    let (mut prev_t, mut prev_delta) = (0i64, 0i64);
    let mut prev_v = 0u64;
    let (mut leading, mut trailing) = (u8::MAX, 0u8);
    for (i, &(t, v)) in samples.iter().enumerate() {
        let bits = v.to_bits();
        match i {
            0 => {
                w.bits(t as u64, 64);
                w.bits(bits, 64);
            }
            _ => {
                let delta = t - prev_t;
                write_dod(&mut w, delta - prev_delta);
                prev_delta = delta;
                let xor = bits ^ prev_v;
                if xor == 0 {
                    w.bit(false);
                } else {
                    w.bit(true);
                    let lz = (xor.leading_zeros() as u8).min(31);
                    let tz = xor.trailing_zeros() as u8;
                    if leading != u8::MAX && lz >= leading && tz >= trailing {
                        // fits the previous window
                        w.bit(false);
                        w.bits(xor >> trailing, 64 - leading - trailing);
                    } else {
                        w.bit(true);
                        leading = lz;
                        trailing = tz;
                        let significant = 64 - lz - tz;
                        w.bits(u64::from(lz), 5);
                        // 64 significant bits are written as 0
                        w.bits(u64::from(significant % 64), 6);
                        w.bits(xor >> tz, significant);
                    }
                }
            }
        }
        prev_t = t;
        prev_v = bits;
    }
    let mut out = Vec::with_capacity(2 + w.bytes.len());
    out.extend_from_slice(&(samples.len() as u16).to_be_bytes());
    out.extend_from_slice(&w.bytes);
    out
}

/// Decodes what [`encode`] wrote, appending to `out` the samples with
/// timestamps in `[mint, maxt]`; `None` if the bytes are not a chunk.
pub fn decode_into(bytes: &[u8], mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) -> Option<()> {
    let count = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]) as usize;
    let mut r = BitReader {
        bytes: &bytes[2..],
        pos: 0,
    };
    let (mut t, mut delta) = (0i64, 0i64);
    let mut v = 0u64;
    let (mut leading, mut trailing) = (0u8, 0u8);
    for i in 0..count {
        if i == 0 {
            t = r.bits(64)? as i64;
            v = r.bits(64)?;
        } else {
            delta += read_dod(&mut r)?;
            t += delta;
            if r.bit()? {
                if r.bit()? {
                    leading = r.bits(5)? as u8;
                    let mut significant = r.bits(6)? as u8;
                    if significant == 0 {
                        significant = 64;
                    }
                    trailing = 64u8.checked_sub(leading + significant)?;
                }
                let significant = 64 - leading - trailing;
                v ^= r.bits(significant)? << trailing;
            }
        }
        if t > maxt {
            break;
        }
        if t >= mint {
            out.push((t, f64::from_bits(v)));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        decode_into(&encode(samples), i64::MIN, i64::MAX, &mut out).expect("decodes");
        out
    }

    #[test]
    fn a_regularly_scraped_gauge_costs_under_two_bytes_a_sample() {
        // a gauge that moves now and then, scraped every 15 s give or
        // take a millisecond
        let samples: Vec<_> = (0..120)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 15_000 + (i % 2),
                    ((i / 10) * 3) as f64,
                )
            })
            .collect();
        let bytes = encode(&samples);
        assert_eq!(round_trip(&samples), samples);
        assert!(bytes.len() < 2 * samples.len(), "{} bytes", bytes.len());
    }

    #[test]
    fn special_values_keep_their_bits() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let samples = [
            (1, stale),
            (2, f64::INFINITY),
            (3, -0.0),
            (4, f64::NAN),
            (5, 1e-300),
        ];
        let back = round_trip(&samples);
        for (a, b) in samples.iter().zip(&back) {
            assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
        }
    }

    proptest! {
        #[test]
        fn any_ascending_samples_round_trip(
            start in -1_000_000_000_000i64..2_000_000_000_000,
            steps in proptest::collection::vec((0i64..10_000_000_000, any::<u64>()), 0..300),
        ) {
            let mut t = start;
            let samples: Vec<(i64, f64)> = steps
                .iter()
                .map(|&(d, bits)| { t += d; (t, f64::from_bits(bits)) })
                .collect();
            let back = round_trip(&samples);
            prop_assert_eq!(back.len(), samples.len());
            for (a, b) in samples.iter().zip(&back) {
                prop_assert_eq!((a.0, a.1.to_bits()), (b.0, b.1.to_bits()));
            }
        }
    }
}
