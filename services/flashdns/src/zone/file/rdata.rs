//! Record data and names as zone files write them: TXT character-strings
//! and their escapes, domain names (`\DDD` decimal, as BIND reads them),
//! and the data of the types whose fields are names, made absolute before
//! hickory parses them.

use hickory_proto::rr::rdata::{CNAME, MX, NAPTR, NS, PTR, SOA, SRV, TXT};
use hickory_proto::rr::{Name, RData, RecordType};

use hickory_proto::serialize::txt::parse_ttl;

use super::lex::Token;

/// TXT data: each token one character-string, escapes decoded as BIND
/// does (`\DDD` is the byte DDD, `\X` is X).
pub(super) fn txt(tokens: &[Token]) -> Result<RData, String> {
    if tokens.is_empty() {
        return Err("TXT record has no data".to_owned());
    }
    let strings = tokens
        .iter()
        .map(|t| character_string(&t.text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RData::TXT(TXT::from_bytes(
        strings.iter().map(Vec::as_slice).collect(),
    )))
}

/// One `<character-string>` (RFC 1035 section 5.1): at most 255 bytes.
pub(super) fn character_string(text: &str) -> Result<Vec<u8>, String> {
    let out = unescape(text)?;
    if out.len() > 255 {
        return Err(format!(
            "a character-string of {} bytes; at most 255 (split it into several quoted strings)",
            out.len()
        ));
    }
    Ok(out)
}

/// Zone-file text as bytes: `\DDD` is the byte DDD, `\X` is X.
pub(super) fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let digits = &bytes[i + 1..bytes.len().min(i + 4)];
        if digits.len() == 3 && digits.iter().all(u8::is_ascii_digit) {
            let value = digits
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            let byte = u8::try_from(value)
                .map_err(|_| format!("bad escape '\\{value}': more than 255"))?;
            out.push(byte);
            i += 4;
        } else if let Some(&next) = bytes.get(i + 1) {
            out.push(next);
            i += 2;
        } else {
            return Err("a string ends in a lone backslash".to_owned());
        }
    }
    Ok(out)
}

/// A domain name as the zone-file rules write it (RFC 1035 section 5.1):
/// labels split at unescaped dots, `\X` the character X, `\DDD` the byte
/// with that *decimal* value. (hickory reads `\DDD` as octal, which is
/// another name.) Returns whether it ended with a dot (is absolute).
pub(super) fn parse_name(text: &str) -> Result<(Name, bool), String> {
    if text == "." {
        return Ok((Name::root(), true));
    }
    let bytes = text.as_bytes();
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => {
                let digits = bytes.get(i + 1..i + 4);
                if let Some(digits) = digits.filter(|d| d.iter().all(u8::is_ascii_digit)) {
                    let value = digits
                        .iter()
                        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    let byte = u8::try_from(value)
                        .map_err(|_| format!("{text}: \\{value} is not a byte (at most \\255)"))?;
                    label.push(byte);
                    i += 4;
                } else if let Some(&c) = bytes.get(i + 1) {
                    label.push(c);
                    i += 2;
                } else {
                    return Err(format!("{text}: an escape at the end of the name"));
                }
            }
            b'.' => {
                if label.is_empty() {
                    return Err(format!("{text}: an empty label"));
                }
                labels.push(std::mem::take(&mut label));
                absolute = i + 1 == bytes.len();
                i += 1;
            }
            b => {
                label.push(b);
                i += 1;
            }
        }
    }
    if !label.is_empty() {
        labels.push(label);
    }
    let mut name = Name::from_labels(labels).map_err(|e| format!("{text}: {e}"))?;
    name.set_fqdn(absolute);
    Ok((name, absolute))
}

/// `@`, a relative or an absolute name, made absolute under `origin`.
pub(in crate::zone) fn absolute(text: &str, origin: &Name) -> Result<Name, String> {
    if text == "@" {
        return Ok(origin.clone());
    }
    let (name, absolute) = parse_name(text)?;
    if absolute {
        return Ok(name);
    }
    name.append_domain(origin)
        .map_err(|e| format!("{text}: {e}"))
}

/// The name a token in record data writes, made absolute. There a quoted
/// string is not a name (BIND stops at it too; it reads a quoted owner as
/// the name, and so do we).
pub(super) fn name_of(token: &Token, origin: &Name) -> Result<Name, String> {
    if token.quoted {
        return Err(format!(
            "\"{}\": a domain name is written without quotes",
            token.text
        ));
    }
    absolute(&token.text, origin)
}

/// The data of the types that hold domain names, built from the tokens
/// (`None` for other types). Names are read by the zone-file rules here,
/// never handed to hickory as text: its name syntax differs (octal `\DDD`,
/// `;` inside a name), which would make another name. NAPTR's
/// character-strings are decoded as TXT's are.
pub(super) fn name_rdata(
    rtype: RecordType,
    tokens: &[Token],
    origin: &Name,
) -> Option<Result<RData, FieldError>> {
    let fields: &[&str] = match rtype {
        RecordType::NS | RecordType::CNAME | RecordType::PTR | RecordType::DNAME => &["target"],
        RecordType::MX => &["preference", "exchange"],
        RecordType::SRV => &["priority", "weight", "port", "target"],
        RecordType::SOA => &[
            "primary", "mailbox", "serial", "refresh", "retry", "expire", "minimum",
        ],
        RecordType::NAPTR => &[
            "order",
            "preference",
            "flags",
            "services",
            "regexp",
            "replacement",
        ],
        _ => return None,
    };
    Some(build_name_rdata(rtype, fields, tokens, origin))
}

/// A problem with a record's data, and the line of the token at fault
/// when one is (an entry in parentheses spans several lines).
#[derive(Debug)]
pub(super) struct FieldError {
    pub(super) line: Option<usize>,
    pub(super) problem: String,
}

impl From<String> for FieldError {
    fn from(problem: String) -> Self {
        FieldError {
            line: None,
            problem,
        }
    }
}

pub(super) fn build_name_rdata(
    rtype: RecordType,
    fields: &[&str],
    tokens: &[Token],
    origin: &Name,
) -> Result<RData, FieldError> {
    let at = |i: usize, problem: String| FieldError {
        line: Some(tokens[i].line),
        problem,
    };
    if tokens.len() != fields.len() {
        return Err(FieldError::from(format!(
            "{rtype} takes {} field{} ({}), not {}",
            fields.len(),
            if fields.len() == 1 { "" } else { "s" },
            fields.join(" "),
            tokens.len()
        )));
    }
    let name = |i: usize| {
        name_of(&tokens[i], origin).map_err(|e| at(i, format!("{rtype} {}: {e}", fields[i])))
    };
    let u16_at = |i: usize| {
        let text = &tokens[i].text;
        text.parse::<u16>().map_err(|_| {
            at(
                i,
                format!(
                    "{rtype} {}: '{text}' is not a number from 0 to 65535",
                    fields[i]
                ),
            )
        })
    };
    let timer = |i: usize| {
        read_ttl(&tokens[i].text).map_err(|e| at(i, format!("{rtype} {}: {e}", fields[i])))
    };
    let signed_timer = |i: usize| {
        let value = timer(i)?;
        i32::try_from(value).map_err(|_| {
            at(
                i,
                format!("{rtype} {}: {value} is larger than 2147483647", fields[i]),
            )
        })
    };
    let bytes = |i: usize| -> Result<Box<[u8]>, FieldError> {
        Ok(character_string(&tokens[i].text)
            .map_err(|e| at(i, e))?
            .into_boxed_slice())
    };
    Ok(match rtype {
        RecordType::NS => RData::NS(NS(name(0)?)),
        RecordType::CNAME => RData::CNAME(CNAME(name(0)?)),
        RecordType::PTR => RData::PTR(PTR(name(0)?)),
        RecordType::DNAME => crate::zone::dname(&name(0)?),
        RecordType::MX => RData::MX(MX::new(u16_at(0)?, name(1)?)),
        RecordType::SRV => RData::SRV(SRV::new(u16_at(0)?, u16_at(1)?, u16_at(2)?, name(3)?)),
        RecordType::SOA => {
            let serial = &tokens[2].text;
            let serial = serial.parse::<u32>().map_err(|_| {
                at(
                    2,
                    format!("SOA serial: '{serial}' is not a number from 0 to 4294967295"),
                )
            })?;
            RData::SOA(SOA::new(
                name(0)?,
                name(1)?,
                serial,
                signed_timer(3)?,
                signed_timer(4)?,
                signed_timer(5)?,
                timer(6)?,
            ))
        }
        RecordType::NAPTR => {
            let (flags, regexp) = (bytes(2)?, bytes(4)?);
            naptr_regexp(&regexp).map_err(|e| at(4, e))?;
            RData::NAPTR(NAPTR::new(
                u16_at(0)?,
                u16_at(1)?,
                flags,
                bytes(3)?,
                regexp,
                name(5)?,
            ))
        }
        _ => unreachable!("name_rdata lists the types"),
    })
}

/// A NAPTR regexp is empty or `<d>ere<d>substitution<d>[i]` (RFC 3402
/// section 3.2), with backreferences only to groups the ere has; BIND
/// refuses a zone with any other.
pub(super) fn naptr_regexp(regexp: &[u8]) -> Result<(), String> {
    let Some((&delimiter, rest)) = regexp.split_first() else {
        return Ok(());
    };
    let bad = |why: &str| Err(format!("NAPTR regexp: {why}"));
    if delimiter.is_ascii_digit() || delimiter == b'\\' || delimiter == 0 {
        return bad("the delimiter cannot be a digit, a backslash or NUL");
    }
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let mut bytes = rest.iter();
    while let Some(&b) = bytes.next() {
        let part = parts.last_mut().expect("one part at least");
        if b == b'\\' {
            part.push(b);
            match bytes.next() {
                Some(&next) => part.push(next),
                None => return bad("it ends with a backslash"),
            }
        } else if b == delimiter {
            parts.push(Vec::new());
        } else {
            part.push(b);
        }
    }
    let [ere, substitution, flags] = &parts[..] else {
        return bad("it must be <delimiter>ere<delimiter>substitution<delimiter>");
    };
    if !(flags.is_empty() || flags == b"i") {
        return bad("the only flag after the last delimiter is `i`");
    }
    let mut groups = 0;
    let mut escaped = false;
    for &b in ere {
        match (escaped, b) {
            (false, b'\\') => escaped = true,
            (false, b'(') => groups += 1,
            _ => escaped = false,
        }
    }
    let mut subst = substitution.iter();
    while let Some(&b) = subst.next() {
        if b == b'\\'
            && let Some(&next) = subst.next()
            && next.is_ascii_digit()
            && u32::from(next - b'0') > groups
        {
            return bad("a backreference to a group the ere does not have");
        }
    }
    Ok(())
}

/// A TTL as zone files write it (`3600`, `1h30m`).
pub(super) fn read_ttl(text: &str) -> Result<u32, String> {
    parse_ttl(text).map_err(|_| format!("bad TTL '{text}'"))
}
