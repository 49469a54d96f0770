//! The admin REST API on the admin listener, beside `/health` and
//! `/metrics`: what each balancer has, and draining a backend (run-time
//! state: a restart forgets it, the configuration never changes).
//!
//! ```text
//! GET  /balancers                                   every balancer, its backends and their state
//! POST /balancers/<name>/backends/<ip:port>/drain   no new traffic; open connections finish
//! POST /balancers/<name>/backends/<ip:port>/enable  takes new traffic again
//! ```

use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::Front;
use crate::pool::BackendState;

/// The answer to `method path`, if it is the API's: a status and a JSON
/// body.
pub fn answer(balancers: &[Front], method: &Method, path: &str) -> Option<(StatusCode, Value)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["balancers"] => Some(match *method {
            Method::GET => (
                StatusCode::OK,
                Value::Array(balancers.iter().map(describe).collect()),
            ),
            _ => not_allowed("GET"),
        }),
        [
            "balancers",
            name,
            "backends",
            backend,
            action @ ("drain" | "enable"),
        ] => Some(match *method {
            Method::POST => match find(balancers, name, backend) {
                Ok(found) => {
                    for state in &found {
                        state.set_drained(*action == "drain");
                    }
                    tracing::info!(balancer = %name, backend = %backend, drained = *action == "drain", "backend {action}d by the admin API");
                    (StatusCode::OK, backend_json(found[0]))
                }
                Err(problem) => (StatusCode::NOT_FOUND, json!({ "error": problem })),
            },
            _ => not_allowed("POST"),
        }),
        ["balancers", ..] => Some((
            StatusCode::NOT_FOUND,
            json!({ "error": "no such resource: GET /balancers, POST /balancers/<name>/backends/<ip:port>/drain or /enable" }),
        )),
        _ => None,
    }
}

fn not_allowed(allowed: &str) -> (StatusCode, Value) {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        json!({ "error": format!("use {allowed}") }),
    )
}

fn find<'a>(
    balancers: &'a [Front],
    name: &str,
    backend: &str,
) -> Result<Vec<&'a Arc<BackendState>>, String> {
    let balancer = balancers.iter().find(|b| b.name() == name).ok_or_else(|| {
        let names: Vec<&str> = balancers.iter().map(|b| b.name()).collect();
        format!("no balancer `{name}` (there are: {})", names.join(", "))
    })?;
    // An L7 balancer may list one server in several routes' pools: each
    // is the same backend to an operator.
    let backends = balancer.backends();
    let found: Vec<_> = backends
        .iter()
        .copied()
        .filter(|b| b.name == backend)
        .collect();
    if found.is_empty() {
        let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
        return Err(format!(
            "balancer `{name}` has no backend `{backend}` (it has: {})",
            names.join(", ")
        ));
    }
    Ok(found)
}

fn describe(balancer: &Front) -> Value {
    json!({
        "name": balancer.name(),
        "layer": balancer.layer(),
        "backends": balancer.backends().into_iter().map(|b| backend_json(b)).collect::<Vec<_>>(),
    })
}

fn backend_json(backend: &BackendState) -> Value {
    json!({
        "backend": backend.name,
        "weight": backend.weight,
        "healthy": backend.is_healthy(),
        "drained": backend.is_drained(),
        "takes_new_traffic": backend.eligible(),
        "active_connections": backend.active(),
        "connections": backend.connections(),
        "failures": backend.failures(),
    })
}
