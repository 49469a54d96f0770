//! nightlight's typed configuration (light: photon-dsl only).

use core::time::Duration;

use photon_dsl::protocol::{AlertWebhook, PromQuery, PromScrape};
use photon_dsl::text::{ConstText, same};
use photon_dsl::{Declares, Dep, Endpoint, Node, Port, Provides, ServiceDecl, ServiceSpec};

/// The service kind, as `plan`, logs and errors name it.
const KIND: &str = "nightlight";

photon_dsl::listener! {
    /// The Prometheus HTTP API (`/api/v1/...`), the dashboard, `/health`
    /// and `/metrics`.
    pub HttpListener: PromQuery = "http";
}

/// How long samples are kept in `data_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days; blocks older than this are deleted (at least 1).
    pub days: u32,
}

/// How often targets are scraped, and how long one may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collection {
    /// Between two scrapes of a target.
    pub scrape_interval: Duration,
    /// How long one scrape may take: at most the interval, or scrapes of
    /// one target would overlap.
    pub scrape_timeout: Duration,
}

impl Collection {
    /// Prometheus's defaults as the design writes them: every 15 s, 10 s
    /// to answer.
    pub const DEFAULT: Collection = Collection {
        scrape_interval: Duration::from_secs(15),
        scrape_timeout: Duration::from_secs(10),
    };
}

/// A scrape target the topology does not run, by address: named to stand
/// out in review, as `fiberlb::Backend::outside_topology` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outside {
    /// Its `job` label.
    pub job: &'static str,
    /// `host:port` of its `/metrics`.
    pub address: &'static str,
}

impl Outside {
    /// A target at `address` (`host:port`) outside the topology, scraped
    /// as `job`.
    pub const fn outside_topology(job: &'static str, address: &'static str) -> Outside {
        Outside { job, address }
    }
}

/// Where alert notifications are POSTed (Alertmanager's webhook JSON).
#[derive(Debug, Clone, Copy)]
pub enum Webhook {
    /// Nowhere: rules are evaluated and listed, nobody is told.
    Off,
    /// A receiver of the topology speaking the webhook protocol.
    To(Dep<AlertWebhook>),
    /// A receiver outside the topology, by URL (`http://host:port/path`):
    /// nothing checks it exists.
    OutsideTopology(&'static str),
}

/// An alerting rule: while `expr` returns series for `hold`, each fires.
#[derive(Debug, Clone, Copy)]
pub struct AlertRule {
    /// Its name (`alertname`): letters, digits and `_`, unique.
    pub name: &'static str,
    /// The PromQL expression; checked here as far as a build can (brackets,
    /// quotes, durations, a selector or call to start with), and parsed in
    /// full at start, which fails naming the rule.
    pub expr: &'static str,
    /// How long it must hold before firing (Prometheus's `for`).
    pub hold: Duration,
    /// Labels added to each alert (`severity`).
    pub labels: &'static [(&'static str, &'static str)],
    /// Annotations (`summary`, `description`).
    pub annotations: &'static [(&'static str, &'static str)],
}

/// nightlight on node `N`.
#[derive(Debug, Clone, Copy)]
pub struct NightLight<N: Node> {
    /// Where it runs.
    pub node: N,
    /// The query API, dashboard, `/health` and `/metrics`.
    pub http_port: Port,
    /// Where samples are kept (absolute), or under the node's state
    /// directory when `None`.
    pub data_dir: Option<&'static str>,
    /// How long they are kept.
    pub retention: Retention,
    /// How often targets are scraped.
    pub collection: Collection,
    /// Endpoints of the topology to scrape beyond the `/metrics` of every
    /// service, which are scraped without being listed.
    pub extra_targets: &'static [Dep<PromScrape>],
    /// Targets outside the topology.
    pub outside: &'static [Outside],
    /// Alerting rules, evaluated every `collection.scrape_interval`.
    pub rules: &'static [AlertRule],
    /// Where firing and resolved alerts are sent.
    pub webhook: Webhook,
}

impl<N: Node> NightLight<N> {
    /// nightlight on `node` with the design's settings: the API on 9090
    /// (Prometheus's port), samples kept 30 days under the state
    /// directory, [`Collection::DEFAULT`], every `/metrics` of the
    /// topology and nothing else, no rules. Change a field with struct
    /// update (`NightLight { rules: RULES, ..NightLight::new(Obs) }`).
    pub const fn new(node: N) -> NightLight<N> {
        NightLight {
            node,
            http_port: photon_dsl::port!(9090),
            data_dir: None,
            retention: Retention { days: 30 },
            collection: Collection::DEFAULT,
            extra_targets: &[],
            outside: &[],
            rules: &[],
            webhook: Webhook::Off,
        }
    }

    /// Its listener, what it scrapes and where it sends alerts, for the
    /// topology checks; settings found wrong fail the build.
    pub const fn declare(&self) -> ServiceDecl {
        let mut decl = ServiceDecl::new::<N>(KIND)
            .listens_on::<HttpListener>(self.http_port)
            .with_health()
            .scrapes_every_metrics_endpoint()
            // Targets come and go; a scrape that fails is an `up` of 0.
            .starts_before_deps();
        if let Some(problem) = self.problem() {
            return decl.reject_because(problem);
        }
        let mut i = 0;
        while i < self.extra_targets.len() {
            decl = decl.needs("extra_targets", &self.extra_targets[i]);
            i += 1;
        }
        if let Webhook::To(receiver) = &self.webhook {
            decl = decl.needs("webhook", receiver);
        }
        decl
    }

    /// What is wrong with the settings, if anything.
    const fn problem(&self) -> Option<ConstText> {
        let c = self.collection;
        if c.scrape_interval.is_zero() || c.scrape_timeout.is_zero() {
            return Some(
                ConstText::new().push(
                    "`collection`: `scrape_interval` and `scrape_timeout` must be above zero",
                ),
            );
        }
        if c.scrape_timeout.as_millis() > c.scrape_interval.as_millis() {
            return Some(
                ConstText::new()
                    .push("`collection`: the scrape interval (")
                    .number(c.scrape_interval.as_millis() as i128)
                    .push(" ms) is shorter than the scrape timeout (")
                    .number(c.scrape_timeout.as_millis() as i128)
                    .push(" ms): a slow target would be scraped again before its last scrape gave up; make the timeout at most the interval"),
            );
        }
        if self.retention.days == 0 {
            return Some(ConstText::new().push(
                "`retention.days` is 0: samples would be deleted as they are written; keep them at least 1 day",
            ));
        }
        let mut o = 0;
        while o < self.outside.len() {
            let target = self.outside[o];
            if target.job.is_empty() || !has_port(target.address) {
                return Some(
                    ConstText::new()
                        .push("outside target ")
                        .quoted(target.address)
                        .push(": give a `job` and the `host:port` of its /metrics"),
                );
            }
            o += 1;
        }
        if let Webhook::OutsideTopology(url) = self.webhook
            && !starts_with(url, "http://")
            && !starts_with(url, "https://")
        {
            return Some(
                ConstText::new()
                    .push("`webhook`: ")
                    .quoted(url)
                    .push(" is not an http:// or https:// URL"),
            );
        }
        let mut r = 0;
        while r < self.rules.len() {
            let rule = &self.rules[r];
            if !is_metric_name(rule.name) {
                return Some(
                    ConstText::new()
                        .push("alert rule ")
                        .quoted(rule.name)
                        .push(": a name is letters, digits and `_`, not starting with a digit"),
                );
            }
            let mut earlier = 0;
            while earlier < r {
                if same(self.rules[earlier].name, rule.name) {
                    return Some(
                        ConstText::new()
                            .push("two alert rules are named ")
                            .quoted(rule.name)
                            .push(": names are unique"),
                    );
                }
                earlier += 1;
            }
            if let Some(problem) = expr_problem(rule.expr) {
                return Some(
                    ConstText::new()
                        .push("alert rule ")
                        .quoted(rule.name)
                        .push(": `expr` ")
                        .quoted(rule.expr)
                        .push(" is not PromQL: ")
                        .push(problem),
                );
            }
            r += 1;
        }
        None
    }

    /// The query API other services (dashboards, the control plane) use.
    pub const fn query(&self) -> Endpoint<N, PromQuery> {
        Endpoint::provided_by(self, self.http_port, None)
    }

    /// Its own `/metrics`, for another nightlight to scrape.
    pub const fn scrape(&self) -> Endpoint<N, PromScrape> {
        Endpoint::provided_by(self, self.http_port, None)
    }
}

impl<N: Node> ServiceSpec for NightLight<N> {
    fn declare(&self) -> ServiceDecl {
        NightLight::declare(self)
    }
}

impl<N: Node> Declares<HttpListener> for NightLight<N> {}

impl<N: Node> Provides<PromQuery> for NightLight<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

impl<N: Node> Provides<PromScrape> for NightLight<N> {
    type OnNode = N;
    const KIND: &'static str = KIND;
}

const fn starts_with(text: &str, prefix: &str) -> bool {
    let (t, p) = (text.as_bytes(), prefix.as_bytes());
    if t.len() < p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if t[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether `address` ends in `:<port>` after a non-empty host.
const fn has_port(address: &str) -> bool {
    let bytes = address.as_bytes();
    let mut i = bytes.len();
    let mut digits = 0;
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
        digits += 1;
    }
    digits > 0 && digits <= 5 && i > 1 && bytes[i - 1] == b':'
}

/// A Prometheus metric or alert name: `[a-zA-Z_][a-zA-Z0-9_]*` (colons
/// are for recording rules).
const fn is_metric_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes[0].is_ascii_digit() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// What a build can see wrong in a PromQL expression: empty, brackets that
/// do not pair, an unclosed string, a range or offset duration that is not
/// one (`[5m]`, `[1h30m]`), or an operator with nothing after it. The
/// server parses it in full at start.
const fn expr_problem(expr: &str) -> Option<&'static str> {
    let bytes = expr.as_bytes();
    let mut stack = [0u8; 64];
    let mut depth = 0;
    let mut i = 0;
    let mut last = 0u8;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'"' | b'\'' | b'`' => {
                let quote = b;
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' && quote != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return Some("a string is not closed");
                }
            }
            b'(' | b'{' | b'[' => {
                if depth == stack.len() {
                    return Some("brackets nest deeper than 64");
                }
                stack[depth] = b;
                depth += 1;
                if b == b'['
                    && let Some(problem) = range_problem(bytes, i + 1)
                {
                    return Some(problem);
                }
            }
            b')' | b'}' | b']' => {
                let open = match b {
                    b')' => b'(',
                    b'}' => b'{',
                    _ => b'[',
                };
                if depth == 0 || stack[depth - 1] != open {
                    return Some("brackets do not pair");
                }
                depth -= 1;
            }
            b'#' => return Some("`#` starts a comment, which an expression cannot hold"),
            _ => {}
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
        i += 1;
    }
    if depth != 0 {
        return Some("a bracket is not closed");
    }
    match last {
        0 => Some("it is empty"),
        b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'<' | b'>' | b',' => {
            Some("it ends with an operator")
        }
        _ => None,
    }
}

/// The range or subquery duration after `[` at `start`: `5m`, `1h30m`,
/// `30s:5s`, up to `]`.
const fn range_problem(bytes: &[u8], start: usize) -> Option<&'static str> {
    let mut i = start;
    let mut digits = false;
    let mut units = false;
    while i < bytes.len() && bytes[i] != b']' {
        let b = bytes[i];
        if b.is_ascii_digit() {
            digits = true;
        } else if matches!(b, b'y' | b'w' | b'd' | b'h' | b'm' | b's') {
            if !digits {
                return Some("a range's unit has no number before it");
            }
            digits = false;
            units = true;
        } else if b == b':' {
            if !units && !digits {
                return Some("a subquery's range is missing before `:`");
            }
            digits = false;
            units = true;
        } else if !b.is_ascii_whitespace() {
            return Some("a range is a duration, such as `[5m]`");
        }
        i += 1;
    }
    if digits || !units {
        return Some("a range is a duration with its unit, such as `[5m]`");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_a_build_can_see_are_wrong_are_named() {
        for good in [
            "up == 0",
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) > 0.1",
            "max_over_time(x[1h30m:5m])",
            "histogram_quantile(0.99, sum by (le) (rate(b_bucket[5m])))",
            "absent(up{job=\"a]\"})",
        ] {
            assert_eq!(expr_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("", "it is empty"),
            ("rate(x[5m]", "a bracket is not closed"),
            ("sum(x))", "brackets do not pair"),
            ("x{a=\"b}", "a string is not closed"),
            (
                "rate(x[5])",
                "a range is a duration with its unit, such as `[5m]`",
            ),
            ("rate(x[m])", "a range's unit has no number before it"),
            ("up ==", "it ends with an operator"),
            ("rate(x[five])", "a range is a duration, such as `[5m]`"),
        ] {
            assert_eq!(expr_problem(bad), Some(why), "{bad:?}");
        }
    }

    #[test]
    fn addresses_need_a_port() {
        assert!(has_port("10.0.0.1:9100"));
        assert!(has_port("node.example:9100"));
        assert!(!has_port("10.0.0.1"));
        assert!(!has_port(":9100"));
    }
}
