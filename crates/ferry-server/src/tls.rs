//! TLS on the server's listeners (rustls, aws-lc-rs; no OpenSSL).
//!
//! The certificate is either given (`--tls-cert` / `--tls-key`, PEM) or made
//! by ferry itself: on first start a CA (`DATA_DIR/tls/ca.pem`, its key
//! `ca-key.pem`, mode 0600) and a server certificate it signs
//! (`server.pem`, `server-key.pem`) for every name the server is reached
//! by: its listen addresses (every interface's for an unspecified one),
//! `localhost`, `127.0.0.1`, `::1`, the host name and each `--tls-san`.
//! The server certificate (never the CA) is issued again at start when
//! those names changed, when it would expire within [`RENEW_BEFORE`], or
//! when it no longer chains to the CA.
//!
//! Agents pin the CA: the join token carries the SHA-256 of its DER
//! ([`fingerprint`]); with given certificates, the CA is the last
//! certificate of the `--tls-cert` file.
//!
//! [`handshake`] completes each accepted connection's handshake (the accept
//! loop in `listen` runs it in the connection's own task, within
//! `--tls-handshake-timeout`). A client that speaks plain HTTP to the TLS
//! port is answered `400` in plain text saying so.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How the server's listeners speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// HTTPS with ferry's own CA and a server certificate it issues, kept in
    /// `DATA_DIR/tls`; `extra_names` are added to the certificate's names.
    Auto { extra_names: Vec<String> },
    /// HTTPS with the certificate chain and key in these PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP (`--insecure-http`), for local development only.
    Off,
}

impl Default for TlsMode {
    fn default() -> Self {
        Self::Auto { extra_names: Vec::new() }
    }
}

/// What the listeners serve with, and what agents pin.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// Hex SHA-256 of the CA certificate's DER (see [`fingerprint`]).
    pub ca_fingerprint: String,
    /// With ferry's own CA and an unspecified listen address: the names
    /// of the certificate, which grow when an address appears later.
    pub names: Option<Arc<GrowingNames>>,
}

/// The server certificate of a server that listens on every interface with
/// ferry's own CA: when a connection arrives on a local address the
/// certificate does not name (an interface or bridge that appeared after
/// start), the certificate is issued again with it and swapped in, without
/// a restart, before that connection's handshake.
#[derive(Debug)]
pub struct GrowingNames {
    dir: PathBuf,
    names: std::sync::Mutex<Vec<String>>,
    current: Arc<SwappedCert>,
}

/// The certificate the listeners present, replaceable at run time.
#[derive(Debug)]
struct SwappedCert(std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>);

impl rustls::server::ResolvesServerCert for SwappedCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

impl GrowingNames {
    /// Makes sure the certificate names `ip` (the local address a
    /// connection arrived on).
    pub fn cover(&self, ip: IpAddr) {
        let name = ip.to_canonical().to_string();
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.contains(&name) {
            return;
        }
        let mut wanted = names.clone();
        wanted.push(name.clone());
        wanted.sort();
        wanted.dedup();
        match auto(&self.dir, &wanted).and_then(|(chain, key)| certified(chain, key)) {
            Ok(key) => {
                *self.current.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
                tracing::info!(address = %name, "a new local address: the server's TLS certificate now names it too");
            }
            // Not retried for every connection: the next start tries again.
            Err(e) => tracing::warn!(address = %name, error = %e, "cannot issue the TLS certificate for a new address"),
        }
        *names = wanted;
    }

    #[cfg(test)]
    fn presented(&self) -> Arc<rustls::sign::CertifiedKey> {
        self.current.0.read().unwrap().clone()
    }
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::sign::CertifiedKey, String> {
    let signing = provider().key_provider.load_private_key(key).map_err(|e| format!("the server key: {e}"))?;
    Ok(rustls::sign::CertifiedKey::new(chain, signing))
}

/// The prefix of a fingerprint as the join token spells it.
pub const FINGERPRINT_PREFIX: &str = "sha256-";
/// A server certificate expiring within this is issued again at start.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
const SERVER_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Certificates are valid from this long before they were made, so hosts
/// whose clocks are a little behind accept them.
const BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// Hex SHA-256 of a certificate's DER: what `openssl x509 -noout
/// -fingerprint -sha256` prints, lower case and without colons.
pub fn fingerprint(der: &[u8]) -> String {
    ferry_sigv4::hex(&Sha256::digest(der))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Loads or makes the certificate for `mode`; `None` for plain HTTP.
/// `listening` are the bound addresses (their IPs become certificate names).
pub fn prepare(mode: &TlsMode, data_dir: &Path, listening: &[SocketAddr]) -> Result<Option<Tls>, String> {
    let mut growing = None;
    let (chain, key) = match mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => load_files(cert, key)?,
        TlsMode::Auto { extra_names } => {
            let names = server_names(listening, extra_names)?;
            if listening.iter().any(|a| a.ip().is_unspecified()) {
                growing = Some(names.clone());
            }
            auto(&data_dir.join("tls"), &names)?
        }
    };
    let ca = chain.last().ok_or("the certificate chain is empty")?;
    let ca_fingerprint = fingerprint(ca);
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth();
    let (mut config, names) = match growing {
        Some(names) => {
            let current = Arc::new(SwappedCert(std::sync::RwLock::new(Arc::new(certified(chain, key)?))));
            let growing = GrowingNames {
                dir: data_dir.join("tls"),
                names: std::sync::Mutex::new(names),
                current: current.clone(),
            };
            (builder.with_cert_resolver(current), Some(Arc::new(growing)))
        }
        None => (
            builder
                .with_single_cert(chain, key)
                .map_err(|e| format!("the TLS certificate and key do not fit together: {e}"))?,
            None,
        ),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls { config: Arc::new(config), ca_fingerprint, names }))
}

fn load_files(cert: &Path, key: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no PEM certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    Ok((chain, key))
}

/// The names the made certificate is issued for, sorted, without repeats.
pub fn server_names(listening: &[SocketAddr], extra: &[String]) -> Result<Vec<String>, String> {
    let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)];
    for addr in listening {
        if addr.ip().is_unspecified() {
            ips.extend(interface_addresses(addr.is_ipv6()));
        } else {
            ips.push(addr.ip());
        }
    }
    let mut names: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    names.push("localhost".into());
    if let Some(host) = host_name() {
        names.push(host);
    }
    for name in extra {
        let name = name.trim();
        if name.parse::<IpAddr>().is_err() && !is_dns_name(name) {
            return Err(format!("--tls-san {name:?}: not an IP address or a DNS name"));
        }
        names.push(name.to_string());
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Every address of this machine's interfaces (v4 only, or also v6 for a `[::]` listener).
fn interface_addresses(v6: bool) -> Vec<IpAddr> {
    let Ok(addresses) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    addresses
        .filter_map(|a| a.address)
        .filter_map(|a| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else if v6 {
                a.as_sockaddr_in6().map(|s| s.ip()).filter(|ip| ip.segments()[0] & 0xffc0 != 0xfe80).map(IpAddr::V6)
            } else {
                None
            }
        })
        .collect()
}

fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    is_dns_name(name).then(|| name.to_string())
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// ferry's own CA and server certificate in `dir`, made or renewed as needed.
fn auto(dir: &Path, names: &[String]) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let paths = Paths::new(dir);
    let (ca_der, ca_key) = load_or_make_ca(&paths)?;
    let ca_params = ca_params(&ca_key)?;
    let current = match (paths.server.exists(), paths.server_key.exists()) {
        (true, true) => {
            let cert = CertificateDer::from_pem_file(&paths.server)
                .map_err(|e| format!("cannot read {}: {e}", paths.server.display()))?;
            let key = PrivateKeyDer::from_pem_file(&paths.server_key)
                .map_err(|e| format!("cannot read {}: {e}", paths.server_key.display()))?;
            let issued_for = std::fs::read_to_string(&paths.server_names).unwrap_or_default();
            let issued_for: Vec<&str> = issued_for.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            let fresh = issued_for == names.iter().map(String::as_str).collect::<Vec<_>>()
                && still_good(&cert, &ca_der, names, SystemTime::now() + RENEW_BEFORE);
            fresh.then_some((cert, key))
        }
        _ => None,
    };
    let (cert, key) = match current {
        Some(current) => current,
        None => {
            let issued = issue_server_cert(&ca_params, ca_key, names)?;
            let (cert, key) = (issued.der, issued.key);
            if !still_good(&cert, &ca_der, names, SystemTime::now()) {
                return Err(format!(
                    "{} does not belong to {}: restore the pair, or remove {} to make a new CA \
                     (every agent then has to enrol again)",
                    paths.ca_key.display(),
                    paths.ca.display(),
                    dir.display()
                ));
            }
            write_file(&paths.server_key, issued.key_pem.as_bytes(), 0o600)?;
            write_file(&paths.server, issued.pem.as_bytes(), 0o644)?;
            write_file(&paths.server_names, format!("{}\n", names.join("\n")).as_bytes(), 0o644)?;
            tracing::info!(path = %paths.server.display(), names = %names.join(","), "issued the server's TLS certificate");
            (cert, key)
        }
    };
    Ok((vec![cert, ca_der], key))
}

struct Paths {
    ca: PathBuf,
    ca_key: PathBuf,
    server: PathBuf,
    server_key: PathBuf,
    server_names: PathBuf,
}

impl Paths {
    fn new(dir: &Path) -> Self {
        Self {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            server_names: dir.join("server.names"),
        }
    }
}

fn load_or_make_ca(paths: &Paths) -> Result<(CertificateDer<'static>, rcgen::KeyPair), String> {
    match (paths.ca.exists(), paths.ca_key.exists()) {
        (true, true) => {
            let cert = CertificateDer::from_pem_file(&paths.ca)
                .map_err(|e| format!("cannot read {}: {e}", paths.ca.display()))?;
            let text = std::fs::read_to_string(&paths.ca_key)
                .map_err(|e| format!("cannot read {}: {e}", paths.ca_key.display()))?;
            let key =
                rcgen::KeyPair::from_pem(&text).map_err(|e| format!("cannot read {}: {e}", paths.ca_key.display()))?;
            Ok((cert, key))
        }
        (false, false) => {
            let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make the CA key: {e}"))?;
            let (not_before, not_after) = validity(CA_VALIDITY)?;
            let mut params = ca_params(&key)?;
            params.not_before = not_before;
            params.not_after = not_after;
            let cert = params.self_signed(&key).map_err(|e| format!("cannot make the CA certificate: {e}"))?;
            write_file(&paths.ca_key, key.serialize_pem().as_bytes(), 0o600)?;
            write_file(&paths.ca, cert.pem().as_bytes(), 0o644)?;
            let der = cert.der().clone();
            tracing::info!(path = %paths.ca.display(), fingerprint = %format!("{FINGERPRINT_PREFIX}{}", fingerprint(&der)),
                "made the server's own TLS CA");
            Ok((der, key))
        }
        (true, false) | (false, true) => Err(format!(
            "{} and {} go together and only one of them exists: restore the other, or remove both \
             to make a new CA (every agent then has to enrol again)",
            paths.ca.display(),
            paths.ca_key.display()
        )),
    }
}

/// The CA's subject and extensions. The subject is derived from its key, so
/// that the issuer of a server certificate can be rebuilt from the key alone
/// (no X.509 parser needed) and two ferry CAs are told apart by name.
fn ca_params(key: &rcgen::KeyPair) -> Result<rcgen::CertificateParams, String> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    let id = fingerprint(key.public_key_raw());
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "ferry");
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("ferry CA {}", &id[..16]));
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    Ok(params)
}

struct Issued {
    der: CertificateDer<'static>,
    pem: String,
    key: PrivateKeyDer<'static>,
    key_pem: String,
}

fn issue_server_cert(
    ca_params: &rcgen::CertificateParams,
    ca_key: rcgen::KeyPair,
    names: &[String],
) -> Result<Issued, String> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("certificate names: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "ferry");
    params.distinguished_name.push(rcgen::DnType::CommonName, "ferry server");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let (not_before, not_after) = validity(SERVER_VALIDITY)?;
    params.not_before = not_before;
    params.not_after = not_after;
    let key = rcgen::KeyPair::generate().map_err(|e| format!("cannot make the server key: {e}"))?;
    let issuer = rcgen::Issuer::new(ca_params.clone(), ca_key);
    let cert = params.signed_by(&key, &issuer).map_err(|e| format!("cannot issue the server certificate: {e}"))?;
    Ok(Issued {
        der: cert.der().clone(),
        pem: cert.pem(),
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        key_pem: key.serialize_pem(),
    })
}

fn validity(length: Duration) -> Result<(time::OffsetDateTime, time::OffsetDateTime), String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?;
    let at = |d: Duration| time::OffsetDateTime::from_unix_timestamp(d.as_secs() as i64).map_err(|e| e.to_string());
    Ok((at(now.saturating_sub(BACKDATE))?, at(now + length)?))
}

/// Whether `cert` chains to `ca` and is valid for every name at `at`.
fn still_good(cert: &CertificateDer<'_>, ca: &CertificateDer<'static>, names: &[String], at: SystemTime) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(ca.clone()).is_err() {
        return false;
    }
    let Ok(verifier) = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider()).build() else {
        return false;
    };
    let at = UnixTime::since_unix_epoch(at.duration_since(UNIX_EPOCH).unwrap_or_default());
    names.iter().all(|name| {
        ServerName::try_from(name.as_str())
            .is_ok_and(|name| verifier.verify_server_cert(cert, &[], &name, &[], at).is_ok())
    })
}

/// Writes `path` via a temporary file (write, fsync, rename) with `mode`.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Completes the TLS handshake of an accepted connection (the caller bounds
/// its time); a client speaking plain HTTP is answered in plain HTTP.
pub(crate) async fn handshake(
    acceptor: &TlsAcceptor,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<TlsStream<TcpStream>> {
    let mut first = [0u8; 1];
    match tcp.peek(&mut first).await {
        Ok(1) => {}
        _ => return None,
    }
    if first[0] != TLS_HANDSHAKE {
        refuse_plain_http(tcp, peer).await;
        return None;
    }
    match acceptor.accept(tcp).await {
        Ok(stream) => Some(stream),
        Err(e) => {
            let refused_ours = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|e| matches!(e, rustls::Error::AlertReceived(_)));
            if refused_ours {
                tracing::info!(%peer, error = %e,
                    "a client ended the TLS handshake: it does not trust this server's certificate \
                     (an agent enrolled with another CA, or a client without --ca-file)");
            } else {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
            }
            None
        }
    }
}

/// Answers a plain-HTTP request on the TLS port, in plain HTTP, with a 400
/// that says what to do.
async fn refuse_plain_http(mut tcp: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "plain HTTP on the TLS port: refused");
    let mut request = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut request)).await;
    let body = "This ferry server speaks HTTPS only: use an https:// URL (the CLI and agents trust \
                the server's CA from DATA_DIR/tls/ca.pem or the join token).\n";
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
    // Read what the client still sends so that closing does not reset the
    // connection before it has read the answer.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while tcp.read(&mut request).await.is_ok_and(|n| n > 0) {}
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_loopback_listen_addresses_and_extras() {
        let listening = [SocketAddr::from(([10, 1, 2, 3], 7800))];
        let names = server_names(&listening, &["ferry.example".into(), "192.0.2.7".into()]).unwrap();
        for name in ["127.0.0.1", "::1", "localhost", "10.1.2.3", "ferry.example", "192.0.2.7"] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        assert!(server_names(&listening, &["not a name".into()]).is_err());
        let any = server_names(&[SocketAddr::from(([0, 0, 0, 0], 7800))], &[]).unwrap();
        assert!(!any.contains(&"0.0.0.0".to_string()), "{any:?}");
    }

    #[test]
    fn the_ca_is_kept_and_the_server_certificate_follows_the_names() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let a = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let (chain1, _) = auto(&tls, &a).unwrap();
        assert_eq!(chain1.len(), 2);
        use std::os::unix::fs::PermissionsExt;
        for (file, mode) in [("ca-key.pem", 0o600), ("server-key.pem", 0o600), ("ca.pem", 0o644)] {
            let m = std::fs::metadata(tls.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, mode, "{file}");
        }
        // Same names: nothing is issued again.
        let (chain2, _) = auto(&tls, &a).unwrap();
        assert_eq!(chain1, chain2);
        // Other names: a new server certificate from the same CA.
        let b = vec!["10.0.0.1".to_string(), "127.0.0.1".to_string()];
        let (chain3, _) = auto(&tls, &b).unwrap();
        assert_ne!(chain3[0], chain1[0]);
        assert_eq!(chain3[1], chain1[1], "the CA stays");
        assert!(still_good(&chain3[0], &chain3[1], &b, SystemTime::now()));
        assert!(!still_good(&chain3[0], &chain3[1], &["10.9.9.9".into()], SystemTime::now()));
        assert!(!still_good(&chain3[0], &chain3[1], &b, SystemTime::now() + SERVER_VALIDITY + BACKDATE));
        // A lone CA key is refused with a way out.
        std::fs::remove_file(tls.join("ca.pem")).unwrap();
        let e = auto(&tls, &a).unwrap_err();
        assert!(e.contains("ca.pem") && e.contains("enrol again"), "{e}");
    }

    #[test]
    fn prepare_pins_the_last_certificate_of_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let listening = [SocketAddr::from(([127, 0, 0, 1], 7800))];
        let tls = prepare(&TlsMode::default(), dir.path(), &listening).unwrap().unwrap();
        let ca = CertificateDer::from_pem_file(dir.path().join("tls/ca.pem")).unwrap();
        assert_eq!(tls.ca_fingerprint, fingerprint(&ca));
        // The same files given explicitly (server.pem holds only the leaf): the leaf is pinned.
        let files =
            TlsMode::Files { cert: dir.path().join("tls/server.pem"), key: dir.path().join("tls/server-key.pem") };
        let given = prepare(&files, dir.path(), &listening).unwrap().unwrap();
        let leaf = CertificateDer::from_pem_file(dir.path().join("tls/server.pem")).unwrap();
        assert_eq!(given.ca_fingerprint, fingerprint(&leaf));
        assert!(prepare(&TlsMode::Off, dir.path(), &listening).unwrap().is_none());
        let missing = TlsMode::Files { cert: dir.path().join("nope.pem"), key: dir.path().join("tls/server-key.pem") };
        assert!(prepare(&missing, dir.path(), &listening).err().unwrap().contains("--tls-cert"));
    }

    #[test]
    fn an_address_that_appears_later_is_added_to_the_certificate_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let listening = [SocketAddr::from(([0, 0, 0, 0], 7800))];
        let tls = prepare(&TlsMode::default(), dir.path(), &listening).unwrap().unwrap();
        let names = tls.names.clone().expect("an unspecified listen address lets the names grow");
        let ca = CertificateDer::from_pem_file(dir.path().join("tls/ca.pem")).unwrap();
        let late = IpAddr::from([203, 0, 113, 7]);
        let presented = |n: &GrowingNames| n.presented().cert[0].clone();
        assert!(!still_good(&presented(&names), &ca, &[late.to_string()], SystemTime::now()));
        names.cover(late);
        assert!(still_good(&presented(&names), &ca, &[late.to_string(), "127.0.0.1".into()], SystemTime::now()));
        // Kept for the next start, issued by the same CA (agents' pin holds).
        let written = std::fs::read_to_string(dir.path().join("tls/server.names")).unwrap();
        assert!(written.lines().any(|l| l == "203.0.113.7"), "{written}");
        assert_eq!(
            prepare(&TlsMode::default(), dir.path(), &listening).unwrap().unwrap().ca_fingerprint,
            tls.ca_fingerprint
        );
        // A known address changes nothing.
        let before = presented(&names);
        names.cover(late);
        assert_eq!(presented(&names), before);
        // A specific listen address keeps a fixed certificate.
        let fixed = prepare(&TlsMode::default(), dir.path(), &[SocketAddr::from(([127, 0, 0, 1], 7800))]).unwrap();
        assert!(fixed.unwrap().names.is_none());
    }
}
