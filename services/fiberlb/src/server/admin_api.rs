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

use super::l4::L4Balancer;
use crate::pool::BackendState;

/// The answer to `method path`, if it is the API's: a status and a JSON
/// body.
pub fn answer(
    balancers: &[Arc<L4Balancer>],
    method: &Method,
    path: &str,
) -> Option<(StatusCode, Value)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["balancers"] => Some(match *method {
            Method::GET => (
                StatusCode::OK,
                Value::Array(balancers.iter().map(|b| describe(b)).collect()),
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
                Ok(state) => {
                    state.set_drained(*action == "drain");
                    tracing::info!(balancer = %name, backend = %backend, drained = state.is_drained(), "backend {action}d by the admin API");
                    (StatusCode::OK, backend_json(state))
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
    balancers: &'a [Arc<L4Balancer>],
    name: &str,
    backend: &str,
) -> Result<&'a Arc<BackendState>, String> {
    let balancer = balancers.iter().find(|b| b.name == name).ok_or_else(|| {
        let names: Vec<&str> = balancers.iter().map(|b| b.name).collect();
        format!("no balancer `{name}` (there are: {})", names.join(", "))
    })?;
    let backends = balancer.pool.backends();
    backends.iter().find(|b| b.name == backend).ok_or_else(|| {
        let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
        format!(
            "balancer `{name}` has no backend `{backend}` (it has: {})",
            names.join(", ")
        )
    })
}

fn describe(balancer: &L4Balancer) -> Value {
    json!({
        "name": balancer.name,
        "layer": "l4",
        "backends": balancer.pool.backends().iter().map(|b| backend_json(b)).collect::<Vec<_>>(),
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
