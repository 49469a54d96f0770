//! The scheduler's standalone schema: a deployment's scheduler, exported
//! with the agents its topology runs and loaded back through
//! `scheduler-server`'s layers and checks, is the same spec placing on the
//! same agents; what a document gets wrong is named by key.

use std::net::IpAddr;
use std::path::Path;

use photon_config::{ComponentDocument, Layers};
use photon_dsl::events::{Stream, Subject};
use photon_dsl::protocol::{EtcdV3, Nats};
use photon_dsl::{
    Dep, ListenerDecl, Node as _, NodeAddress, NodeName, Port, ServiceKind, Transport,
};
use photon_runtime::Placement;
use photon_runtime::standalone::StandaloneServer as _;
use photon_runtime::standalone::round_trip::{context, round_trip};
use proptest::prelude::*;
use resource_manager::model::Kind;
use scheduler::standalone::SchedulerSchema;
use scheduler::{AgentAt, Scheduler};

photon_dsl::nodes! {
    /// The deployment's scheduler.
    pub Sched = "scheduler";
    /// Its chainfire.
    pub Kv = "kv";
    /// Its bus.
    pub Bus = "bus";
}

/// An `lb-agent` placement on `node`, its admin listener on `port`.
fn lb_agent(node: &'static str, port: Port) -> Placement {
    Placement {
        node: NodeName::from_literal(node),
        kind: ServiceKind::from_literal("lb-agent"),
        listeners: vec![ListenerDecl {
            name: "admin",
            port,
            transport: Transport::Tcp,
            protocol: "http",
            health: true,
        }],
    }
}

proptest! {
    #[test]
    fn an_exported_scheduler_loads_back_placing_on_the_same_agents(
        admin in 1u16..=65535,
        agent_port in 1u16..=65535,
        bind in any::<[u8; 4]>(),
        agents in 0usize..=2,
        resync_seconds in 1u32..=3600,
        away_after_seconds in 2u32..=3600,
        capacity_per_node in 1u32..=10_000,
    ) {
        let kv: &'static [Dep<EtcdV3>] =
            Box::leak(Box::new([Dep::from_text(Kv::NAME, Port::try_from(2379).unwrap(), None)]));
        let bus = Dep::<Nats>::from_text(Bus::NAME, Port::try_from(4222).unwrap(), None);
        let stream = Stream { name: "RESOURCES", subjects: "photon.resources", max_age_seconds: 1, max_mib: 1 };
        let spec = Scheduler {
            node: Sched,
            admin_port: Port::try_from(admin).unwrap(),
            state_store: kv,
            changes: Subject::kept(bus, stream, "photon.resources.changed"),
            resync_seconds,
            away_after_seconds,
            capacity_per_node,
        };
        let port = Port::try_from(agent_port).unwrap();
        let mut ctx = context(
            Sched::NAME,
            IpAddr::from(bind),
            vec![
                (Kv::NAME, NodeAddress::Ip("10.0.0.1".parse().unwrap())),
                (Bus::NAME, NodeAddress::Ip("10.0.0.3".parse().unwrap())),
                (NodeName::from_literal("lb-1"), NodeAddress::Ip("10.0.0.11".parse().unwrap())),
                (NodeName::from_literal("lb-2"), NodeAddress::Host("lb-2.example".into())),
            ],
        );
        ctx.placements = [lb_agent("lb-1", port), lb_agent("lb-2", port)][..agents]
            .to_vec()
            .into();
        if agents == 0 {
            // Nothing to place on: exported, but refused on load.
            let error = round_trip::<SchedulerSchema>(&spec, &ctx).unwrap_err().to_string();
            prop_assert!(error.contains("list the agents to place on"), "{}", error);
            return Ok(());
        }
        let built = round_trip::<SchedulerSchema>(&spec, &ctx).unwrap();
        let expected = [("lb-1", format!("10.0.0.11:{agent_port}")), ("lb-2", format!("lb-2.example:{agent_port}"))];
        let expected: Vec<AgentAt> = expected[..agents]
            .iter()
            .map(|(node, admin)| AgentAt { kind: Kind::LoadBalancer, node: (*node).to_owned(), admin: admin.clone() })
            .collect();
        prop_assert_eq!(&built.spec.agents, &expected);
        prop_assert_eq!(built.spec.scheduler.capacity_per_node, capacity_per_node);
        prop_assert_eq!(built.spec.scheduler.resync_seconds, resync_seconds);
        prop_assert_eq!(built.spec.scheduler.away_after_seconds, away_after_seconds);
    }
}

/// What `scheduler-server` says of an integrated document ending in
/// `rest`.
fn build_error(rest: &str) -> String {
    let text = format!(
        "[photon]\nmode = \"integrated\"\ncomponent_id = \"s\"\ncluster_id = \"c\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\nevent_bus_endpoint = \"nats://bus:4222\"\n{rest}"
    );
    let mut layers = Layers::new();
    layers.text(Path::new("c.toml"), &text).unwrap();
    let doc: ComponentDocument<SchedulerSchema> = layers.extract().unwrap();
    match SchedulerSchema::build(&doc, &layers) {
        Ok(_) => "built".to_owned(),
        Err(e) => e.to_string(),
    }
}

fn agent(kind: &str, node: &str, admin: &str) -> String {
    format!(
        "[[standalone.agent]]\nkind = \"{kind}\"\nnode = \"{node}\"\nadmin_addr = \"{admin}\"\n"
    )
}

#[test]
fn agents_are_checked_by_key() {
    assert_eq!(
        build_error(&agent("load-balancer", "lb-1", "10.0.0.11:8057")),
        "built"
    );
    assert_eq!(
        build_error(&agent("bucket", "lb-1", "10.0.0.11:8057")),
        "c.toml:9: `standalone.agent[0].kind`: `bucket` is not placed by the scheduler (placed kinds: load-balancer)"
    );
    assert_eq!(
        build_error(&agent("balancer", "lb-1", "10.0.0.11:8057")),
        "c.toml:9: `standalone.agent[0].kind`: `balancer` is not a resource kind (kinds: bucket, dns-record, load-balancer, vpc, subnet, address)"
    );
    assert_eq!(
        build_error(&agent("load-balancer", "LB 1", "10.0.0.11:8057")),
        "c.toml:10: `standalone.agent[0].node`: `LB 1` is not a node name: lowercase letters, digits and `-`"
    );
    assert_eq!(
        build_error(
            &(agent("load-balancer", "lb-1", "a:1") + &agent("load-balancer", "lb-1", "b:1"))
        ),
        "c.toml:14: `standalone.agent[1].node`: the load-balancer agent of node `lb-1` is listed twice"
    );
    assert_eq!(
        build_error(&agent("load-balancer", "lb-1", "10.0.0.11")),
        "c.toml:11: `standalone.agent[0].admin_addr`: `10.0.0.11` has no port: write `host:port`, such as `node-2:2380` or `10.0.0.2:2380`"
    );
}

#[test]
fn the_bus_agents_and_numbers_are_required() {
    assert!(
        build_error("").contains("list the agents to place on"),
        "{}",
        build_error("")
    );
    let lb = agent("load-balancer", "lb-1", "10.0.0.11:8057");
    assert_eq!(
        build_error(&format!(
            "[standalone.placing]\naway_after_seconds = 1\n{lb}"
        )),
        "c.toml:9: `standalone.placing.away_after_seconds`: `away_after_seconds` must be at least 2: a node is asked every second, and one late answer is not an absence"
    );
    let mut layers = Layers::new();
    layers
        .text(
            Path::new("c.toml"),
            &format!("[photon]\nmode = \"integrated\"\ncluster_id = \"c\"\n[photon.integrated]\nchainfire_endpoints = [\"http://kv:2379\"]\n{lb}"),
        )
        .unwrap();
    let doc: ComponentDocument<SchedulerSchema> = layers.extract().unwrap();
    let error = SchedulerSchema::build(&doc, &layers)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`photon.integrated.event_bus_endpoint`")
            && error.contains("the scheduler hears of resources"),
        "{error}"
    );
}
