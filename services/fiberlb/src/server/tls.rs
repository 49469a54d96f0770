//! TLS termination: rustls with a balancer's certificates, the one for
//! the name a client asks for (SNI) or else the first, re-read on SIGHUP.
//!
//! A reload is all or nothing: if any certificate or key fails to load,
//! every one in use is kept and the failure is logged. Connections already
//! established keep their session either way.

use std::sync::{Arc, RwLock};

use photon_runtime::secret::{ExposeSecret as _, read_secret};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::spec::Certificate;

/// One certificate in use.
#[derive(Debug)]
struct Loaded {
    /// The chain and key, as rustls signs with them.
    key: Arc<CertifiedKey>,
}

/// A balancer's certificates, swapped whole on reload.
#[derive(Debug)]
pub struct Certificates {
    balancer: &'static str,
    spec: &'static [Certificate],
    provider: Arc<CryptoProvider>,
    loaded: RwLock<Arc<Vec<Loaded>>>,
}

/// The protocols offered in ALPN: HTTP/2 first, then HTTP/1.1.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

impl Certificates {
    /// Reads every certificate of `spec` and its key.
    pub fn load(
        balancer: &'static str,
        spec: &'static [Certificate],
    ) -> Result<Arc<Certificates>, String> {
        // Explicit: rustls cannot choose when more than one provider is
        // built in (the workspace's tests bring aws-lc-rs).
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = read_all(spec, &provider)?;
        Ok(Arc::new(Certificates {
            balancer,
            spec,
            provider,
            loaded: RwLock::new(Arc::new(loaded)),
        }))
    }

    /// Reads them all again; on any failure keeps those in use.
    pub fn reload(&self) -> Result<(), String> {
        let fresh = read_all(self.spec, &self.provider)?;
        *self.loaded.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// The balancer they belong to.
    pub fn balancer(&self) -> &'static str {
        self.balancer
    }

    /// A TLS server configuration that asks these certificates on every
    /// handshake (so a reload applies to the next client at once).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(name) = hello.server_name()
            && let Ok(name) = ServerName::try_from(name)
            && let Some(found) = loaded.iter().find(|l| serves(&l.key, &name))
        {
            return Some(found.key.clone());
        }
        loaded.first().map(|l| l.key.clone())
    }
}

/// Whether `key`'s certificate is valid for `name`.
fn serves(key: &CertifiedKey, name: &ServerName<'_>) -> bool {
    key.end_entity_cert()
        .ok()
        .and_then(|der| webpki::EndEntityCert::try_from(der).ok())
        .is_some_and(|cert| cert.verify_is_valid_for_subject_name(name).is_ok())
}

fn read_all(spec: &[Certificate], provider: &CryptoProvider) -> Result<Vec<Loaded>, String> {
    spec.iter().map(|c| read_one(c, provider)).collect()
}

fn read_one(spec: &Certificate, provider: &CryptoProvider) -> Result<Loaded, String> {
    let file = spec.cert_file;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("certificate {file}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate {file}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("certificate {file}: no PEM certificate in it"));
    }
    let secret = read_secret(&spec.key).map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(secret.expose_secret().as_bytes())
        .map_err(|e| format!("the key of {file} ({}): {e}", spec.key))?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("the key of {file} ({}): {e}", spec.key))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "the key of {file} ({}) is not the certificate's: {e}",
            spec.key
        )
    })?;
    Ok(Loaded {
        key: Arc::new(certified),
    })
}
