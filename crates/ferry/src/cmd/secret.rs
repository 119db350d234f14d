//! `ferry secret`: ferry secrets, the named values builds read (project
//! variables of kind Secret, a buildspec's `parameter-store` and
//! `secrets-manager` entries) and build webhooks' shared secrets (admin only).
//!
//! A value is read from standard input or a file, never from the command
//! line: arguments are visible to every user of the host (`ps`,
//! `/proc/<pid>/cmdline`) and land in shell history. The server never
//! gives a value back; `list` shows names and times.
//!
//! `ferry secret list --json` prints `Vec<ferry_proto::secrets::SecretView>`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use ferry_proto::secrets::{PutSecret, SecretView};

use super::output::{self, Table};
use crate::client::{Client, Error, ServerArgs, encode};

/// The largest value the server keeps (64 KiB).
const MAX_VALUE: u64 = 64 << 10;

#[derive(Debug, Args)]
pub struct SecretArgs {
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(Debug, Subcommand)]
enum SecretCommand {
    /// Create or replace a secret. The value is read from standard input
    /// (one trailing newline removed) or from --from-file (taken as it
    /// is), never from an argument: arguments are visible to every user of
    /// the host (ps, /proc) and stay in shell history.
    Put {
        /// Letters, digits and /_+=.@- (a Parameter Store path such as /prod/db/password works).
        name: String,
        /// Read the value from FILE (all of it, as it is) instead of standard input.
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// What the secret is for.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List secrets: names, descriptions and times (never values).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a secret.
    Delete {
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: SecretArgs) -> ExitCode {
    output::finish(match args.command {
        SecretCommand::Put { name, from_file, description, server } => put(&name, from_file, description, &server),
        SecretCommand::List { json, server } => list(json, &server),
        SecretCommand::Delete { name, server } => {
            Client::connect(&server).and_then(|c| c.delete::<serde_json::Value>(&path(&name))).map(|_| {
                output::say!("deleted secret {name}");
                ExitCode::SUCCESS
            })
        }
    })
}

/// The secret's URL path: the name is one percent-encoded segment (`/` as `%2F`).
pub(crate) fn path(name: &str) -> String {
    format!("/api/v1/secrets/{}", encode(name))
}

/// Reads a value: all of `file`, or standard input without its one trailing newline.
pub(crate) fn read_value(file: Option<&PathBuf>) -> Result<String, Error> {
    let mut bytes = Vec::new();
    let what = match file {
        Some(file) => {
            let f =
                std::fs::File::open(file).map_err(|e| Error::Setup(format!("cannot read {}: {e}", file.display())))?;
            f.take(MAX_VALUE + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Setup(format!("cannot read {}: {e}", file.display())))?;
            file.display().to_string()
        }
        None => {
            std::io::stdin()
                .take(MAX_VALUE + 2)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Setup(format!("cannot read the value from standard input: {e}")))?;
            if bytes.ends_with(b"\n") {
                bytes.pop();
                if bytes.ends_with(b"\r") {
                    bytes.pop();
                }
            }
            "standard input".to_string()
        }
    };
    if bytes.len() as u64 > MAX_VALUE {
        return Err(Error::Setup(format!("the value in {what} is longer than {MAX_VALUE} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| Error::Setup(format!("the value in {what} is not UTF-8 text")))
}

fn put(name: &str, from_file: Option<PathBuf>, description: String, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let value = read_value(from_file.as_ref())?;
    if value.is_empty() {
        return Err(Error::Setup("the value is empty (give it on standard input or with --from-file)".into()));
    }
    let stored: SecretView = client.put(&path(name), &PutSecret { value, description })?;
    output::say!("stored secret {}", stored.name);
    Ok(ExitCode::SUCCESS)
}

fn list(json: bool, server: &ServerArgs) -> Result<ExitCode, Error> {
    let client = Client::connect(server)?;
    let secrets: Vec<SecretView> = client.get("/api/v1/secrets", "")?;
    if json {
        output::print_json(&secrets)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["NAME", "CREATED", "UPDATED", "DESCRIPTION"]);
    for s in &secrets {
        t.row(vec![s.name.clone(), output::utc(s.create_time), output::utc(s.update_time), s.description.clone()]);
    }
    t.print();
    Ok(ExitCode::SUCCESS)
}
