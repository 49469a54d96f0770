//! BIND's `$GENERATE`: `$GENERATE start-stop[/step] lhs [ttl] [class] type
//! rhs`, one record per value of the range, with `$` in `lhs` and `rhs`
//! replaced by the value (`${offset[,width[,base]]}` shifts, pads and
//! writes it in base `d`, `o`, `x`, `X`, or nibbles `n`/`N`; `\$` is a
//! literal `$`), as `named` expands it.

/// The most records one `$GENERATE` may make (BIND makes as many as the
/// range holds; a range of millions is a mistake, not a zone).
pub(super) const MAX_GENERATED: u64 = 65_536;

/// A `$GENERATE` range: its values, in order.
pub(super) fn range(text: &str) -> Result<impl Iterator<Item = u64>, String> {
    let bad = || format!("$GENERATE range '{text}' is not start-stop or start-stop/step");
    let (span, step) = match text.split_once('/') {
        Some((span, step)) => (span, step.parse::<u64>().map_err(|_| bad())?),
        None => (text, 1),
    };
    let (start, stop) = span.split_once('-').ok_or_else(bad)?;
    let (start, stop) = (
        start.parse::<u64>().map_err(|_| bad())?,
        stop.parse::<u64>().map_err(|_| bad())?,
    );
    if step == 0 || stop < start {
        return Err(format!(
            "$GENERATE range '{text}': the start must not pass the stop, and the step must be at least 1"
        ));
    }
    if (stop - start) / step + 1 > MAX_GENERATED {
        return Err(format!(
            "$GENERATE range '{text}' makes more than {MAX_GENERATED} records"
        ));
    }
    Ok((start..=stop).step_by(step as usize))
}

/// `template` with every `$` (and `${...}`) replaced for `value`.
pub(super) fn expand(template: &str, value: u64) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                chars.next();
                out.push('$');
            }
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                let mut spec = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => spec.push(c),
                        None => {
                            return Err(format!("$GENERATE: '${{{spec}' has no closing brace"));
                        }
                    }
                }
                out.push_str(&modified(&spec, value)?);
            }
            '$' => out.push_str(&value.to_string()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `value` as `${offset,width,base}` writes it.
fn modified(spec: &str, value: u64) -> Result<String, String> {
    let bad = |why: &str| format!("$GENERATE: '${{{spec}}}': {why}");
    let mut parts = spec.split(',');
    let offset: i64 = parts
        .next()
        .unwrap_or("0")
        .trim()
        .parse()
        .map_err(|_| bad("the offset is not a number"))?;
    let width: usize = match parts.next() {
        Some(w) => w
            .trim()
            .parse()
            .map_err(|_| bad("the width is not a number"))?,
        None => 0,
    };
    let base = parts.next().map(str::trim).unwrap_or("d");
    if parts.next().is_some() {
        return Err(bad("at most offset, width and base"));
    }
    let shifted = i128::from(value) + i128::from(offset);
    let shifted =
        u64::try_from(shifted).map_err(|_| bad("the offset takes the value below zero"))?;
    Ok(match base {
        "d" => format!("{shifted:0width$}"),
        "o" => format!("{shifted:0width$o}"),
        "x" => format!("{shifted:0width$x}"),
        "X" => format!("{shifted:0width$X}"),
        "n" | "N" => nibbles(shifted, width, base == "N"),
        _ => return Err(bad("the base is one of d, o, x, X, n, N")),
    })
}

/// `value`'s hex digits, least significant first, separated by dots (as
/// in `ip6.arpa` names); at least `width` characters, padded with `0`
/// nibbles.
fn nibbles(mut value: u64, width: usize, upper: bool) -> String {
    let mut out = String::new();
    loop {
        let digit = (value & 0xf) as u32;
        let c = char::from_digit(digit, 16).expect("a nibble is a hex digit");
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        value >>= 4;
        if value == 0 && out.len() >= width {
            break;
        }
        out.push('.');
        if value == 0 && out.len() >= width {
            out.push('0');
            if out.len() >= width {
                break;
            }
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_modifiers_expand_as_bind_expands_them() {
        assert_eq!(expand("host-$", 7).unwrap(), "host-7");
        assert_eq!(expand("${10}", 7).unwrap(), "17");
        assert_eq!(expand("${0,3}", 7).unwrap(), "007");
        assert_eq!(expand("${0,4,x}.${-1,2,X}", 255).unwrap(), "00ff.FE");
        assert_eq!(expand("${0,0,o}", 8).unwrap(), "10");
        assert_eq!(expand("${0,0,n}", 0x123).unwrap(), "3.2.1");
        assert_eq!(expand("\\$$", 2).unwrap(), "$2");
        assert!(expand("${-3}", 2).is_err());
        assert!(expand("${1,2,q}", 2).is_err());
        assert!(expand("${1", 2).is_err());
    }

    #[test]
    fn ranges_step_and_are_bounded() {
        assert_eq!(range("1-5/2").unwrap().collect::<Vec<_>>(), [1, 3, 5]);
        assert_eq!(range("7-7").unwrap().count(), 1);
        assert!(range("5-1").is_err());
        assert!(range("1-5/0").is_err());
        assert!(range("0-100000").is_err());
        assert!(range("a-b").is_err());
    }
}
