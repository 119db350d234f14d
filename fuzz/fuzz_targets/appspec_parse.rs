//! Arbitrary bytes (as lossy UTF-8) into the appspec parser: it must return
//! `Ok` or `Err`, never panic, overflow the stack or run away with memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match ferry_appspec::parse("appspec.yml", &text) {
        Ok(_) => {}
        Err(e) => {
            // Every error names the file; formatting must not panic either.
            assert_eq!(e.file, "appspec.yml");
            let _ = e.to_string();
            let _ = e.line();
        }
    }
    let _ = ferry_appspec::parse_server("appspec.yml", &text);
});
