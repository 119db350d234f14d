//! CodeBuild API requests as the server decodes them: the first byte picks
//! the operation, the rest is the body. Decoding and validation must return
//! `Ok` or an AWS error, never panic; a decoded request must say what it
//! changes (the permission check), and a valid one names a real project.
#![no_main]

use ferry_aws::codebuild::{Named, Operation, Request};
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
