//! TLS with rustls (ring provider, no OpenSSL): server and client settings,
//! and `duplex cert`, a self-signed certificate for development.
//!
//! Every failure says which file is at fault and why: missing, unreadable,
//! holding no PEM certificate or key, or a key that does not belong to the
//! certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// The certificate chain and key a TLS listener presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_certs(path: &Path, what: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{what} {} is not valid PEM: {e}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "{what} {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        );
    }
    Ok(certs)
}

/// Server settings from a PEM certificate chain and key. ALPN offers
/// `http/1.1` so that browsers can use `wss://` listeners.
pub fn server_config(files: &TlsFiles) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = read_certs(&files.cert, "--tls-cert")?;
    let key_bytes = std::fs::read(&files.key)
        .with_context(|| format!("cannot read --tls-key {}", files.key.display()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        anyhow::anyhow!(
            "--tls-key {} holds no usable PEM private key: {e}",
            files.key.display()
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS settings")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            anyhow::anyhow!(
                "--tls-key {} does not fit --tls-cert {}: {e}",
                files.key.display(),
                files.cert.display()
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Client settings: the system's roots plus `ca`, or no verification at all
/// with `insecure` (which the caller announces on stderr).
pub fn client_config(ca: Option<&Path>, insecure: bool) -> anyhow::Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("TLS settings")?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        if let Some(ca) = ca {
            for cert in read_certs(ca, "--ca")? {
                roots
                    .add(cert)
                    .map_err(|e| anyhow::anyhow!("--ca {}: {e}", ca.display()))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The server name to verify: a DNS name or an IP address.
pub fn server_name(host: &str) -> anyhow::Result<ServerName<'static>> {
    ServerName::try_from(host.to_string())
        .map_err(|_| anyhow::anyhow!("'{host}' is not a valid TLS server name"))
}

/// Accepts any certificate (`--insecure`). Signatures are still checked so
/// that the handshake itself stays well-formed.
#[derive(Debug)]
struct NoVerification;

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Writes `cert.pem` and `key.pem` (a self-signed certificate for `hosts`)
/// into `dir`, which is created if needed. Returns the two paths.
pub fn write_self_signed(dir: &Path, hosts: &[String]) -> anyhow::Result<TlsFiles> {
    if hosts.is_empty() {
        anyhow::bail!("name at least one host, e.g. --host localhost --host 127.0.0.1");
    }
    let generated = rcgen::generate_simple_self_signed(hosts.to_vec())
        .map_err(|e| anyhow::anyhow!("cannot make a certificate for {hosts:?}: {e}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, generated.cert.pem())
        .with_context(|| format!("cannot write {}", files.cert.display()))?;
    write_private(&files.key, generated.signing_key.serialize_pem().as_bytes())?;
    Ok(files)
}

/// Writes a file readable by its owner only (a private key).
fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_pair_loads_and_mismatch_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write_self_signed(&dir.path().join("a"), &["localhost".into()]).expect("a");
        let b = write_self_signed(&dir.path().join("b"), &["localhost".into()]).expect("b");
        server_config(&a).expect("matching pair loads");
        let mixed = TlsFiles {
            cert: a.cert.clone(),
            key: b.key.clone(),
        };
        let e = format!("{:#}", server_config(&mixed).expect_err("mismatch"));
        assert!(e.contains("does not fit"), "{e}");
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: a.key.clone(),
        };
        let e = format!("{:#}", server_config(&missing).expect_err("missing"));
        assert!(e.contains("cannot read --tls-cert"), "{e}");
        let not_pem = TlsFiles {
            cert: a.key.clone(),
            key: a.key.clone(),
        };
        let e = format!("{:#}", server_config(&not_pem).expect_err("key as cert"));
        assert!(e.contains("holds no PEM certificate"), "{e}");
        client_config(Some(&a.cert), false).expect("ca loads");
    }
}
