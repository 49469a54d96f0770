//! A series' identity: its label set, sorted by name, `__name__` included.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock};

/// The metric name's label.
pub const NAME: &str = "__name__";

/// A label set: pairs sorted by name, names unique, no empty values (an
/// empty value is the same as no label, as in Prometheus).
///
/// Shared, not copied: a query hands the same set to every step's result,
/// so a clone is a reference count, and dropping the metric name (which
/// most functions and operators do at every step) only sets a flag.
/// Its hash is computed once, when it is made: queries hash the same
/// sets at every step.
#[derive(Debug, Clone)]
pub struct Labels {
    shared: Arc<Shared>,
    /// Whether `__name__` in the pairs is to be taken as absent.
    nameless: bool,
}

type Pair = (Arc<str>, Arc<str>);

#[derive(Debug)]
struct Shared {
    pairs: Vec<Pair>,
    /// The pairs' hash ...
    hash: u64,
    /// ... and without `__name__`.
    nameless_hash: u64,
}

impl Default for Labels {
    fn default() -> Labels {
        Labels::of(Vec::new())
    }
}

/// A hash of `pairs`, the same for the same pairs within this process.
fn content_hash<'a>(pairs: impl Iterator<Item = &'a Pair>) -> u64 {
    use std::hash::BuildHasher as _;
    static SEED: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);
    let mut hasher = SEED.build_hasher();
    for (k, v) in pairs {
        k.hash(&mut hasher);
        v.hash(&mut hasher);
    }
    hasher.finish()
}

/// A map keyed by label sets, with a fast hash (queries build these for
/// every step).
pub type LabelMap<V> = HashMap<Labels, V, foldhash::fast::RandomState>;

/// A set of label sets, with the same fast hash.
pub type LabelSet = HashSet<Labels, foldhash::fast::RandomState>;

impl Labels {
    fn of(pairs: Vec<Pair>) -> Labels {
        let hash = content_hash(pairs.iter());
        let nameless_hash = content_hash(pairs.iter().filter(|(k, _)| &**k != NAME));
        Labels {
            shared: Arc::new(Shared {
                pairs,
                hash,
                nameless_hash,
            }),
            nameless: false,
        }
    }

    /// The set of `pairs`; a later pair wins over an earlier one of the
    /// same name, empty values are dropped.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Labels {
        let mut list: Vec<Pair> = Vec::new();
        for (k, v) in pairs {
            set_in(&mut list, &k.into(), v.into());
        }
        Labels::of(list)
    }

    /// The value of `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        if self.nameless && name == NAME {
            return None;
        }
        position(&self.shared.pairs, name)
            .ok()
            .map(|i| &*self.shared.pairs[i].1)
    }

    /// The metric name.
    pub fn name(&self) -> Option<&str> {
        self.get(NAME)
    }

    /// The pairs as a list of their own.
    fn list(&self) -> Vec<Pair> {
        self.shared
            .pairs
            .iter()
            .filter(|(k, _)| !(self.nameless && &**k == NAME))
            .cloned()
            .collect()
    }

    /// Sets `name` to `value`; an empty value removes it.
    pub fn set(&mut self, name: String, value: String) {
        if self.get(&name).unwrap_or("") == value {
            return;
        }
        let mut list = self.list();
        set_in(&mut list, &name, value);
        *self = Labels::of(list);
    }

    /// Removes `name`.
    pub fn remove(&mut self, name: &str) {
        if self.get(name).is_none() {
            return;
        }
        if name == NAME {
            self.nameless = true;
        } else {
            let mut list = self.list();
            list.retain(|(k, _)| &**k != name);
            *self = Labels::of(list);
        }
    }

    /// The set without its metric name.
    pub fn without_name(mut self) -> Labels {
        self.remove(NAME);
        self
    }

    /// Only the labels named in `names`.
    pub fn keep(&self, names: &[String]) -> Labels {
        let mut list = self.list();
        list.retain(|(k, _)| names.iter().any(|n| **n == **k));
        Labels::of(list)
    }

    /// Every label but those named in `names`.
    pub fn drop_names(&self, names: &[String]) -> Labels {
        let mut list = self.list();
        list.retain(|(k, _)| !names.iter().any(|n| **n == **k));
        Labels::of(list)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.shared
            .pairs
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .filter(|(k, _)| !(self.nameless && *k == NAME))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.shared.pairs.len()
            - usize::from(self.nameless && position(&self.shared.pairs, NAME).is_ok())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored form: `name\0value\0` for each pair.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
        for (k, v) in self.iter() {
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

// equality, hash and order are of the pairs as seen, whatever the form
impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        (Arc::ptr_eq(&self.shared, &other.shared) && self.nameless == other.nameless)
            || self.iter().eq(other.iter())
    }
}

impl Eq for Labels {}

impl Hash for Labels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(if self.nameless {
            self.shared.nameless_hash
        } else {
            self.shared.hash
        });
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

fn position(list: &[Pair], name: &str) -> Result<usize, usize> {
    list.binary_search_by(|(k, _)| (**k).cmp(name))
}

fn set_in(list: &mut Vec<Pair>, name: &str, value: String) {
    match position(list, name) {
        Ok(i) if value.is_empty() => {
            list.remove(i);
        }
        Ok(i) => list[i].1 = value.into(),
        Err(_) if value.is_empty() => {}
        Err(i) => list.insert(i, (name.into(), value.into())),
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

    #[test]
    fn a_set_without_its_name_is_the_same_set_in_every_respect() {
        use std::hash::BuildHasher as _;
        let named = Labels::from_pairs([("Z", "1"), (NAME, "up"), ("job", "x")]);
        let dropped = named.clone().without_name();
        let built = Labels::from_pairs([("Z", "1"), ("job", "x")]);
        assert_eq!(dropped, built);
        let hasher = foldhash::fast::FixedState::default();
        assert_eq!(hasher.hash_one(&dropped), hasher.hash_one(&built));
        assert_eq!(dropped.cmp(&built), Ordering::Equal);
        assert_eq!((dropped.len(), dropped.name()), (2, None));
        assert_eq!(Labels::decode(&dropped.encode()), Some(built.clone()));
        // changing it afterwards does not bring the name back
        let mut changed = dropped.clone();
        changed.set("job".into(), "y".into());
        assert_eq!(changed, Labels::from_pairs([("Z", "1"), ("job", "y")]));
        // pair by pair: `__name__` sorts before `job`
        assert!(named < dropped, "{named} against {dropped}");
        assert_ne!(named, dropped);
    }
}
