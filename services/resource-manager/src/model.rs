//! The kinds of resources a tenant asks for, each with its typed spec
//! (checked when it is applied, so an agent only ever reads a spec it
//! understands) and the agent that makes it real.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

/// A kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An S3 bucket in lightningstor.
    Bucket,
    /// A DNS record in the tenants' zone flashdns serves.
    DnsRecord,
    /// A load balancer in fiberlb.
    LoadBalancer,
    /// A VPC in photonnet.
    Vpc,
    /// A subnet of a VPC.
    Subnet,
    /// An address in a subnet.
    Address,
}

impl Kind {
    /// Every kind, in the order errors list them.
    pub const ALL: [Kind; 6] = [
        Kind::Bucket,
        Kind::DnsRecord,
        Kind::LoadBalancer,
        Kind::Vpc,
        Kind::Subnet,
        Kind::Address,
    ];

    /// Its name in the API and in keys.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Bucket => "bucket",
            Kind::DnsRecord => "dns-record",
            Kind::LoadBalancer => "load-balancer",
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::Address => "address",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .ok_or_else(|| {
                let known: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "`{name}` is not a resource kind (kinds: {})",
                    known.join(", ")
                )
            })
    }

    /// The agent that makes it real, and whose finalizer a resource of
    /// this kind carries until that agent has removed it.
    pub const fn agent(self) -> &'static str {
        match self {
            Kind::Bucket => "lightningstor",
            Kind::DnsRecord => "flashdns",
            Kind::LoadBalancer => "fiberlb",
            Kind::Vpc | Kind::Subnet | Kind::Address => "photonnet",
        }
    }

    /// Whether one node of several serves a resource of this kind, chosen
    /// by the scheduler (a load balancer listens on one node; a DNS
    /// record or a VPC is the cluster's, made by whichever agent).
    pub const fn placed(self) -> bool {
        matches!(self, Kind::LoadBalancer)
    }

    /// The service kind of the agent that serves a placed kind: the
    /// scheduler's candidates are the nodes the topology puts it on.
    pub const fn agent_service(self) -> Option<&'static str> {
        match self {
            Kind::LoadBalancer => Some("lb-agent"),
            _ => None,
        }
    }

    /// The ports a resource of this kind with `spec` (as stored) takes on
    /// the address of the node serving it: a load balancer's port. The
    /// scheduler never places two resources taking one port on one node.
    pub fn node_ports(self, spec: &serde_json::Value) -> Vec<u16> {
        match self {
            Kind::LoadBalancer => serde_json::from_value::<LoadBalancerSpec>(spec.clone())
                .map(|lb| vec![lb.port])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// `spec` checked against this kind's typed spec, with its defaults
    /// filled in: what is stored.
    pub fn check(self, spec: serde_json::Value) -> Result<serde_json::Value, String> {
        fn typed<T: Serialize + for<'de> Deserialize<'de> + Check>(
            spec: serde_json::Value,
        ) -> Result<serde_json::Value, String> {
            let typed: T = serde_json::from_value(spec).map_err(|e| e.to_string())?;
            typed.check()?;
            Ok(serde_json::to_value(typed).expect("specs serialise"))
        }
        match self {
            Kind::Bucket => typed::<BucketSpec>(spec),
            Kind::DnsRecord => typed::<DnsRecordSpec>(spec),
            Kind::LoadBalancer => typed::<LoadBalancerSpec>(spec),
            Kind::Vpc => typed::<VpcSpec>(spec),
            Kind::Subnet => typed::<SubnetSpec>(spec),
            Kind::Address => typed::<AddressSpec>(spec),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a spec checks beyond its shape.
trait Check {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A bucket: nothing to say yet beyond its name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketSpec {}

impl Check for BucketSpec {}

/// A DNS record's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    /// Another name.
    #[allow(clippy::upper_case_acronyms)]
    CNAME,
    /// Text.
    #[allow(clippy::upper_case_acronyms)]
    TXT,
}

/// A DNS record set: the resource's name is its label in the tenant's
/// part of the zone (`www` of tenant `acme` is
/// `www.acme.<tenants' zone>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordSpec {
    /// `A`, `AAAA`, `CNAME` or `TXT`.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// Seconds resolvers may keep it.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// Its values: addresses, one name, or texts.
    pub values: Vec<String>,
}

fn default_ttl() -> u32 {
    300
}

impl Check for DnsRecordSpec {
    fn check(&self) -> Result<(), String> {
        if self.values.is_empty() {
            return Err("`values`: at least one".into());
        }
        if self.ttl > 604_800 {
            return Err("`ttl`: at most 604800 (a week)".into());
        }
        for value in &self.values {
            let fine = match self.record_type {
                RecordType::A => value.parse::<Ipv4Addr>().is_ok(),
                RecordType::AAAA => value.parse::<Ipv6Addr>().is_ok(),
                RecordType::CNAME => {
                    photon_dsl::validate_dns_name(value.trim_end_matches('.')).is_ok()
                }
                RecordType::TXT => value.len() <= 255,
            };
            if !fine {
                return Err(format!(
                    "`values`: `{value}` is not a value of a {:?} record",
                    self.record_type
                ));
            }
        }
        if self.record_type == RecordType::CNAME && self.values.len() > 1 {
            return Err("`values`: a CNAME has one name".into());
        }
        Ok(())
    }
}

/// A load balancer: a port on the balancer forwarding to backends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// The port it listens on.
    pub port: u16,
    /// Where it forwards (`ip:port`).
    pub backends: Vec<SocketAddr>,
}

impl Check for LoadBalancerSpec {
    fn check(&self) -> Result<(), String> {
        if self.port == 0 {
            return Err("`port`: 1 to 65535".into());
        }
        if self.backends.is_empty() {
            return Err("`backends`: at least one".into());
        }
        if let Some(backend) = self.backends.iter().find(|b| b.port() == 0) {
            return Err(format!("`backends`: `{backend}` has no port (1 to 65535)"));
        }
        Ok(())
    }
}

/// A VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSpec {
    /// Its address range (`10.0.0.0/16`).
    pub cidr: String,
}

impl Check for VpcSpec {
    fn check(&self) -> Result<(), String> {
        check_network(&self.cidr, 8..=28)
    }
}

/// A subnet of one of the tenant's VPCs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSpec {
    /// The VPC's resource name.
    pub vpc: String,
    /// Its range, within the VPC's.
    pub cidr: String,
}

impl Check for SubnetSpec {
    fn check(&self) -> Result<(), String> {
        check_name("vpc", &self.vpc)?;
        check_network(&self.cidr, 16..=29)
    }
}

/// An address allocated in one of the tenant's subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressSpec {
    /// The VPC's resource name.
    pub vpc: String,
    /// The subnet's resource name.
    pub subnet: String,
}

impl Check for AddressSpec {
    fn check(&self) -> Result<(), String> {
        check_name("vpc", &self.vpc)?;
        check_name("subnet", &self.subnet)
    }
}

/// Nothing if `name`, in field `field`, may name a resource.
fn check_name(field: &str, name: &str) -> Result<(), String> {
    match photon_integration::state::label_problem(name) {
        None => Ok(()),
        Some(why) => Err(format!("`{field}`: `{name}` is not a resource name: {why}")),
    }
}

/// Nothing if `cidr` is an IPv4 network (photonnet's networks are) given
/// as its network address, with a prefix length in `lengths`.
fn check_network(cidr: &str, lengths: std::ops::RangeInclusive<u8>) -> Result<(), String> {
    let bad = || format!("`cidr`: `{cidr}` is not an IPv4 network such as `10.0.0.0/16`");
    let (ip, len) = cidr.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    if len.is_empty()
        || !len.bytes().all(|b| b.is_ascii_digit())
        || (len.len() > 1 && len.starts_with('0'))
    {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    if !lengths.contains(&len) {
        return Err(format!(
            "`cidr`: `{cidr}`: the prefix length must be /{} to /{}",
            lengths.start(),
            lengths.end()
        ));
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    let network = Ipv4Addr::from(u32::from(ip) & mask);
    if network != ip {
        return Err(format!(
            "`cidr`: `{cidr}` is not a network address: did you mean `{network}/{len}`?"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_spec_is_checked_and_its_defaults_filled() {
        let stored = Kind::DnsRecord
            .check(json!({"type": "A", "values": ["192.0.2.7"]}))
            .unwrap();
        assert_eq!(
            stored,
            json!({"type": "A", "ttl": 300, "values": ["192.0.2.7"]})
        );
        let wrong = Kind::DnsRecord
            .check(json!({"type": "A", "values": ["example.com"]}))
            .unwrap_err();
        assert!(
            wrong.contains("`example.com` is not a value of a A record"),
            "{wrong}"
        );
        let typo = Kind::DnsRecord
            .check(json!({"type": "A", "value": ["192.0.2.7"]}))
            .unwrap_err();
        assert!(typo.contains("unknown field `value`"), "{typo}");
        assert!(
            Kind::LoadBalancer
                .check(json!({"port": 80, "backends": []}))
                .unwrap_err()
                .contains("at least one")
        );
        assert!(Kind::Vpc.check(json!({"cidr": "10.0.0.0/33"})).is_err());
        assert!(Kind::Vpc.check(json!({"cidr": "10.0.0.0/16"})).is_ok());
        assert!(Kind::Vpc.check(json!({"cidr": "fd00::/48"})).is_err());
        assert!(
            Kind::Vpc
                .check(json!({"cidr": "10.0.0.5/16"}))
                .unwrap_err()
                .contains("did you mean `10.0.0.0/16`")
        );
        assert!(
            Kind::Subnet
                .check(json!({"vpc": "prod", "cidr": "10.0.0.0/8"}))
                .is_err()
        );
        assert!(
            Kind::Subnet
                .check(json!({"vpc": "", "cidr": "10.0.1.0/24"}))
                .unwrap_err()
                .contains("`vpc`: `` is not a resource name")
        );
        assert!(
            Kind::Address
                .check(json!({"vpc": "prod", "subnet": "Web"}))
                .is_err()
        );
        assert!(
            Kind::LoadBalancer
                .check(json!({"port": 80, "backends": ["10.0.0.5:0"]}))
                .unwrap_err()
                .contains("has no port")
        );
    }

    #[test]
    fn kinds_are_named_and_each_has_an_agent() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Ok(kind));
            assert!(!kind.agent().is_empty());
        }
        assert!(
            Kind::parse("volume")
                .unwrap_err()
                .contains("kinds: bucket, dns-record")
        );
    }
}
