//! Fuzzes `settings::native::AclList`: parsing never panics, errors point at a real line, and a parsed list renders
//! to text that parses back to the same granted and third-party ACLs.

#![no_main]

use libfuzzer_sys::fuzz_target;
use settings::native::AclList;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match AclList::parse(text, "acllists/test") {
        Ok(list) => {
            let rendered = list.render();
            let again = AclList::parse(&rendered, "acllists/test")
                .unwrap_or_else(|e| panic!("rendered text does not parse: {e}\n{rendered}"));
            assert_eq!(again, list, "render/parse changed the list:\n{rendered}");
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}");
            assert_eq!(e.file, "acllists/test");
        }
    }
});
