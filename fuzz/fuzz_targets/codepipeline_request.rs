//! CodePipeline API requests as the server decodes them: the first byte
//! picks the operation, the rest is the body. Decoding and validation must
//! return `Ok` or an AWS error the operation declares, never panic (the
//! model walk and the structure rules see arbitrary declarations); a decoded
//! request must say what it changes (the permission check), a valid one
//! names a real pipeline or job, and it reads back the same from the JSON
//! it writes.
#![no_main]

use ferry_aws::codepipeline::{Named, Operation, Request};
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
                    for named in changes {
                        match named {
                            Named::Pipeline(p) => assert!(!p.is_empty()),
                            Named::Job(id) => assert!(!id.is_empty()),
                            Named::JobWorker => assert_eq!(op, Operation::PollForJobs),
                            // Tags of an action type or webhook.
                            Named::Everything => {
                                assert!(matches!(op, Operation::TagResource | Operation::UntagResource), "{op:?}")
                            }
                        }
                    }
                }
                Err(e) => {
                    assert!(!e.message.is_empty());
                    assert!(op.declared_errors().iter().any(|d| *d == e.code), "{op:?}: {}", e.code);
                }
            }
        }
        Err(e) => {
            assert_eq!(e.code, "SerializationException");
            let _ = e.body();
        }
    }
});
