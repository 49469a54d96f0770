//! flashdns as a PhotonCloud service: DNS over UDP and TCP on one port
//! ([`crate::front`]), the admin API beside it, zone files
//! re-read on SIGHUP and, when configured, on an interval.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use photon_dsl::{Node, NodeAddress, NodeName};
use photon_runtime::{
    BoxFuture, ExportContext, ExportError, ProbeTarget, Running, Service, ServiceError,
    StartContext,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::FlashDns;
use crate::admin::{Admin, Health};
use crate::dns::{Counters, DnsHandler};
use crate::front::Front;
use crate::notify::Notifier;
use crate::rrl::RateLimiter;
use crate::spec::{AdminListener, DnsListener};
use crate::spec::{AutoReload, ZoneSource};
use crate::store::ZoneStore;
use crate::store::file::FileStore;
use crate::zone::typed::NodeAddressError;
use crate::zones::Zones;

/// The zone store stored zones are kept in: chainfire when the service
/// joined the platform, else zone files under its state directory.
async fn open_store(ctx: &StartContext) -> Result<Arc<dyn ZoneStore>, ServiceError> {
    let client = ctx
        .state_store_client()
        .await
        .map_err(|e| format!("the zone store in chainfire: {e}"))?;
    match (client, &ctx.state_store) {
        (Some(client), Some(state)) => Ok(Arc::new(crate::store::chainfire::ChainfireStore::new(
            client,
            crate::store::chainfire::cluster_prefix(&state.cluster),
        ))),
        _ => Ok(Arc::new(FileStore::new(ctx.state_dir.join("zones")))),
    }
}

/// How long admin connections get to finish after a stop request.
const DRAIN: Duration = Duration::from_secs(5);

/// A node's address for a typed record: the resolver's literal, or the
/// system resolver's first answer for a host-name plan.
fn node_address(ctx: &StartContext, node: NodeName) -> Result<IpAddr, NodeAddressError> {
    match ctx.resolver.resolve(node)? {
        NodeAddress::Ip(ip) => Ok(ip),
        NodeAddress::Host(host) => match (host.as_str(), 0).to_socket_addrs() {
            Ok(mut addrs) => addrs
                .next()
                .map(|addr| addr.ip())
                .ok_or(NodeAddressError::NoAddress { host }),
            Err(source) => Err(NodeAddressError::Lookup { host, source }),
        },
    }
}

/// How often signed zones are checked for signatures past half their
/// validity (at least 2 days: this is far finer).
const RESIGN_CHECK: Duration = Duration::from_secs(600);

/// Re-reads zone files on SIGHUP and on the configured interval, and
/// refreshes signatures; tells the secondaries of every zone that changed.
async fn reload_loop(
    zones: Zones,
    auto_reload: AutoReload,
    notifier: Notifier,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), ServiceError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let period = match auto_reload {
        AutoReload::EverySeconds(seconds) => Duration::from_secs(u64::from(seconds.max(1))),
        AutoReload::Off => Duration::from_secs(u64::MAX / 4),
    };
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // the first tick is immediate; the zones were just loaded
    let mut resign = tokio::time::interval(RESIGN_CHECK);
    resign.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    resign.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = hangup.recv() => {
                tracing::info!("SIGHUP: re-reading every zone file");
                for zone in zones.reload(true).await {
                    notifier.notify(&zone);
                }
            }
            _ = interval.tick(), if auto_reload != AutoReload::Off => {
                for zone in zones.reload(false).await {
                    notifier.notify(&zone);
                }
            }
            _ = resign.tick() => {
                for zone in zones.refresh_signatures(crate::zones::now()).await {
                    notifier.notify(&zone);
                }
            }
        }
    }
}

impl<N: Node> Service for FlashDns<N> {
    fn start(&self, ctx: StartContext) -> BoxFuture<'_, Result<Running, ServiceError>> {
        let spec = *self;
        Box::pin(async move {
            let udp = ctx.udp(DnsListener, &spec)?;
            let tcp = ctx.tcp(DnsListener, &spec)?;
            let admin_listener = ctx.tcp(AdminListener, &spec)?;
            let zones = {
                let ctx = ctx.clone();
                tokio::task::spawn_blocking(move || {
                    Zones::load(
                        spec.zones,
                        &spec.file_limits,
                        &|node| node_address(&ctx, node),
                        &ctx.state_dir,
                    )
                })
                .await??
            };
            // Secondaries hear of every zone as loaded now: a restart may
            // have brought changes.
            let notifier = Notifier::new(spec.notify, udp.local_addr()?.ip());
            for zone in zones.catalog().load().zones() {
                notifier.notify(zone);
            }
            // Stored zones: served as the store has them now, then
            // followed.
            let mut following = Vec::new();
            let stored: Vec<&str> = spec
                .zones
                .iter()
                .filter(|z| matches!(z.source, ZoneSource::Store))
                .map(|z| z.origin)
                .collect();
            if !stored.is_empty() {
                let store = open_store(&ctx).await?;
                for origin in stored {
                    let mut origin = Name::from_ascii(origin)?;
                    origin.set_fqdn(true);
                    let version = crate::stored::serve(&*store, &origin, &zones, &notifier)
                        .await
                        .map_err(|e| format!("zone {origin}: {e}"))?;
                    following.push(tokio::spawn(crate::stored::follow(
                        store.clone(),
                        origin,
                        version,
                        zones.clone(),
                        notifier.clone(),
                        ctx.shutdown.clone(),
                    )));
                }
            }
            let counters = Arc::new(Counters::default());
            let handler = DnsHandler::new(
                zones.catalog().clone(),
                spec.axfr_allow.to_vec(),
                counters.clone(),
            );
            let front = Front::new(handler, RateLimiter::new(spec.rate_limit));
            tracing::info!(
                dns = %udp.local_addr()?,
                admin = %admin_listener.local_addr()?,
                zones = spec.zones.len(),
                "flashdns listening (UDP and TCP)"
            );
            let admin = Arc::new(Admin {
                zones: zones.clone(),
                surface: ctx.admin(
                    env!("CARGO_PKG_VERSION"),
                    Health {
                        zones: zones.clone(),
                        counters,
                    },
                ),
            });
            let running: Running = Box::pin(async move {
                let shutdown = ctx.shutdown.clone();
                let dns = async {
                    let (udp, ()) = tokio::join!(
                        crate::front::udp::serve(udp, front.clone(), shutdown.clone()),
                        crate::front::tcp::serve(tcp, front, shutdown.clone()),
                    );
                    udp
                };
                let admin = photon_runtime::http::serve_http1(
                    admin_listener,
                    shutdown.clone(),
                    DRAIN,
                    move |request| admin.clone().handle(request),
                );
                let (dns, (), reload) = tokio::join!(
                    dns,
                    admin,
                    reload_loop(zones, spec.auto_reload, notifier, shutdown.clone())
                );
                for follow in following {
                    let _ = follow.await;
                }
                dns.map_err(|e| format!("the DNS UDP socket failed: {e}"))?;
                reload?;
                tracing::info!("flashdns stopped");
                Ok(())
            });
            Ok(running)
        })
    }

    /// Stored zones are in chainfire when integrated; the others stay
    /// local.
    fn local_when_integrated(&self) -> Option<&'static str> {
        self.zones
            .iter()
            .any(|z| !matches!(z.source, ZoneSource::Store))
            .then_some("zone files and typed zones are read locally; only stored zones are kept in chainfire")
    }

    fn export_config(&self, ctx: &ExportContext) -> Result<String, ExportError> {
        let address = |node: NodeName| match ctx.resolver.resolve(node)? {
            NodeAddress::Ip(ip) => Ok(ip),
            NodeAddress::Host(host) => Err(NodeAddressError::HostNameInExport { node, host }),
        };
        let doc = crate::standalone::export(
            self,
            ctx.bind_ip,
            &ctx.component_id_in(self.mode),
            &address,
            &ctx.cluster,
            &|node, port| ctx.reach(node, port),
        )?;
        Ok(photon_config::to_toml(&doc)?)
    }

    fn probe<'a>(&'a self, target: ProbeTarget<'a>) -> BoxFuture<'a, Result<String, ServiceError>> {
        Box::pin(async move {
            if target.listener.health {
                return photon_runtime::default_probe(target).await;
            }
            let Some(zone) = self.zones.first() else {
                tokio::net::TcpStream::connect(target.addr).await?;
                return Ok("accepts TCP connections (no zones to ask about)".to_owned());
            };
            let response = tokio::time::timeout(
                target.timeout,
                query_tcp(target.addr, zone.origin, RecordType::SOA),
            )
            .await
            .map_err(|_| format!("no answer within {:?}", target.timeout))??;
            if response.metadata.response_code == ResponseCode::NoError
                && response.metadata.authoritative
                && !response.answers.is_empty()
            {
                Ok(format!("answers SOA {} authoritatively", zone.origin))
            } else {
                Err(format!(
                    "SOA {} answered {} (authoritative: {})",
                    zone.origin, response.metadata.response_code, response.metadata.authoritative
                )
                .into())
            }
        })
    }
}

/// One question over TCP (two-byte length framing, RFC 1035 4.2.2).
async fn query_tcp(
    addr: SocketAddr,
    name: &str,
    rtype: RecordType,
) -> Result<Message, ServiceError> {
    let mut message = Message::new(0x5eed, MessageType::Query, OpCode::Query);
    let mut name = Name::from_ascii(name)?;
    name.set_fqdn(true);
    message.add_query(Query::query(name, rtype));
    let bytes = message.to_vec()?;
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_u16(bytes.len() as u16).await?;
    stream.write_all(&bytes).await?;
    let len = stream.read_u16().await?;
    let mut buffer = vec![0; usize::from(len)];
    stream.read_exact(&mut buffer).await?;
    Ok(Message::from_vec(&buffer)?)
}
