//! Fuzzes `settings::native::CpanelConfig`: parsing never panics, rendering and parsing again gives the same
//! document, warnings name a real line, and the settings (rejected values included) survive a write in WHM's format.

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
    let (settings, warnings) = doc.to_tweak_settings("cpanel.config");
    for w in &warnings {
        assert!(w.line >= 1 && w.line <= text.lines().count(), "{w}");
        assert_eq!(w.file, "cpanel.config");
    }
    // Every value survives a write in WHM's format, rejected ones included, and reads back the same; a key or value
    // that is not one clean line (a NUL, a lone CR, an empty key) is refused, never written.
    let written = match CpanelConfig::from_settings(&settings) {
        Ok(doc) => doc.render(),
        Err(e) => {
            assert!(
                settings.explicit().any(|(k, v)| k.is_empty()
                    || settings::native::line_break_in(k).is_some()
                    || v.and_then(settings::native::line_break_in).is_some()),
                "refused a clean document: {e}"
            );
            return;
        }
    };
    let (back, _) = CpanelConfig::parse(&written).to_tweak_settings("cpanel.config");
    assert_eq!(back, settings, "settings changed through a write:\n{written}");
});
