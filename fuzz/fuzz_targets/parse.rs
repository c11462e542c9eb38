//! The parser on arbitrary bytes: decoding, parsing and rendering the error
//! never panic, and a parsed file prints to text that parses back to the
//! same AST.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let src = match ddx::decode("fuzz", data.to_vec()) {
        Ok(src) => src,
        Err((d, src)) => {
            // invalid UTF-8: the error renders against the lossy copy
            let _ = d.render(&src);
            return;
        }
    };
    match ddx::parse(&src.text) {
        Ok(file) => {
            let printed = file.to_string();
            match ddx::parse(&printed) {
                Ok(again) => assert!(
                    file.same_structure(&again),
                    "printed AST parses to another AST\n--- input\n{}\n--- printed\n{}",
                    src.text,
                    printed
                ),
                Err(d) => panic!(
                    "printed AST does not parse again: {}\n--- input\n{}\n--- printed\n{}",
                    d.message, src.text, printed
                ),
            }
        }
        Err(d) => {
            let _ = d.render(&src);
        }
    }
});
