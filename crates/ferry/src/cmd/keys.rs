//! `ferry keys`: access keys for the native API and the AWS API (admin only).
//!
//! `ferry keys list --json` prints `Vec<ferry_proto::api::KeyView>`;
//! `ferry keys create --json` prints `ferry_proto::api::CreatedKey`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::api;

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an access key; its secret is shown (or written) once.
    Create {
        /// admin, deployer (may deploy, not manage keys) or read-only.
        #[arg(long, default_value = "deployer", value_parser = ["admin", "deployer", "read-only"])]
        role: String,
        /// What the key is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Deployer keys: limit the key to an application (APP) or a
        /// deployment group (APP/GROUP) (repeatable) [default: all].
        #[arg(long = "scope", value_name = "APP[/GROUP]")]
        scopes: Vec<String>,
        /// Write the key to FILE (AWS credentials-file format, profile
        /// `default`, mode 0600) instead of printing the secret.
        #[arg(long, value_name = "FILE")]
        write: Option<PathBuf>,
        /// Print the API's JSON (with the secret).
        #[arg(long, conflicts_with = "write")]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List access keys (never their secrets).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable an access key: requests signed with it are refused from now on.
    #[command(alias = "revoke")]
    Disable {
        /// The access key id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Enable a disabled access key again.
    Enable {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete an access key for good.
    Delete {
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: KeysArgs) -> ExitCode {
    output::finish(match args.command {
        KeysCommand::Create { role, description, scopes, write, json, server } => {
            create(api::CreateKey { role, description, scopes }, write, json, &server)
        }
        KeysCommand::List { json, server } => list(json, &server),
        KeysCommand::Disable { id, server } => change(&id, "disable", "disabled", &server),
        KeysCommand::Enable { id, server } => change(&id, "enable", "enabled", &server),
        KeysCommand::Delete { id, server } => Client::connect(&server)
            .and_then(|c| c.delete::<serde_json::Value>(&format!("/api/v1/keys/{}", encode(&id))))
            .map(|_| {
                output::say!("deleted key {id}");
                ExitCode::SUCCESS
            }),
    })
}

fn create(request: api::CreateKey, write: Option<PathBuf>, json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let key: api::CreatedKey = client.post("/api/v1/keys", &request)?;
    if json {
        output::print_json(&key)?;
        return Ok(ExitCode::SUCCESS);
    }
    let file = format!(
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        key.access_key_id, key.secret_access_key
    );
    match write {
        Some(path) => {
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::Setup(format!("cannot create {}: {e}", path.display())))?;
            out.write_all(file.as_bytes())
                .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
            output::say!("created {} key {}; credentials written to {}", key.role, key.access_key_id, path.display());
        }
        None => {
            eprintln!("created {} key {} (the secret is not shown again):", key.role, key.access_key_id);
            print!("{file}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let keys: Vec<api::KeyView> = client.get("/api/v1/keys", "")?;
    if json {
        output::print_json(&keys)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["ACCESS KEY ID", "ROLE", "SCOPE", "STATE", "CREATED", "DESCRIPTION"]);
    for k in &keys {
        let state = if k.disabled { "disabled" } else { "active" };
        let description = match &k.instance {
            Some(instance) if k.description.is_empty() => format!("agent of {instance}"),
            _ => k.description.clone(),
        };
        let scope = if k.scopes.is_empty() { "-".to_string() } else { k.scopes.join(",") };
        t.row(vec![
            k.access_key_id.clone(),
            k.role.clone(),
            scope,
            state.into(),
            output::utc(k.create_time),
            description,
        ]);
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}

fn change(id: &str, verb: &str, done: &str, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let key: api::KeyView = client.post(&format!("/api/v1/keys/{}/{verb}", encode(id)), &serde_json::json!({}))?;
    output::say!("{done} {} key {}", key.role, key.access_key_id);
    Ok(ExitCode::SUCCESS)
}
