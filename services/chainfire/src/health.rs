//! `GET /health` and `GET /metrics` on the client port, beside the etcd v3
//! gRPC API (etcd answers both on the same port): the runtime's admin
//! surface, with chainfire's checks and numbers.

use photon_runtime::admin::{Checks, Metrics, Report};

use crate::member::Member;

/// chainfire's checks and numbers.
pub(crate) struct Health {
    pub(crate) member: Member,
    /// The etcd calls answered on the client port.
    pub(crate) operations: std::sync::Arc<photon_runtime::operations::Operations>,
}

impl Report for Health {
    /// Healthy while the member knows a leader it can forward to: without
    /// one, nothing can be written (503, as etcd's own `/health` answers).
    fn health(&self, checks: &mut Checks) {
        let (term, leader) = self.member.term_and_leader();
        checks.check(
            "raft",
            match leader {
                Some(leader) if !self.member.members().contains_key(&leader) => Err(format!(
                    "leader {leader:x} is not a known member: requests cannot be forwarded"
                )),
                Some(leader) => Ok(format!("ok: leader {leader:x}, term {term}")),
                None => Err(format!("no leader in term {term}")),
            },
        );
        checks.check(
            "storage",
            std::fs::metadata(self.member.data_dir())
                .map(|_| "ok")
                .map_err(|e| format!("{}: {e}", self.member.data_dir().display())),
        );
        checks.ok("revision", self.member.revision());
    }

    fn metrics(&self, out: &mut Metrics) {
        self.operations.write(
            out,
            (
                "chainfire_requests_total",
                "etcd gRPC calls answered, by method and code.",
            ),
            (
                "chainfire_request_duration_seconds",
                "How long etcd gRPC calls took, by method (a watch until it ends).",
            ),
        );
        let (term, leader) = self.member.term_and_leader();
        out.gauge("chainfire_raft_term", "The Raft term this member is in.")
            .value(term);
        out.gauge(
            "chainfire_has_leader",
            "Whether this member knows a leader (1) or not (0).",
        )
        .value(u8::from(leader.is_some()));
        out.gauge(
            "chainfire_is_leader",
            "Whether this member is the leader (1) or not (0).",
        )
        .value(u8::from(leader == Some(self.member.id())));
        out.gauge("chainfire_revision", "The store's current revision.")
            .value(self.member.revision());
        out.gauge("chainfire_members", "Members of the cluster.")
            .value(self.member.members().len());
    }
}
