//! The placing decision, apart from chainfire and the bus: where one
//! resource goes, given its current node and the candidates.

/// A node that may serve a kind, as the scheduler sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub node: String,
    /// Whether its agent answered `/health` lately.
    pub live: bool,
    /// The resources of the kind placed on it.
    pub load: u32,
}

/// What to do with one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Leave it where it is.
    Stay,
    /// Place it on this node (first placement, or a move).
    Place(String),
    /// Nowhere to put it now (no live node with room); look again later.
    Wait,
}

/// Where a resource on `current` (or nowhere) goes among `candidates`,
/// no node holding more than `capacity`: it stays on a live candidate;
/// otherwise it goes to the live candidate with the least load (the
/// first in topology order among equals) that has room.
pub fn decide(current: Option<&str>, candidates: &[Candidate], capacity: u32) -> Decision {
    let here = current.and_then(|node| candidates.iter().find(|c| c.node == node));
    if here.is_some_and(|c| c.live) {
        return Decision::Stay;
    }
    let best = candidates
        .iter()
        .filter(|c| c.live && c.load < capacity && Some(c.node.as_str()) != current)
        .min_by_key(|c| c.load);
    match (best, here) {
        (Some(best), _) => Decision::Place(best.node.clone()),
        // On a node that is away, with nowhere better: it stays, and
        // comes back to life with its node.
        (None, Some(_)) => Decision::Stay,
        (None, None) => Decision::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, live: bool, load: u32) -> Candidate {
        Candidate {
            node: name.into(),
            live,
            load,
        }
    }

    #[test]
    fn a_new_resource_goes_to_the_least_loaded_live_node_with_room() {
        let nodes = [node("a", true, 2), node("b", true, 1), node("c", false, 0)];
        assert_eq!(decide(None, &nodes, 10), Decision::Place("b".into()));
        // Equal loads: topology order.
        let nodes = [node("a", true, 1), node("b", true, 1)];
        assert_eq!(decide(None, &nodes, 10), Decision::Place("a".into()));
        // Full: the next with room; none: wait.
        let nodes = [node("a", true, 3), node("b", true, 5)];
        assert_eq!(decide(None, &nodes, 4), Decision::Place("a".into()));
        assert_eq!(decide(None, &nodes, 3), Decision::Wait);
        assert_eq!(decide(None, &[node("a", false, 0)], 3), Decision::Wait);
    }

    #[test]
    fn a_resource_stays_on_a_live_node_and_leaves_one_that_is_away() {
        let nodes = [node("a", true, 9), node("b", true, 0)];
        assert_eq!(decide(Some("a"), &nodes, 10), Decision::Stay);
        let nodes = [node("a", false, 9), node("b", true, 0)];
        assert_eq!(decide(Some("a"), &nodes, 10), Decision::Place("b".into()));
        // Away with nowhere to go: it stays for its node to come back.
        let nodes = [node("a", false, 1), node("b", true, 4)];
        assert_eq!(decide(Some("a"), &nodes, 4), Decision::Stay);
        // A node the topology no longer has: moved, or waiting for room.
        let nodes = [node("b", true, 0)];
        assert_eq!(decide(Some("gone"), &nodes, 4), Decision::Place("b".into()));
        assert_eq!(
            decide(Some("gone"), &[node("b", true, 4)], 4),
            Decision::Wait
        );
    }
}
