use super::*;
use Phase::*;

const ABORT: Option<OnFailure> = Some(OnFailure::Abort);
const CONTINUE: Option<OnFailure> = Some(OnFailure::Continue);

fn ran(commands: bool, finally: Option<bool>, on_failure: Option<OnFailure>) -> Outcome {
    Outcome::Ran { commands, finally, on_failure }
}

/// (phase, outcome, succeeding before) → (status, next, succeeding after, skipped).
type Case = (Phase, Outcome, bool, PhaseStatus, Phase, bool, Vec<Phase>);

#[test]
fn transition_table() {
    use PhaseStatus::{Failed, Stopped, Succeeded, TimedOut};
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        // The happy path, phase by phase.
        (Submitted, Outcome::SUCCEEDED, true, Succeeded, Queued, true, vec![]),
        (Queued, Outcome::SUCCEEDED, true, Succeeded, Provisioning, true, vec![]),
        (Provisioning, Outcome::SUCCEEDED, true, Succeeded, DownloadSource, true, vec![]),
        (DownloadSource, Outcome::SUCCEEDED, true, Succeeded, Install, true, vec![]),
        (Install, Outcome::SUCCEEDED, true, Succeeded, PreBuild, true, vec![]),
        (PreBuild, Outcome::SUCCEEDED, true, Succeeded, Build, true, vec![]),
        (Build, Outcome::SUCCEEDED, true, Succeeded, PostBuild, true, vec![]),
        (PostBuild, Outcome::SUCCEEDED, true, Succeeded, UploadArtifacts, true, vec![]),
        (UploadArtifacts, Outcome::SUCCEEDED, true, Succeeded, Finalizing, true, vec![]),
        (Finalizing, Outcome::SUCCEEDED, true, Succeeded, Completed, true, vec![]),
        (Completed, Outcome::SUCCEEDED, true, Succeeded, Completed, true, vec![]),
        // Failures before any command: straight to FINALIZING.
        (Provisioning, Outcome::FAILED, true, Failed, Finalizing, false, vec![DownloadSource, Install, PreBuild, Build, PostBuild, UploadArtifacts]),
        (DownloadSource, Outcome::FAILED, true, Failed, Finalizing, false, vec![Install, PreBuild, Build, PostBuild, UploadArtifacts]),
        // INSTALL fails: pre_build, build and post_build do not run (documented).
        (Install, Outcome::FAILED, true, Failed, Finalizing, false, vec![PreBuild, Build, PostBuild, UploadArtifacts]),
        // PRE_BUILD fails: FINALIZING (the guide's diagram).
        (PreBuild, Outcome::FAILED, true, Failed, Finalizing, false, vec![Build, PostBuild, UploadArtifacts]),
        // BUILD fails: POST_BUILD still runs, with SUCCEEDING = 0.
        (Build, Outcome::FAILED, true, Failed, PostBuild, false, vec![]),
        // POST_BUILD fails: UPLOAD_ARTIFACTS is still attempted.
        (PostBuild, Outcome::FAILED, true, Failed, UploadArtifacts, false, vec![]),
        // After a failed BUILD, a successful POST_BUILD does not make the build succeed again.
        (PostBuild, Outcome::SUCCEEDED, false, Succeeded, UploadArtifacts, false, vec![]),
        (UploadArtifacts, Outcome::SUCCEEDED, false, Succeeded, Finalizing, false, vec![]),
        (UploadArtifacts, Outcome::FAILED, true, Failed, Finalizing, false, vec![]),
        (Finalizing, Outcome::FAILED, true, Failed, Completed, false, vec![]),
        // finally: the phase succeeds only if both blocks do.
        (Build, ran(true, Some(true), None), true, Succeeded, PostBuild, true, vec![]),
        (Build, ran(true, Some(false), None), true, Failed, PostBuild, false, vec![]),
        (Build, ran(false, Some(true), None), true, Failed, PostBuild, false, vec![]),
        (Install, ran(true, Some(false), None), true, Failed, Finalizing, false, vec![PreBuild, Build, PostBuild, UploadArtifacts]),
        (PreBuild, ran(false, Some(true), None), true, Failed, Finalizing, false, vec![Build, PostBuild, UploadArtifacts]),
        // on-failure: CONTINUE goes to the next phase; the failure still counts.
        (Install, ran(false, None, CONTINUE), true, Failed, PreBuild, false, vec![]),
        (PreBuild, ran(false, None, CONTINUE), true, Failed, Build, false, vec![]),
        (Build, ran(false, None, CONTINUE), true, Failed, PostBuild, false, vec![]),
        (PostBuild, ran(false, None, CONTINUE), true, Failed, UploadArtifacts, false, vec![]),
        (Install, ran(true, Some(false), CONTINUE), true, Failed, PreBuild, false, vec![]),
        // on-failure: ABORT skips every later phase, the upload too.
        (Install, ran(false, None, ABORT), true, Failed, Finalizing, false, vec![PreBuild, Build, PostBuild, UploadArtifacts]),
        (PreBuild, ran(false, None, ABORT), true, Failed, Finalizing, false, vec![Build, PostBuild, UploadArtifacts]),
        (Build, ran(false, None, ABORT), true, Failed, Finalizing, false, vec![PostBuild, UploadArtifacts]),
        (PostBuild, ran(false, None, ABORT), true, Failed, Finalizing, false, vec![UploadArtifacts]),
        (Build, ran(true, Some(false), ABORT), true, Failed, Finalizing, false, vec![PostBuild, UploadArtifacts]),
        // on-failure changes nothing when the phase succeeds.
        (Install, ran(true, Some(true), ABORT), true, Succeeded, PreBuild, true, vec![]),
        (Build, ran(true, None, CONTINUE), true, Succeeded, PostBuild, true, vec![]),
        // Stopped or timed out: FINALIZING, whatever on-failure says.
        (Build, Outcome::Stopped, true, Stopped, Finalizing, false, vec![PostBuild, UploadArtifacts]),
        (Install, Outcome::TimedOut, true, TimedOut, Finalizing, false, vec![PreBuild, Build, PostBuild, UploadArtifacts]),
        (Queued, Outcome::TimedOut, true, TimedOut, Finalizing, false, vec![Provisioning, DownloadSource, Install, PreBuild, Build, PostBuild, UploadArtifacts]),
        (Finalizing, Outcome::Stopped, true, Stopped, Completed, false, vec![]),
    ];
    for (i, (phase, outcome, before, status, next, after, skipped)) in cases.into_iter().enumerate() {
        let t = transition(phase, outcome, before);
        assert_eq!(
            t,
            Transition { status, next, skipped, succeeding: after },
            "case {i}: {phase} with {outcome:?} (succeeding {before})"
        );
    }
}

#[test]
fn every_phase_and_outcome_moves_forward() {
    let outcomes = [
        Outcome::SUCCEEDED,
        Outcome::FAILED,
        ran(false, Some(false), ABORT),
        ran(false, Some(true), CONTINUE),
        ran(true, Some(false), None),
        Outcome::Stopped,
        Outcome::TimedOut,
    ];
    for phase in Phase::ALL {
        for outcome in outcomes {
            for before in [true, false] {
                let t = transition(phase, outcome, before);
                assert!(t.next > phase || phase == Completed, "{phase} {outcome:?} went back to {}", t.next);
                assert!(!t.succeeding || before, "{phase} {outcome:?} made a failing build succeed");
                assert_eq!(t.succeeding, before && outcome.succeeded(), "{phase} {outcome:?}");
                assert!(t.skipped.iter().all(|p| *p > phase && *p < t.next));
            }
        }
    }
}

#[test]
fn finally_sees_the_commands_result() {
    assert!(finally_succeeding(true, true));
    assert!(!finally_succeeding(true, false));
    assert!(!finally_succeeding(false, true));
}

fn run(outcomes: &[(Phase, Outcome)]) -> PhaseMachine {
    let mut m = PhaseMachine::new();
    for (phase, outcome) in outcomes {
        assert_eq!(m.phase(), *phase, "history so far: {:?}", m.history());
        m.finish(*outcome);
    }
    m
}

#[test]
fn machine_walks_a_successful_build() {
    let ok: Vec<(Phase, Outcome)> = Phase::ALL[..10].iter().map(|p| (*p, Outcome::SUCCEEDED)).collect();
    let m = run(&ok);
    assert_eq!(m.phase(), Completed);
    assert_eq!(m.build_status(), Some(BuildStatus::Succeeded));
    assert_eq!(m.history().len(), 10);
    assert!(m.succeeding());
}

#[test]
fn machine_build_failure_runs_post_build_and_upload_then_fails() {
    let m = run(&[
        (Submitted, Outcome::SUCCEEDED),
        (Queued, Outcome::SUCCEEDED),
        (Provisioning, Outcome::SUCCEEDED),
        (DownloadSource, Outcome::SUCCEEDED),
        (Install, Outcome::SUCCEEDED),
        (PreBuild, Outcome::SUCCEEDED),
        (Build, Outcome::FAILED),
        (PostBuild, Outcome::SUCCEEDED),
        (UploadArtifacts, Outcome::SUCCEEDED),
        (Finalizing, Outcome::SUCCEEDED),
    ]);
    assert_eq!(m.build_status(), Some(BuildStatus::Failed));
    assert_eq!(m.history()[6], (Build, PhaseStatus::Failed));
    assert_eq!(m.history()[7], (PostBuild, PhaseStatus::Succeeded));
}

#[test]
fn machine_continue_still_fails_the_build_and_stop_is_stopped() {
    let m = run(&[
        (Submitted, Outcome::SUCCEEDED),
        (Queued, Outcome::SUCCEEDED),
        (Provisioning, Outcome::SUCCEEDED),
        (DownloadSource, Outcome::SUCCEEDED),
        (Install, ran(false, None, CONTINUE)),
        (PreBuild, Outcome::SUCCEEDED),
        (Build, Outcome::SUCCEEDED),
        (PostBuild, Outcome::SUCCEEDED),
        (UploadArtifacts, Outcome::SUCCEEDED),
        (Finalizing, Outcome::SUCCEEDED),
    ]);
    assert_eq!(m.build_status(), Some(BuildStatus::Failed));

    let mut m = run(&[(Submitted, Outcome::SUCCEEDED), (Queued, Outcome::SUCCEEDED)]);
    assert_eq!(m.build_status(), None);
    m.finish(Outcome::Stopped);
    assert_eq!(m.phase(), Finalizing);
    m.finish(Outcome::SUCCEEDED);
    assert_eq!(m.build_status(), Some(BuildStatus::Stopped));

    let m = run(&[(Submitted, Outcome::SUCCEEDED), (Queued, Outcome::TimedOut), (Finalizing, Outcome::SUCCEEDED)]);
    assert_eq!(m.build_status(), Some(BuildStatus::TimedOut));
}

#[test]
fn names_round_trip() {
    for phase in Phase::ALL {
        assert_eq!(Phase::from_name(phase.name()), Some(phase));
    }
    assert_eq!(Phase::from_name("pre_build"), None);
    assert_eq!(Phase::PreBuild.to_string(), "PRE_BUILD");
    assert_eq!(Phase::Build.command_phase(), Some(crate::CommandPhase::Build));
    assert_eq!(Phase::UploadArtifacts.command_phase(), None);
}
