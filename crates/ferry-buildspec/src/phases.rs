//! The build's phases and how a build moves between them: a pure state
//! machine the runner drives, one phase outcome at a time.
//!
//! CodeBuild's rules (UG `view-build-details-phases`, `build-spec-ref`):
//! - Phases, in order: SUBMITTED, QUEUED, PROVISIONING, DOWNLOAD_SOURCE,
//!   INSTALL, PRE_BUILD, BUILD, POST_BUILD, UPLOAD_ARTIFACTS, FINALIZING,
//!   COMPLETED (the API's `BuildPhase.phaseType`).
//! - "if a command fails during the install phase, none of the commands in the
//!   pre_build, build, and post_build phases are run": INSTALL failing goes to
//!   FINALIZING.
//! - PRE_BUILD failing goes to FINALIZING. Caveat: the guide shows this only in
//!   its phase-transition diagram, not in its text; ferry follows the diagram.
//!   PROVISIONING and DOWNLOAD_SOURCE failing go to FINALIZING the same way.
//! - BUILD failing still runs POST_BUILD ("success or failure, the build moves
//!   to post_build", aws/aws-codebuild-docker-images#385), and "The
//!   UPLOAD_ARTIFACTS phase is always attempted, even if the BUILD phase
//!   fails". POST_BUILD failing still goes to UPLOAD_ARTIFACTS.
//! - `on-failure: CONTINUE`: "Continue to the next phase": a failed INSTALL or
//!   PRE_BUILD goes on to the next command phase. The phase still counts as
//!   failed: the build ends FAILED and `CODEBUILD_BUILD_SUCCEEDING` is 0.
//! - `on-failure: ABORT`: "Abort the build". The guide does not say which
//!   phases that skips. ferry's decision: every later command phase *and*
//!   UPLOAD_ARTIFACTS are skipped, straight to FINALIZING. That is what people
//!   put `ABORT` on `build` for (no `post_build` push, no artifacts of a
//!   broken build).
//! - `finally` always runs; "The phase is successful when all commands in the
//!   commands and the finally blocks run successfully".
//! - `CODEBUILD_BUILD_SUCCEEDING` is 1 until any phase fails, then 0 for the
//!   rest of the build. The runner gives a phase's `finally` block the value
//!   [`finally_succeeding`] computes (0 once that phase's commands failed).
//! - A stopped or timed-out build goes straight to FINALIZING and ends STOPPED
//!   or TIMED_OUT (what the API reports as `buildStatus`).

use std::fmt;

use crate::OnFailure;

/// One of CodeBuild's build phases (`BuildPhase.phaseType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
}

impl Phase {
    /// In the order a successful build passes them.
    pub const ALL: [Phase; 11] = [
        Phase::Submitted,
        Phase::Queued,
        Phase::Provisioning,
        Phase::DownloadSource,
        Phase::Install,
        Phase::PreBuild,
        Phase::Build,
        Phase::PostBuild,
        Phase::UploadArtifacts,
        Phase::Finalizing,
        Phase::Completed,
    ];

    /// The API name (`PRE_BUILD`).
    pub fn name(self) -> &'static str {
        match self {
            Phase::Submitted => "SUBMITTED",
            Phase::Queued => "QUEUED",
            Phase::Provisioning => "PROVISIONING",
            Phase::DownloadSource => "DOWNLOAD_SOURCE",
            Phase::Install => "INSTALL",
            Phase::PreBuild => "PRE_BUILD",
            Phase::Build => "BUILD",
            Phase::PostBuild => "POST_BUILD",
            Phase::UploadArtifacts => "UPLOAD_ARTIFACTS",
            Phase::Finalizing => "FINALIZING",
            Phase::Completed => "COMPLETED",
        }
    }

    /// The API name back to a phase.
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The buildspec phase that runs commands here, if any.
    pub fn command_phase(self) -> Option<crate::CommandPhase> {
        crate::CommandPhase::ALL.into_iter().find(|c| c.phase() == self)
    }

    /// The next phase of a build in which nothing fails.
    fn following(self) -> Phase {
        let i = Phase::ALL.iter().position(|p| *p == self).unwrap_or(Phase::ALL.len() - 1);
        Phase::ALL.get(i + 1).copied().unwrap_or(Phase::Completed)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a phase ended (`BuildPhase.phaseStatus`, without IN_PROGRESS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseStatus {
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

impl PhaseStatus {
    pub fn name(self) -> &'static str {
        match self {
            PhaseStatus::Succeeded => "SUCCEEDED",
            PhaseStatus::Failed => "FAILED",
            PhaseStatus::TimedOut => "TIMED_OUT",
            PhaseStatus::Stopped => "STOPPED",
        }
    }
}

/// How the whole build ended (`Build.buildStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStatus {
    Succeeded,
    Failed,
    TimedOut,
    Stopped,
}

impl BuildStatus {
    pub fn name(self) -> &'static str {
        match self {
            BuildStatus::Succeeded => "SUCCEEDED",
            BuildStatus::Failed => "FAILED",
            BuildStatus::TimedOut => "TIMED_OUT",
            BuildStatus::Stopped => "STOPPED",
        }
    }
}

/// What happened in the phase that just ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The phase ran to its end.
    Ran {
        /// Its work succeeded: every command of `commands` (for a command
        /// phase), or the phase's own work (provisioning, the download, the
        /// upload). A phase with no commands succeeds.
        commands: bool,
        /// Its `finally` block: `None` when it has none.
        finally: Option<bool>,
        /// The phase's `on-failure`, if the buildspec gives one.
        on_failure: Option<OnFailure>,
    },
    /// The build was stopped during the phase.
    Stopped,
    /// The build ran out of time during the phase.
    TimedOut,
}

impl Outcome {
    /// A phase that succeeded (no `finally`, no `on-failure`).
    pub const SUCCEEDED: Outcome = Outcome::Ran { commands: true, finally: None, on_failure: None };
    /// A phase that failed (no `finally`, no `on-failure`).
    pub const FAILED: Outcome = Outcome::Ran { commands: false, finally: None, on_failure: None };

    /// Whether the phase succeeded: its commands *and* its `finally` block.
    pub fn succeeded(self) -> bool {
        matches!(self, Outcome::Ran { commands: true, finally: None | Some(true), .. })
    }
}

/// The result of [`transition`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The status to record for the phase that just ran.
    pub status: PhaseStatus,
    /// The phase to run next.
    pub next: Phase,
    /// Phases passed over without running, in order.
    pub skipped: Vec<Phase>,
    /// `CODEBUILD_BUILD_SUCCEEDING` from now on.
    pub succeeding: bool,
}

/// The value of `CODEBUILD_BUILD_SUCCEEDING` while a phase's `finally` block
/// runs: what it was when the phase started, and 0 once the phase's commands
/// failed (so a `finally` block can tell).
pub fn finally_succeeding(succeeding_before: bool, commands_succeeded: bool) -> bool {
    succeeding_before && commands_succeeded
}

/// The next phase after `phase` ended with `outcome`, given the build's
/// `CODEBUILD_BUILD_SUCCEEDING` so far (see the module docs for the rules).
/// COMPLETED stays COMPLETED.
pub fn transition(phase: Phase, outcome: Outcome, succeeding: bool) -> Transition {
    let status = match outcome {
        Outcome::Stopped => PhaseStatus::Stopped,
        Outcome::TimedOut => PhaseStatus::TimedOut,
        o if o.succeeded() => PhaseStatus::Succeeded,
        Outcome::Ran { .. } => PhaseStatus::Failed,
    };
    let succeeding = succeeding && status == PhaseStatus::Succeeded;
    let next = match (phase, status, outcome) {
        (Phase::Completed, _, _) => Phase::Completed,
        // FINALIZING always ends the build.
        (Phase::Finalizing, _, _) => Phase::Completed,
        (_, PhaseStatus::Succeeded, _) => phase.following(),
        (_, PhaseStatus::Stopped | PhaseStatus::TimedOut, _) => Phase::Finalizing,
        // Failed from here on.
        (Phase::Install | Phase::PreBuild | Phase::Build | Phase::PostBuild, _, o) => {
            match o {
                Outcome::Ran { on_failure: Some(OnFailure::Abort), .. } => Phase::Finalizing,
                Outcome::Ran { on_failure: Some(OnFailure::Continue), .. } => phase.following(),
                // CodeBuild's defaults.
                _ => match phase {
                    Phase::Install | Phase::PreBuild => Phase::Finalizing,
                    Phase::Build => Phase::PostBuild,
                    _ => Phase::UploadArtifacts,
                },
            }
        }
        // Anything else that fails (SUBMITTED … DOWNLOAD_SOURCE, UPLOAD_ARTIFACTS).
        (Phase::Submitted | Phase::Queued | Phase::Provisioning | Phase::DownloadSource, _, _) => Phase::Finalizing,
        (Phase::UploadArtifacts, _, _) => Phase::Finalizing,
    };
    let skipped = Phase::ALL.into_iter().filter(|p| *p > phase && *p < next).collect();
    Transition { status, next, skipped, succeeding }
}

/// One build's walk through the phases: [`transition`] with the state kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhaseMachine {
    phase: Phase,
    succeeding: bool,
    interrupted: Option<BuildStatus>,
    history: Vec<(Phase, PhaseStatus)>,
}

impl Default for PhaseMachine {
    fn default() -> Self {
        Self::new()
    }
}

impl PhaseMachine {
    /// A build just submitted.
    pub fn new() -> Self {
        Self { phase: Phase::Submitted, succeeding: true, interrupted: None, history: Vec::new() }
    }

    /// The phase running now.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// `CODEBUILD_BUILD_SUCCEEDING` now.
    pub fn succeeding(&self) -> bool {
        self.succeeding
    }

    /// Every phase that ran, with how it ended, in order.
    pub fn history(&self) -> &[(Phase, PhaseStatus)] {
        &self.history
    }

    /// Records the current phase's outcome and moves on; returns the transition.
    pub fn finish(&mut self, outcome: Outcome) -> Transition {
        let t = transition(self.phase, outcome, self.succeeding);
        if self.phase != Phase::Completed {
            self.history.push((self.phase, t.status));
        }
        if self.interrupted.is_none() {
            self.interrupted = match outcome {
                Outcome::Stopped => Some(BuildStatus::Stopped),
                Outcome::TimedOut => Some(BuildStatus::TimedOut),
                Outcome::Ran { .. } => None,
            };
        }
        self.phase = t.next;
        self.succeeding = t.succeeding;
        t
    }

    /// The build's final status, once it is COMPLETED.
    pub fn build_status(&self) -> Option<BuildStatus> {
        if self.phase != Phase::Completed {
            return None;
        }
        Some(match self.interrupted {
            Some(status) => status,
            None if self.succeeding => BuildStatus::Succeeded,
            None => BuildStatus::Failed,
        })
    }
}

#[cfg(test)]
mod tests;
