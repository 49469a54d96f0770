//! `GET /health` on the client port, beside the etcd v3 gRPC API (etcd
//! answers its `/health` on the same port): the design's JSON, so an
//! operator checks chainfire the way they check every other component.

use axum::extract::State;
use axum::http::StatusCode;
use photon_runtime::ModeReport;

use crate::member::Member;

/// What `/health` needs: the member, and the mode it reports.
#[derive(Clone)]
pub(crate) struct Health {
    pub(crate) member: Member,
    pub(crate) mode: ModeReport,
}

/// The routes served next to gRPC on the client port.
pub(crate) fn routes(health: Health) -> axum::Router {
    axum::Router::new()
        .route("/health", axum::routing::get(answer))
        .with_state(health)
}

/// Healthy while the member knows a leader: without one, nothing can be
/// written (503, as etcd's own `/health` answers).
async fn answer(
    State(health): State<Health>,
) -> (
    StatusCode,
    [(axum::http::HeaderName, &'static str); 1],
    String,
) {
    let (term, leader) = health.member.term_and_leader();
    let raft = match leader {
        Some(leader) => Ok(format!("ok: leader {leader:x}, term {term}")),
        None => Err(format!("no leader in term {term}")),
    };
    let storage = match std::fs::metadata(health.member.data_dir()) {
        Ok(_) => Ok("ok".to_owned()),
        Err(e) => Err(format!("{}: {e}", health.member.data_dir().display())),
    };
    let healthy = raft.is_ok() && storage.is_ok();
    let (status, body) = health.mode.health(
        "chainfire",
        env!("CARGO_PKG_VERSION"),
        healthy,
        [
            ("raft", raft.unwrap_or_else(|e| e).into()),
            ("storage", storage.unwrap_or_else(|e| e).into()),
            ("revision", health.member.revision().into()),
        ],
    );
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
}
