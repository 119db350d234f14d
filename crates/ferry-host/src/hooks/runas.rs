//! `runas`: starting a script as another user, by switching credentials in
//! the child between `fork` and `exec` (not through `su`/`sudo` as CodeDeploy
//! does, so there is no PAM session, no tty requirement and no shell quoting).
//!
//! The only `unsafe` code of the hook runner lives here: [`Command::pre_exec`].
//! Public because `ferry-container`'s workspace mode runs build commands as an
//! unprivileged user the same way.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Uid, User, geteuid, getgrouplist, setgid, setgroups, setuid};
use tokio::process::Command;

/// The identity a script runs as, resolved before spawning.
#[derive(Debug, Clone)]
pub struct Identity {
    name: String,
    uid: Uid,
    gid: Gid,
    /// Supplementary groups from the group database (includes `gid`).
    groups: Vec<Gid>,
    home: PathBuf,
    shell: PathBuf,
    /// Whether credentials must change (the agent is root); otherwise the
    /// agent already is this user and only the login variables are set.
    switch: bool,
}

impl Identity {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn uid(&self) -> Uid {
        self.uid
    }

    pub fn gid(&self) -> Gid {
        self.gid
    }
}

/// Looks `name` up in the user and group databases. Errors are messages for
/// the diagnostics.
pub fn resolve(name: &str) -> Result<Identity, String> {
    let user = match User::from_name(name) {
        Ok(Some(user)) => user,
        Ok(None) => return Err(format!("runas user {name} does not exist")),
        Err(e) => return Err(format!("cannot look up runas user {name}: {e}")),
    };
    let euid = geteuid();
    let switch = euid.is_root();
    if !switch && user.uid != euid {
        return Err(format!(
            "cannot run a script as user {name}: the agent runs as uid {euid}, not root, so it cannot switch users"
        ));
    }
    let groups = if switch {
        let cname = CString::new(name).map_err(|_| format!("invalid runas user name {name:?}"))?;
        getgrouplist(&cname, user.gid).map_err(|e| format!("cannot read the groups of runas user {name}: {e}"))?
    } else {
        Vec::new()
    };
    let shell = if user.shell.as_os_str().is_empty() { PathBuf::from("/bin/sh") } else { user.shell };
    Ok(Identity { name: user.name, uid: user.uid, gid: user.gid, groups, home: user.dir, shell, switch })
}

/// Makes `cmd` run as `identity`, with its login variables (`HOME`, `USER`,
/// `LOGNAME`, `SHELL`), which CodeDeploy's `su` does not set.
pub fn apply(cmd: &mut Command, identity: &Identity) {
    cmd.env("HOME", &identity.home)
        .env("USER", &identity.name)
        .env("LOGNAME", &identity.name)
        .env("SHELL", &identity.shell);
    if !identity.switch {
        return;
    }
    let (uid, gid, groups) = (identity.uid, identity.gid, identity.groups.clone());
    // Groups first (needs root), then the gid, then the uid (after which
    // nothing privileged is possible). `Command::uid`/`gid` are not used: std
    // applies them before `pre_exec` closures, which would make `setgroups`
    // fail for lack of privilege.
    //
    // SAFETY: the closure runs in the forked child before `exec`. It only
    // makes three raw system calls (`setgroups`, `setgid`, `setuid`, via thin
    // nix wrappers) on data captured before the fork; it does not allocate,
    // lock or touch any other state, so it is async-signal-safe. std's own
    // `Command::uid` makes the same calls at the same point.
    unsafe {
        cmd.pre_exec(move || {
            setgroups(&groups)?;
            setgid(gid)?;
            setuid(uid)?;
            Ok(())
        });
    }
}
