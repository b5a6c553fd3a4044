//! TLS without a certificate authority: the service's own certificate, and peers that
//! pin each other's.
//!
//! - **Identity** ([`identity`]): `tls/cert.pem` and `tls/key.pem` in the home folder,
//!   made on first need (self-signed, ECDSA P-256, for `localhost` and the node's name;
//!   the key 0600), or the pair that `server.tls_cert` and `server.tls_key` name.
//! - **Fingerprint** ([`fingerprint`]): the SHA-256 of the certificate as 64 hex digits,
//!   the node's identity, as Syncthing's device IDs are. `triplicate run` and `grid
//!   init` show it; `openssl x509 -noout -fingerprint -sha256` shows the same digits.
//! - **Pinning** ([`pinned_client`]): a client configuration that accepts exactly the
//!   certificate with a given fingerprint, whatever its names or issuer, so two nodes
//!   in different houses talk with encryption and no authority to trust. Another
//!   certificate (a man in the middle, a reinstalled peer) is refused, and the error
//!   says which fingerprint came and which was expected.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::home::Home;

/// The folder of the home's certificate and key.
pub const TLS_DIR: &str = "tls";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is not a PEM certificate and key pair TLS can use: {message}; give another with server.tls_cert and server.tls_key, or remove them to let Triplicate make its own",
        path.display()
    )]
    Unusable { path: PathBuf, message: String },
}

impl crate::fault::Classify for TlsError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            TlsError::Io { .. } => crate::fault::Fault::Failed,
            TlsError::Unusable { .. } => crate::fault::Fault::Usage,
        }
    }
}

/// A certificate and its key, ready to serve.
#[derive(Debug)]
pub struct Identity {
    pub certs: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The SHA-256 fingerprint of the first certificate.
    pub fingerprint: String,
}

/// The SHA-256 of a certificate, as 64 lowercase hex digits.
pub fn fingerprint(cert: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The crypto every TLS configuration here uses.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// The service's certificate and key: the pair given in the configuration, else the
/// home's own, made now if there is none (for `localhost` and `node`).
pub fn identity(
    home: &Home,
    given: Option<(&Path, &Path)>,
    node: &str,
) -> Result<Identity, TlsError> {
    let dir = home.dir().join(TLS_DIR);
    let (cert, key) = match given {
        Some((cert, key)) => (cert.to_path_buf(), key.to_path_buf()),
        None => (dir.join("cert.pem"), dir.join("key.pem")),
    };
    if given.is_none() && !cert.exists() {
        make_identity(&cert, &key, node)?;
    }
    let unusable = |message: String| TlsError::Unusable {
        path: cert.clone(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| unusable(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(e.to_string()))?;
    let first = certs
        .first()
        .ok_or_else(|| unusable("it holds no certificate".into()))?;
    let fingerprint = fingerprint(first);
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| TlsError::Unusable {
        path: key.clone(),
        message: e.to_string(),
    })?;
    Ok(Identity {
        certs,
        key,
        fingerprint,
    })
}

fn make_identity(cert: &Path, key: &Path, node: &str) -> Result<(), TlsError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { what, path, source }
    };
    let mut names = vec!["localhost".to_string()];
    if !node.is_empty() && node != "localhost" {
        names.push(node.to_string());
    }
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Unusable {
        path: cert.into(),
        message: format!("cannot make a certificate: {e}"),
    })?;
    crate::fsutil::write_private(key, made.signing_key.serialize_pem().as_bytes())
        .map_err(io("write", key))?;
    crate::fsutil::write_private(cert, made.cert.pem().as_bytes()).map_err(io("write", cert))?;
    tracing::info!("made the TLS certificate {}", cert.display());
    Ok(())
}

/// A server configuration that presents `identity`.
pub fn server_config(identity: &Identity) -> Result<rustls::ServerConfig, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| {
            b.with_no_client_auth()
                .with_single_cert(identity.certs.clone(), identity.key.clone_key())
        })
        .map_err(|e| TlsError::Unusable {
            path: PathBuf::from(TLS_DIR),
            message: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Where a pinned client keeps the last certificate it refused, so that the error its
/// caller meets (deep inside an HTTP client's) can say which came and which was wanted.
pub type Refused = Arc<std::sync::Mutex<Option<WrongCertificate>>>;

/// A client configuration that trusts exactly the certificate whose fingerprint is
/// `pin` (64 lowercase hex digits: [`crate::values::Fingerprint`]), and where it
/// notes a certificate it refused.
pub fn pinned_client(pin: &str) -> (rustls::ClientConfig, Refused) {
    let refused = Refused::default();
    let verifier = Arc::new(Pinned {
        pin: pin.to_string(),
        provider: provider(),
        refused: refused.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    (config, refused)
}

/// The certificate that came was not the one pinned.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "its certificate's fingerprint is {found}, not the {expected} this node knows it by: either someone is in between (refused), or the peer made a new certificate (check it on the peer, then remove and add the peer again)"
)]
pub struct WrongCertificate {
    pub found: String,
    pub expected: String,
}

/// Accepts the one certificate with the pinned fingerprint, and checks that the peer
/// holds its key (the handshake's signature).
#[derive(Debug)]
struct Pinned {
    pin: String,
    provider: Arc<CryptoProvider>,
    refused: Refused,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let found = fingerprint(end_entity);
        if found == self.pin {
            return Ok(ServerCertVerified::assertion());
        }
        let wrong = WrongCertificate {
            found,
            expected: self.pin.clone(),
        };
        *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(wrong.clone());
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Other(rustls::OtherError(Arc::new(wrong))),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_home_identity_is_made_once_with_a_private_key() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let home = Home::in_dir(dir.path());
        let first = identity(&home, None, "studio").unwrap();
        let again = identity(&home, None, "studio").unwrap();
        assert_eq!(first.fingerprint, again.fingerprint);
        assert_eq!(first.fingerprint.len(), 64);
        let key = dir.path().join("tls/key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        server_config(&first).unwrap();
    }
}
