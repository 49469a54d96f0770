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
    /// Whether another resource placed on it takes a port this one
    /// needs (two balancers of one port cannot share a node's address).
    pub port_taken: bool,
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
/// no node holding more than `capacity` nor two resources taking one
/// port: it stays on a live candidate where its port is its own;
/// otherwise it goes to the live candidate with the least load (the
/// first in topology order among equals) that has room and the port
/// free.
pub fn decide(current: Option<&str>, candidates: &[Candidate], capacity: u32) -> Decision {
    let here = current.and_then(|node| candidates.iter().find(|c| c.node == node));
    if here.is_some_and(|c| c.live && !c.port_taken) {
        return Decision::Stay;
    }
    let best = candidates
        .iter()
        .filter(|c| {
            c.live && !c.port_taken && c.load < capacity && Some(c.node.as_str()) != current
        })
        .min_by_key(|c| c.load);
    match (best, here) {
        (Some(best), _) => Decision::Place(best.node.clone()),
        // On a node that is away (or sharing its port), with nowhere
        // better: it stays, and comes back to life with its node.
        (None, Some(_)) => Decision::Stay,
        (None, None) => Decision::Wait,
    }
}

/// Why a resource waits among `candidates`: each node and what keeps it
/// out, for the resource's status.
pub fn why_waiting(candidates: &[Candidate], capacity: u32, ports: &[u16]) -> String {
    if candidates.is_empty() {
        return "no node runs an agent for this kind".to_owned();
    }
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let reasons: Vec<String> = candidates
        .iter()
        .map(|c| {
            let why = if !c.live {
                "its agent does not answer".to_owned()
            } else if c.port_taken {
                format!("port {} taken", ports.join(", "))
            } else if c.load >= capacity {
                format!("full ({capacity} placed)")
            } else {
                "free".to_owned()
            };
            format!("{}: {why}", c.node)
        })
        .collect();
    format!("waiting for a node ({})", reasons.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, live: bool, load: u32) -> Candidate {
        Candidate {
            node: name.into(),
            live,
            load,
            port_taken: false,
        }
    }

    fn taken(mut candidate: Candidate) -> Candidate {
        candidate.port_taken = true;
        candidate
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

    #[test]
    fn a_resource_never_goes_where_its_port_is_taken() {
        // The least loaded node has the port taken: the next one.
        let nodes = [taken(node("a", true, 0)), node("b", true, 3)];
        assert_eq!(decide(None, &nodes, 10), Decision::Place("b".into()));
        // Taken everywhere: wait.
        let nodes = [taken(node("a", true, 0)), taken(node("b", true, 0))];
        assert_eq!(decide(None, &nodes, 10), Decision::Wait);
        // Sharing its port where it is (placed before, or by a racing
        // scheduler): it moves if it can, else stays.
        let nodes = [taken(node("a", true, 1)), node("b", true, 5)];
        assert_eq!(decide(Some("a"), &nodes, 10), Decision::Place("b".into()));
        let nodes = [taken(node("a", true, 1)), taken(node("b", true, 0))];
        assert_eq!(decide(Some("a"), &nodes, 10), Decision::Stay);
    }

    #[test]
    fn a_waiting_resource_is_told_what_keeps_each_node_out() {
        let nodes = [
            node("a", false, 0),
            taken(node("b", true, 0)),
            node("c", true, 4),
        ];
        assert_eq!(decide(None, &nodes, 4), Decision::Wait);
        assert_eq!(
            why_waiting(&nodes, 4, &[20001]),
            "waiting for a node (a: its agent does not answer; b: port 20001 taken; c: full (4 placed))"
        );
        assert_eq!(
            why_waiting(&[], 4, &[20001]),
            "no node runs an agent for this kind"
        );
    }
}
