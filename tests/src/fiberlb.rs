//! `fiberlb-server` from a few lines of TOML, for the tests that put it in
//! front of `crate::http::Backend`s: its admin API on `.1:8404` of the
//! test's loopback block.

use std::time::Duration;

use crate::http::Backend;
use crate::{Loopback, Running};

/// `fiberlb-server` with `balancers` (TOML) after the server section;
/// returns once it serves. The directory holds its configuration and
/// state.
pub fn start(net: &Loopback, balancers: &str) -> (Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fiberlb.toml");
    std::fs::write(
        &config,
        format!(
            "[photon]\nmode = \"standalone\"\n[standalone.server]\nadmin_api_addr = \"{}\"\n{balancers}",
            net.addr(1, 8404)
        ),
    )
    .unwrap();
    let mut running = Running::start_server(
        "fiberlb",
        &[
            "--config",
            config.to_str().unwrap(),
            "--state-dir",
            dir.path().to_str().unwrap(),
        ],
        &[],
        None,
    );
    running.wait_for("all services started", Duration::from_secs(30));
    (running, dir)
}

/// A `[[standalone.loadbalancers.backends]]` entry for `backend`.
pub fn backend(backend: &Backend, weight: u16) -> String {
    format!(
        "[[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = {}\nweight = {weight}\n",
        backend.addr.ip(),
        backend.addr.port()
    )
}
