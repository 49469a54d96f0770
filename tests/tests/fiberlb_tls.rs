//! fiberlb's TLS termination, driven by rustls clients (HTTP/1.1 and
//! HTTP/2 by ALPN) that trust only the test's CA: the certificate for the
//! name asked (SNI), the first one otherwise, and SIGHUP reloading the
//! certificate files without dropping a connection already open, or
//! keeping the old ones when the new files are broken.

use std::path::Path;
use std::time::Duration;

use e2e::Loopback;
use e2e::http::{Backend, Client, Version};

/// A CA and the certificates it signs.
struct Ca {
    key: rcgen::KeyPair,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "e2e test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { key, cert }
    }

    /// A roots store holding only this CA.
    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.der().clone()).unwrap();
        roots
    }

    /// A certificate for `name`, written as `<dir>/<file>.crt` and
    /// `<dir>/<file>.key`; its DER.
    fn issue(&self, name: &str, dir: &Path, file: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .signed_by(&key, &self.cert, &self.key)
            .unwrap();
        // Written whole, then renamed over, as an operator's tooling does.
        for (ext, text) in [("crt", cert.pem()), ("key", key.serialize_pem())] {
            let staged = dir.join(format!("{file}.{ext}.new"));
            std::fs::write(&staged, text).unwrap();
            std::fs::rename(&staged, dir.join(format!("{file}.{ext}"))).unwrap();
        }
        cert.der().to_vec()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_chosen_by_sni_and_reloaded_on_sighup_without_dropping_a_connection() {
    let net = Loopback::block();
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    let a1 = ca.issue("a.example.com", certs.path(), "a");
    let b1 = ca.issue("b.example.com", certs.path(), "b");
    let backend = Backend::start("app", &net.addr(2, 8080)).await;
    let dir = certs.path().display();
    let config = format!(
        "[[standalone.loadbalancers]]\nname = \"web\"\nvip = \"{}\"\nport = 8443\nprotocol = \"https\"\n\
         [standalone.loadbalancers.tls]\ncert_file = \"{dir}/a.crt\"\nkey_file = \"{dir}/a.key\"\n\
         [[standalone.loadbalancers.tls.sni]]\ncert_file = \"{dir}/b.crt\"\nkey_file = \"{dir}/b.key\"\n{}",
        net.ip(1),
        e2e::fiberlb::backend(&backend, 100),
    );
    let (mut lb, _state) = e2e::fiberlb::start(&net, &config);
    let front = net.addr(1, 8443).parse().unwrap();

    for version in [Version::Http1, Version::Http2] {
        for (name, cert) in [("a.example.com", &a1), ("b.example.com", &b1)] {
            let (mut client, tls) = Client::connect_tls(front, name, ca.roots(), version)
                .await
                .unwrap_or_else(|e| panic!("{name} {version:?}: {e}"));
            assert_eq!(
                &tls.certificate, cert,
                "{name}: the certificate for its name"
            );
            let alpn = match version {
                Version::Http1 => b"http/1.1".to_vec(),
                Version::Http2 => b"h2".to_vec(),
            };
            assert_eq!(tls.alpn, Some(alpn));
            let answer = client.get(name, "/").await;
            assert_eq!((answer.status, answer.text().as_str()), (200, "app"));
        }
    }
    let seen = backend.seen().pop().unwrap();
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert!(
        seen.headers["forwarded"]
            .to_str()
            .unwrap()
            .contains("proto=https"),
        "{:?}",
        seen.headers
    );
    // Plain HTTP on the TLS port is not served.
    let plain = e2e::http::Client::connect(front, Version::Http1)
        .await
        .send("GET", "a.example.com", "/", &[], bytes::Bytes::new())
        .await;
    assert!(plain.is_err(), "{plain:?}");

    // A connection open across the reload keeps working on its session.
    let (mut open, _) = Client::connect_tls(front, "a.example.com", ca.roots(), Version::Http1)
        .await
        .unwrap();
    assert_eq!(open.get("a.example.com", "/").await.status, 200);
    let a2 = ca.issue("a.example.com", certs.path(), "a");
    assert_ne!(a2, a1);
    lb.signal("HUP");
    lb.wait_for("certificates reloaded", Duration::from_secs(10));
    assert_eq!(open.get("a.example.com", "/again").await.status, 200);
    let (_, tls) = Client::connect_tls(front, "a.example.com", ca.roots(), Version::Http1)
        .await
        .unwrap();
    assert_eq!(
        tls.certificate, a2,
        "new connections get the new certificate"
    );

    // Broken files are refused whole: the certificates in use stay.
    std::fs::write(certs.path().join("b.crt"), "not a certificate\n").unwrap();
    lb.signal("HUP");
    let refused = lb.wait_for("certificates not reloaded", Duration::from_secs(10));
    assert!(refused.contains("b.crt"), "{refused}");
    for (name, cert) in [("a.example.com", &a2), ("b.example.com", &b1)] {
        let (mut client, tls) = Client::connect_tls(front, name, ca.roots(), Version::Http1)
            .await
            .unwrap();
        assert_eq!(&tls.certificate, cert, "{name}");
        assert_eq!(client.get(name, "/").await.status, 200);
    }
}

#[test]
fn a_certificate_that_does_not_load_stops_the_start_with_its_file() {
    let net = Loopback::block();
    let certs = tempfile::tempdir().unwrap();
    let ca = Ca::new();
    ca.issue("a.example.com", certs.path(), "a");
    ca.issue("b.example.com", certs.path(), "b");
    let dir = certs.path().display();
    // a's certificate with b's key.
    let config = format!(
        "[photon]\nmode = \"standalone\"\n[standalone.server]\nadmin_api_addr = \"{}\"\n\
         [[standalone.loadbalancers]]\nname = \"web\"\nvip = \"{}\"\nport = 8443\nprotocol = \"https\"\n\
         [standalone.loadbalancers.tls]\ncert_file = \"{dir}/a.crt\"\nkey_file = \"{dir}/b.key\"\n\
         [[standalone.loadbalancers.backends]]\naddress = \"{}\"\nport = 8080\n",
        net.addr(1, 8404),
        net.ip(1),
        net.ip(2),
    );
    let file = certs.path().join("fiberlb.toml");
    std::fs::write(&file, config).unwrap();
    let (code, words) = e2e::last_words(
        "fiberlb",
        &[
            "--config",
            file.to_str().unwrap(),
            "--state-dir",
            certs.path().to_str().unwrap(),
        ],
        &[],
    );
    assert_ne!(code, Some(0));
    assert!(
        words.contains(&format!("the key of {dir}/a.crt"))
            && words.contains("is not the certificate's"),
        "{words}"
    );
}
