//! CodeBuild API requests as the server decodes them: the first byte picks
//! the operation, the rest is the body. Decoding and validation must return
//! `Ok` or an AWS error, never panic; a decoded request must say what it
//! changes (the permission check), and a valid one names a real project.
//! A valid CreateProject, UpdateProject or StartBuild converts to a domain
//! project (or a refusal) and back to the wire without panicking.
#![no_main]

use ferry_aws::arn::Arns;
use ferry_aws::codebuild::{Named, Operation, Request, convert};
use ferry_core::build::{BuildProject, check_project};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let op = Operation::ALL[usize::from(pick) % Operation::ALL.len()];
    match Request::decode(op, body) {
        Ok(request) => {
            assert_eq!(request.operation(), op);
            let changes = request.changes();
            assert_eq!(!changes.is_empty(), op.mutates());
            match request.validate() {
                Ok(()) => {
                    // A valid mutating request names its project exactly.
                    for named in changes {
                        assert!(matches!(named, Named::Project(p) if !p.is_empty()), "{named:?}");
                    }
                    converts(&request);
                }
                Err(e) => assert!(!e.code.is_empty() && !e.message.is_empty()),
            }
        }
        Err(e) => {
            assert!(!e.code.is_empty());
            let _ = e.body();
        }
    }
});

/// The conversions the server makes of a valid request.
fn converts(request: &Request) {
    let arns = Arns { region: "us-east-1".into(), account: "000000000000".into() };
    let shown = |p: &BuildProject| {
        let _ = check_project(p);
        let _ = serde_json::to_string(&convert::project(p, &arns)).unwrap();
    };
    match request {
        Request::CreateProject(i) => {
            if let Ok(p) = convert::new_project(i, "id".into(), 0) {
                shown(&p);
                let mut updated = p.clone();
                if convert::apply_settings(&mut updated, i).is_ok() {
                    shown(&updated);
                }
                let start = ferry_aws::codebuild::wire::StartBuildInput::default();
                if let Ok(overrides) = convert::start_overrides(&start, &p) {
                    let mut copy = p;
                    overrides.apply(&mut copy);
                    shown(&copy);
                }
            }
        }
        Request::StartBuild(i) => {
            let p = BuildProject {
                id: "id".into(),
                name: "web".into(),
                description: String::new(),
                source: ferry_core::build::BuildSource::Git { url: "https://h.example/o/r".into(), version: None },
                buildspec: None,
                image: None,
                variables: Vec::new(),
                timeout_minutes: 60,
                queued_timeout_minutes: 480,
                concurrent_build_limit: None,
                cache: false,
                tags: Vec::new(),
                create_time: 0,
                last_modified: 0,
            };
            if let Ok(overrides) = convert::start_overrides(i, &p) {
                let mut copy = p;
                overrides.apply(&mut copy);
                shown(&copy);
            }
        }
        _ => {}
    }
}
