//! An integrated or hybrid start of a standalone server: its join plan,
//! checked from the configuration before anything starts, and the
//! fallback to standalone.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use photon_config::{ComponentDocument, ConfigError, Layers, OperationMode};

use super::{Built, StandaloneServer, config_error};
use crate::Service;
use crate::join::{DEFAULT_INTERVAL, JoinPlan, RegistrationPlan};

/// Every listener's address, for the registration: the address the
/// configuration gives it, or the loopback one the runtime binds.
pub(super) fn listen_addresses<S: Service>(built: &Built<S>) -> BTreeMap<String, String> {
    built
        .spec
        .declare()
        .listeners()
        .map(|l| {
            let ip = built
                .listen
                .iter()
                .find(|(name, _)| *name == l.name)
                .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |(_, ip)| *ip);
            (
                l.name.to_owned(),
                SocketAddr::new(ip, l.port.get()).to_string(),
            )
        })
        .collect()
}

/// How an integrated start joins the platform, checked from the
/// configuration before anything starts; `local` is what the component
/// keeps local even then; `uses_photonauth` whether it has photonauth
/// check its requests.
pub(super) fn integration_plan<C: StandaloneServer>(
    doc: &ComponentDocument<C>,
    layers: &Layers,
    component_id: &str,
    local: Option<&'static str>,
    uses_photonauth: bool,
    uses_event_bus: bool,
) -> Result<JoinPlan, ConfigError> {
    let integrated = &doc.photon.integrated;
    super::built::require_chainfire_endpoints(&integrated.chainfire_endpoints, layers)?;
    let Some(cluster_id) = doc.photon.cluster_id.clone() else {
        return Err(config_error(
            layers,
            "photon.cluster_id",
            format!(
                "{} mode needs the cluster this component joins, such as cluster_id = \"cluster-1\" or PHOTON_CLUSTER_ID",
                doc.photon.mode.map_or("integrated", |mode| mode.as_str())
            ),
        ));
    };
    let registration = integrated.registration.clone().unwrap_or_default();
    let (heartbeat_key, heartbeat) = match (
        registration.heartbeat_interval_sec,
        integrated.heartbeat_interval_sec,
    ) {
        (Some(sec), _) => ("photon.integrated.registration.heartbeat_interval_sec", sec),
        (None, Some(sec)) => ("photon.integrated.heartbeat_interval_sec", sec),
        (None, None) => ("", DEFAULT_INTERVAL.as_secs() as u32),
    };
    if heartbeat == 0 {
        return Err(config_error(
            layers,
            heartbeat_key,
            "a heartbeat is at least 1 second apart",
        ));
    }
    // Hybrid says which backends stay local; integrated, what it cannot
    // yet move to the platform.
    let hybrid = doc.photon.mode == Some(photon_config::OperationMode::Hybrid);
    let mut note: Vec<String> = if hybrid {
        let by_photonauth =
            doc.photon.hybrid.auth_backend == Some(photon_config::schema::Backend::Integrated);
        vec![photon_dsl::Hybrid::note(by_photonauth).to_owned()]
    } else {
        local.map(str::to_owned).into_iter().collect()
    };
    if let Some(auth) = &integrated.auth_service_endpoint
        && !uses_photonauth
    {
        note.push(format!(
            "photonauth at {auth} is not used: its client is not built yet"
        ));
    }
    if let Some(bus) = &integrated.event_bus_endpoint
        && !uses_event_bus
    {
        note.push(format!(
            "the event bus at {bus} is not used: this component publishes and subscribes to nothing"
        ));
    }
    Ok(JoinPlan {
        chainfire: integrated.chainfire_endpoints.clone(),
        control_plane: integrated.control_plane_endpoint.clone(),
        timeout: integrated
            .fallback_timeout_sec
            .map_or(DEFAULT_INTERVAL, |sec| Duration::from_secs(u64::from(sec))),
        registration: registration.auto_register.then(|| RegistrationPlan {
            cluster_id,
            component: C::NAME,
            component_id: component_id.to_owned(),
            metadata: registration.metadata.clone(),
            heartbeat: Duration::from_secs(u64::from(heartbeat)),
        }),
        note: (!note.is_empty()).then(|| note.join("; ")),
        hybrid,
    })
}

/// An integrated or hybrid start that cannot happen: standalone instead
/// when `fallback_to_standalone` allows it (logged once, and said in
/// `/health`), else the message and exit code to stop with.
pub(super) fn fall_back(
    allowed: bool,
    wanted: OperationMode,
    reason: String,
    code: u8,
) -> Result<crate::ModeReport, (String, u8)> {
    if !allowed {
        return Err((
            format!(
                "{reason}; run it with mode = \"standalone\", or allow the fallback with [photon.integrated] fallback_to_standalone = true"
            ),
            code,
        ));
    }
    tracing::warn!(
        wanted = wanted.as_str(),
        %reason,
        "falling back to standalone (fallback_to_standalone = true)"
    );
    Ok(crate::ModeReport::fell_back(wanted.as_str(), &reason))
}
