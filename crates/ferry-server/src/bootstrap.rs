//! First-start secrets: the admin access key (also written to
//! `<data_dir>/credentials` in the AWS credentials-file format, profile
//! `default`) and the join token agents enrol with (`<data_dir>/join-token`:
//! the secret, then `.sha256-<hex>` of the TLS CA when TLS is on).
//! Both files are mode 0600, as is `<data_dir>/webhook-secret`, the key
//! trigger webhooks are signed with. Flags or environment variables may
//! supply them instead.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ferry_core::resources::{AccessKey, Role};
use ferry_proto::agent::JoinToken;
use ferry_store::Store;
use sha2::{Digest, Sha256};

use crate::ServerConfig;

/// An access key pair given on the command line or in the environment.
#[derive(Clone)]
pub struct AdminCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

const BOOTSTRAP_KEY_SETTING: &str = "bootstrap_admin_key_id";

/// Makes sure an admin key and a join token exist; returns the hash of the
/// join token's secret. `ca_fingerprint` (hex SHA-256 of the TLS CA's DER,
/// `None` for plain HTTP) is appended to the token in `<data_dir>/join-token`
/// as `.sha256-<hex>`; the file is rewritten when it changes.
pub async fn ensure_secrets(
    config: &ServerConfig,
    store: &Store,
    ca_fingerprint: Option<&str>,
) -> Result<String, String> {
    let credentials_path = config.data_dir.join("credentials");
    let admin = match &config.admin {
        Some(admin) => admin.clone(),
        None => match store.get_setting(BOOTSTRAP_KEY_SETTING).await.map_err(|e| e.to_string())? {
            Some(id) => {
                let key = store.get_access_key(&id).await.map_err(|e| format!("bootstrap admin key {id}: {e}"))?;
                AdminCredentials { access_key_id: key.id, secret_access_key: key.secret }
            }
            None => AdminCredentials {
                access_key_id: crate::random::access_key_id("FKIA"),
                secret_access_key: crate::random::secret_key(),
            },
        },
    };
    let existing = store.get_access_key(&admin.access_key_id).await.ok();
    if existing.as_ref().is_none_or(|k| k.secret != admin.secret_access_key || k.role != Role::Admin) {
        store
            .put_access_key(&AccessKey {
                id: admin.access_key_id.clone(),
                secret: admin.secret_access_key.clone(),
                role: Role::Admin,
                instance: None,
                description: "admin key created at first start".into(),
                create_time: crate::driver::now_millis(),
                disabled: false,
                scopes: Vec::new(),
            })
            .await
            .map_err(|e| format!("cannot store the admin key: {e}"))?;
    }
    if config.admin.is_none() {
        store
            .put_setting(BOOTSTRAP_KEY_SETTING, &admin.access_key_id)
            .await
            .map_err(|e| format!("cannot record the admin key: {e}"))?;
        if !credentials_path.exists() {
            write_credentials_file(&credentials_path, &admin)?;
            tracing::info!(path = %credentials_path.display(), "wrote the admin credentials");
        }
    }

    let token_path = config.data_dir.join("join-token");
    let fingerprint = ca_fingerprint.map(str::to_string);
    let secret = match &config.join_token {
        Some(token) => {
            let given = JoinToken::parse(token).map_err(|e| format!("--join-token: {e}"))?;
            if given.ca_fingerprint.is_some() && given.ca_fingerprint != fingerprint {
                tracing::warn!(
                    "the configured join token carries a CA fingerprint that is not this server's: \
                    agents given it will refuse this server; the server checks only its secret"
                );
            }
            given.secret
        }
        None => {
            let stored = match std::fs::read_to_string(&token_path) {
                Ok(text) => Some(text.trim().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(format!("cannot read {}: {e}", token_path.display())),
            };
            let secret = match &stored {
                Some(text) => JoinToken::parse(text).map_err(|e| format!("{}: {e}", token_path.display()))?.secret,
                None => format!("ferry-join-{}", crate::random::string(40, crate::random::UPPER_ALNUM)),
            };
            // The file always holds the token for the server as it runs now
            // (the fingerprint follows the CA; plain HTTP has none).
            let full = JoinToken { secret: secret.clone(), ca_fingerprint: fingerprint.clone() }.render();
            if stored.as_deref() != Some(full.as_str()) {
                write_private(&token_path, format!("{full}\n").as_bytes())?;
                tracing::info!(path = %token_path.display(), "wrote the join token");
            }
            secret
        }
    };
    if secret.len() < 16 {
        return Err("the join token must be at least 16 characters".into());
    }
    if let Some(hex) = &fingerprint {
        tracing::info!(ca_fingerprint = %format!("sha256-{hex}"),
            "agents enrol with the join token followed by .sha256-<this fingerprint> (as in DATA_DIR/join-token)");
    }
    Ok(hash_token(&secret))
}

/// The key trigger webhooks are signed with: the configured one, else
/// `<data_dir>/webhook-secret` (created on first start, mode 0600).
pub fn webhook_secret(config: &ServerConfig) -> Result<Vec<u8>, String> {
    if let Some(secret) = &config.webhook_secret {
        if secret.len() < 16 {
            return Err("the webhook secret must be at least 16 characters".into());
        }
        return Ok(secret.clone().into_bytes());
    }
    let path = config.data_dir.join("webhook-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string().into_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = crate::random::string(48, crate::random::UPPER_ALNUM);
            write_private(&path, format!("{secret}\n").as_bytes())?;
            tracing::info!(path = %path.display(), "wrote the webhook signing secret");
            Ok(secret.into_bytes())
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The bearer token `/metrics` accepts: `<data_dir>/metrics-token`
/// (created on first start, mode 0600).
pub fn metrics_token(config: &ServerConfig) -> Result<String, String> {
    let path = config.data_dir.join("metrics-token");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = crate::random::string(40, crate::random::UPPER_ALNUM);
            write_private(&path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

pub fn hash_token(token: &str) -> String {
    ferry_blob::hex(&Sha256::digest(token.as_bytes()))
}

/// Writes an AWS credentials file (profile `default`) readable only by its owner.
pub fn write_credentials_file(path: &Path, admin: &AdminCredentials) -> Result<(), String> {
    let text = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        admin.access_key_id, admin.secret_access_key
    );
    write_private(path, text.as_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(bytes).and_then(|_| file.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
