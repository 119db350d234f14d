//! Running the scripts of one lifecycle event. (Being written.)

use std::path::Path;
use std::time::Duration;

use ferry_appspec::HookScript;

use crate::diagnostics::Diagnostics;
use crate::scripts_log::ScriptsLog;

/// Knobs of the hook runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookRunConfig {
    /// After a script's timeout, SIGTERM goes to its process group; after this
    /// grace period, SIGKILL follows (CodeDeploy never escalates).
    pub kill_grace: Duration,
    /// How long to wait for stdout/stderr to close once the script has exited
    /// before failing with OutputsLeftOpen (CodeDeploy waits for the whole timeout).
    pub outputs_grace: Duration,
}

impl Default for HookRunConfig {
    fn default() -> Self {
        Self { kill_grace: Duration::from_secs(10), outputs_grace: Duration::from_secs(5) }
    }
}

/// Runs `scripts` (the hooks of `event`) in order. Script locations are
/// relative to `script_root` (the revision archive the scripts come from).
/// `env` is added to the agent's own environment. Output goes to `log`.
/// Returns success diagnostics (with the output tail) or the first failure.
pub async fn run_scripts(
    event: &str,
    scripts: &[HookScript],
    script_root: &Path,
    env: &[(String, String)],
    log: &ScriptsLog,
    config: &HookRunConfig,
) -> Diagnostics {
    let _ = (event, scripts, script_root, env, log, config);
    Diagnostics::unknown("hook runner not yet implemented")
}
