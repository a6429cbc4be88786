//! Fuzzes `settings::native::ResellersFile`: parsing never panics, errors point at a real line, and a parsed file
//! renders to text that parses back to the same resellers and privileges.

#![no_main]

use libfuzzer_sys::fuzz_target;
use settings::native::ResellersFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ResellersFile::parse(text, "resellers") {
        Ok(file) => {
            let rendered = file.render();
            let again = ResellersFile::parse(&rendered, "resellers")
                .unwrap_or_else(|e| panic!("rendered text does not parse: {e}\n{rendered}"));
            assert_eq!(again, file, "render/parse changed the file:\n{rendered}");
            let resellers = file.to_resellers();
            let rebuilt = ResellersFile::from_resellers(resellers.values());
            let back = ResellersFile::parse(&rebuilt.render(), "resellers")
                .unwrap()
                .to_resellers();
            assert_eq!(back, resellers, "privileges changed through a write");
        }
        Err(e) => {
            assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}");
            assert_eq!(e.file, "resellers");
        }
    }
});
