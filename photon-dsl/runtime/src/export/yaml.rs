//! YAML text from a JSON value, for the compose file and the Kubernetes
//! manifests. Block style, every string double-quoted with JSON's escapes
//! (a double-quoted YAML scalar is a JSON string), so no value can be
//! read back as another type (`"on"`, `"1.0"`, `"null"` stay strings).

use std::fmt::Write as _;

use serde_json::Value;

/// `value` as a YAML document (no `---`).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(_) | Value::Array(_) => block(&mut out, value, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

/// A scalar, or an empty collection, on one line.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        Value::Object(o) if o.is_empty() => "{}".to_owned(),
        // not reached: non-empty collections are written as blocks
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => false,
    }
}

/// A key: plain when it is a safe identifier, quoted otherwise.
fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
        && k.as_bytes()[0].is_ascii_alphabetic();
    if plain {
        k.to_owned()
    } else {
        Value::String(k.to_owned()).to_string()
    }
}

fn block(out: &mut String, value: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if is_block(v) {
                    let _ = writeln!(out, "{pad}{}:", key(k));
                    // list items sit at the key's indentation, maps below it
                    let inner = if v.is_array() { indent } else { indent + 2 };
                    block(out, v, inner);
                } else {
                    let _ = writeln!(out, "{pad}{}: {}", key(k), inline(v));
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                if is_block(item) {
                    // the item's first line follows the dash
                    let mut text = String::new();
                    block(&mut text, item, 0);
                    let mut lines = text.lines();
                    if let Some(first) = lines.next() {
                        let _ = writeln!(out, "{pad}- {first}");
                    }
                    for line in lines {
                        let _ = writeln!(out, "{pad}  {line}");
                    }
                } else {
                    let _ = writeln!(out, "{pad}- {}", inline(item));
                }
            }
        }
        scalar => {
            let _ = writeln!(out, "{pad}{}", inline(scalar));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_lists_and_scalars_in_block_style() {
        let doc = json!({
            "name": "echo",
            "services": {
                "server": {
                    "command": ["run", "--node", "server"],
                    "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                    "empty": [],
                    "none": {},
                    "flag": true,
                    "nested": [[1, 2], []],
                }
            },
            "weird key": "on",
            "version": "1.0",
        });
        assert_eq!(
            to_yaml(&doc),
            r#"name: "echo"
services:
  server:
    command:
    - "run"
    - "--node"
    - "server"
    empty: []
    flag: true
    nested:
    - - 1
      - 2
    - []
    none: {}
    ports:
    - port: 8080
      protocol: "TCP"
    - port: 53
      protocol: "UDP"
version: "1.0"
"weird key": "on"
"#
        );
    }

    #[test]
    fn strings_keep_their_escapes() {
        assert_eq!(
            to_yaml(&json!({"s": "a \"quoted\"\nline: # not a comment"})),
            "s: \"a \\\"quoted\\\"\\nline: # not a comment\"\n"
        );
    }
}
