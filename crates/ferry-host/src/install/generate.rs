//! Step 2: turning the appspec into instructions (`installer.rb`
//! `generate_instructions` and `install_instruction.rb` `CommandBuilder`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use ferry_appspec::{FileExistsBehavior, ObjectType, Permission, ServerAppSpec};

use super::glob::{matches_except, matches_pattern};
use super::paths::{check_recordable, is_absent, normalize};
use super::{InstallError, Instruction, SeContext};

/// Generates the instructions of an install from `spec`'s `files` and
/// `permissions`, for the revision unpacked at `archive`. Reads the file
/// system (the revision, and what already exists at the destinations) but
/// changes nothing.
///
/// For each `files` entry, in order:
/// - a directory source (or `source: /`): a `mkdir` for each missing ancestor
///   of the destination and for the destination unless it is already a
///   directory, then, recursively and in name order, a `mkdir` for each
///   subdirectory and a `copy` for each file or symlink (dotfiles included);
/// - any other source (a file or a symlink): a `copy` to
///   `destination/<name>`, after a `mkdir` for each missing ancestor.
///
/// An existing target (`lstat`: a dangling symlink exists) fails the install
/// with DISALLOW, is replaced with OVERWRITE and is left alone, unrecorded,
/// with RETAIN. Then each `permissions` entry adds, per matched path, `chmod`,
/// `setfacl`, `semanage` and `chown` instructions.
pub fn generate_instructions(
    spec: &ServerAppSpec,
    archive: &Path,
    behavior: FileExistsBehavior,
) -> Result<Vec<Instruction>, InstallError> {
    let archive = normalize(archive);
    let mut builder = Builder::default();
    for mapping in &spec.files {
        let source = resolve_source(&archive, &mapping.source)?;
        let destination = normalize(Path::new(&mapping.destination));
        let meta = match fs::symlink_metadata(&source) {
            Ok(meta) => meta,
            Err(e) if is_absent(&e) => {
                return Err(InstallError::Invalid(format!(
                    "The deployment failed because the files source {} does not exist in the revision (looked for {})",
                    mapping.source,
                    source.display()
                )));
            }
            Err(e) => return Err(InstallError::io(format!("cannot inspect {}", source.display()), e)),
        };
        // Only the revision itself is followed if it is a link; any other
        // source that is a symlink is installed as a symlink.
        let is_dir = if source == archive { source.is_dir() } else { meta.is_dir() };
        if is_dir {
            builder.missing_ancestors(&destination)?;
            builder.directory_copy(&source, &destination, behavior)?;
        } else {
            let name = source.file_name().ok_or_else(|| {
                InstallError::Invalid(format!(
                    "The deployment failed because the files source {} names no file",
                    mapping.source
                ))
            })?;
            let target = destination.join(name);
            builder.missing_ancestors(&target)?;
            builder.normal_copy(&source, &meta, &target, behavior)?;
        }
    }
    for permission in &spec.permissions {
        builder.permission(permission)?;
    }
    Ok(builder.instructions)
}

/// `archive` joined with a revision-relative `source` (a leading `/` is
/// ignored, `/` alone is the whole revision), refusing one that leaves the
/// revision through `..`.
fn resolve_source(archive: &Path, source: &str) -> Result<PathBuf, InstallError> {
    let path = normalize(&archive.join(source.trim_start_matches('/')));
    if !path.starts_with(archive) {
        return Err(InstallError::Invalid(format!(
            "The deployment failed because the files source {source} points outside the revision"
        )));
    }
    Ok(path)
}

#[derive(Default)]
struct Builder {
    instructions: Vec<Instruction>,
    /// Destination to source, and destinations in the order they were added.
    copy_targets: HashMap<PathBuf, PathBuf>,
    copy_order: Vec<PathBuf>,
    /// Copy destinations whose source is a symlink.
    symlink_copies: HashSet<PathBuf>,
    mkdir_targets: HashSet<PathBuf>,
    mkdir_order: Vec<PathBuf>,
    permission_targets: HashSet<PathBuf>,
}

impl Builder {
    fn copy(&mut self, source: &Path, destination: &Path, is_symlink: bool) -> Result<(), InstallError> {
        check_recordable(source)?;
        check_recordable(destination)?;
        if let Some(previous) = self.copy_targets.get(destination) {
            return Err(InstallError::Invalid(format!(
                "The deployment failed because the application specification file specifies two source files named {} and {} for the same destination ({}). Remove one of the source file paths from the AppSpec file, and then try again.",
                source.display(),
                previous.display(),
                destination.display()
            )));
        }
        if self.mkdir_targets.contains(destination) {
            return Err(InstallError::Invalid(format!(
                "The deployment failed because the application specification file calls for installing the file {}, but the install also creates a directory at that location ({}). Update your AppSpec file or directory structure, and then try again.",
                source.display(),
                destination.display()
            )));
        }
        self.instructions
            .push(Instruction::Copy { source: source.to_path_buf(), destination: destination.to_path_buf() });
        self.copy_targets.insert(destination.to_path_buf(), source.to_path_buf());
        self.copy_order.push(destination.to_path_buf());
        if is_symlink {
            self.symlink_copies.insert(destination.to_path_buf());
        }
        Ok(())
    }

    fn mkdir(&mut self, directory: &Path) -> Result<(), InstallError> {
        check_recordable(directory)?;
        if let Some(source) = self.copy_targets.get(directory) {
            return Err(InstallError::Invalid(format!(
                "The deployment failed because the application specification file calls for creating the directory {}, but the install also copies the file {} to that location. Update the files section of the AppSpec file, and then try again.",
                directory.display(),
                source.display()
            )));
        }
        if self.mkdir_targets.insert(directory.to_path_buf()) {
            self.instructions.push(Instruction::Mkdir { directory: directory.to_path_buf() });
            self.mkdir_order.push(directory.to_path_buf());
        }
        Ok(())
    }

    /// A `mkdir` for each missing ancestor of `path`, outermost first. The
    /// nearest existing ancestor must be a directory (or a link to one).
    fn missing_ancestors(&mut self, path: &Path) -> Result<(), InstallError> {
        let mut missing = Vec::new();
        let mut current = path.parent();
        while let Some(dir) = current {
            match fs::symlink_metadata(dir) {
                Ok(_) => {
                    if !dir.is_dir() {
                        return Err(InstallError::Invalid(format!(
                            "The deployment failed because {} cannot be installed: {} exists and is not a directory",
                            path.display(),
                            dir.display()
                        )));
                    }
                    break;
                }
                Err(e) if is_absent(&e) => missing.push(dir),
                Err(e) => return Err(InstallError::io(format!("cannot inspect {}", dir.display()), e)),
            }
            current = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            self.mkdir(dir)?;
        }
        Ok(())
    }

    fn directory_copy(
        &mut self,
        source: &Path,
        destination: &Path,
        behavior: FileExistsBehavior,
    ) -> Result<(), InstallError> {
        match fs::symlink_metadata(destination) {
            // An existing directory, or a link to one, is used as it is.
            Ok(_) if destination.is_dir() => {}
            Ok(_) => {
                return Err(InstallError::Invalid(format!(
                    "The deployment failed because the directory {} cannot be created: a file already exists at this location (the revision has a directory at {})",
                    destination.display(),
                    source.display()
                )));
            }
            Err(e) if is_absent(&e) => self.mkdir(destination)?,
            Err(e) => return Err(InstallError::io(format!("cannot inspect {}", destination.display()), e)),
        }
        let mut entries = fs::read_dir(source)
            .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect::<Result<Vec<_>, _>>())
            .map_err(|e| InstallError::io(format!("cannot list {}", source.display()), e))?;
        entries.sort();
        for name in entries {
            let entry_source = source.join(&name);
            let entry_destination = destination.join(&name);
            let meta = fs::symlink_metadata(&entry_source)
                .map_err(|e| InstallError::io(format!("cannot inspect {}", entry_source.display()), e))?;
            if meta.is_dir() {
                self.directory_copy(&entry_source, &entry_destination, behavior)?;
            } else {
                self.normal_copy(&entry_source, &meta, &entry_destination, behavior)?;
            }
        }
        Ok(())
    }

    fn normal_copy(
        &mut self,
        source: &Path,
        meta: &Metadata,
        target: &Path,
        behavior: FileExistsBehavior,
    ) -> Result<(), InstallError> {
        let is_symlink = meta.file_type().is_symlink();
        if !is_symlink && !meta.is_file() {
            return Err(InstallError::Invalid(format!(
                "The deployment failed because {} in the revision is not a regular file, a directory or a symbolic link",
                source.display()
            )));
        }
        let existing = match fs::symlink_metadata(target) {
            Ok(existing) => existing,
            Err(e) if is_absent(&e) => return self.copy(source, target, is_symlink),
            Err(e) => return Err(InstallError::io(format!("cannot inspect {}", target.display()), e)),
        };
        match behavior {
            FileExistsBehavior::Disallow => Err(InstallError::FileExists(target.to_path_buf())),
            _ if existing.is_dir() => Err(InstallError::Invalid(format!(
                "The deployment failed because a directory exists at {}, where the revision has the file {}; ferry does not replace a directory with a file",
                target.display(),
                source.display()
            ))),
            FileExistsBehavior::Overwrite => self.copy(source, target, is_symlink),
            FileExistsBehavior::Retain => Ok(()),
        }
    }

    fn permission(&mut self, permission: &Permission) -> Result<(), InstallError> {
        let object = normalize(Path::new(&permission.object));
        let wants_files = permission.types.contains(&ObjectType::File);
        let wants_dirs = permission.types.contains(&ObjectType::Directory);
        if self.copy_targets.contains_key(&object) {
            if !wants_files {
                return Ok(());
            }
            if permission.pattern != "**" {
                return Err(InstallError::Invalid(format!(
                    "The deployment failed because the application specification file includes an object ({}) with an invalid pattern ({}), such as a pattern for a file applied to a directory. Correct the permissions section of the AppSpec file, and then try again.",
                    permission.object, permission.pattern
                )));
            }
            if !permission.except.is_empty() {
                return Err(InstallError::Invalid(format!(
                    "The deployment failed because the except parameter for a pattern in the permissions section ({}) for the object named {} contains an invalid format. Update the AppSpec file, and then try again.",
                    permission.except.join(", "),
                    permission.object
                )));
            }
            if self.symlink_copies.contains(&object) {
                return Err(InstallError::Invalid(format!(
                    "The deployment failed because the permissions object {} is a symbolic link; ferry does not change permissions through symbolic links",
                    object.display()
                )));
            }
            check_file_acl(permission, &object)?;
            return self.set_permissions(&object, permission);
        }
        if !(self.mkdir_targets.contains(&object) || object.is_dir()) {
            // As CodeDeploy: an object this install does not touch is ignored.
            return Ok(());
        }
        let mut matches = Vec::new();
        let matching = |path: &Path| {
            matches_pattern(path, &object, &permission.pattern) && !matches_except(path, &object, &permission.except)
        };
        if wants_files {
            for path in self.copy_order.iter().filter(|p| !self.symlink_copies.contains(*p)) {
                if matching(path) {
                    check_file_acl(permission, path)?;
                    matches.push(path.clone());
                }
            }
        }
        if wants_dirs {
            matches.extend(self.mkdir_order.iter().filter(|p| matching(p)).cloned());
        }
        for path in matches {
            self.set_permissions(&path, permission)?;
        }
        Ok(())
    }

    fn set_permissions(&mut self, path: &Path, permission: &Permission) -> Result<(), InstallError> {
        if !self.permission_targets.insert(path.to_path_buf()) {
            return Err(InstallError::Invalid(format!(
                "The deployment failed because the permissions setting for ({}) is specified more than once in the application specification file. Update the permissions section of the AppSpec file, and then try again.",
                path.display()
            )));
        }
        let file = path.to_path_buf();
        if let Some(mode) = permission.mode {
            self.instructions.push(Instruction::Chmod { file: file.clone(), mode: format!("{mode:03o}") });
        }
        if !permission.acls.is_empty() {
            let acl = permission.acls.iter().map(|ace| ace.to_setfacl()).collect();
            self.instructions.push(Instruction::Setfacl { file: file.clone(), acl });
        }
        if let Some(context) = &permission.context {
            let context =
                SeContext { user: context.user.clone(), type_: context.type_.clone(), range: context.range.clone() };
            self.instructions.push(Instruction::Semanage { file: file.clone(), context });
        }
        if permission.owner.is_some() || permission.group.is_some() {
            self.instructions.push(Instruction::Chown {
                file,
                owner: permission.owner.clone(),
                group: permission.group.clone(),
            });
        }
        Ok(())
    }
}

/// A default ACL entry can only be set on a directory.
fn check_file_acl(permission: &Permission, file: &Path) -> Result<(), InstallError> {
    if permission.acls.iter().any(|ace| ace.default) {
        return Err(InstallError::Invalid(format!(
            "The deployment failed because the -d parameter has been specified to apply an acl setting to a file ({}). This parameter is supported for directories only. Update the AppSpec file, and then try again.",
            file.display()
        )));
    }
    Ok(())
}
