//! Fuzzes `settings::native::CpanelConfig`: parsing never panics, rendering and parsing again gives the same
//! document, and settings that validate survive a write in WHM's format unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use settings::native::CpanelConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let doc = CpanelConfig::parse(text);
    let rendered = doc.render();
    let again = CpanelConfig::parse(&rendered);
    assert_eq!(again, doc, "parse(render(doc)) != doc for {text:?}");
    assert_eq!(again.render(), rendered);
    if let Ok(settings) = doc.to_tweak_settings("cpanel.config") {
        let written = CpanelConfig::from_settings(&settings).render();
        let back = CpanelConfig::parse(&written)
            .to_tweak_settings("cpanel.config")
            .unwrap_or_else(|e| panic!("a written file does not read back: {e}\n{written}"));
        assert_eq!(back, settings, "settings changed through a write:\n{written}");
    } else if let Err(e) = doc.to_tweak_settings("cpanel.config") {
        assert!(e.line >= 1 && e.line <= text.lines().count(), "{e}");
        assert_eq!(e.file, "cpanel.config");
    }
});
