//! A series' identity: its label set, sorted by name, `__name__` included.

use std::fmt;

/// The metric name's label.
pub const NAME: &str = "__name__";

/// A label set: pairs sorted by name, names unique, no empty values (an
/// empty value is the same as no label, as in Prometheus).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<(String, String)>);

impl Labels {
    /// The set of `pairs`; a later pair wins over an earlier one of the
    /// same name, empty values are dropped.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Labels {
        let mut labels = Labels::default();
        for (k, v) in pairs {
            labels.set(k.into(), v.into());
        }
        labels
    }

    /// The value of `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| self.0[i].1.as_str())
    }

    /// The metric name.
    pub fn name(&self) -> Option<&str> {
        self.get(NAME)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// Sets `name` to `value`; an empty value removes it.
    pub fn set(&mut self, name: String, value: String) {
        match self.position(&name) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.position(name) {
            self.0.remove(i);
        }
    }

    /// The set without its metric name.
    pub fn without_name(mut self) -> Labels {
        self.remove(NAME);
        self
    }

    /// Only the labels named in `names`.
    pub fn keep(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(k, _)| names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        )
    }

    /// Every label but those named in `names`.
    pub fn drop_names(&self, names: &[String]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|(k, _)| !names.iter().any(|n| n == k))
                .cloned()
                .collect(),
        )
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored form: `name\0value\0` for each pair.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (k, v) in &self.0 {
            out.extend_from_slice(k.as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out
    }

    /// Reads [`encode`](Self::encode)'s form back.
    pub fn decode(bytes: &[u8]) -> Option<Labels> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split('\0');
        let mut pairs = Vec::new();
        while let Some(k) = parts.next() {
            if k.is_empty() {
                break;
            }
            let v = parts.next()?;
            pairs.push((k.to_owned(), v.to_owned()));
        }
        Some(Labels::from_pairs(pairs))
    }
}

/// Prometheus's form: `name{a="1", b="2"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for (k, v) in self.iter().filter(|(k, _)| *k != NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_are_sorted_and_empty_values_are_no_label() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        assert_eq!(l.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!(Labels::decode(&l.encode()), Some(l.clone()));
        assert_eq!(
            Labels::decode(&Labels::default().encode()),
            Some(Labels::default())
        );
        let named = Labels::from_pairs([(NAME, "up"), ("job", "x")]);
        assert_eq!(named.to_string(), "up{job=\"x\"}");
        assert_eq!(named.without_name().to_string(), "{job=\"x\"}");
    }
}
