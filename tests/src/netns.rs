//! Machines for multi-host tests: one network namespace per node, each
//! with its own interface (a veth pair into a bridge) and its own address
//! on a private test subnet, `10.231.N.0/24` (N from the test's
//! [`Loopback`] block, so tests at the same time never share one). Every
//! namespace's `/etc/hosts` names all nodes (`ip netns exec` mounts
//! `/etc/netns/<ns>/hosts` there), so a deployment run with `--host-names`
//! reaches each node at its own address, across real interfaces. Faults go
//! through the same harness: a node's link cut or slowed (`tc`'s token
//! bucket), its process killed with SIGKILL and started again.
//!
//! Namespaces need root (CI runs as root). Where they cannot be made,
//! [`Hosts::create_or_skip`] fails the test under CI (`CI` set, as
//! `.ci/run` sets it) and skips it, saying why, anywhere else.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use crate::{Loopback, Running};

/// The namespaces of one test, removed when dropped.
#[derive(Debug)]
pub struct Hosts {
    block: Loopback,
    nodes: Vec<String>,
}

/// Runs `ip args`; the error names the command and what it said.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("`ip` cannot run ({e}); install iproute2"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Hosts {
    /// A namespace per node of `nodes` (in order: the i-th gets
    /// `10.231.N.<i+1>`); the test's own namespace reaches them all at
    /// `10.231.N.254`.
    pub fn try_create(nodes: &[&str]) -> Result<Hosts, String> {
        let hosts = Hosts {
            block: Loopback::block(),
            nodes: nodes.iter().map(|n| (*n).to_owned()).collect(),
        };
        // a test that died before its cleanup left these behind
        hosts.remove();
        let bridge = hosts.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", hosts.gateway()),
            "dev",
            &bridge,
        ])?;
        ip(&["link", "set", &bridge, "up"])?;
        let mut names = String::from("127.0.0.1 localhost\n");
        for (i, node) in hosts.nodes.iter().enumerate() {
            names.push_str(&format!("{} {node}\n", hosts.address(i)));
        }
        for i in 0..hosts.nodes.len() {
            let ns = hosts.ns(i);
            let (outside, inside) = (hosts.veth(i), format!("pcp{}-{i}", hosts.n()));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ])?;
            ip(&["link", "set", &inside, "netns", &ns])?;
            ip(&["-n", &ns, "link", "set", &inside, "name", "eth0"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", hosts.address(i)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["link", "set", &outside, "master", &bridge])?;
            ip(&["link", "set", &outside, "up"])?;
            let etc = Path::new("/etc/netns").join(&ns);
            std::fs::create_dir_all(&etc)
                .and_then(|()| std::fs::write(etc.join("hosts"), &names))
                .map_err(|e| format!("writing {}: {e}", etc.display()))?;
        }
        Ok(hosts)
    }

    /// [`Hosts::try_create`], or, where namespaces cannot be made: a
    /// failure under CI, `None` (the test skips, saying why) elsewhere.
    pub fn create_or_skip(nodes: &[&str]) -> Option<Hosts> {
        match Hosts::try_create(nodes) {
            Ok(hosts) => Some(hosts),
            Err(why) if std::env::var_os("CI").is_some() => {
                panic!("network namespaces are needed here (CI runs as root): {why}")
            }
            Err(why) => {
                eprintln!("skipped: network namespaces cannot be made here (run as root): {why}");
                None
            }
        }
    }

    fn n(&self) -> String {
        self.block
            .to_string()
            .rsplit('.')
            .next()
            .unwrap_or("0")
            .to_owned()
    }

    fn bridge(&self) -> String {
        format!("pcbr{}", self.n())
    }

    fn ns(&self, i: usize) -> String {
        format!("pc{}-{i}", self.n())
    }

    fn veth(&self, i: usize) -> String {
        format!("pcv{}-{i}", self.n())
    }

    fn gateway(&self) -> Ipv4Addr {
        format!("10.231.{}.254", self.n())
            .parse()
            .expect("an address")
    }

    fn address(&self, i: usize) -> Ipv4Addr {
        format!("10.231.{}.{}", self.n(), i + 1)
            .parse()
            .expect("an address")
    }

    fn index(&self, node: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n == node)
            .unwrap_or_else(|| panic!("no host `{node}` among {:?}", self.nodes))
    }

    /// The node's address.
    pub fn ip(&self, node: &str) -> Ipv4Addr {
        self.address(self.index(node))
    }

    /// `ip:port` of the node.
    pub fn addr(&self, node: &str, port: u16) -> String {
        format!("{}:{port}", self.ip(node))
    }

    /// The node's namespace.
    pub fn namespace(&self, node: &str) -> String {
        self.ns(self.index(node))
    }

    /// Starts `program args` on the node (inside its namespace), with
    /// `env` added.
    pub fn start(
        &self,
        node: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Running {
        let ns = self.namespace(node);
        let program = program.to_str().expect("a UTF-8 path");
        let mut all = vec!["netns", "exec", ns.as_str(), program];
        all.extend_from_slice(args);
        Running::start_program(Path::new("ip"), &all, env)
    }

    /// `deploy-<deployment> run --node <node> --host-names --state-dir
    /// <state>` on the node, with `extra` arguments.
    pub fn run_node(&self, deployment: &str, node: &str, state: &Path, extra: &[&str]) -> Running {
        let mut args = vec![
            "run",
            "--node",
            node,
            "--host-names",
            "--state-dir",
            state.to_str().expect("a UTF-8 path"),
        ];
        args.extend_from_slice(extra);
        self.start(node, &crate::deployment(deployment), &args, &[])
    }

    /// Cuts the node off: its link to the bridge goes down.
    pub fn cut(&self, node: &str) {
        ip(&["link", "set", &self.veth(self.index(node)), "down"]).expect("link down");
    }

    /// Gives the node its link back.
    pub fn heal(&self, node: &str) {
        ip(&["link", "set", &self.veth(self.index(node)), "up"]).expect("link up");
    }

    /// Slows the node's link in both directions to `rate` (`200kbit`),
    /// with a short queue: each packet waits its turn on the wire, and
    /// what overflows the queue (100 ms of it) is dropped. `None` restores
    /// the link. (A token bucket, `tc ... tbf`: the kernels here have no
    /// `netem`, so a fixed delay or random loss cannot be added.)
    pub fn slow(&self, node: &str, rate: Option<&str>) {
        let i = self.index(node);
        let ns = self.ns(i);
        let outside = self.veth(i);
        let sides: [(&[&str], &str); 2] = [
            (&[], outside.as_str()),
            (&["ip", "netns", "exec", ns.as_str()], "eth0"),
        ];
        for (prefix, dev) in sides {
            let mut command: Vec<&str> = prefix.to_vec();
            command.push("tc");
            match rate {
                Some(rate) => command.extend([
                    "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", "3000",
                    "latency", "100ms",
                ]),
                None => command.extend(["qdisc", "del", "dev", dev, "root"]),
            }
            let out = Command::new(command[0])
                .args(&command[1..])
                .output()
                .expect("tc runs");
            assert!(
                out.status.success() || rate.is_none(),
                "`{}`: {}",
                command.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn remove(&self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("ip").args(args).output();
        };
        quiet(&["link", "del", &self.bridge()]);
        for i in 0..self.nodes.len() {
            quiet(&["link", "del", &self.veth(i)]);
            quiet(&["netns", "del", &self.ns(i)]);
            let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(self.ns(i)));
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.remove();
    }
}
