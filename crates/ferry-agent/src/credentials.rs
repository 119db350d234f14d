//! This host's access key: read from `state/credentials`, or obtained once by
//! enrolling with the join token and then saved there (mode 0600, atomically).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ferry_proto::AGENT_PROTOCOL_VERSION;
use ferry_proto::agent::{EnrolRequest, JoinToken};
use serde::{Deserialize, Serialize};

use crate::AGENT_VERSION;
use crate::backoff::{Backoff, FailureLog};
use crate::client::{Client, HostKey};
use crate::config::AgentConfig;
use crate::error::AgentError;
use crate::tls::{self, Trust};

/// The content of `state/credentials`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct StoredCredentials {
    pub instance_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The server enrolled with (informational).
    #[serde(default)]
    pub server: String,
}

impl StoredCredentials {
    pub fn key(&self) -> HostKey {
        HostKey { access_key_id: self.access_key_id.clone(), secret_access_key: self.secret_access_key.clone() }
    }
}

/// Reads the credentials file; `Ok(None)` when there is none.
pub(crate) fn load(path: &Path) -> Result<Option<StoredCredentials>, AgentError> {
    let text = match fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AgentError::BadCredentials { path: path.to_path_buf(), reason: e.to_string() }),
    };
    let stored: StoredCredentials = serde_json::from_slice(&text).map_err(|e| AgentError::BadCredentials {
        path: path.to_path_buf(),
        reason: format!("not valid credentials JSON ({e}); remove it and enrol again with --join-token"),
    })?;
    if stored.access_key_id.is_empty() || stored.secret_access_key.is_empty() {
        return Err(AgentError::BadCredentials {
            path: path.to_path_buf(),
            reason: "the access key is empty; remove it and enrol again with --join-token".into(),
        });
    }
    Ok(Some(stored))
}

/// Writes the credentials file atomically with mode 0600.
pub(crate) fn save(path: &Path, stored: &StoredCredentials) -> Result<(), AgentError> {
    let text = serde_json::to_vec_pretty(stored).map_err(|e| AgentError::Setup(e.to_string()))?;
    write_atomically(path, &text, 0o600).map_err(|e| AgentError::io(format!("cannot write {}", path.display()), e))
}

/// Whom the agent trusts over https. An enrolled host: `--ca-file`, else
/// the CA pinned at enrolment (`state/ca.pem`), else the system's roots.
/// Enrolment: `--ca-file` (which must match the join token's fingerprint,
/// if it has one), else the CA the token's fingerprint names; a token
/// without a fingerprint is refused, as nothing would tell the server from
/// an impostor.
pub(crate) fn trust(config: &AgentConfig, enrolled: bool, https: bool) -> Result<Trust, AgentError> {
    if !https {
        return Ok(Trust::System);
    }
    let given = config.ca_file.as_deref().map(Trust::from_pem_file).transpose().map_err(AgentError::Setup)?;
    if enrolled {
        if let Some(ca) = given {
            return Ok(Trust::Ca(ca));
        }
        let pinned = config.pinned_ca_file();
        if pinned.exists() {
            return Ok(Trust::Ca(Trust::from_pem_file(&pinned).map_err(AgentError::Setup)?));
        }
        return Ok(Trust::System);
    }
    let Some(token) = &config.join_token else {
        // Not enrolled and no token: `load_or_enrol` says so.
        return Ok(Trust::System);
    };
    let token = JoinToken::parse(token).map_err(AgentError::BadJoinToken)?;
    match (given, token.ca_fingerprint) {
        (Some(ca), Some(expected)) if tls::fingerprint(&ca) != expected => Err(AgentError::BadJoinToken(format!(
            "the join token's CA fingerprint sha256-{expected} is not that of --ca-file {} (sha256-{})",
            config.ca_file.as_deref().unwrap_or(Path::new("")).display(),
            tls::fingerprint(&ca)
        ))),
        (Some(ca), _) => Ok(Trust::Ca(ca)),
        (None, Some(expected)) => Ok(Trust::Fingerprint(expected)),
        (None, None) => Err(AgentError::BadJoinToken(format!(
            "the join token has no CA fingerprint, so this agent cannot tell the server at {} from an \
             impostor: use the whole token the server wrote to DATA_DIR/join-token (it ends in \
             .sha256-<fingerprint>), or pass --ca-file with the server's CA (DATA_DIR/tls/ca.pem)",
            config.server
        ))),
    }
}

/// Uses the saved credentials (`existing`, from [`load`]), or enrols with
/// the join token and saves them, with the server's CA when over https.
/// Network errors and 5xx answers are retried with backoff; a 4xx answer,
/// or a server that fails the TLS checks, is fatal and says why.
pub(crate) async fn load_or_enrol(
    config: &AgentConfig,
    client: &Client,
    existing: Option<StoredCredentials>,
) -> Result<StoredCredentials, AgentError> {
    let path = config.credentials_file();
    if let Some(stored) = existing {
        if stored.instance_name != config.name && !config.name.is_empty() {
            tracing::warn!(
                enrolled_as = %stored.instance_name,
                name = %config.name,
                "this host is already enrolled under another name; keeping the enrolled name"
            );
        }
        tracing::info!(instance = %stored.instance_name, access_key_id = %stored.access_key_id, "using saved credentials");
        return Ok(stored);
    }
    let Some(join_token) = config.join_token.as_deref() else {
        return Err(AgentError::NotEnrolled { path });
    };
    let token = JoinToken::parse(join_token).map_err(AgentError::BadJoinToken)?;
    if !client.is_https() {
        tracing::warn!(server = %config.server,
            "enrolling over plain HTTP: the join token crosses the network unencrypted and the server is not verified");
    }
    let request = EnrolRequest {
        join_token: token.secret,
        name: config.name.clone(),
        tags: config.tags.clone(),
        agent_version: AGENT_VERSION.to_string(),
        protocol_version: AGENT_PROTOCOL_VERSION,
    };
    let mut backoff = Backoff::new(config.retry_initial, config.retry_max);
    let mut failures = FailureLog::default();
    tracing::info!(server = %config.server, name = %config.name, "enrolling");
    let response = loop {
        match client.enrol(&request).await {
            Ok(response) => break response,
            Err(crate::client::RequestError::Tls(reason)) => return Err(AgentError::ServerNotTrusted { reason }),
            Err(e) if e.is_transient() => {
                if failures.changed(&e.class()) {
                    tracing::warn!(error = %e, "cannot enrol yet; retrying with backoff");
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
            Err(crate::client::RequestError::Status { status, message, code }) => {
                let message = if message.is_empty() { code } else { message };
                return Err(AgentError::EnrolRefused { status, message });
            }
            Err(e) => return Err(AgentError::Refused { what: "enrolment", status: 0, message: e.to_string() }),
        }
    };
    let stored = StoredCredentials {
        instance_name: response.instance_name,
        access_key_id: response.access_key_id,
        secret_access_key: response.secret_access_key,
        server: config.server.clone(),
    };
    if client.is_https() {
        // The CA the connection was verified against: --ca-file's, or the
        // one the join token's fingerprint found. Saved before the
        // credentials, so a host with credentials has its CA.
        let ca = match &config.ca_file {
            Some(file) => Some(Trust::from_pem_file(file).map_err(AgentError::Setup)?),
            None => client.pinned_ca(),
        };
        if let Some(ca) = ca {
            let ca_path = config.pinned_ca_file();
            write_atomically(&ca_path, tls::to_pem(&ca).as_bytes(), 0o644)
                .map_err(|e| AgentError::io(format!("cannot write {}", ca_path.display()), e))?;
            tracing::info!(path = %ca_path.display(), fingerprint = %format!("sha256-{}", tls::fingerprint(&ca)),
                "pinned the server's CA");
        }
    }
    save(&path, &stored)?;
    tracing::info!(instance = %stored.instance_name, access_key_id = %stored.access_key_id, "enrolled");
    Ok(stored)
}

/// Writes `path` via a temporary file: write, fsync, rename, fsync the directory.
pub(crate) fn write_atomically(path: &Path, content: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        // `mode` applies only when the file is created; a leftover keeps its own.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(content)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_credentials_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        assert!(load(&path).unwrap().is_none());
        let stored = StoredCredentials {
            instance_name: "web-1".into(),
            access_key_id: "AKID".into(),
            secret_access_key: "secret".into(),
            server: "http://x".into(),
        };
        save(&path, &stored).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let back = load(&path).unwrap().unwrap();
        assert_eq!((back.access_key_id.as_str(), back.secret_access_key.as_str()), ("AKID", "secret"));
        assert!(!temp_path(&path).exists());

        fs::write(&path, "garbage").unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.contains("credentials") && e.contains("--join-token"), "{e}");
    }
}
