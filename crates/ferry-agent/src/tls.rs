//! Whom the agent trusts over HTTPS, and the certificate verifier that
//! enforces it.
//!
//! - At enrolment with a join token that carries a CA fingerprint
//!   ([`Trust::Fingerprint`]), the server's chain must contain a certificate
//!   whose SHA-256 is that fingerprint, and the server's certificate must
//!   chain to it (and be valid for the name the agent connects to). That
//!   certificate becomes the agent's CA, kept in `state/ca.pem`.
//! - From then on ([`Trust::Ca`]) only that CA is trusted (or the one given
//!   with `--ca-file`).
//! - An agent enrolled without any CA ([`Trust::System`]) trusts the
//!   system's roots, for a server with a publicly trusted certificate.
//!
//! A server that fails these checks is refused during the TLS handshake,
//! before the agent sends anything (no join token, no signed request). The
//! verifier keeps a readable account of why ([`Verdicts::take`]), naming
//! the expected and the presented fingerprints.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use ferry_sigv4::hex;

/// Whom an HTTPS connection to the server may end at.
#[derive(Clone)]
pub(crate) enum Trust {
    /// The system's roots.
    System,
    /// Only this CA.
    Ca(CertificateDer<'static>),
    /// The CA in the server's chain with this hex SHA-256 (enrolment).
    Fingerprint(String),
}

impl Trust {
    /// Reads a PEM CA file (its first certificate).
    pub fn from_pem_file(path: &std::path::Path) -> Result<CertificateDer<'static>, String> {
        CertificateDer::from_pem_file(path)
            .map_err(|e| format!("cannot read the CA certificate {}: {e}", path.display()))
    }
}

/// Hex SHA-256 of a certificate's DER.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    hex(&Sha256::digest(der))
}

/// PEM text of a certificate.
pub(crate) fn to_pem(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = Vec::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            encoded.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] } else { b'=' });
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// What the verifier saw, shared with the client that reports it.
#[derive(Default)]
pub(crate) struct Verdicts {
    /// Why the last refused server was refused.
    rejection: Mutex<Option<String>>,
    /// The CA a fingerprint pinned (enrolment).
    pinned: Mutex<Option<CertificateDer<'static>>>,
}

impl Verdicts {
    /// Why the last refused server was refused, once.
    pub fn take(&self) -> Option<String> {
        self.rejection.lock().ok()?.take()
    }

    /// The CA that the join token's fingerprint found in the server's chain.
    pub fn pinned_ca(&self) -> Option<CertificateDer<'static>> {
        self.pinned.lock().ok()?.clone()
    }

    fn reject(&self, why: String) {
        if let Ok(mut slot) = self.rejection.lock() {
            *slot = Some(why);
        }
    }
}

/// The client config for `trust`, or `None` for the system's roots (reqwest's own).
pub(crate) fn client_config(trust: &Trust, verdicts: Arc<Verdicts>) -> Result<Option<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = match trust {
        Trust::System => return Ok(None),
        Trust::Ca(ca) => PinVerifier {
            expected: fingerprint(ca),
            fixed: Some(webpki_for(ca, &provider)?),
            provider: provider.clone(),
            verdicts,
        },
        Trust::Fingerprint(hex) => {
            PinVerifier { expected: hex.clone(), fixed: None, provider: provider.clone(), verdicts }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Some(config))
}

fn webpki_for(
    ca: &CertificateDer<'static>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| format!("the CA certificate cannot be used: {e}"))?;
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| format!("the CA certificate cannot be used: {e}"))
}

/// Accepts a server whose certificate chains to one CA: given (`fixed`), or
/// found in the presented chain by its fingerprint.
struct PinVerifier {
    /// Hex SHA-256 of the CA.
    expected: String,
    fixed: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    verdicts: Arc<Verdicts>,
}

impl std::fmt::Debug for PinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinVerifier").field("expected", &self.expected).finish_non_exhaustive()
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The pinned certificate is the server's own (a `--tls-cert` file
        // holding the leaf alone): that exact certificate, nothing to chain.
        if fingerprint(end_entity) == self.expected {
            if self.fixed.is_none()
                && let Ok(mut slot) = self.verdicts.pinned.lock()
            {
                *slot = Some(CertificateDer::from(end_entity.to_vec()));
            }
            return Ok(ServerCertVerified::assertion());
        }
        let presented: Vec<&CertificateDer<'_>> = std::iter::once(end_entity).chain(intermediates).collect();
        let root = presented.last().map(|c| fingerprint(c)).unwrap_or_default();
        let ours = presented.iter().find(|c| fingerprint(c) == self.expected);
        let verifier = match (&self.fixed, ours) {
            (Some(fixed), _) => fixed.clone(),
            (None, Some(ca)) => {
                let ca = CertificateDer::from(ca.to_vec());
                let verifier = webpki_for(&ca, &self.provider).map_err(|e| {
                    self.verdicts.reject(format!(
                        "the CA of the join token (sha256-{}) in the server's chain {e}",
                        self.expected
                    ));
                    rustls::Error::InvalidCertificate(CertificateError::BadEncoding)
                })?;
                if let Ok(mut slot) = self.verdicts.pinned.lock() {
                    *slot = Some(ca);
                }
                verifier
            }
            (None, None) => {
                self.verdicts.reject(format!(
                    "the server's certificate is not from the CA in the join token: expected CA sha256-{}, \
                     the server presented a chain whose root is sha256-{root}. Check the join token \
                     (DATA_DIR/join-token on the server) and that the URL reaches that server",
                    self.expected
                ));
                return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
            }
        };
        verifier.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now).map_err(|e| {
            let foreign = ours.is_none()
                && matches!(
                    e,
                    rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature)
                );
            let why = match (&e, foreign) {
                (_, true) => format!(
                    "the server's certificate does not chain to the CA this agent trusts: expected CA \
                     sha256-{}, the server presented a chain whose root is sha256-{root} ({e}). \
                     Not the server this agent enrolled with, or its CA was replaced: then remove \
                     the agent's state/ca.pem and state/credentials and enrol again with the new join token",
                    self.expected
                ),
                (rustls::Error::InvalidCertificate(CertificateError::NotValidForName), _)
                | (rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }), _) => format!(
                    "the server's certificate is from the trusted CA (sha256-{}) but not for this address: {e}; \
                     use a name the certificate has, or add this one with `ferry server --tls-san NAME`",
                    self.expected
                ),
                _ => format!(
                    "the server's certificate is from the trusted CA (sha256-{}) but refused: {e}",
                    self.expected
                ),
            };
            self.verdicts.reject(why);
            e
        })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_standard_base64() {
        let pem = to_pem(b"Man");
        assert_eq!(pem, "-----BEGIN CERTIFICATE-----\nTWFu\n-----END CERTIFICATE-----\n");
        assert!(to_pem(b"Ma").contains("\nTWE=\n"));
        assert!(to_pem(b"M").contains("\nTQ==\n"));
        assert_eq!(to_pem(&[7u8; 100]).lines().nth(1).unwrap().len(), 64);
        let der = CertificateDer::pem_slice_iter(to_pem(&[7u8; 100]).as_bytes()).next().unwrap().unwrap();
        assert_eq!(der.as_ref(), &[7u8; 100]);
    }
}
