//! Virtual-hosted-style addressing under one base domain.
//!
//! s3s's own `SingleDomain` treats any other host name as a bucket (the
//! CNAME style), so `localhost:9000/photos` would address a bucket called
//! `localhost`. Here only `<bucket>.<base domain>` names a bucket; every
//! other host (an address, the base domain itself, another name) is
//! path-style, which always works.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The base domain under which buckets are hosts.
#[derive(Debug, Clone)]
pub struct VirtualHosts {
    base: String,
}

impl VirtualHosts {
    /// Buckets as subdomains of `base` (a lowercase DNS name, no port).
    pub fn new(base: &str) -> Self {
        VirtualHosts {
            base: base.to_ascii_lowercase(),
        }
    }

    /// The bucket a `Host` header names, if it is `<bucket>.<base>[:port]`.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        let bucket = name
            .len()
            .checked_sub(self.base.len() + 1)
            .filter(|&end| {
                name.as_bytes()[end] == b'.' && name[end + 1..].eq_ignore_ascii_case(&self.base)
            })
            .map(|end| &name[..end])?;
        (!bucket.is_empty()).then_some(bucket)
    }
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(self.base.as_str()).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_subdomains_of_the_base_name_a_bucket() {
        let hosts = VirtualHosts::new("s3.example.net");
        assert_eq!(hosts.bucket_of("photos.s3.example.net"), Some("photos"));
        assert_eq!(
            hosts.bucket_of("photos.s3.example.net:9000"),
            Some("photos")
        );
        assert_eq!(
            hosts.bucket_of("my.dotted.bucket.S3.Example.NET"),
            Some("my.dotted.bucket")
        );
        for path_style in [
            "s3.example.net",
            "s3.example.net:9000",
            "localhost:9000",
            "127.0.1.1:9000",
            "[::1]:9000",
            "evils3.example.net",
            ".s3.example.net",
            "photos.s3.example.net.attacker.org",
        ] {
            assert_eq!(hosts.bucket_of(path_style), None, "{path_style}");
        }
    }
}
