//! BIND zone files (RFC 1035 section 5, with BIND's `$TTL`): our own
//! line-aware reader for entries, directives, owners, TTLs and classes, so
//! every error names its file and line; hickory-proto parses each record's
//! data once its names are made absolute.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

mod generate;
mod lex;
mod rdata;

use super::{Location, Zone, ZoneBuilder, ZoneError};
use crate::spec::ZoneFileLimits;
use lex::{Token, entries};
pub(super) use rdata::absolute;
use rdata::{FieldError, character_string, name_rdata, read_ttl, txt, unescape};

/// TTLs above this are read as 0 (RFC 2181 section 8), as BIND does.
const MAX_TTL: u32 = 0x7fff_ffff;

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;

/// The record types a zone file may hold: what flashdns answers for.
/// DNSSEC records are produced by signing, not loaded.
const SERVED_TYPES: &[RecordType] = &[
    RecordType::A,
    RecordType::AAAA,
    RecordType::CAA,
    RecordType::CNAME,
    RecordType::DNAME,
    RecordType::DS,
    RecordType::HINFO,
    RecordType::MX,
    RecordType::NAPTR,
    RecordType::NS,
    RecordType::OPENPGPKEY,
    RecordType::PTR,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::SSHFP,
    RecordType::TLSA,
    RecordType::TXT,
];

/// Reads the zone file at `path` for the zone `origin`, within
/// [`ZoneFileLimits::DEFAULT`].
pub fn load(path: &Path, origin: &Name) -> Result<Zone, ZoneError> {
    let limits = ZoneFileLimits::DEFAULT;
    load_text(path, &read(path, &limits)?, origin, None, &limits)
}

/// Reads a zone file's text within `limits`, with the error [`load`]
/// gives.
pub fn read(path: &Path, limits: &ZoneFileLimits) -> Result<String, ZoneError> {
    read_bounded(path, limits.file_bytes(), limits).map_err(|problem| ZoneError {
        location: Location {
            source: path.display().to_string(),
            line: None,
        },
        problem,
    })
}

/// The text of the regular file at `path`: at most `left` bytes (what the
/// zone has left of its limit) and at most `limits`' per-file size. A
/// FIFO, a device or a directory is refused before it is opened, and a
/// file that grows while it is read stops at the limit.
fn read_bounded(path: &Path, left: u64, limits: &ZoneFileLimits) -> Result<String, String> {
    use std::io::Read as _;
    use std::os::unix::fs::FileTypeExt as _;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the zone file: {e}"))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "{} is {what}: zone files and $INCLUDEs are read only from regular files",
            path.display()
        ));
    }
    let over = |size: String| {
        if left < limits.file_bytes() {
            format!(
                "{} is {size}, more than is left of the zone's limit of {} MiB with its $INCLUDEs (`max_zone_mib`)",
                path.display(),
                limits.max_zone_mib
            )
        } else {
            format!(
                "{} is {size}, over the limit of {} MiB per zone file (`max_file_mib`)",
                path.display(),
                limits.max_file_mib
            )
        }
    };
    let most = left.min(limits.file_bytes());
    if meta.len() > most {
        return Err(over(format!("{} bytes", meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the zone file: {e}"))?;
    let mut text = String::new();
    file.take(most + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the zone file: {e}"))?;
    if text.len() as u64 > most {
        return Err(over("growing as it is read".to_owned()));
    }
    Ok(text)
}

/// Parses `text`, already read from the zone file at `path` (relative
/// `$INCLUDE`s are read beside it, within what `limits` leaves the zone).
/// `default_ttl` is the TTL of records that give none before the file's
/// first `$TTL`.
pub fn load_text(
    path: &Path,
    text: &str,
    origin: &Name,
    default_ttl: Option<u32>,
    limits: &ZoneFileLimits,
) -> Result<Zone, ZoneError> {
    parse_at(
        text,
        &path.display().to_string(),
        Some(path),
        origin,
        default_ttl,
        limits,
    )
}

/// Parses zone text (no `$INCLUDE` of relative paths) named `source`.
pub fn parse(text: &str, source: &str, origin: &Name) -> Result<Zone, ZoneError> {
    parse_at(text, source, None, origin, None, &ZoneFileLimits::DEFAULT)
}

fn parse_at(
    text: &str,
    source: &str,
    path: Option<&Path>,
    origin: &Name,
    default_ttl: Option<u32>,
    limits: &ZoneFileLimits,
) -> Result<Zone, ZoneError> {
    let mut builder = ZoneBuilder::new(origin.clone(), source);
    let mut reader = Reader {
        builder: &mut builder,
        default_ttl,
        last_ttl: None,
        soa_minimum: None,
        limits: *limits,
        left: limits.zone_bytes().saturating_sub(text.len() as u64),
    };
    reader.read(text, source, path, origin.clone(), 0)?;
    builder.finish()
}

/// The reader's state across entries (and into `$INCLUDE`d files).
struct Reader<'b> {
    builder: &'b mut ZoneBuilder,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    soa_minimum: Option<u32>,
    limits: ZoneFileLimits,
    /// Bytes the zone may still read through `$INCLUDE`s.
    left: u64,
}

impl Reader<'_> {
    fn read(
        &mut self,
        text: &str,
        source: &str,
        path: Option<&Path>,
        mut origin: Name,
        depth: usize,
    ) -> Result<(), ZoneError> {
        let err = |line: usize, problem: String| ZoneError {
            location: Location {
                source: source.to_owned(),
                line: Some(line),
            },
            problem,
        };
        let entries = entries(text).map_err(|(line, problem)| err(line, problem))?;
        let mut owner: Option<Name> = None;
        for entry in entries {
            let line = entry.line;
            // Parentheses with nothing inside make an entry without words:
            // a blank line.
            let Some(first) = entry.tokens.first() else {
                continue;
            };
            if !entry.inherits_owner && !first.quoted && first.text.starts_with('$') {
                let args = &entry.tokens[1..];
                match first.text.to_ascii_uppercase().as_str() {
                    "$ORIGIN" => {
                        let [name] = args else {
                            return Err(err(line, "$ORIGIN takes one domain name".to_owned()));
                        };
                        origin = absolute(&name.text, &origin).map_err(|p| err(line, p))?;
                    }
                    "$TTL" => {
                        let [ttl] = args else {
                            return Err(err(line, "$TTL takes one TTL".to_owned()));
                        };
                        let ttl = read_ttl(&ttl.text).map_err(|p| err(line, p))?;
                        self.default_ttl = Some(self.clamp_ttl(ttl, source, line));
                    }
                    "$INCLUDE" => {
                        let (file, include_origin) = match args {
                            [file] => (file, origin.clone()),
                            [file, name] => (
                                file,
                                absolute(&name.text, &origin).map_err(|p| err(line, p))?,
                            ),
                            _ => {
                                return Err(err(
                                    line,
                                    "$INCLUDE takes a file name and optionally an origin"
                                        .to_owned(),
                                ));
                            }
                        };
                        if depth >= MAX_INCLUDE_DEPTH {
                            return Err(err(
                                line,
                                format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} files"),
                            ));
                        }
                        let included = resolve_include(path, &file.text).ok_or_else(|| {
                            err(
                                line,
                                "a relative $INCLUDE needs a zone file to be relative to"
                                    .to_owned(),
                            )
                        })?;
                        let included_source = included.display().to_string();
                        let text = read_bounded(&included, self.left, &self.limits).map_err(
                            |problem| err(line, format!("$INCLUDE {included_source}: {problem}")),
                        )?;
                        self.left -= text.len() as u64;
                        self.read(
                            &text,
                            &included_source,
                            Some(&included),
                            include_origin,
                            depth + 1,
                        )?;
                    }
                    "$GENERATE" => self.generate(args, &origin, source, line)?,
                    other => return Err(err(line, format!("unknown directive '{other}'"))),
                }
                continue;
            }
            let mut tokens = entry.tokens.iter();
            if !entry.inherits_owner {
                let name = tokens.next().expect("an entry has a token");
                owner = Some(absolute(&name.text, &origin).map_err(|p| err(line, p))?);
            }
            let Some(owner) = owner.clone() else {
                return Err(err(line, "no current owner name".to_owned()));
            };
            let record = self
                .record(owner, tokens.as_slice(), &origin, source, line)
                .map_err(|e| err(e.line.unwrap_or(line), e.problem))?;
            self.builder.add(record, Some(line))?;
        }
        Ok(())
    }

    /// `$GENERATE range lhs [ttl] [class] type rhs`: the records, each
    /// read as if it were written out.
    fn generate(
        &mut self,
        args: &[Token],
        origin: &Name,
        source: &str,
        line: usize,
    ) -> Result<(), ZoneError> {
        let err = |problem: String| ZoneError {
            location: Location {
                source: source.to_owned(),
                line: Some(line),
            },
            problem,
        };
        let (range, lhs, middle, rhs) = match args {
            [range, lhs, middle @ .., _rtype, rhs] if middle.len() <= 2 => {
                (range, lhs, &args[2..args.len() - 1], rhs)
            }
            _ => {
                return Err(err(
                    "$GENERATE takes a range, a left-hand side, an optional TTL and class, a type and a right-hand side".to_owned(),
                ));
            }
        };
        for value in generate::range(&range.text).map_err(err)? {
            let owner = generate::expand(&lhs.text, value).map_err(err)?;
            let owner = absolute(&owner, origin).map_err(err)?;
            let mut tokens: Vec<Token> = middle.to_vec();
            tokens.push(Token {
                text: generate::expand(&rhs.text, value).map_err(err)?,
                quoted: rhs.quoted,
                line,
            });
            let record = self
                .record(owner, &tokens, origin, source, line)
                .map_err(|e| err(e.problem))?;
            self.builder.add(record, Some(line))?;
        }
        Ok(())
    }

    fn clamp_ttl(&mut self, ttl: u32, source: &str, line: usize) -> u32 {
        if ttl > MAX_TTL {
            self.builder.warn(
                Some(line),
                format!("TTL {ttl} > MAXTTL, setting TTL to 0 ({source})"),
            );
            0
        } else {
            ttl
        }
    }

    /// `[ttl] [class] type rdata...` (TTL and class in either order).
    fn record(
        &mut self,
        owner: Name,
        tokens: &[Token],
        origin: &Name,
        source: &str,
        line: usize,
    ) -> Result<Record, FieldError> {
        let mut ttl = None;
        let mut class = DNSClass::IN;
        let mut rest = tokens;
        let rtype = loop {
            let Some((token, tail)) = rest.split_first() else {
                return Err("the record has no type".to_owned().into());
            };
            rest = tail;
            let text = &token.text;
            if ttl.is_none() && text.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(read_ttl(text).map_err(|problem| FieldError {
                    line: Some(token.line),
                    problem,
                })?);
                continue;
            }
            let upper = text.to_ascii_uppercase();
            if let Ok(c) = DNSClass::from_str(&upper)
                && matches!(upper.as_str(), "IN" | "CH" | "CS" | "HS")
            {
                class = c;
                continue;
            }
            match RecordType::from_str(&upper) {
                Ok(rtype) if SERVED_TYPES.contains(&rtype) => break rtype,
                Ok(
                    rtype @ (RecordType::DNSKEY
                    | RecordType::RRSIG
                    | RecordType::NSEC
                    | RecordType::NSEC3
                    | RecordType::NSEC3PARAM),
                ) => {
                    return Err(format!(
                        "RR type {rtype}: flashdns signs zones itself (`Dnssec::Sign`); a zone file holds the unsigned zone"
                    )
                    .into());
                }
                Ok(rtype) => {
                    return Err(format!("RR type {rtype} is not served by flashdns").into());
                }
                Err(_) => return Err(format!("unknown RR type '{text}'").into()),
            }
        };
        // hickory reads `\DDD` in character-strings as a character, not a
        // byte: TXT, HINFO (and CAA values, below) are decoded here.
        let rdata = if rtype == RecordType::TXT {
            txt(rest)?
        } else if rtype == RecordType::HINFO {
            let [cpu, os] = rest else {
                return Err("HINFO takes two character-strings, CPU and OS"
                    .to_owned()
                    .into());
            };
            RData::HINFO(HINFO::from_bytes(
                character_string(&cpu.text)?.into(),
                character_string(&os.text)?.into(),
            ))
        } else if let Some(rdata) = name_rdata(rtype, rest, origin) {
            rdata?
        } else {
            let rdata_text = rest
                .iter()
                .map(|t| {
                    if t.quoted {
                        format!("\"{}\"", t.text)
                    } else {
                        t.text.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            if rdata_text.is_empty() {
                return Err(format!("{rtype} record has no data").into());
            }
            let mut rdata = RData::try_from_str(rtype, &rdata_text)
                .map_err(|e| format!("bad {rtype} data '{rdata_text}': {e}"))?;
            // hickory checks the CAA value; its bytes are decoded here.
            if let (RData::CAA(caa), Some(value)) = (&mut rdata, rest.get(2)) {
                caa.value = unescape(&value.text)?;
            }
            rdata
        };
        if let RData::SOA(soa) = &rdata {
            self.soa_minimum = Some(soa.minimum);
        }
        let ttl = match ttl {
            Some(ttl) => {
                let ttl = self.clamp_ttl(ttl, source, line);
                self.last_ttl = Some(ttl);
                ttl
            }
            None => match (self.default_ttl, self.last_ttl, self.soa_minimum) {
                (Some(ttl), _, _) | (None, Some(ttl), _) => ttl,
                (None, None, Some(minimum)) => {
                    self.builder.warn(
                        Some(line),
                        "no TTL specified; using SOA MINTTL instead".to_owned(),
                    );
                    minimum
                }
                (None, None, None) => return Err("no TTL specified".to_owned().into()),
            },
        };
        let mut record = Record::from_rdata(owner, ttl, rdata);
        record.dns_class = class;
        Ok(record)
    }
}

fn resolve_include(current: Option<&Path>, file: &str) -> Option<PathBuf> {
    let file = Path::new(file);
    if file.is_absolute() {
        return Some(file.to_path_buf());
    }
    Some(current?.parent()?.join(file))
}

#[cfg(test)]
mod tests {
    use super::rdata::parse_name;
    use super::*;
    use hickory_proto::rr::LowerName;

    fn origin() -> Name {
        Name::from_ascii("example.com.").unwrap()
    }

    const HEAD: &str = "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 admin (\n 1 ; serial\n 3600 1800 604800 300 )\n@ NS ns1\nns1 A 192.0.2.1\n";

    fn zone(body: &str) -> Result<Zone, ZoneError> {
        parse(&format!("{HEAD}{body}"), "z", &origin())
    }

    fn error(body: &str) -> String {
        zone(body).unwrap_err().to_string()
    }

    /// Loads `main` (written to a file in `dir`) within `limits`.
    fn load_file(dir: &Path, main: &str, limits: &ZoneFileLimits) -> Result<Zone, String> {
        let path = dir.join("example.com.zone");
        std::fs::write(&path, format!("{HEAD}{main}")).unwrap();
        let text = read(&path, limits).map_err(|e| e.to_string())?;
        load_text(&path, &text, &origin(), None, limits).map_err(|e| e.to_string())
    }

    #[test]
    fn only_regular_files_are_read_and_a_fifo_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let limits = ZoneFileLimits::DEFAULT;
        let device = load_file(dir.path(), "$INCLUDE /dev/zero\n", &limits).unwrap_err();
        assert!(
            device.ends_with(
                ":8: $INCLUDE /dev/zero: /dev/zero is a device: zone files and $INCLUDEs are read only from regular files"
            ),
            "{device}"
        );
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let include = format!("$INCLUDE {}\n", fifo.display());
        let refused = load_file(dir.path(), &include, &limits).unwrap_err();
        assert!(refused.contains("is a FIFO"), "{refused}");
        let directory = read(dir.path(), &limits).unwrap_err().to_string();
        assert!(directory.contains("is a directory"), "{directory}");
    }

    #[test]
    fn a_file_over_its_limit_or_the_zones_is_refused_naming_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let one = ZoneFileLimits {
            max_file_mib: 1,
            max_zone_mib: 1,
        };
        // 0.7 MiB of records in each of two included files.
        let records = "x TXT \"0123456789012345678901234567890123456789\"\n".repeat(16_000);
        std::fs::write(dir.path().join("a.inc"), &records).unwrap();
        std::fs::write(dir.path().join("b.inc"), &records).unwrap();
        let one_include = load_file(dir.path(), "$INCLUDE a.inc\n", &one);
        assert!(one_include.is_ok(), "{one_include:?}");
        let both = load_file(dir.path(), "$INCLUDE a.inc\n$INCLUDE b.inc\n", &one).unwrap_err();
        assert!(
            both.contains("b.inc is ") && both.contains("more than is left of the zone's limit of 1 MiB with its $INCLUDEs (`max_zone_mib`)"),
            "{both}"
        );
        let big = dir.path().join("big.zone");
        std::fs::write(&big, records.repeat(2)).unwrap();
        let too_big = read(&big, &one).unwrap_err().to_string();
        assert!(
            too_big.contains("over the limit of 1 MiB per zone file (`max_file_mib`)"),
            "{too_big}"
        );
    }

    #[test]
    fn an_error_quotes_a_short_excerpt_of_a_huge_token() {
        let huge = "y".repeat(1_000_000);
        let message = error(&format!("www IN {huge} 1\n"));
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(
            message.starts_with("z:8: unknown RR type 'yyyy"),
            "{message}"
        );
        assert!(message.ends_with("... (1000018 bytes in all)"), "{message}");
    }

    #[test]
    fn an_error_inside_parentheses_names_the_line_of_its_token() {
        let zone = "$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 admin (\n  2024x ; serial\n  3600 1800 604800 300 )\n";
        let message = parse(zone, "z", &origin()).unwrap_err().to_string();
        assert_eq!(
            message,
            "z:4: SOA serial: '2024x' is not a number from 0 to 4294967295"
        );
        let mx = error("@ MX (\n 10\n bad..name )\n");
        assert!(mx.starts_with("z:10: MX exchange: "), "{mx}");
    }

    #[test]
    fn reads_directives_relative_names_parentheses_and_comments() {
        let zone = zone(
            "www 600 IN A 192.0.2.2 ; a comment\n     IN AAAA 2001:db8::2\nmail IN MX 10 www\n@ TXT \"a b\" \"c;d\"\n",
        )
        .unwrap();
        assert_eq!(zone.serial(), 1);
        let www = zone
            .node(&LowerName::from(
                Name::from_ascii("www.example.com.").unwrap(),
            ))
            .unwrap();
        assert_eq!(www.get(RecordType::A).unwrap().records[0].ttl, 600);
        // A blank-started line inherits the owner; the TTL is the `$TTL`.
        assert_eq!(www.get(RecordType::AAAA).unwrap().records[0].ttl, 3600);
        let mx = zone
            .node(&LowerName::from(
                Name::from_ascii("mail.example.com.").unwrap(),
            ))
            .unwrap();
        assert_eq!(
            mx.get(RecordType::MX).unwrap().records[0].data.to_string(),
            "10 www.example.com."
        );
        let txt = zone
            .node(zone.origin())
            .unwrap()
            .get(RecordType::TXT)
            .unwrap();
        let RData::TXT(txt) = &txt.records[0].data else {
            panic!("not TXT")
        };
        let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(strings, [&b"a b"[..], &b"c;d"[..]]);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(
            error("a IN A 192.0.2.300\n"),
            "z:8: bad A data '192.0.2.300': network address parse error: invalid IPv4 address syntax"
        );
        assert_eq!(error("a IN FOO 1\n"), "z:8: unknown RR type 'FOO'");
        assert_eq!(
            error("\n\na IN A ( 192.0.2.3\n"),
            "z:10: unbalanced parentheses"
        );
        assert_eq!(error("x IN TXT \"a\n"), "z:8: unbalanced quotes");
        assert_eq!(
            error("www CNAME ns1\nwww A 192.0.2.9\n"),
            "z:9: www.example.com.: CNAME and other data"
        );
        assert_eq!(
            error("www CNAME ns1\nwww CNAME ns2\n"),
            "z:9: www.example.com.: multiple RRs of singleton type"
        );
        assert_eq!(
            error("@ NS ns3\n"),
            "z: NS 'ns3.example.com' (for example.com) has no address records (A or AAAA)"
        );
        assert_eq!(
            error("* NS ns1\n"),
            "z:8: *.example.com.: invalid NS owner name (wildcard)"
        );
        assert_eq!(
            error("sub SOA ns1 admin 1 1 1 1 1\n"),
            "z:8: sub.example.com.: SOA not at top of zone"
        );
        assert!(error(&format!("{} A 192.0.2.1\n", "a".repeat(64))).starts_with("z:8: "));
        assert_eq!(
            error("$GENERATE 1-2 a$ A\n"),
            "z:8: $GENERATE takes a range, a left-hand side, an optional TTL and class, a type and a right-hand side"
        );
        assert_eq!(
            error("$GENERATE 1-2 a$ A 192.0.2.${300}\n"),
            "z:8: bad A data '192.0.2.301': network address parse error: invalid IPv4 address syntax"
        );
    }

    #[test]
    fn a_zone_needs_an_soa_and_apex_ns() {
        let no_soa = parse(
            "$ORIGIN example.com.\n$TTL 1\n@ NS ns1\nns1 A 192.0.2.1\n",
            "z",
            &origin(),
        );
        assert_eq!(
            no_soa.unwrap_err().to_string(),
            "z: zone example.com.: has no SOA record"
        );
        let no_ns = parse("$TTL 1\n@ SOA ns1 admin 1 1 1 1 1\n", "z", &origin());
        assert_eq!(
            no_ns.unwrap_err().to_string(),
            "z: zone example.com.: has no NS records"
        );
    }

    #[test]
    fn what_named_only_warns_about_still_loads() {
        let zone = zone(
            "www.example.org. A 192.0.2.5\na 100 A 192.0.2.3\na 200 A 192.0.2.4\n@ MX 10 nothere\n",
        )
        .unwrap();
        let warnings = zone.warnings().join("\n");
        assert!(
            warnings.contains("z:8: ignoring out-of-zone data (www.example.org)"),
            "{warnings}"
        );
        assert!(
            warnings.contains("z:10: TTL set to prior TTL (100)"),
            "{warnings}"
        );
        assert!(
            warnings.contains("'nothere.example.com' has no address records"),
            "{warnings}"
        );
        let a = zone
            .node(&LowerName::from(
                Name::from_ascii("a.example.com.").unwrap(),
            ))
            .unwrap();
        assert!(
            a.get(RecordType::A)
                .unwrap()
                .records
                .iter()
                .all(|r| r.ttl == 100)
        );
    }

    #[test]
    fn txt_escapes_are_bytes_as_in_bind() {
        let txt_zone = zone("c TXT \"\\065\\066\" a\\032b \"\\\"q\\\"\" \"\\200\"\n").unwrap();
        let c = txt_zone
            .node(&LowerName::from(
                Name::from_ascii("c.example.com.").unwrap(),
            ))
            .unwrap();
        let RData::TXT(txt) = &c.get(RecordType::TXT).unwrap().records[0].data else {
            panic!("not TXT")
        };
        let strings: Vec<&[u8]> = txt.txt_data.iter().map(|s| &s[..]).collect();
        assert_eq!(
            strings,
            [&b"AB"[..], &b"a b"[..], &b"\"q\""[..], &[200u8][..]]
        );
        assert!(error(&format!("c TXT \"{}\"\n", "a".repeat(256))).contains("at most 255"));
        assert!(error("c TXT \"\\256\"\n").contains("more than 255"));
        let hinfo_zone = zone("h HINFO \"x\\0234\" Linux\n").unwrap();
        let h = hinfo_zone
            .node(&LowerName::from(
                Name::from_ascii("h.example.com.").unwrap(),
            ))
            .unwrap();
        let RData::HINFO(hinfo) = &h.get(RecordType::HINFO).unwrap().records[0].data else {
            panic!("not HINFO")
        };
        assert_eq!(
            (&hinfo.cpu[..], &hinfo.os[..]),
            (&b"x\x174"[..], &b"Linux"[..])
        );
        assert!(error("h HINFO one\n").contains("two character-strings"));
    }

    #[test]
    fn a_quoted_domain_name_is_an_error() {
        // Found by the zone_file fuzz target: hickory read the quoted
        // `\066\O66` as a relative name the dump could not write back.
        assert!(
            error("@ NS \"\\066\\O66\"\n").contains("a domain name is written without quotes"),
            "{}",
            error("@ NS \"\\066\\O66\"\n")
        );
        assert!(error("@ MX 10 \"ns1\"\n").contains("a domain name is written without quotes"));
        let quoted_owner = zone("\"w\\066w\" A 192.0.2.2\n").unwrap();
        let wbw = LowerName::new(&Name::from_ascii("wbw.example.com.").unwrap());
        assert!(quoted_owner.node(&wbw).is_some());
    }

    #[test]
    fn naptr_strings_are_decoded_and_its_replacement_made_absolute() {
        let naptr_zone =
            zone("x NAPTR 1 2 \"\\065\" \"E2U+sip\" \"!^\\\\+(.*)$!\\\\1!\" sip\n").unwrap();
        let x = LowerName::new(&Name::from_ascii("x.example.com.").unwrap());
        let RData::NAPTR(naptr) = &naptr_zone.node(&x).unwrap().rrsets()[0].records[0].data else {
            panic!("not a NAPTR")
        };
        assert_eq!(&naptr.flags[..], b"A", "\\065 is the byte 65");
        assert_eq!(&naptr.regexp[..], b"!^\\+(.*)$!\\1!");
        assert_eq!(naptr.replacement.to_string(), "sip.example.com.");
        assert!(error("x NAPTR 1 2 \"A\" \"\" \"\"\n").contains("NAPTR takes 6 fields"));
        assert!(error("x NAPTR 1 2 \"S\" \"\" \"A\" .\n").contains("NAPTR regexp"));
        assert!(error("x NAPTR 1 2 \"S\" \"\" \"!a!\\\\1!\" .\n").contains("backreference"));
        assert!(zone("x NAPTR 1 2 \"S\" \"\" \"/(a)/\\\\1/i\" .\n").is_ok());
    }

    #[test]
    fn empty_parentheses_are_a_blank_line() {
        assert!(zone("(\n)\n  ( )\nwww A 192.0.2.2\n").is_ok());
    }

    #[test]
    fn name_escapes_are_decimal_and_escaped_dots_stay_in_the_label() {
        let parse = |text| parse_name(text).unwrap();
        assert!(parse("a.").1);
        assert!(!parse("a\\.").1);
        assert!(parse("a\\\\.").1);
        assert_eq!(parse("a\\.b.").0.num_labels(), 1, "`a.b` is one label");
        let (wbw, _) = parse("w\\066w.");
        assert_eq!(wbw.iter().next().unwrap(), b"wBw", "\\066 is decimal: B");
        assert!(parse_name("a\\256.").is_err());
        assert!(parse_name("a..b").is_err());
    }
}
