//! `ferry push`: bundle a directory, check its appspec, and upload it as a
//! revision. The revision id goes to stdout alone (for scripts); the rest to stderr.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use ferry_bundle::BundleType;
use ferry_proto::api;
use ferry_sigv4::hex;
use sha2::{Digest, Sha256};

use super::app::app_path;
use super::output;
use crate::client::{Client, Error, ServerArgs, query};

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The application to add the revision to.
    app: String,
    /// The revision's directory; appspec.yml (or appspec.yaml) must be at its root.
    dir: PathBuf,
    /// The bundle format.
    #[arg(long = "type", value_enum, value_name = "TYPE", default_value = "zip")]
    bundle_type: PushType,
    /// A description kept with the revision.
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PushType {
    Zip,
    Tgz,
    Tar,
}

impl PushType {
    fn bundle_type(self) -> BundleType {
        match self {
            Self::Zip => BundleType::Zip,
            Self::Tgz => BundleType::Tgz,
            Self::Tar => BundleType::Tar,
        }
    }
}

pub fn run(args: PushArgs) -> ExitCode {
    output::finish(push(args))
}

fn push(args: PushArgs) -> Result<ExitCode, Error> {
    let checked = precheck(&args.dir)?;
    for warning in &checked.warnings {
        eprintln!("warning: {warning}");
    }
    let client = Client::connect(&args.server)?;
    let kind = args.bundle_type.bundle_type();
    let bundle = tempfile::Builder::new()
        .prefix("ferry-push-")
        .suffix(&format!(".{}", kind.as_str()))
        .tempfile()
        .map_err(|e| Error::Other(format!("cannot create a temporary file: {e}")))?;
    let stats = ferry_bundle::pack(&args.dir, kind, bundle.path())
        .map_err(|e| Error::Setup(format!("cannot bundle {}: {e}", args.dir.display())))?;
    let (sha256, len) = hash_file(bundle.path())?;
    eprintln!(
        "bundled {} ({}): {} files, {} of content, {} {} archive, sha256 {sha256}",
        args.dir.display(),
        checked.appspec,
        stats.files,
        bytes(stats.bytes),
        bytes(len),
        kind.as_str(),
    );
    let q = query(&[("bundle_type", Some(kind.as_str())), ("description", args.description.as_deref())]);
    let revision: api::Revision =
        client.upload(&format!("{}/revisions", app_path(&args.app)), &q, bundle.path(), &sha256, len)?;
    eprintln!(
        "pushed revision {} of {} ({}, sha256 {})",
        revision.id,
        revision.application_name,
        bytes(revision.size),
        revision.sha256
    );
    println!("{}", revision.id);
    Ok(ExitCode::SUCCESS)
}

/// What the local check of a revision directory found.
#[derive(Debug)]
struct Checked {
    /// `appspec.yml` or `appspec.yaml`.
    appspec: &'static str,
    /// Things that will likely fail the deployment but do not stop the push.
    warnings: Vec<String>,
}

/// Checks `dir` before anything is uploaded: a directory with an appspec at
/// its root (as the agent looks for it: appspec.yml, then appspec.yaml) that
/// parses as a Server appspec (with the rules the server and `ferry local`
/// apply: a hook on an event that is not a lifecycle event is an error).
/// Hook scripts and `files` sources missing from the directory are warnings.
fn precheck(dir: &Path) -> Result<Checked, Error> {
    let meta = std::fs::metadata(dir).map_err(|e| Error::Setup(format!("cannot read {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Error::Setup(format!(
            "{} is not a directory (ferry push bundles a revision directory)",
            dir.display()
        )));
    }
    let appspec =
        ["appspec.yml", "appspec.yaml"].into_iter().find(|name| dir.join(name).is_file()).ok_or_else(|| {
            Error::Setup(format!(
                "{} has no appspec.yml (or appspec.yaml) at its root: CodeDeploy-style revisions need one; \
             see `ferry local` to try an appspec on this machine",
                dir.display()
            ))
        })?;
    let path = dir.join(appspec);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if size > ferry_appspec::MAX_APPSPEC_BYTES as u64 {
        return Err(Error::Setup(format!(
            "{} is {size} bytes, more than the {} an appspec may have",
            path.display(),
            ferry_appspec::MAX_APPSPEC_BYTES
        )));
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| Error::Setup(format!("cannot read {}: {e}", path.display())))?;
    let spec = ferry_appspec::parse_server(appspec, &text)
        .map_err(|e| Error::Setup(format!("invalid appspec in {}: {e}", dir.display())))?;

    let mut warnings = Vec::new();
    for (event, scripts) in &spec.hooks {
        for script in scripts {
            let location = script.location.trim_start_matches('/');
            if !dir.join(location).is_file() {
                warnings.push(format!(
                    "{appspec}: hooks.{event} script {} is not a file in {} (the event would fail with ScriptMissing)",
                    script.location,
                    dir.display()
                ));
            }
        }
    }
    for mapping in &spec.files {
        let source = mapping.source.trim_start_matches('/');
        if !source.is_empty() && !dir.join(source).exists() {
            warnings.push(format!("{appspec}: files source {} does not exist in {}", mapping.source, dir.display()));
        }
    }
    Ok(Checked { appspec, warnings })
}

/// The file's SHA-256 (lowercase hex) and length, read in chunks.
pub(crate) fn hash_file(path: &Path) -> Result<(String, u64), Error> {
    let err = |e: std::io::Error| Error::Other(format!("cannot read {}: {e}", path.display()));
    let mut file = File::open(path).map_err(err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.finalize()), len))
}

/// `512 B`, `12.3 KiB`, `4.5 MiB`, `1.2 GiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    const APPSPEC: &str = "version: 0.0\nos: linux\nfiles:\n  - source: /app\n    destination: /srv/app\nhooks:\n  ApplicationStart:\n    - location: scripts/start.sh\n      timeout: 30\n";

    fn message(e: Error) -> String {
        assert_eq!(e.exit_code(), 2, "local problems are setup errors");
        e.to_string()
    }

    #[test]
    fn refuses_a_directory_without_an_appspec() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("index.html"), "hi").unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/appspec.yml"), APPSPEC).unwrap();
        let e = message(precheck(dir.path()).unwrap_err());
        assert!(e.contains("has no appspec.yml (or appspec.yaml) at its root"), "{e}");
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
    }

    #[test]
    fn refuses_a_missing_dir_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = message(precheck(&dir.path().join("nope")).unwrap_err());
        assert!(e.starts_with("cannot read "), "{e}");
        fs::write(dir.path().join("f"), "x").unwrap();
        let e = message(precheck(&dir.path().join("f")).unwrap_err());
        assert!(e.contains("is not a directory"), "{e}");
    }

    #[test]
    fn refuses_an_invalid_appspec_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("appspec.yml"),
            "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: soon\n",
        )
        .unwrap();
        let e = message(precheck(dir.path()).unwrap_err());
        assert!(e.starts_with("invalid appspec in "), "{e}");
        assert!(e.contains("appspec.yml: hooks.BeforeInstall[0].timeout"), "{e}");
    }

    #[test]
    fn accepts_a_good_revision_and_warns_about_missing_scripts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("appspec.yaml"), APPSPEC).unwrap();
        fs::create_dir(dir.path().join("app")).unwrap();
        let checked = precheck(dir.path()).unwrap();
        assert_eq!(checked.appspec, "appspec.yaml");
        assert_eq!(checked.warnings.len(), 1, "{:?}", checked.warnings);
        assert!(checked.warnings[0].contains("hooks.ApplicationStart script scripts/start.sh is not a file"));

        fs::create_dir(dir.path().join("scripts")).unwrap();
        fs::write(dir.path().join("scripts/start.sh"), "#!/bin/sh\n").unwrap();
        fs::remove_dir(dir.path().join("app")).unwrap();
        let checked = precheck(dir.path()).unwrap();
        assert_eq!(
            checked.warnings,
            vec![format!("appspec.yaml: files source /app does not exist in {}", dir.path().display())]
        );
    }

    #[test]
    fn refuses_hooks_on_events_that_never_run() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("appspec.yml"),
            "version: 0.0\nos: linux\nhooks:\n  AfterInstal:\n    - location: a.sh\n",
        )
        .unwrap();
        fs::write(dir.path().join("a.sh"), "").unwrap();
        let Err(Error::Setup(message)) = precheck(dir.path()) else { panic!("a hook typo must be refused") };
        assert!(message.contains("hooks.AfterInstal") && message.contains("did you mean `AfterInstall`?"), "{message}");
    }

    #[test]
    fn hashes_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "abc").unwrap();
        assert_eq!(
            hash_file(&path).unwrap(),
            ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".to_string(), 3)
        );
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 20), "5.0 MiB");
    }
}
