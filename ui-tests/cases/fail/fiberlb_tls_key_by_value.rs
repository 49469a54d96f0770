// A TLS front end with its private key pasted in as the value.
use fiberlb::{Certificate, TlsFront};

const TLS: TlsFront = TlsFront {
    certificates: &[Certificate {
        cert_file: "/etc/fiberlb/web.crt",
        key: "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----",
    }],
};

fn main() {}
