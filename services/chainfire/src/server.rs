//! chainfire as a PhotonCloud service: the members are every `Chainfire`
//! placed in the topology, found through the runtime (no list to keep in
//! step), and each keeps its data in the runtime's state directory.

use std::collections::BTreeMap;

use photon_dsl::Node;
use photon_runtime::{BoxFuture, ProbeTarget, Running, Service, ServiceError, StartContext};
use tonic::transport::Server;

use crate::Chainfire;
use crate::api::{Services, incoming};
use crate::member::{Member, MemberAddrs, MemberConfig};
use crate::proto::etcdserverpb::StatusRequest;
use crate::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::proto::raftpb::raft_peer_server::RaftPeerServer;
use crate::raft::network::MAX_PEER_MESSAGE;
use crate::spec::{ClientListener, PeerListener};
use photon_dsl::Listener as _;

/// The members of the cluster `ctx`'s topology declares.
async fn members(ctx: &StartContext) -> Result<BTreeMap<String, MemberAddrs>, ServiceError> {
    let mut members = BTreeMap::new();
    for placement in ctx.placements_of("chainfire") {
        let missing = |name: &str| {
            format!(
                "chainfire on node `{}` declares no `{name}` listener",
                placement.node
            )
        };
        let peer = placement
            .port::<PeerListener>()
            .ok_or_else(|| missing(PeerListener::NAME))?;
        let client = placement
            .port::<ClientListener>()
            .ok_or_else(|| missing(ClientListener::NAME))?;
        let peer = ctx.address_of(placement.node, peer).await?;
        let client = ctx.address_of(placement.node, client).await?;
        // This member goes by its instance name (a standalone server's
        // `component_id`); the others by their node's.
        let name = if placement.node == ctx.node {
            ctx.instance.clone()
        } else {
            placement.node.to_string()
        };
        members.insert(
            name,
            MemberAddrs {
                peer: peer.to_string(),
                client: client.to_string(),
            },
        );
    }
    // A standalone server's fellow members, from its configuration.
    for peer in &ctx.peers {
        let missing =
            |name: &str| format!("chainfire member `{}` has no `{name}` address", peer.name);
        let peer_addr = peer
            .addr::<PeerListener>()
            .map(str::to_owned)
            .ok_or_else(|| missing(PeerListener::NAME))?;
        let client_addr = peer
            .addr::<ClientListener>()
            .map(str::to_owned)
            .ok_or_else(|| missing(ClientListener::NAME))?;
        members.insert(
            peer.name.clone(),
            MemberAddrs {
                peer: peer_addr,
                client: client_addr,
            },
        );
    }
    Ok(members)
}

impl<N: Node> Service for Chainfire<N> {
    /// openraft narrates every election and shutdown at info.
    fn noisy_log_targets(&self) -> &'static [&'static str] {
        // openraft warns at every election about the losing side's late
        // vote responses and stale replication replies; both are routine.
        // Its errors (storage, peers unreachable past the election
        // timeout) still show.
        &[
            "openraft",
            "openraft::core::raft_core=error",
            "openraft::replication=error",
        ]
    }

    fn export_config(
        &self,
        ctx: &photon_runtime::ExportContext,
    ) -> Result<String, photon_runtime::ExportError> {
        let doc = crate::standalone::export(
            self,
            &ctx.peers,
            ctx.bind_ip,
            // The member keeps its name, so its Raft identity carries over.
            ctx.node.as_str(),
            &ctx.state_dir,
        )?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn restore(&self, ctx: &photon_runtime::RestoreContext) -> Result<String, ServiceError> {
        let restored = crate::backup::restore(&ctx.from, &ctx.state_dir, &ctx.instance)?;
        Ok(format!(
            "restored member `{}` at revision {} ({} store entries) from {}; restore every member from the same file, then start them",
            ctx.instance,
            restored.revision,
            restored.entries,
            ctx.from.display()
        ))
    }

    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let members = members(&ctx).await?;
            let client_listener = ctx.tcp(ClientListener, &spec)?;
            let peer_listener = ctx.tcp(PeerListener, &spec)?;
            let member = Member::start(MemberConfig {
                name: ctx.instance.clone(),
                data_dir: ctx.state_dir.clone(),
                members,
                snapshot_count: spec.limits.snapshot_count.into(),
                presenting: crate::raft::network::Presenting(Some(ctx.config.clone())),
            })
            .await?;
            tracing::info!(
                member = format_args!("{:x}", member.id()),
                client = %client_listener.local_addr()?,
                peer = %peer_listener.local_addr()?,
                data = %ctx.state_dir.display(),
                cluster = ?member.members().values().map(|(name, _)| name).collect::<Vec<_>>(),
                "chainfire member started"
            );
            let operations = std::sync::Arc::new(photon_runtime::operations::Operations::grpc());
            let admin = ctx.admin(
                env!("CARGO_PKG_VERSION"),
                crate::health::Health {
                    member: member.clone(),
                    operations: operations.clone(),
                },
            );
            let running: Running = Box::pin(async move {
                let services = Services::new(&member, spec.limits);
                let peers = Server::builder()
                    .layer(photon_runtime::grpc::SkewLayer(ctx.config.clone()))
                    .add_service(
                        RaftPeerServer::new(member.peer_service())
                            .max_decoding_message_size(MAX_PEER_MESSAGE)
                            .max_encoding_message_size(MAX_PEER_MESSAGE),
                    )
                    .serve_with_incoming_shutdown(
                        incoming(peer_listener),
                        ctx.shutdown.clone().cancelled_owned(),
                    );
                // HTTP/1.1 too, for `GET /health` and `/metrics` beside the
                // gRPC API.
                let routes =
                    tonic::service::Routes::from(photon_runtime::grpc::admin_routes(admin))
                        .add_service(services.kv)
                        .add_service(services.watch)
                        .add_service(services.lease)
                        .add_service(services.cluster)
                        .add_service(services.maintenance);
                let clients = Server::builder()
                    .accept_http1(true)
                    .layer(crate::api::wire::EtcdWireLayer)
                    .layer(photon_runtime::grpc::MetricsLayer(operations))
                    .layer(photon_runtime::grpc::SkewLayer(ctx.config.clone()))
                    .add_routes(routes)
                    .serve_with_incoming_shutdown(
                        incoming(client_listener),
                        ctx.shutdown.clone().cancelled_owned(),
                    );
                let (peers, clients) = tokio::join!(peers, clients);
                member.shutdown().await;
                peers?;
                clients?;
                tracing::info!("chainfire member stopped");
                Ok(())
            });
            Ok(running)
        })
    }

    fn probe<'a>(&'a self, target: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async move {
            if target.listener.name != ClientListener::NAME {
                tokio::net::TcpStream::connect(target.addr).await?;
                return Ok("accepts connections".to_owned());
            }
            let mut client = MaintenanceClient::connect(format!("http://{}", target.addr)).await?;
            let status = client.status(StatusRequest {}).await?.into_inner();
            let revision = status.header.map_or(0, |h| h.revision);
            if status.leader == 0 {
                return Err("etcd v3 answers but the cluster has no leader".into());
            }
            Ok(format!(
                "etcd v3: leader {:x}, revision {revision}, raft index {}",
                status.leader, status.raft_index
            ))
        })
    }
}
