//! HTTPS for serve (`--tls-cert`, `--tls-key`) and mutual TLS (`--tls-client-ca`): rustls with
//! the ring backend. With a client CA, a client without a certificate that CA signed fails the
//! handshake before any HTTP is read; that is what makes a network listen safe. TLS without it
//! only hides the traffic: anyone may still connect.

use std::{path::Path, sync::Arc};

use anyhow::{Context as _, Result, anyhow};
use rustls::{RootCertStore, ServerConfig, server::WebPkiClientVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::TlsAcceptor;

use crate::out::Usage;

pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// Whether clients must show a certificate of the client CA.
    pub mutual: bool,
}

fn certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = crate::input::read_bounded(path, crate::input::PEM_MAX, flag)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Usage(format!("{flag} {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Usage(format!(
            "{flag} {}: no PEM certificate in it",
            path.display()
        ))
        .into());
    }
    Ok(certs)
}

impl Tls {
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Tls> {
        let chain = certs("--tls-cert", cert)?;
        let pem = crate::input::read_bounded(key, crate::input::PEM_MAX, "--tls-key")?;
        let key = PrivateKeyDer::from_pem_slice(&pem)
            .map_err(|e| Usage(format!("--tls-key {}: {e}", key.display())))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in certs("--tls-client-ca", ca)? {
                    roots
                        .add(c)
                        .map_err(|e| Usage(format!("--tls-client-ca {}: {e}", ca.display())))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .map_err(|e| anyhow!("--tls-client-ca {}: {e}", ca.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| Usage(format!("--tls-cert/--tls-key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            mutual: client_ca.is_some(),
        })
    }
}
