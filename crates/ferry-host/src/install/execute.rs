//! Step 3: writing `install.json` and running the instructions.

use std::collections::HashMap;
use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::unistd::{Group, User};

use super::cleanup::CleanupWriter;
use super::paths::{check_recordable, find_tool};
use super::{InstallError, InstallJson, InstallRecords, Instruction, SeContext};

/// Writes `records.install_json`, then runs `instructions` in order,
/// appending to `records.cleanup_file` each copy destination (before the copy)
/// and each created directory (after creating it). Owners, groups and the
/// external tools the instructions need are all checked first, so a missing
/// one fails the install before anything is written.
pub fn execute(instructions: &[Instruction], records: &InstallRecords) -> Result<(), InstallError> {
    let context = Preflight::check(instructions)?;
    write_install_json(instructions, &records.install_json)?;
    let mut cleanup = CleanupWriter::open(&records.cleanup_file)?;
    for instruction in instructions {
        run(instruction, &context, &mut cleanup)?;
    }
    Ok(())
}

/// What the instructions need from the host, resolved up front.
#[derive(Default)]
struct Preflight {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
    setfacl: Option<PathBuf>,
    semanage: Option<PathBuf>,
    restorecon: Option<PathBuf>,
}

impl Preflight {
    fn check(instructions: &[Instruction]) -> Result<Self, InstallError> {
        let mut found = Self::default();
        let tool = |name: &'static str, key: &'static str, file: &Path| {
            find_tool(name).ok_or_else(|| InstallError::MissingTool { tool: name, key, path: file.to_path_buf() })
        };
        for instruction in instructions {
            match instruction {
                Instruction::Copy { source, destination } => {
                    check_recordable(source)?;
                    check_recordable(destination)?;
                }
                Instruction::Mkdir { directory } => check_recordable(directory)?,
                Instruction::Chmod { file, mode } => {
                    parse_mode(mode, file)?;
                }
                Instruction::Chown { file, owner, group } => {
                    if let Some(owner) = owner
                        && !found.users.contains_key(owner)
                    {
                        let uid =
                            lookup(User::from_name(owner).map(|u| u.map(|u| u.uid.as_raw())), "user", owner, file)?;
                        found.users.insert(owner.clone(), uid);
                    }
                    if let Some(group) = group
                        && !found.groups.contains_key(group)
                    {
                        let gid =
                            lookup(Group::from_name(group).map(|g| g.map(|g| g.gid.as_raw())), "group", group, file)?;
                        found.groups.insert(group.clone(), gid);
                    }
                }
                Instruction::Setfacl { file, .. } if found.setfacl.is_none() => {
                    found.setfacl = Some(tool("setfacl", "acls", file)?);
                }
                Instruction::Semanage { file, .. } if found.semanage.is_none() => {
                    found.semanage = Some(tool("semanage", "context", file)?);
                    found.restorecon = Some(tool("restorecon", "context", file)?);
                }
                Instruction::Setfacl { .. } | Instruction::Semanage { .. } => {}
            }
        }
        Ok(found)
    }
}

fn lookup(found: nix::Result<Option<u32>>, kind: &str, name: &str, file: &Path) -> Result<u32, InstallError> {
    match found {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(InstallError::Invalid(format!(
            "The deployment failed because the {kind} {name}, named as the {} of {} in the permissions section of the AppSpec file, does not exist on this host",
            if kind == "user" { "owner" } else { "group" },
            file.display()
        ))),
        Err(e) => Err(InstallError::io(format!("cannot look up the {kind} {name}"), e.into())),
    }
}

fn parse_mode(mode: &str, file: &Path) -> Result<u32, InstallError> {
    u32::from_str_radix(mode, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
        InstallError::Invalid(format!("invalid mode {mode:?} for {}: expected up to 4 octal digits", file.display()))
    })
}

fn write_install_json(instructions: &[Instruction], path: &Path) -> Result<(), InstallError> {
    let json = serde_json::to_vec(&InstallJson { instructions: instructions.to_vec() })
        .map_err(|e| InstallError::Invalid(format!("cannot encode {}: {e}", path.display())))?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| InstallError::io(format!("cannot create the directory {}", parent.display()), e))?;
    }
    fs::write(path, json).map_err(|e| InstallError::io(format!("cannot write {}", path.display()), e))
}

fn run(instruction: &Instruction, found: &Preflight, cleanup: &mut CleanupWriter) -> Result<(), InstallError> {
    match instruction {
        Instruction::Copy { source, destination } => {
            cleanup.record(destination)?;
            copy(source, destination)
        }
        Instruction::Mkdir { directory } => {
            fs::create_dir(directory).map_err(|e| {
                InstallError::io(
                    format!("The deployment failed because the directory {} cannot be created", directory.display()),
                    e,
                )
            })?;
            cleanup.record(directory)
        }
        Instruction::Chmod { file, mode } => {
            not_a_symlink(file, "chmod")?;
            let mode = parse_mode(mode, file)?;
            fs::set_permissions(file, fs::Permissions::from_mode(mode))
                .map_err(|e| InstallError::io(format!("cannot chmod {mode:o} {}", file.display()), e))
        }
        Instruction::Chown { file, owner, group } => {
            let uid = owner.as_ref().map(|o| found.users[o]);
            let gid = group.as_ref().map(|g| found.groups[g]);
            let fail = |e: io::Error| {
                InstallError::io(
                    format!(
                        "cannot change the owner of {} to {}:{}",
                        file.display(),
                        owner.as_deref().unwrap_or(""),
                        group.as_deref().unwrap_or("")
                    ),
                    e,
                )
            };
            let before = fs::symlink_metadata(file).map_err(fail)?;
            // lchown: a symlink itself, never its target.
            std::os::unix::fs::lchown(file, uid, gid).map_err(fail)?;
            // chown clears the set-id bits, even for root; the chmod before it
            // (the appspec's `mode`, or the revision's) asked for them, so put
            // them back (CodeDeploy loses them).
            let mode = before.mode() & 0o7777;
            if !before.file_type().is_symlink() && mode & 0o6000 != 0 {
                fs::set_permissions(file, fs::Permissions::from_mode(mode)).map_err(fail)?;
            }
            Ok(())
        }
        Instruction::Setfacl { file, acl } => {
            not_a_symlink(file, "setfacl")?;
            let setfacl = found.setfacl.as_ref().expect("checked by Preflight");
            let acl = acl.join(",");
            run_tool(Command::new(setfacl).arg("-m").arg(&acl).arg(file), "acls", file)
        }
        Instruction::Semanage { file, context } => {
            not_a_symlink(file, "semanage")?;
            let semanage = found.semanage.as_ref().expect("checked by Preflight");
            let restorecon = found.restorecon.as_ref().expect("checked by Preflight");
            let real = fs::canonicalize(file)
                .map_err(|e| InstallError::io(format!("cannot resolve {}", file.display()), e))?;
            check_recordable(&real)?;
            run_tool(Command::new(semanage).args(semanage_args(context)).arg(&real), "context", file)?;
            run_tool(Command::new(restorecon).arg("-v").arg(&real), "context", file)?;
            cleanup.record_context(&real)
        }
    }
}

fn semanage_args(context: &SeContext) -> Vec<String> {
    let mut args = vec!["fcontext".to_owned(), "-a".to_owned()];
    if let Some(user) = &context.user {
        args.extend(["-s".to_owned(), user.clone()]);
    }
    args.extend(["-t".to_owned(), context.type_.clone()]);
    if let Some(range) = &context.range {
        args.extend(["-r".to_owned(), range.clone()]);
    }
    args
}

/// Runs an external tool, failing with its command line and stderr.
fn run_tool(command: &mut Command, key: &str, file: &Path) -> Result<(), InstallError> {
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let output =
        command.stdin(Stdio::null()).output().map_err(|e| InstallError::io(format!("cannot run {line}"), e))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(InstallError::Invalid(format!(
        "The deployment failed because of a problem with the {key} permission settings in the AppSpec file for {}. Failed command: {line} ({}){}{}",
        file.display(),
        output.status,
        if stderr.trim().is_empty() { "" } else { ": " },
        stderr.trim()
    )))
}

/// Permission instructions are generated only for regular files and
/// directories; a symlink there now means the path was swapped meanwhile.
fn not_a_symlink(file: &Path, what: &str) -> Result<(), InstallError> {
    match fs::symlink_metadata(file) {
        Ok(meta) if meta.file_type().is_symlink() => Err(InstallError::Invalid(format!(
            "refusing to {what} {}: it is a symbolic link, and ferry does not change permissions through links",
            file.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(InstallError::io(format!("cannot {what} {}", file.display()), e)),
    }
}

/// Copies a regular file (contents, mode, owner when permitted, times) or
/// recreates a symlink, atomically replacing whatever file or symlink is at
/// `destination`.
fn copy(source: &Path, destination: &Path) -> Result<(), InstallError> {
    let fail =
        |e: io::Error| InstallError::io(format!("cannot copy {} to {}", source.display(), destination.display()), e);
    let meta = fs::symlink_metadata(source).map_err(fail)?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(source).map_err(fail)?;
        let temp = with_temp(destination, |temp| std::os::unix::fs::symlink(&target, temp)).map_err(fail)?;
        rename_or_remove(&temp, destination).map_err(fail)
    } else if meta.is_file() {
        copy_file(source, &meta, destination).map_err(fail)
    } else {
        Err(fail(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file or a symbolic link")))
    }
}

fn copy_file(source: &Path, meta: &Metadata, destination: &Path) -> io::Result<()> {
    let mut input = File::open(source)?;
    let mut output = None;
    let temp = with_temp(destination, |temp| {
        output = Some(OpenOptions::new().write(true).create_new(true).mode(0o600).open(temp)?);
        Ok(())
    })?;
    let mut output = output.expect("set by with_temp");
    let filled = (|| {
        io::copy(&mut input, &mut output)?;
        // Owner first: chown clears the set-id bits. Unprivileged, a
        // foreign owner cannot be kept; then neither can the set-id bits
        // (as FileUtils' preserve).
        let mut mode = meta.mode() & 0o7777;
        if let Err(e) = std::os::unix::fs::fchown(&output, Some(meta.uid()), Some(meta.gid())) {
            if e.kind() != io::ErrorKind::PermissionDenied {
                return Err(e);
            }
            mode &= 0o1777;
        }
        output.set_permissions(fs::Permissions::from_mode(mode))?;
        output.set_times(FileTimes::new().set_accessed(meta.accessed()?).set_modified(meta.modified()?))?;
        Ok(())
    })();
    drop(output);
    match filled {
        Ok(()) => rename_or_remove(&temp, destination),
        Err(e) => {
            let _ = fs::remove_file(&temp);
            Err(e)
        }
    }
}

fn rename_or_remove(temp: &Path, destination: &Path) -> io::Result<()> {
    fs::rename(temp, destination).inspect_err(|_| {
        let _ = fs::remove_file(temp);
    })
}

/// Creates something at a fresh temporary path next to `destination` with
/// `create` (which must fail with `AlreadyExists` if the path is taken), and
/// returns that path.
fn with_temp(destination: &Path, mut create: impl FnMut(&Path) -> io::Result<()>) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = destination.parent().unwrap_or(Path::new("/"));
    let name = destination.file_name().map(|n| n.as_bytes()).unwrap_or(b"file");
    // Keep the temporary name within NAME_MAX (255 bytes).
    let name = &name[..name.len().min(200)];
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp = b".".to_vec();
        temp.extend_from_slice(name);
        temp.extend_from_slice(format!(".ferry-{}-{n}", std::process::id()).as_bytes());
        let temp = dir.join(std::ffi::OsString::from_vec(temp));
        match create(&temp) {
            Ok(()) => return Ok(temp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
