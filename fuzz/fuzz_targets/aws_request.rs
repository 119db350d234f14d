//! CodeDeploy API requests as the server decodes them: the first byte picks
//! the operation, the rest is the body. Decoding must return `Ok` or an AWS
//! error, never panic; a decoded request must say what it changes (the
//! permission check).
#![no_main]

use ferry_aws::{Operation, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let op = Operation::ALL[usize::from(pick) % Operation::ALL.len()];
    match Request::decode(op, body) {
        Ok(request) => {
            assert_eq!(request.operation(), op);
            assert_eq!(!request.changes().is_empty(), op.mutates());
        }
        Err(e) => {
            assert!(!e.code.is_empty());
            let _ = e.body();
        }
    }
});
