//! First-start secrets: the admin access key (also written to
//! `<data_dir>/credentials` in the AWS credentials-file format, profile
//! `default`) and the join token agents enrol with (`<data_dir>/join-token`:
//! the secret, then `.sha256-<hex>` of the TLS CA when TLS is on).
//! Both files are mode 0600, as is `<data_dir>/webhook-secret`, the key
//! trigger webhooks are signed with. Flags or environment variables may
//! supply them instead.
//!
//! Before any of that: the data directory is made private ([`prepare_data_dir`]:
//! created 0700, an existing one refused if other users can reach it) and
//! the store is given its secrets key ([`unlock_secrets`]: access keys'
//! secrets are sealed in the database with `<data_dir>/secret.key` or
//! `--secrets-key-file`, kept apart from the database).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ferry_core::resources::{AccessKey, Role};
use ferry_proto::agent::JoinToken;
use ferry_store::{SecretsKey, Store};
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

/// Permission bits that let users other than the owner in.
const OPEN_BITS: u32 = 0o077;

/// Creates the data directory (mode 0700, whatever the umask), or refuses an
/// existing one that other users can reach (the directory itself, any entry
/// in it, or in its `tls/`) unless `allow_open`; then creates the database
/// file 0600 if it is missing, because SQLite gives its `-wal` and `-shm`
/// files the database file's mode.
pub fn prepare_data_dir(dir: &Path, allow_open: bool) -> Result<(), String> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => return Err(format!("data dir {} is not a directory", dir.display())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create data dir {}: {e}", dir.display()))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("cannot make data dir {} private: {e}", dir.display()))?;
        }
        Err(e) => return Err(format!("cannot read data dir {}: {e}", dir.display())),
    }
    let open = open_entries(dir)?;
    if !open.is_empty() {
        let list: Vec<String> =
            open.iter().take(5).map(|(path, mode)| format!("{} (mode {mode:04o})", path.display())).collect();
        let more = if open.len() > 5 { format!(" and {} more", open.len() - 5) } else { String::new() };
        if !allow_open {
            return Err(format!(
                "data dir {dir} is open to other users: {list}{more}. It holds the state database, access keys \
                 and TLS keys. Make it private with `chmod -R go-rwx {dir}`, or start with --allow-open-data-dir \
                 to accept this",
                dir = dir.display(),
                list = list.join(", "),
            ));
        }
        tracing::warn!(open = %format!("{}{more}", list.join(", ")),
            "--allow-open-data-dir: the data directory is open to other users");
    }
    let database = dir.join("ferry.db");
    if !database.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&database)
            .map_err(|e| format!("cannot create {}: {e}", database.display()))?;
    }
    Ok(())
}

/// The data directory, its entries and those of its `tls/` that have group
/// or other permission bits (symbolic links, whose own mode means nothing,
/// are skipped). Deeper trees (blobs, the git cache) are reached only
/// through these directories, so they are private when these are.
fn open_entries(dir: &Path) -> Result<Vec<(PathBuf, u32)>, String> {
    let mode_of = |path: &Path| -> Result<Option<u32>, String> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok((!meta.file_type().is_symlink()).then_some(meta.permissions().mode() & 0o7777))
    };
    let mut open = Vec::new();
    let mut check = |path: PathBuf| -> Result<(), String> {
        if let Some(mode) = mode_of(&path)?
            && mode & OPEN_BITS != 0
        {
            open.push((path, mode));
        }
        Ok(())
    };
    check(dir.to_path_buf())?;
    for parent in [dir.to_path_buf(), dir.join("tls")] {
        let entries = match std::fs::read_dir(&parent) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && parent != dir => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", parent.display())),
        };
        for entry in entries {
            check(entry.map_err(|e| format!("cannot read {}: {e}", parent.display()))?.path())?;
        }
    }
    Ok(open)
}

/// Gives the store the key access keys' secrets are sealed with:
/// `--secrets-key-file`, else `<data_dir>/secret.key`, created (0600) on
/// first start. A database whose secrets are sealed is never given a new
/// key: a missing key file is an error naming it. Secrets still stored in
/// plain text (by an earlier ferry) are sealed now.
pub async fn unlock_secrets(config: &ServerConfig, store: Store) -> Result<Store, String> {
    let path = config.secrets_key_file.clone().unwrap_or_else(|| config.data_dir.join("secret.key"));
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o7777).unwrap_or(0);
            if mode & OPEN_BITS != 0 {
                if !config.allow_open_data_dir {
                    return Err(format!(
                        "the secrets key {path} (mode {mode:04o}) is open to other users: `chmod 600 {path}`, \
                         or start with --allow-open-data-dir to accept this",
                        path = path.display()
                    ));
                }
                tracing::warn!(path = %path.display(), "--allow-open-data-dir: the secrets key is open to other users");
            }
            SecretsKey::parse(&text).map_err(|e| format!("the secrets key {}: {e}", path.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if store.has_sealed_secrets().await.map_err(|e| format!("cannot read the state database: {e}"))? {
                return Err(format!(
                    "the access keys in {} are sealed with a secrets key, but the key file {} does not exist: \
                     restore it from your backup (or name it with --secrets-key-file); without it no stored \
                     secret can be read",
                    config.data_dir.join("ferry.db").display(),
                    path.display()
                ));
            }
            let (key, text) = SecretsKey::generate().map_err(|e| e.to_string())?;
            write_private(&path, format!("{text}\n").as_bytes())?;
            tracing::info!(path = %path.display(),
                "wrote the secrets key that seals access keys in the database: back it up, apart from the database");
            key
        }
        Err(e) => return Err(format!("cannot read the secrets key {}: {e}", path.display())),
    };
    let store = store.with_secrets_key(key);
    let sealed = store.seal_stored_secrets().await.map_err(|e| match e {
        ferry_store::StoreError::Backend(message) => format!("the secrets key {}: {message}", path.display()),
        e => format!("the secrets key {}: {e}", path.display()),
    })?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed access key secrets that an earlier ferry stored in plain text");
    }
    Ok(store)
}

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
                create_time: crate::clock::now_millis(),
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
    ferry_sigv4::hex(&Sha256::digest(token.as_bytes()))
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
