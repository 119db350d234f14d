//! The persistent shell: one long-lived shell per build runs every command,
//! so `export`, `cd`, shell variables, functions and `set` options carry
//! from command to command and phase to phase, as in CodeBuild 0.2.
//!
//! How commands reach it: `Environment::exec` has no stdin, so the shell
//! runs a small driver loop that waits for `<ctl>/<n>.sh` to appear in the
//! workspace's control directory (polling every 20 ms, one `sleep` per
//! poll, only while the runner prepares the next command) and sources it.
//! The runner writes each command file atomically (temporary name, then
//! rename). A command file runs the command through `eval` (a syntax error
//! then fails that command, not the driver), then prints a marker line
//! `<nonce> <n> <exit status>` to stdout, which the runner takes out of the
//! log. Stderr is merged into stdout (`exec 2>&1`), so the log keeps the
//! order the command wrote in.
//!
//! Why this and not a script per phase: one exec per build (a `podman exec`
//! costs 200–500 ms), a single timeout that kills everything (the exec's),
//! and real shell semantics (unexported variables, functions, traps) instead
//! of a dump-and-restore of the environment after every phase.
//!
//! Where one shell cannot do it: a phase with a different `run-as` user. The
//! runner then asks the shell to hand off: it writes `export -p` and `pwd`
//! to the control directory and exits, and a new shell, started as the other
//! user, sources them. Exported variables and the directory carry over;
//! unexported variables, functions and options do not (documented in the
//! crate docs). The same happens if a command ends the shell (`exit`): the
//! next command gets a new shell, with the state of the last hand-off.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_container::{Environment, Error, ExecOutcome, ExecRequest, OutputLine};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How one command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommandEnd {
    Exited(i32),
    /// The shell ended during the command (it ran `exit`, or was killed).
    ShellEnded(i32),
    TimedOut,
    /// The build was stopped during the command.
    Stopped,
}

impl CommandEnd {
    pub(crate) fn success(self) -> bool {
        matches!(self, CommandEnd::Exited(0) | CommandEnd::ShellEnded(0))
    }
}

/// A running shell: the exec task and its output.
pub(crate) struct Shell {
    pub(crate) user: Option<String>,
    task: JoinHandle<Result<ExecOutcome, Error>>,
    lines: mpsc::UnboundedReceiver<OutputLine>,
    /// The number of the next command file.
    next: u64,
    /// The exec has returned (its handle must not be awaited again).
    exited: bool,
}

/// The control directory as the runner sees it (host) and as commands see it.
#[derive(Debug, Clone)]
pub(crate) struct Control {
    pub(crate) host: PathBuf,
    pub(crate) inside: PathBuf,
    pub(crate) nonce: String,
    /// Numbers of command files continue across shells (file names stay unique).
    pub(crate) counter: u64,
}

/// Single-quotes `s` for a POSIX shell.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether `name` can be a shell variable name (`exported-variables` entries
/// that cannot are not read).
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl Control {
    fn file(&self, n: u64) -> (PathBuf, PathBuf) {
        (self.host.join(format!("{n}.sh")), self.inside.join(format!("{n}.sh")))
    }

    pub(crate) fn handoff_exists(&self) -> bool {
        self.host.join("env.sh").exists()
    }

    /// The driver loop of a new shell, starting at command file `first`.
    fn driver(&self, first: u64, restore: bool) -> String {
        let initial_vars = !restore;
        let ctl = quote(&self.inside.to_string_lossy());
        let mut script = String::from("exec 2>&1\n");
        script.push_str(&format!("__ferry_ctl={ctl}\n"));
        if initial_vars {
            script.push_str(". \"$__ferry_ctl/vars.sh\"\n");
        }
        if restore {
            // What the new process must keep as its own: who it is, and the
            // markers that let a timeout find it.
            script.push_str(concat!(
                "__ferry_keep=\"$(export -p | grep -E '^(export|declare -x) (HOME|USER|LOGNAME|FERRY_ENVIRONMENT_ID|FERRY_EXEC_ID)=')\"\n",
                ". \"$__ferry_ctl/env.sh\"\n",
                "eval \"$__ferry_keep\"\n",
                "unset __ferry_keep\n",
                "cd \"$(cat \"$__ferry_ctl/cwd\")\" || exit 1\n",
            ));
        }
        script.push_str(&format!(
            concat!(
                "__ferry_n={first}\n",
                "while :; do\n",
                "  while [ ! -e \"$__ferry_ctl/$__ferry_n.sh\" ]; do sleep 0.02 2>/dev/null || sleep 1; done\n",
                "  . \"$__ferry_ctl/$__ferry_n.sh\"\n",
                "  __ferry_n=$((__ferry_n + 1))\n",
                "done\n"
            ),
            first = first
        ));
        script
    }

    /// Starts a shell as `user` (None: the environment's user): with the
    /// state of the last hand-off if there was one, else with `vars.sh` (the
    /// build's variables, which never appear on a command line).
    pub(crate) fn start(
        &mut self,
        env: Arc<dyn Environment>,
        program: &str,
        user: Option<String>,
        workdir: &Path,
        timeout: Duration,
    ) -> Shell {
        let script = self.driver(self.counter, self.handoff_exists());
        let mut request = ExecRequest::new([program.to_owned(), "-c".to_owned(), script]).timeout(timeout);
        request.workdir = Some(workdir.to_path_buf());
        request.user = user.clone();
        let (tx, lines) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut output = move |line: OutputLine| {
                let _ = tx.send(line);
            };
            env.exec(&request, &mut output).await
        });
        Shell { user, task, lines, next: self.counter, exited: false }
    }

    /// Writes command file `n` (temporary name, then rename: the driver never
    /// sources half a file).
    fn write(&self, n: u64, body: &str) -> std::io::Result<()> {
        let (path, _) = self.file(n);
        let tmp = self.host.join(format!(".{n}.tmp"));
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, &path)
    }
}

impl Shell {
    /// Runs one command in this shell; each output line (marker removed) goes
    /// to `line`. `succeeding` is exported as `CODEBUILD_BUILD_SUCCEEDING`.
    pub(crate) async fn run(
        &mut self,
        control: &mut Control,
        command: &str,
        succeeding: bool,
        line: &mut (dyn FnMut(String) + Send),
    ) -> Result<CommandEnd, Error> {
        let n = self.next;
        let body = format!(
            "export CODEBUILD_BUILD_SUCCEEDING={s}\neval {cmd}\n__ferry_status=$?\nprintf '%s %s %s\\n' '{nonce}' {n} \"$__ferry_status\"\n",
            s = u8::from(succeeding),
            cmd = quote(command),
            nonce = control.nonce,
        );
        self.send(control, n, &body)?;
        self.wait(control, n, line).await
    }

    /// Asks the shell to write the exported variables `names` (those set) and
    /// hand off its state, then exit. Returns the values read.
    pub(crate) async fn finish(
        mut self,
        control: &mut Control,
        names: &[String],
        line: &mut (dyn FnMut(String) + Send),
    ) -> Result<(Vec<(String, String)>, CommandEnd), Error> {
        let n = self.next;
        let exported = control.host.join("exported");
        let _ = std::fs::remove_dir_all(&exported);
        let mut body = String::from("mkdir -p \"$__ferry_ctl/exported\"\n");
        for name in names.iter().filter(|n| is_identifier(n)) {
            body.push_str(&format!(
                "if [ -n \"${{{name}+x}}\" ]; then printf '%s' \"${name}\" > \"$__ferry_ctl/exported/{name}\"; fi\n"
            ));
        }
        body.push_str("export -p > \"$__ferry_ctl/env.sh\"\npwd > \"$__ferry_ctl/cwd\"\n");
        body.push_str(&format!("printf '%s %s %s\\n' '{}' {n} 0\nexit 0\n", control.nonce));
        self.send(control, n, &body)?;
        let end = self.wait(control, n, line).await?;
        if !self.exited {
            // Let the exec end (the shell exits right after the marker).
            let _ = (&mut self.task).await;
        }
        let mut values = Vec::new();
        for name in names {
            if let Ok(value) = std::fs::read_to_string(exported.join(name)) {
                values.push((name.clone(), value));
            }
        }
        Ok((values, end))
    }

    fn send(&mut self, control: &mut Control, n: u64, body: &str) -> Result<(), Error> {
        control.write(n, body).map_err(|source| Error::Io { what: "cannot write a command file".into(), source })?;
        self.next = n + 1;
        control.counter = self.next;
        Ok(())
    }

    /// Reads output until command `n`'s marker, or the shell's end.
    async fn wait(
        &mut self,
        control: &Control,
        n: u64,
        line: &mut (dyn FnMut(String) + Send),
    ) -> Result<CommandEnd, Error> {
        let mut marker_of = |text: String| -> Option<i32> {
            if let Some(at) = text.find(control.nonce.as_str()) {
                let (before, rest) = text.split_at(at);
                if !before.is_empty() {
                    line(before.to_owned());
                }
                let mut fields = rest.split_whitespace().skip(1);
                let num: Option<u64> = fields.next().and_then(|f| f.parse().ok());
                let status: Option<i32> = fields.next().and_then(|f| f.parse().ok());
                if num == Some(n) {
                    return status;
                }
                return None;
            }
            line(text);
            None
        };
        loop {
            tokio::select! {
                biased;
                next = self.lines.recv() => match next {
                    Some(l) => {
                        if let Some(status) = marker_of(l.text) {
                            return Ok(CommandEnd::Exited(status));
                        }
                    }
                    // The output closed: the exec is ending; its result decides.
                    None => break,
                },
                ended = &mut self.task, if !self.exited => {
                    self.exited = true;
                    // Lines sent before the exec returned are still queued.
                    while let Ok(l) = self.lines.try_recv() {
                        if let Some(status) = marker_of(l.text) {
                            return Ok(CommandEnd::Exited(status));
                        }
                    }
                    return shell_end(ended);
                }
                else => break,
            }
        }
        if self.exited {
            return Ok(CommandEnd::ShellEnded(-1));
        }
        self.exited = true;
        shell_end((&mut self.task).await)
    }

    /// The environment was stopped under it: do not wait for it again.
    pub(crate) fn mark_exited(&mut self) {
        self.exited = true;
        self.task.abort();
    }

    /// Whether the shell is gone (a new one is needed for the next command).
    pub(crate) fn exited(&self) -> bool {
        self.exited
    }
}

fn shell_end(ended: Result<Result<ExecOutcome, Error>, tokio::task::JoinError>) -> Result<CommandEnd, Error> {
    match ended {
        Ok(Ok(ExecOutcome::Exited(code))) => Ok(CommandEnd::ShellEnded(code)),
        Ok(Ok(ExecOutcome::TimedOut)) => Ok(CommandEnd::TimedOut),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(Error::Engine { what: "the build's shell task failed".into(), detail: e.to_string() }),
    }
}
