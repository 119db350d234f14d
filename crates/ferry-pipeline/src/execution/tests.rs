use super::*;
use crate::fixtures::web;
use crate::model::ExecutionMode;

const MINUTE: Millis = 60_000;
const T0: Millis = 1_700_000_000_000;

/// A pipeline's executions driven the way the server drives them.
struct World {
    runs: Runs,
    now: Millis,
    pipeline: PipelineDeclaration,
}

fn world() -> World {
    World { runs: Runs::default(), now: T0, pipeline: web() }
}

fn with_mode(mode: ExecutionMode) -> World {
    let mut w = world();
    w.pipeline.execution_mode = mode;
    w
}

/// `execution/stage/action#attempt` of each StartAction, sorted (the order
/// of effects within one step means nothing).
fn started(effects: &[Effect]) -> Vec<String> {
    let mut out: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::StartAction(job) => Some(format!(
                "{}/{}/{}#{}",
                job.action.execution, job.action.stage, job.action.action, job.action.attempt
            )),
            Effect::Abandon(_) => None,
        })
        .collect();
    out.sort();
    out
}

fn job(effects: &[Effect], action: &str) -> ActionJob {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::StartAction(job) if job.action.action == action => Some((**job).clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no StartAction for {action} in {effects:#?}"))
}

impl World {
    fn step(&mut self, input: Input) -> Vec<Effect> {
        step(&mut self.runs, input, self.now).unwrap_or_else(|e| panic!("refused: {e}"))
    }

    fn refuse(&mut self, input: Input) -> StepError {
        let before = self.runs.clone();
        let e = step(&mut self.runs, input, self.now).expect_err("should be refused");
        assert_eq!(self.runs, before, "a refused input changes nothing");
        e
    }

    fn start(&mut self, id: &str) -> Vec<Effect> {
        self.step(Input::Start {
            id: id.into(),
            pipeline: self.pipeline.clone(),
            variables: BTreeMap::new(),
            source_revisions: BTreeMap::new(),
            trigger: None,
        })
    }

    fn run(&self, id: &str) -> &Execution {
        self.runs.execution(id).unwrap()
    }

    fn action(&self, id: &str, stage: &str, action: &str) -> &ActionRun {
        let s = self.run(id).stage(stage).unwrap();
        s.actions.iter().find(|a| a.name == action).unwrap()
    }

    fn action_ref(&self, id: &str, stage: &str, action: &str) -> ActionRef {
        let attempt = self.action(id, stage, action).attempt;
        ActionRef { execution: id.into(), stage: stage.into(), action: action.into(), attempt }
    }

    /// Reports success with the declared outputs at `blob:<exec>/<action>/<name>`.
    fn succeed_with(&mut self, id: &str, stage: &str, action: &str, variables: &[(&str, &str)]) -> Vec<Effect> {
        let (_, s) = self.run(id).pipeline.stage(stage).unwrap();
        let outputs = s
            .action(action)
            .unwrap()
            .1
            .output_artifacts
            .iter()
            .map(|o| ArtifactLocation { name: o.name.clone(), location: format!("blob:{id}/{action}/{}", o.name) })
            .collect();
        let action = self.action_ref(id, stage, action);
        self.step(Input::ActionSucceeded {
            action,
            outputs,
            variables: variables.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            summary: None,
            revision: None,
        })
    }

    fn succeed(&mut self, id: &str, stage: &str, action: &str) -> Vec<Effect> {
        let vars: &[(&str, &str)] = match action {
            "Source" => &[("CommitId", "c0ffee"), ("BranchName", "main")],
            "Build" => &[("VERSION", "1.2")],
            _ => &[],
        };
        self.succeed_with(id, stage, action, vars)
    }

    fn fail(&mut self, id: &str, stage: &str, action: &str, message: &str) -> Vec<Effect> {
        let action = self.action_ref(id, stage, action);
        self.step(Input::ActionFailed { action, message: message.into() })
    }

    /// Launches the approval with token `tok-<id>`.
    fn launch_approval(&mut self, id: &str) {
        let action = self.action_ref(id, "Approve", "Approve");
        self.step(Input::ActionStarted {
            action,
            external_id: None,
            external_url: None,
            token: Some(format!("tok-{id}")),
        });
    }

    fn decide(&mut self, id: &str, approved: bool, token: &str) -> Result<Vec<Effect>, StepError> {
        step(
            &mut self.runs,
            Input::Approval {
                execution: id.into(),
                stage: "Approve".into(),
                action: "Approve".into(),
                token: token.into(),
                approved,
                summary: if approved { "ship it".into() } else { "not today".into() },
                by: Some("alice".into()),
            },
            self.now,
        )
    }

    /// Starts `id` and carries it until it is in `stage` (that stage's
    /// first actions started).
    fn start_into(&mut self, id: &str, stage: &str) {
        self.start(id);
        for (s, action) in [("Source", "Source"), ("Build", "Build"), ("Staging", "Deploy")] {
            if s == stage {
                return;
            }
            self.succeed(id, s, action);
        }
        if stage == "Approve" {
            return;
        }
        self.launch_approval(id);
        self.decide(id, true, &format!("tok-{id}")).unwrap();
        assert_eq!(stage, "Production");
    }

    fn stages(&self, id: &str) -> String {
        self.run(id)
            .stages
            .iter()
            .map(|s| format!("{}={}", s.name, s.status.map(|s| format!("{s:?}")).unwrap_or_else(|| "-".into())))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn status(&self, id: &str) -> ExecutionStatus {
        self.run(id).status
    }

    fn transition(&mut self, stage: &str, transition: TransitionType, enable: bool) -> Result<Vec<Effect>, StepError> {
        let input = if enable {
            Input::EnableTransition { pipeline: self.pipeline.clone(), stage: stage.into(), transition }
        } else {
            Input::DisableTransition {
                pipeline: self.pipeline.clone(),
                stage: stage.into(),
                transition,
                reason: "freeze".into(),
            }
        };
        step(&mut self.runs, input, self.now)
    }
}

#[test]
fn happy_path_runs_stages_in_order_and_actions_by_run_order() {
    let mut w = world();
    let mut revisions = BTreeMap::new();
    revisions.insert("Source".to_owned(), "c0ffee".to_owned());
    let fx = w.step(Input::Start {
        id: "e1".into(),
        pipeline: w.pipeline.clone(),
        variables: BTreeMap::new(),
        source_revisions: revisions,
        trigger: None,
    });
    assert_eq!(started(&fx), ["e1/Source/Source#1"]);
    let source = job(&fx, "Source");
    assert_eq!(source.revision.as_deref(), Some("c0ffee"));
    assert_eq!(source.deadline, T0 + 60 * MINUTE);
    assert_eq!(source.output_artifacts, ["SourceOutput"]);
    assert_eq!(w.stages("e1"), "Source=InProgress Build=- Staging=- Approve=- Production=-");
    assert_eq!(w.runs.unlaunched().len(), 1);
    let r = w.action_ref("e1", "Source", "Source");
    w.step(Input::ActionStarted { action: r, external_id: Some("clone-1".into()), external_url: None, token: None });
    assert!(w.runs.unlaunched().is_empty());

    w.now += MINUTE;
    let fx = w.succeed("e1", "Source", "Source");
    assert_eq!(started(&fx), ["e1/Build/Build#1"]);
    let build = job(&fx, "Build");
    assert_eq!(
        build.input_artifacts,
        [ArtifactLocation { name: "SourceOutput".into(), location: "blob:e1/Source/SourceOutput".into() }]
    );
    assert_eq!(
        build.configuration["EnvironmentVariables"], r#"[{"name":"COMMIT","value":"c0ffee","type":"PLAINTEXT"}]"#,
        "#{{SourceVariables.CommitId}} resolved"
    );
    assert_eq!(build.deadline, w.now + 8 * 60 * MINUTE);
    let again = w.runs.job(&build.action).expect("the job of an action in progress");
    assert_eq!(again, build, "a restarted server launches the same job");
    let stale = ActionRef { attempt: 2, ..build.action.clone() };
    assert_eq!(w.runs.job(&stale), None, "no job for an attempt that is not the current one");
    assert_eq!(w.action("e1", "Build", "Build").configuration, build.configuration);

    let fx = w.succeed("e1", "Build", "Build");
    assert_eq!(started(&fx), ["e1/Staging/Deploy#1"]);
    assert_eq!(job(&fx, "Deploy").input_artifacts[0].location, "blob:e1/Build/BuildOutput");

    let fx = w.succeed("e1", "Staging", "Deploy");
    assert_eq!(started(&fx), ["e1/Approve/Approve#1"]);
    assert_eq!(job(&fx, "Approve").configuration["CustomData"], "Release 1.2?");
    assert_eq!(job(&fx, "Approve").deadline, w.now + 60 * MINUTE, "timeoutInMinutes: 60");
    w.launch_approval("e1");

    let fx = w.decide("e1", true, "tok-e1").unwrap();
    assert_eq!(started(&fx), ["e1/Production/DeployEast#1", "e1/Production/DeployWest#1"], "equal runOrder: together");
    assert_eq!(w.action("e1", "Approve", "Approve").updated_by.as_deref(), Some("alice"));
    assert!(started(&w.succeed("e1", "Production", "DeployEast")).is_empty(), "runOrder 2 waits for all of runOrder 1");
    let fx = w.succeed("e1", "Production", "DeployWest");
    assert_eq!(started(&fx), ["e1/Production/Smoke#1"]);
    assert_eq!(job(&fx, "Smoke").configuration["ProjectName"], "smoke-e1", "#{{codepipeline.PipelineExecutionId}}");
    assert_eq!(w.status("e1"), ExecutionStatus::InProgress);

    let fx = w.succeed("e1", "Production", "Smoke");
    assert!(fx.is_empty());
    assert_eq!(w.status("e1"), ExecutionStatus::Succeeded);
    assert_eq!(w.run("e1").position, Position::Done);
    assert_eq!(
        w.stages("e1"),
        "Source=Succeeded Build=Succeeded Staging=Succeeded Approve=Succeeded Production=Succeeded"
    );
    assert_eq!(w.runs.next_deadline(), None);
}

#[test]
fn a_failed_action_fails_its_stage_and_the_execution() {
    let mut w = world();
    w.start_into("e1", "Build");
    let fx = w.fail("e1", "Build", "Build", "exit status 2 in phase BUILD");
    assert!(fx.is_empty(), "nothing after a failure: {fx:?}");
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
    assert_eq!(
        w.run("e1").status_summary.as_deref(),
        Some("action \"Build\" in stage \"Build\" failed: exit status 2 in phase BUILD")
    );
    assert_eq!(w.stages("e1"), "Source=Succeeded Build=Failed Staging=- Approve=- Production=-");
    // A late duplicate report changes nothing.
    let r = ActionRef { execution: "e1".into(), stage: "Build".into(), action: "Build".into(), attempt: 1 };
    let before = w.runs.clone();
    w.step(Input::ActionSucceeded {
        action: r,
        outputs: vec![],
        variables: BTreeMap::new(),
        summary: None,
        revision: None,
    });
    assert_eq!(w.runs, before);
}

#[test]
fn a_parallel_failure_stops_the_stage_while_its_sibling_finishes() {
    let mut w = world();
    w.start_into("e1", "Production");
    assert!(w.fail("e1", "Production", "DeployEast", "2 of 4 instances failed").is_empty());
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
    assert_eq!(w.action("e1", "Production", "DeployWest").status, Some(ActionStatus::InProgress));
    // The sibling's success is recorded; runOrder 2 never starts.
    assert!(w.succeed("e1", "Production", "DeployWest").is_empty());
    assert_eq!(w.action("e1", "Production", "DeployWest").status, Some(ActionStatus::Succeeded));
    assert_eq!(w.action("e1", "Production", "Smoke").status, None);
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn retry_failed_actions_reruns_only_those_while_running_ones_go_on() {
    let mut w = world();
    w.start_into("e1", "Production");
    w.fail("e1", "Production", "DeployEast", "boom");
    let retry = |mode| Input::Retry { execution: "e1".into(), stage: "Production".into(), mode };
    let e = w.refuse(retry(RetryMode::AllActions));
    assert_eq!(e.exception(), "StageNotRetryableException");
    assert!(e.message().contains("still in progress"), "{e}");

    let fx = w.step(retry(RetryMode::FailedActions));
    assert_eq!(started(&fx), ["e1/Production/DeployEast#2"]);
    assert_eq!(w.status("e1"), ExecutionStatus::InProgress);
    assert_eq!(w.run("e1").stage("Production").unwrap().attempts, 2);
    assert_eq!(w.action("e1", "Production", "DeployWest").attempt, 1, "the running one goes on");
    // A report about the first attempt is ignored.
    let stale =
        ActionRef { execution: "e1".into(), stage: "Production".into(), action: "DeployEast".into(), attempt: 1 };
    let before = w.runs.clone();
    w.step(Input::ActionFailed { action: stale, message: "late".into() });
    assert_eq!(w.runs, before);

    assert!(w.succeed("e1", "Production", "DeployWest").is_empty());
    assert_eq!(started(&w.succeed("e1", "Production", "DeployEast")), ["e1/Production/Smoke#1"]);
    w.succeed("e1", "Production", "Smoke");
    assert_eq!(w.status("e1"), ExecutionStatus::Succeeded);
}

#[test]
fn retry_all_actions_reruns_the_whole_stage() {
    let mut w = world();
    w.start_into("e1", "Production");
    w.fail("e1", "Production", "DeployEast", "boom");
    w.succeed("e1", "Production", "DeployWest");
    let fx = w.step(Input::Retry { execution: "e1".into(), stage: "Production".into(), mode: RetryMode::AllActions });
    assert_eq!(started(&fx), ["e1/Production/DeployEast#2", "e1/Production/DeployWest#2"]);
    // Earlier stages keep their results and artifacts.
    assert_eq!(job(&fx, "DeployWest").input_artifacts[0].location, "blob:e1/Build/BuildOutput");
}

#[test]
fn retry_is_refused_where_codepipeline_refuses_it() {
    let mut w = world();
    w.start_into("e1", "Build");
    let retry =
        |stage: &str| Input::Retry { execution: "e1".into(), stage: stage.into(), mode: RetryMode::FailedActions };
    assert!(w.refuse(retry("Build")).message().contains("is InProgress"));
    w.fail("e1", "Build", "Build", "boom");
    assert!(w.refuse(retry("Source")).message().contains("did not fail or stop"));
    assert_eq!(w.refuse(retry("Nope")).exception(), "StageNotFoundException");
    let e = w.refuse(Input::Retry { execution: "e9".into(), stage: "Build".into(), mode: RetryMode::AllActions });
    assert_eq!(e.exception(), "PipelineExecutionNotFoundException");
    // A newer execution has entered the stage since: e1's failure cannot be retried.
    w.start_into("e2", "Build");
    let e = w.refuse(retry("Build"));
    assert!(e.message().contains("execution \"e2\" is in stage \"Build\""), "{e}");
    w.succeed("e2", "Build", "Build");
    let e = w.refuse(retry("Build"));
    assert!(e.message().contains("a newer execution \"e2\" has run in stage \"Build\" since"), "{e}");
}

#[test]
fn stop_and_wait_lets_running_actions_finish_and_starts_nothing() {
    let mut w = world();
    w.start_into("e1", "Build");
    let stop = |abandon| Input::Stop { execution: "e1".into(), abandon, reason: Some("bad commit".into()) };
    assert!(w.step(stop(false)).is_empty());
    assert_eq!(w.status("e1"), ExecutionStatus::Stopping);
    assert_eq!(w.run("e1").stage("Build").unwrap().status, Some(StageStatus::Stopping));
    assert_eq!(w.refuse(stop(false)).exception(), "DuplicatedStopRequestException");
    assert!(w.succeed("e1", "Build", "Build").is_empty(), "no next stage while stopping");
    assert_eq!(w.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(w.run("e1").status_summary.as_deref(), Some("bad commit"));
    assert_eq!(w.stages("e1"), "Source=Succeeded Build=Stopped Staging=- Approve=- Production=-");
    assert_eq!(w.refuse(stop(true)).exception(), "PipelineExecutionNotStoppableException");
    // A stopped stage can be retried; its actions all succeeded, so it moves on.
    let fx = w.step(Input::Retry { execution: "e1".into(), stage: "Build".into(), mode: RetryMode::FailedActions });
    assert_eq!(started(&fx), ["e1/Staging/Deploy#1"]);
}

#[test]
fn stop_and_abandon_ends_at_once() {
    let mut w = world();
    w.start_into("e1", "Production");
    w.step(Input::Stop { execution: "e1".into(), abandon: false, reason: None });
    assert_eq!(w.status("e1"), ExecutionStatus::Stopping);
    // Abandoning a stopping execution is allowed.
    let fx = w.step(Input::Stop { execution: "e1".into(), abandon: true, reason: None });
    let abandoned: Vec<&str> = fx
        .iter()
        .filter_map(|e| match e {
            Effect::Abandon(r) => Some(r.action.as_str()),
            Effect::StartAction(_) => None,
        })
        .collect();
    assert_eq!(abandoned, ["DeployEast", "DeployWest"]);
    assert_eq!(w.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(w.action("e1", "Production", "DeployEast").status, Some(ActionStatus::Abandoned));
    assert_eq!(w.run("e1").stage("Production").unwrap().status, Some(StageStatus::Stopped));
    // The abandoned work's report is ignored; a retry runs the abandoned actions again.
    let before = w.runs.clone();
    w.succeed("e1", "Production", "DeployEast");
    assert_eq!(w.runs, before);
    let fx =
        w.step(Input::Retry { execution: "e1".into(), stage: "Production".into(), mode: RetryMode::FailedActions });
    assert_eq!(started(&fx), ["e1/Production/DeployEast#2", "e1/Production/DeployWest#2"]);
}

#[test]
fn a_waiting_execution_stops_or_cancels_at_once() {
    let mut w = world();
    w.start_into("e1", "Build");
    w.start("e2");
    w.succeed("e2", "Source", "Source");
    assert_eq!(w.run("e2").position, Position::Before(1));
    w.step(Input::Stop { execution: "e2".into(), abandon: false, reason: None });
    assert_eq!(w.status("e2"), ExecutionStatus::Stopped);
    w.start("e3");
    w.succeed("e3", "Source", "Source");
    let e = w.refuse(Input::Cancel { execution: "e1".into(), reason: "deleted".into() });
    assert_eq!(e.exception(), "PipelineExecutionNotStoppableException");
    w.step(Input::Cancel { execution: "e3".into(), reason: "pipeline deleted".into() });
    assert_eq!(w.status("e3"), ExecutionStatus::Cancelled);
}

#[test]
fn a_disabled_transition_holds_executions_with_its_reason() {
    let mut w = world();
    w.transition("Staging", TransitionType::Inbound, false).unwrap();
    w.start_into("e1", "Build");
    assert!(started(&w.succeed("e1", "Build", "Build")).is_empty());
    assert_eq!(w.run("e1").position, Position::Before(2));
    assert_eq!(
        w.run("e1").waiting,
        Some(Wait::TransitionDisabled {
            stage: "Staging".into(),
            transition: TransitionType::Inbound,
            reason: "freeze".into()
        })
    );
    assert_eq!(w.stages("e1"), "Source=Succeeded Build=Succeeded Staging=- Approve=- Production=-");
    let fx = w.transition("Staging", TransitionType::Inbound, true).unwrap();
    assert_eq!(started(&fx), ["e1/Staging/Deploy#1"]);
    assert_eq!(w.run("e1").waiting, None);
    // The outbound transition of the stage before holds the same way.
    w.transition("Staging", TransitionType::Outbound, false).unwrap();
    assert!(started(&w.succeed("e1", "Staging", "Deploy")).is_empty());
    assert_eq!(w.run("e1").position, Position::Before(3));
    assert_eq!(started(&w.transition("Staging", TransitionType::Outbound, true).unwrap()), ["e1/Approve/Approve#1"]);
}

#[test]
fn transitions_that_do_not_exist_are_refused() {
    let mut w = world();
    let e = w.transition("Source", TransitionType::Inbound, false).unwrap_err();
    assert!(e.message().contains("first stage"), "{e}");
    let e = w.transition("Production", TransitionType::Outbound, false).unwrap_err();
    assert!(e.message().contains("last stage"), "{e}");
    assert_eq!(w.transition("Nope", TransitionType::Inbound, true).unwrap_err().exception(), "StageNotFoundException");
    let e = w.refuse(Input::DisableTransition {
        pipeline: w.pipeline.clone(),
        stage: "Build".into(),
        transition: TransitionType::Inbound,
        reason: String::new(),
    });
    assert!(e.message().contains("a reason is 1 to 300 characters"), "{e}");
}

#[test]
fn superseded_a_newer_execution_overtakes_an_older_waiting_one() {
    let mut w = world();
    w.start_into("e1", "Build");
    // e2 gets the free Source stage, then waits in front of Build (e1 holds it).
    assert_eq!(started(&w.start("e2")), ["e2/Source/Source#1"]);
    assert!(started(&w.succeed("e2", "Source", "Source")).is_empty());
    assert_eq!(w.run("e2").waiting, Some(Wait::StageLocked { stage: "Build".into(), by: "e1".into() }));
    // e3 arrives at the same place: e2 is superseded.
    w.start("e3");
    w.succeed("e3", "Source", "Source");
    assert_eq!(w.status("e2"), ExecutionStatus::Superseded);
    assert_eq!(w.run("e2").status_summary.as_deref(), Some("superseded by execution e3"));
    let (latest, run) = w.runs.latest_in_stage("Source").unwrap();
    assert_eq!((latest.id.as_str(), run.status), ("e3", Some(StageStatus::Succeeded)));
    assert_eq!(w.runs.latest_in_stage("Build").unwrap().0.id, "e1");
    assert!(w.runs.latest_in_stage("Staging").is_none());
    assert_eq!(w.status("e3"), ExecutionStatus::InProgress);
    // e1 leaves Build: e3 (not e2) enters it.
    let fx = w.succeed("e1", "Build", "Build");
    assert_eq!(started(&fx), ["e1/Staging/Deploy#1", "e3/Build/Build#1"]);
}

#[test]
fn superseded_a_new_start_waits_for_a_busy_source_stage() {
    let mut w = world();
    w.start("e1");
    assert!(started(&w.start("e2")).is_empty());
    assert_eq!(w.run("e2").waiting, Some(Wait::StageLocked { stage: "Source".into(), by: "e1".into() }));
    w.start("e3");
    assert_eq!(w.status("e2"), ExecutionStatus::Superseded);
    assert_eq!(started(&w.succeed("e1", "Source", "Source")), ["e1/Build/Build#1", "e3/Source/Source#1"]);
}

#[test]
fn queued_executions_enter_each_stage_in_order_one_at_a_time() {
    let mut w = with_mode(ExecutionMode::Queued);
    w.start_into("e1", "Build");
    for id in ["e2", "e3"] {
        w.start(id);
        w.succeed(id, "Source", "Source");
    }
    assert_eq!(w.run("e3").waiting, Some(Wait::StageLocked { stage: "Build".into(), by: "e1".into() }));
    assert_eq!(w.status("e2"), ExecutionStatus::InProgress, "nothing is superseded");
    assert_eq!(started(&w.succeed("e1", "Build", "Build")), ["e1/Staging/Deploy#1", "e2/Build/Build#1"]);
    assert_eq!(w.run("e3").waiting, Some(Wait::StageLocked { stage: "Build".into(), by: "e2".into() }));
    // e2 fails: the lock is released and e3 goes in.
    assert_eq!(started(&w.fail("e2", "Build", "Build", "boom")), ["e3/Build/Build#1"]);
}

#[test]
fn queued_executions_held_by_a_transition_continue_in_order() {
    let mut w = with_mode(ExecutionMode::Queued);
    w.transition("Staging", TransitionType::Inbound, false).unwrap();
    for id in ["e1", "e2"] {
        w.start_into(id, "Build");
        w.succeed(id, "Build", "Build");
    }
    assert_eq!(w.run("e1").position, Position::Before(2));
    assert_eq!(w.run("e2").position, Position::Before(2));
    assert_eq!(started(&w.transition("Staging", TransitionType::Inbound, true).unwrap()), ["e1/Staging/Deploy#1"]);
    assert_eq!(started(&w.succeed("e1", "Staging", "Deploy")), ["e1/Approve/Approve#1", "e2/Staging/Deploy#1"]);
}

#[test]
fn superseded_executions_held_by_a_transition_leave_only_the_latest() {
    let mut w = world();
    w.transition("Staging", TransitionType::Inbound, false).unwrap();
    for id in ["e1", "e2"] {
        w.start_into(id, "Build");
        w.succeed(id, "Build", "Build");
    }
    assert_eq!(w.status("e1"), ExecutionStatus::Superseded);
    assert_eq!(started(&w.transition("Staging", TransitionType::Inbound, true).unwrap()), ["e2/Staging/Deploy#1"]);
}

#[test]
fn parallel_executions_are_independent() {
    let mut w = with_mode(ExecutionMode::Parallel);
    w.start_into("e1", "Build");
    assert_eq!(started(&w.start("e2")), ["e2/Source/Source#1"]);
    assert_eq!(started(&w.succeed("e2", "Source", "Source")), ["e2/Build/Build#1"]);
    w.start_into("e3", "Build");
    assert_eq!(w.run("e1").position, Position::In(1));
    assert_eq!(w.run("e3").position, Position::In(1));
    // e1's failure can be retried although newer ones have run in the stage.
    w.fail("e1", "Build", "Build", "boom");
    w.succeed("e2", "Build", "Build");
    let fx = w.step(Input::Retry { execution: "e1".into(), stage: "Build".into(), mode: RetryMode::FailedActions });
    assert_eq!(started(&fx), ["e1/Build/Build#2"]);
}

#[test]
fn an_approval_times_out_after_seven_days_by_default() {
    let mut w = world();
    w.pipeline.stages[3].actions[0].timeout_in_minutes = None;
    w.start_into("e1", "Approve");
    w.launch_approval("e1");
    let deadline = w.action("e1", "Approve", "Approve").deadline.unwrap();
    assert_eq!(deadline, w.now + 7 * 24 * 60 * MINUTE);
    assert_eq!(w.runs.next_deadline(), Some(deadline));
    w.now = deadline - 1;
    w.step(Input::Tick);
    assert_eq!(w.status("e1"), ExecutionStatus::InProgress);
    w.now = deadline;
    assert!(w.step(Input::Tick).is_empty());
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
    let approve = w.action("e1", "Approve", "Approve");
    assert_eq!(approve.status, Some(ActionStatus::Failed));
    assert_eq!(approve.error.as_deref(), Some("the approval timed out after 10080 minutes without a decision"));
    assert_eq!(w.decide("e1", true, "tok-e1").unwrap_err().exception(), "ApprovalAlreadyCompletedException");
}

#[test]
fn other_actions_time_out_too() {
    let mut w = world();
    w.start_into("e1", "Build");
    w.now += 8 * 60 * MINUTE;
    w.step(Input::Tick);
    assert_eq!(w.action("e1", "Build", "Build").error.as_deref(), Some("the action timed out after 480 minutes"));
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn approvals_need_the_current_token() {
    let mut w = world();
    w.start_into("e1", "Approve");
    let before = w.runs.clone();
    assert_eq!(
        w.decide("e1", true, "tok-e1").unwrap_err().exception(),
        "InvalidApprovalTokenException",
        "not launched yet"
    );
    w.launch_approval("e1");
    assert_eq!(w.decide("e1", true, "guess").unwrap_err().exception(), "InvalidApprovalTokenException");
    assert_ne!(w.runs, before);
    let e = step(
        &mut w.runs,
        Input::Approval {
            execution: "e1".into(),
            stage: "Staging".into(),
            action: "Deploy".into(),
            token: "tok-e1".into(),
            approved: true,
            summary: String::new(),
            by: None,
        },
        w.now,
    )
    .unwrap_err();
    assert_eq!(e.exception(), "ActionNotFoundException");
    assert!(w.decide("e1", false, "tok-e1").unwrap().is_empty());
    let approve = w.action("e1", "Approve", "Approve");
    assert_eq!((approve.status, approve.error.as_deref()), (Some(ActionStatus::Failed), Some("rejected: not today")));
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
    assert_eq!(w.stages("e1"), "Source=Succeeded Build=Succeeded Staging=Succeeded Approve=Failed Production=-");
}

#[test]
fn an_unresolvable_reference_fails_the_action_that_needs_it() {
    let mut w = world();
    w.start_into("e1", "Build");
    // The build exports no VERSION: the approval's CustomData cannot be resolved.
    w.succeed_with("e1", "Build", "Build", &[("OTHER", "x")]);
    let fx = w.succeed("e1", "Staging", "Deploy");
    assert!(started(&fx).is_empty());
    let approve = w.action("e1", "Approve", "Approve");
    assert_eq!(approve.status, Some(ActionStatus::Failed));
    assert_eq!(
        approve.error.as_deref(),
        Some(
            "configuration `CustomData`: cannot resolve #{BuildVariables.VERSION}: namespace `BuildVariables` has no variable `VERSION` (it has: OTHER)"
        )
    );
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn a_success_without_the_declared_outputs_is_a_failure() {
    let mut w = world();
    w.start("e1");
    let action = w.action_ref("e1", "Source", "Source");
    w.step(Input::ActionSucceeded {
        action,
        outputs: vec![],
        variables: BTreeMap::new(),
        summary: None,
        revision: None,
    });
    assert_eq!(
        w.action("e1", "Source", "Source").error.as_deref(),
        Some("the action produced no output artifact SourceOutput")
    );
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
}

#[test]
fn on_failure_retry_retries_the_stage_once() {
    let mut w = world();
    w.pipeline.stages[1].on_failure =
        Some(crate::model::FailureConditions { result: Some(StageFailureResult::Retry), retry_configuration: None });
    w.start_into("e1", "Build");
    assert_eq!(started(&w.fail("e1", "Build", "Build", "flaky")), ["e1/Build/Build#2"]);
    assert_eq!(w.status("e1"), ExecutionStatus::InProgress);
    assert!(started(&w.fail("e1", "Build", "Build", "flaky again")).is_empty());
    assert_eq!(w.status("e1"), ExecutionStatus::Failed);
    assert_eq!(w.run("e1").stage("Build").unwrap().attempts, 2);
}

#[test]
fn start_checks_the_pipeline_and_its_variables() {
    let mut w = world();
    w.pipeline.stages[2].actions[0]
        .configuration
        .insert("DeploymentGroupName".into(), "#{variables.Region}-staging".into());
    let start = |w: &World, id: &str, vars: &[(&str, &str)]| Input::Start {
        id: id.into(),
        pipeline: w.pipeline.clone(),
        variables: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        source_revisions: BTreeMap::new(),
        trigger: None,
    };
    let e = w.refuse(start(&w, "e1", &[("Stage", "x")]));
    assert_eq!((e.exception(), e.message()), ("ValidationException", "the pipeline declares no variable \"Stage\""));
    w.step(start(&w, "e1", &[("Region", "eu")]));
    assert_eq!(w.refuse(start(&w, "e1", &[])).exception(), "ValidationException");
    w.succeed("e1", "Source", "Source");
    let fx = w.succeed("e1", "Build", "Build");
    assert_eq!(job(&fx, "Deploy").configuration["DeploymentGroupName"], "eu-staging");
    let mut bad = w.pipeline.clone();
    bad.stages.truncate(1);
    let e = w.refuse(Input::Start {
        id: "e2".into(),
        pipeline: bad,
        variables: BTreeMap::new(),
        source_revisions: BTreeMap::new(),
        trigger: None,
    });
    assert_eq!(e.exception(), "InvalidStructureException");
    assert!(e.message().contains("at least 2 stages"), "{e}");
    let e = w.refuse(Input::Start {
        id: "e3".into(),
        pipeline: w.pipeline.clone(),
        variables: BTreeMap::new(),
        source_revisions: [("Build".to_owned(), "x".to_owned())].into(),
        trigger: None,
    });
    assert!(e.message().contains("not a source action"), "{e}");
}

#[test]
fn an_execution_keeps_the_version_it_started_with() {
    let mut w = world();
    w.start_into("e1", "Build");
    w.pipeline.stages[2].actions[0].configuration.insert("DeploymentGroupName".into(), "changed".into());
    w.start("e2");
    let fx = w.succeed("e1", "Build", "Build");
    assert_eq!(job(&fx, "Deploy").configuration["DeploymentGroupName"], "staging");
}

#[test]
fn runs_survive_a_round_trip_through_json() {
    let mut w = world();
    w.start_into("e1", "Production");
    w.start("e2");
    w.transition("Build", TransitionType::Inbound, false).unwrap();
    let text = serde_json::to_string(&w.runs).unwrap();
    let back: Runs = serde_json::from_str(&text).unwrap();
    assert_eq!(back, w.runs);
    assert!(text.contains("\"InProgress\""));
}

#[test]
fn the_same_inputs_give_the_same_state() {
    let play = || {
        let mut w = with_mode(ExecutionMode::Queued);
        w.start_into("e1", "Build");
        w.start("e2");
        w.succeed("e2", "Source", "Source");
        w.fail("e1", "Build", "Build", "x");
        w.runs
    };
    assert_eq!(play(), play());
}

#[test]
fn the_three_modes_side_by_side() {
    use ExecutionStatus::{InProgress, Superseded};
    // Script: e1 is in Build; e2 then e3 start and finish Source; e1 finishes Build.
    // Then: each one's status, and who is in Build.
    let table: &[(ExecutionMode, [ExecutionStatus; 3], &[&str])] = &[
        (ExecutionMode::Superseded, [InProgress, Superseded, InProgress], &["e3"]),
        (ExecutionMode::Queued, [InProgress, InProgress, InProgress], &["e2"]),
        (ExecutionMode::Parallel, [InProgress, InProgress, InProgress], &["e2", "e3"]),
    ];
    for (mode, statuses, in_build) in table {
        let mut w = with_mode(*mode);
        w.start_into("e1", "Build");
        for id in ["e2", "e3"] {
            w.start(id);
            w.succeed(id, "Source", "Source");
        }
        w.succeed("e1", "Build", "Build");
        let got: Vec<ExecutionStatus> = ["e1", "e2", "e3"].iter().map(|id| w.status(id)).collect();
        assert_eq!(got, statuses, "{mode:?}");
        let inside: Vec<&str> =
            w.runs.executions.iter().filter(|x| x.position == Position::In(1)).map(|x| x.id.as_str()).collect();
        assert_eq!(inside, *in_build, "{mode:?}");
        assert_eq!(w.run("e1").position, Position::In(2), "{mode:?}");
    }
}
